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

from .activations import Mish
from .base import ModelClass, ModelConfig, register

LOG_STD_RANGE = (-7.0, 2.0)   # clamp of the predicted log standard deviation (normalised units)


class CausalGaussianTransformer(nn.Module):
    def __init__(self, horizon: int, dim: int, width: int, layers: int, heads: int, conditional: bool):
        super().__init__()
        self.start = nn.Parameter(torch.zeros(1, 1, width))
        self.inp = nn.Linear(dim, width)
        self.pos = nn.Parameter(torch.randn(1, horizon, width) * 0.02)
        self.cond = nn.Sequential(nn.Linear(1, width), Mish(), nn.Linear(width, width)) if conditional else None
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 2 * dim)

    def forward(self, prefix: torch.Tensor, q: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``prefix`` (B, L, d) with L < T: mean and log-std of x_0 .. x_L, each (B, L+1, d)."""
        h = self._embed(prefix, q)
        length = h.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(length, device=h.device)
        return self._gaussian(self.body(h, mask=mask, is_causal=True))

    def _gaussian(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.head(self.norm(h)).chunk(2, dim=-1)
        return mean, log_std.clamp(*LOG_STD_RANGE)

    def _embed(self, x: torch.Tensor, q: torch.Tensor | None, position: int = 0) -> torch.Tensor:
        """The tokens of positions ``position, position + 1, ...``: the start token at position 0,
        then ``x`` (B, L, d) (``x_t`` is the token at position t + 1)."""
        if self.cond is not None and q is None:
            raise ValueError("conditional network called without q")
        h = self.inp(x)
        if position == 0:
            h = torch.cat([self.start.expand(x.shape[0], -1, -1), h], dim=1)
        h = h + self.pos[:, position:position + h.shape[1]]
        return h if self.cond is None else h + self.cond(q[:, None])[:, None, :]

    @torch.no_grad()
    def rollout(self, prefix: torch.Tensor, horizon: int, q: torch.Tensor | None,
                generator: torch.Generator, cache: bool = True) -> torch.Tensor:
        """Continue ``prefix`` (B, L, d) step by step with draws of the Gaussian head up to
        ``horizon`` steps. ``cache``: keep each layer's keys and values, so that a step reads one
        new token (equal to rounding, ~1e-5, to ``cache=False``, which runs ``forward`` on the
        whole sequence at every step and is about 20x slower at T = 64; ``tests/test_models.py``,
        ``benchmarks/bench_transformer_rollout.py``)."""
        b, dim = prefix.shape[0], prefix.shape[2]
        h, kv, x = self._embed(prefix, q), [None] * len(self.body.layers), prefix
        while x.shape[1] < horizon:
            mean, log_std = self._gaussian(self._extend(h, kv)[:, -1]) if cache else (t[:, -1] for t in self(x, q))
            step = mean + log_std.exp() * torch.randn((b, dim), generator=generator, device=x.device)
            x = torch.cat([x, step[:, None]], dim=1)
            if cache and x.shape[1] < horizon:
                h = self._embed(step[:, None], q, position=x.shape[1])
        return x

    def _extend(self, h: torch.Tensor, kv: list) -> torch.Tensor:
        """The encoder's output at the new tokens ``h`` (B, n, width), which follow the cached
        ones (causal; ``kv[i]``: layer i's keys and values so far, updated in place)."""
        for i, layer in enumerate(self.body.layers):
            attn = layer.self_attn
            heads, (b, n, width) = attn.num_heads, h.shape
            q, k, v = nn.functional.linear(layer.norm1(h), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
            if kv[i] is not None:
                k, v = torch.cat([kv[i][0], k], dim=1), torch.cat([kv[i][1], v], dim=1)
            kv[i] = (k, v)
            a = nn.functional.scaled_dot_product_attention(   # n > 1 only at the first call (no cache)
                *(t.reshape(b, t.shape[1], heads, width // heads).transpose(1, 2) for t in (q, k, v)), is_causal=n > 1)
            h = h + attn.out_proj(a.transpose(1, 2).reshape(b, n, width))
            h = h + layer.linear2(layer.activation(layer.linear1(layer.norm2(h))))
        return h


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
        return net.rollout(torch.zeros((n, 0, dim), device=device), horizon, q, generator)

    # -- probe: the last ``depth`` steps regenerated after a clean prefix of T - depth steps -------
    probe_modes = ("rollout", "one-step")
    probe_depth_meaning = "number of regenerated steps after a clean prefix of at least one step"

    def max_probe_depth(self, cfg, horizon):
        return horizon - 1

    def process_depths(self, cfg, horizon):
        """1, 2, 4, ... regenerated steps, and the depths after clean prefixes of T/2, T/4, ...
        down to one step (a free sample whose first step is drawn from the data): ``T - prefix``."""
        prefixes = {max(horizon >> k, 1) for k in range(1, horizon.bit_length() + 1)}
        return tuple(sorted(set(super().process_depths(cfg, horizon))
                            | {horizon - p for p in prefixes if horizon - p >= 1}))

    def perturb(self, net, z, depth, q, cfg, generator, mode):
        """``depth`` = number of regenerated steps: the clean prefix ``z[:, :T - depth]`` is kept.
        ``rollout``: the last ``depth`` steps are sampled step by step from the Gaussian head, each
        conditioned on the generated ones (errors accumulate as in sampling). ``one-step`` (the
        control): each of the last ``depth`` steps is drawn from the head given the *clean* past
        (teacher forcing), so errors do not accumulate."""
        horizon = z.shape[1]
        prefix = z[:, :horizon - depth]
        if mode == "rollout":
            return net.rollout(prefix, horizon, q, generator)
        mean, log_std = net(z[:, :-1], q)
        noise = torch.randn(z.shape, generator=generator, device=z.device)
        drawn = mean + log_std.exp() * noise
        return torch.cat([prefix, drawn[:, horizon - depth:]], dim=1)
