"""Diffusion with an MLP backbone (the paper's "MLP" class): the trajectory is flattened to a
vector of ``T * d`` numbers and denoised by residual MLP blocks (LayerNorm, Mish) that receive the
step (and quantity) embedding, plus a linear path from input to output (at high noise the
noise estimate is close to the input itself, which a narrow MLP alone represents poorly). No
temporal structure is built in, unlike the U-Net.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .activations import Mish
from .base import register
from .diffusion import ConditionEmbedding, DiffusionClass, DiffusionConfig


class ResidualMLPBlock(nn.Module):
    def __init__(self, width: int, emb_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1, self.fc2 = nn.Linear(width, 2 * width), nn.Linear(2 * width, width)
        self.emb = nn.Linear(emb_dim, 2 * width)
        self.act = Mish()

    def forward(self, h, emb):
        return h + self.fc2(self.act(self.fc1(self.norm(h)) + self.emb(emb)))


class MLPDenoiser(nn.Module):
    """Denoiser ``net(x_t (B, T, d), t (B,), q (B,) or None) -> (B, T, d)``."""

    def __init__(self, horizon: int, dim: int, width: int, layers: int, conditional: bool):
        super().__init__()
        emb_dim = min(width, 128)
        self.embed = ConditionEmbedding(emb_dim, conditional)
        self.inp = nn.Linear(horizon * dim, width)
        self.blocks = nn.ModuleList([ResidualMLPBlock(width, emb_dim) for _ in range(layers)])
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, horizon * dim))
        self.skip = nn.Linear(horizon * dim, horizon * dim)   # linear path from input to output

    def forward(self, x, t, q=None):
        emb = self.embed(t, q)
        h = self.inp(x.flatten(1))
        for block in self.blocks:
            h = block(h, emb)
        return (self.out(h) + self.skip(x.flatten(1))).view_as(x)


@dataclass
class MLPConfig(DiffusionConfig):
    layers: int = 3        # residual MLP blocks
    hidden_mult: int = 4   # hidden width = hidden_mult * width (``width`` is the shared base width)
    positive_fields = (*DiffusionConfig.positive_fields, "layers", "hidden_mult")


@register
class DiffusionMLP(DiffusionClass):
    name = "diffusion-mlp"
    Config = MLPConfig

    def build(self, cfg, horizon, dim, conditional):
        return MLPDenoiser(horizon, dim, cfg.width * cfg.hidden_mult, cfg.layers, conditional)
