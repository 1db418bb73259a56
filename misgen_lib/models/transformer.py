"""Autoregressive Transformer over time steps with a Gaussian output head.

Each time step ``x_t`` (d numbers) is a token. A causal Transformer reads a learned start token
followed by ``x_0 .. x_{T-2}`` and outputs, at position ``t``, the mean and log standard deviation
(per channel, diagonal) of ``x_t``; training minimises the Gaussian negative log-likelihood.
Sampling draws ``x_t`` from that Gaussian step by step, so errors can accumulate along a
rollout. The quantity (when conditional) is embedded and added to every token.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .base import ModelClass, ModelConfig, register

LOG_STD_RANGE = (-7.0, 2.0)   # clamp of the predicted log standard deviation (normalised units)


class CausalGaussianTransformer(nn.Module):
    def __init__(self, horizon: int, dim: int, width: int, layers: int, heads: int, conditional: bool):
        super().__init__()
        self.start = nn.Parameter(torch.zeros(1, 1, width))
        self.inp = nn.Linear(dim, width)
        self.pos = nn.Parameter(torch.randn(1, horizon, width) * 0.02)
        self.cond = nn.Sequential(nn.Linear(1, width), nn.Mish(), nn.Linear(width, width)) if conditional else None
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 2 * dim)

    def forward(self, prefix: torch.Tensor, q: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``prefix`` (B, L, d) with L < T: mean and log-std of x_0 .. x_L, each (B, L+1, d)."""
        b, length = prefix.shape[0], prefix.shape[1] + 1
        h = torch.cat([self.start.expand(b, -1, -1), self.inp(prefix)], dim=1) + self.pos[:, :length]
        if self.cond is not None:
            if q is None:
                raise ValueError("conditional network called without q")
            h = h + self.cond(q[:, None])[:, None, :]
        mask = nn.Transformer.generate_square_subsequent_mask(length, device=h.device)
        out = self.head(self.norm(self.body(h, mask=mask, is_causal=True)))
        mean, log_std = out.chunk(2, dim=-1)
        return mean, log_std.clamp(*LOG_STD_RANGE)


@dataclass
class TransformerConfig(ModelConfig):
    """``width``: model dimension."""
    layers: int = 3        # Transformer layers
    heads: int = 4         # attention heads (must divide width)
    lr: float = 5e-4

    def __post_init__(self):
        super().__post_init__()
        if self.layers < 1 or self.heads < 1 or self.width % self.heads:
            raise ValueError(f"need layers >= 1 and heads >= 1 dividing width={self.width}, got "
                             f"layers={self.layers!r}, heads={self.heads!r}")


@register
class AutoregressiveTransformer(ModelClass):
    name = "transformer"
    Config = TransformerConfig

    def build(self, cfg, horizon, dim, conditional):
        return CausalGaussianTransformer(horizon, dim, cfg.width, cfg.layers, cfg.heads, conditional)

    def loss(self, net, x, q, cfg, generator):
        mean, log_std = net(x[:, :-1], q)
        nll = 0.5 * ((x - mean) / log_std.exp()) ** 2 + log_std + 0.5 * math.log(2 * math.pi)
        return nll.mean()

    def sample(self, net, n, q, cfg, horizon, dim, generator):
        device = next(net.parameters()).device
        return self.rollout(net, torch.zeros((n, 0, dim), device=device), horizon, q, generator)

    @staticmethod
    def rollout(net, prefix, horizon, q, generator) -> torch.Tensor:
        """Continue ``prefix`` (B, L, d) step by step with draws of the Gaussian head up to
        ``horizon`` steps."""
        x, (n, _, dim) = prefix, prefix.shape
        for _ in range(horizon - prefix.shape[1]):
            mean, log_std = net(x, q)
            noise = torch.randn((n, dim), generator=generator, device=x.device)
            x = torch.cat([x, (mean[:, -1] + log_std[:, -1].exp() * noise)[:, None]], dim=1)
        return x

    # -- probe: the last ``depth`` steps regenerated after a clean prefix of T - depth steps -------
    probe_modes = ("rollout", "one-step")
    probe_depth_meaning = "number of regenerated steps after a clean prefix of at least one step"

    def max_probe_depth(self, cfg, horizon):
        return horizon - 1

    def probe_depths(self, cfg, horizon):
        prefixes = {max(horizon // k, 1) for k in (2, 4, 8, 16)}
        return tuple(sorted({horizon - p for p in prefixes if horizon - p >= 1}))

    def default_probe_depth(self, cfg, horizon):
        return max(horizon - max(horizon // 8, 1), 1)

    def perturb(self, net, z, depth, q, cfg, generator, mode):
        """``depth`` = number of regenerated steps: the clean prefix ``z[:, :T - depth]`` is kept.
        ``rollout``: the last ``depth`` steps are sampled step by step from the Gaussian head, each
        conditioned on the generated ones (errors accumulate as in sampling). ``one-step`` (the
        control): each of the last ``depth`` steps is drawn from the head given the *clean* past
        (teacher forcing), so errors do not accumulate."""
        horizon = z.shape[1]
        depth = self.check_probe_depth(depth, cfg, horizon)
        prefix = z[:, :horizon - depth]
        if mode == "rollout":
            return self.rollout(net, prefix, horizon, q, generator)
        mean, log_std = net(z[:, :-1], q)
        noise = torch.randn(z.shape, generator=generator, device=z.device)
        drawn = mean + log_std.exp() * noise
        return torch.cat([prefix, drawn[:, horizon - depth:]], dim=1)
