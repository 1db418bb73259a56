"""Diffusion with a 1D temporal U-Net backbone (the Diffuser planner's network, Janner et al.
2022): Conv1d residual blocks with GroupNorm and Mish (``activation``), the step (and quantity)
embedding added inside every block, downsampling by 2 per level and skip connections to the
decoder.

Companion's choice: two levels by default (``mults=(1, 2)``), which keeps the book's default CPU
run within its time budget (a third level at 4x width tripled the step time); deeper networks
are one config field away.

Trajectories whose horizon is not a multiple of ``2 ** (levels - 1)`` are zero-padded at the end
for the network and cropped back (companion's choice, so any horizon works).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .activations import Mish
from .base import effective_precision, register
from .diffusion import ConditionEmbedding, DiffusionClass, DiffusionConfig


#: ``UNetConfig.activation``: the residual blocks' nonlinearity (Diffuser's is Mish)
ACTIVATIONS = {"mish": Mish, "silu": nn.SiLU}


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(8, channels), channels)


class ConvBlock(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, act: type[nn.Module]):
        super().__init__(nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2), group_norm(c_out), act())


class ResidualTemporalBlock(nn.Module):
    """Two conv blocks with the embedding added after the first, and a residual connection."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, kernel: int, act: type[nn.Module]):
        super().__init__()
        self.first, self.second = ConvBlock(c_in, c_out, kernel, act), ConvBlock(c_out, c_out, kernel, act)
        self.emb = nn.Sequential(act(), nn.Linear(emb_dim, c_out))
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        h = self.first(x) + self.emb(emb)[:, :, None]
        return self.second(h) + self.skip(x)


class TemporalUNet(nn.Module):
    """Denoiser ``net(x_t (B, T, d), t (B,), q (B,) or None) -> (B, T, d)``; ``activation``, a key
    of ``ACTIVATIONS``, is the residual blocks' (the step embedding's small MLP, shared with the
    other diffusion backbone, keeps Mish)."""

    def __init__(self, dim: int, width: int, mults: tuple[int, ...], kernel: int, conditional: bool,
                 activation: str = "mish"):
        super().__init__()
        act = ACTIVATIONS[activation]
        chans = [width * m for m in mults]
        self.factor = 2 ** (len(chans) - 1)
        self.embed = ConditionEmbedding(width, conditional)
        self.inp = nn.Conv1d(dim, chans[0], 1)
        self.down, self.up = nn.ModuleList(), nn.ModuleList()
        c_prev = chans[0]
        for i, c in enumerate(chans):
            last = i == len(chans) - 1
            self.down.append(nn.ModuleList([
                ResidualTemporalBlock(c_prev, c, width, kernel, act), ResidualTemporalBlock(c, c, width, kernel, act),
                nn.Identity() if last else nn.Conv1d(c, c, 3, stride=2, padding=1)]))
            c_prev = c
        self.mid = nn.ModuleList([ResidualTemporalBlock(c_prev, c_prev, width, kernel, act),
                                  ResidualTemporalBlock(c_prev, c_prev, width, kernel, act)])
        for i, c in reversed(list(enumerate(chans[:-1]))):
            self.up.append(nn.ModuleList([
                ResidualTemporalBlock(c_prev * 2, c, width, kernel, act),
                ResidualTemporalBlock(c, c, width, kernel, act),
                nn.ConvTranspose1d(c, c, 4, stride=2, padding=1)]))
            c_prev = c
        self.out = nn.Sequential(ConvBlock(c_prev * 2, chans[0], kernel, act), nn.Conv1d(chans[0], dim, 1))

    def forward(self, x, t, q=None):
        horizon = x.shape[1]
        pad = (-horizon) % self.factor
        h = nn.functional.pad(x.transpose(1, 2), (0, pad))
        emb = self.embed(t, q)
        h = self.inp(h)
        skips = []
        for block1, block2, down in self.down:
            h = block2(block1(h, emb), emb)
            skips.append(h)
            h = down(h)
        for block in self.mid:
            h = block(h, emb)
        for block1, block2, up in self.up:
            h = block2(block1(torch.cat([h, skips.pop()], dim=1), emb), emb)
            h = up(h)
        h = self.out(torch.cat([h, skips.pop()], dim=1))
        return h[:, :, :horizon].transpose(1, 2)


@dataclass
class UNetConfig(DiffusionConfig):
    """``width``: channels at the first level. ``precision`` defaults to ``"auto"`` (companion's
    choice): bfloat16 autocast on a CPU with bfloat16 units, where the U-Net trains and samples
    about 1.3x faster and keeps every number the chapters report within the fp32 seeds' spread
    (``benchmarks/convergence_study.py --vary precision=fp32,bf16``, README); the other classes
    stay fp32, which is faster for them (``benchmarks/bench_cost_model.py``). ``activation``:
    the residual blocks' nonlinearity, ``"mish"`` (Diffuser's) or ``"silu"``."""
    mults: tuple[int, ...] = (1, 2)      # channel multipliers per level (Diffuser: 1, 2, 4, 8)
    kernel: int = 5                      # temporal convolution kernel size
    precision: str = "auto"
    activation: str = "mish"

    def __post_init__(self):
        super().__post_init__()
        if not self.mults or any(m < 1 for m in self.mults):
            raise ValueError(f"mults must be a non-empty tuple of integers >= 1, got {self.mults!r}")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ValueError(f"kernel must be an odd integer >= 1, got {self.kernel!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation {self.activation!r} is not valid; use one of {tuple(ACTIVATIONS)}")


#: the shortest training run the U-Net trains compiled (``DiffusionUNet.trains_faster_compiled``)
COMPILED_TRAINING_STEPS = 1000


@register
class DiffusionUNet(DiffusionClass):
    name = "diffusion-unet"
    Config = UNetConfig

    def compiles_faster(self, cfg):
        """Compiled inference in bfloat16 on a CPU (1.8-2x on an Intel Xeon with AMX:
        ``benchmarks/bench_compiled.py``); eager in fp32 and on CUDA, where it was not measured."""
        return cfg.device == "cpu" and effective_precision(cfg) == "bf16"

    def trains_faster_compiled(self, cfg):
        """Compiled training in bfloat16 on a CPU, for runs of ``COMPILED_TRAINING_STEPS`` steps or
        more. The training step (batch 64) ran 1.46x and 1.48x eager's speed in two runs on an
        Intel Xeon with AMX (``benchmarks/bench_compiled.py``, records of 2026-12-06): about 20 ms
        a step saved, against 25-85 s of compilation per network shape and worker process, which
        every later U-Net of that shape in the process reuses. A build at the default profile
        trains several runs of 1000-1500 steps per shape and worker, and the compilation pays; at
        the ci profile's 20 steps it never would (the ci book took about twice as long), so
        shorter runs train eager (companion's choice, declared from these measurements). Eager in
        fp32, where the two runs disagree (0.91x with a static compile, 1.37x through
        ``inference.compiled``, both on a shared CPU), and on CUDA, where it was not measured."""
        return (cfg.device == "cpu" and effective_precision(cfg) == "bf16"
                and cfg.train_steps >= COMPILED_TRAINING_STEPS)

    def build(self, cfg, horizon, dim, conditional):
        return TemporalUNet(dim, cfg.width, tuple(cfg.mults), cfg.kernel, conditional, cfg.activation)
