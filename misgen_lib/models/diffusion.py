"""DDPM with a cosine noise schedule, epsilon or x0 prediction, and two samplers.

* Schedule: ``alpha_bar(t) = cos^2(((t/K + s) / (1 + s)) * pi/2)`` with ``s = 0.008`` (Nichol &
  Dhariwal 2021), betas ``1 - alpha_bar(t+1)/alpha_bar(t)`` clipped at 0.999. This is the same
  schedule as diffusers' ``squaredcos_cap_v2``; the test suite checks the two agree. Companion's
  choice: it is written here (a dozen lines) rather than imported, so that the core library does
  not depend on diffusers (which stays an optional ``bench`` extra).
* Training: ``t`` uniform over ``0..K-1``, MSE on the clean trajectory (``prediction="x0"``,
  the default, as in Diffuser's planning configs) or on the noise (``prediction="eps"``). With
  eps-prediction the implied x0 near the last, almost pure-noise step is the noise error divided
  by ``sqrt(alpha_bar)`` (about 1e-3 here), so small nets need many more steps to sample well;
  ``clip_x0`` (default 5 standard deviations, data are standardised per channel) bounds it.
* Sampling: ``sampler="ancestral"`` (DDPM posterior, stochastic) or ``sampler="ddim"``
  (deterministic DDIM, eta = 0, on ``sample_steps`` evenly spaced steps; all steps if 0).
  ``clip_x0 > 0`` clips the predicted clean trajectory to ``[-clip_x0, clip_x0]`` (normalised
  units) at every step; 0 disables clipping.

``DiffusionClass`` turns any denoiser backbone ``net(x_t, t, q) -> (B, T, d)`` into a registered
model class; ``unet.py`` and ``mlp.py`` provide the backbones.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .activations import Mish
from .base import ModelClass, ModelConfig

PREDICTIONS = ("eps", "x0")
SAMPLERS = ("ancestral", "ddim")


def cosine_betas(steps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Betas of the cosine schedule (float64), shape (steps,)."""
    def alpha_bar(u):
        return math.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    return torch.tensor([min(1 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), max_beta)
                         for i in range(steps)], dtype=torch.float64)


@dataclass
class DiffusionConfig(ModelConfig):
    diffusion_steps: int = 64      # K, number of noise levels
    prediction: str = "x0"         # "x0" (Diffuser's default for planning) or "eps"
    sampler: str = "ancestral"     # "ancestral" (DDPM) or "ddim" (deterministic)
    sample_steps: int = 0          # DDIM steps (0: all K)
    clip_x0: float = 5.0           # clip predicted x0 to +-clip_x0 (normalised units); 0: off

    def __post_init__(self):
        super().__post_init__()
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"prediction {self.prediction!r} is not valid; use one of {PREDICTIONS}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler {self.sampler!r} is not valid; use one of {SAMPLERS}")
        if self.diffusion_steps < 2:
            raise ValueError(f"diffusion_steps must be >= 2, got {self.diffusion_steps!r}")
        if not 0 <= self.sample_steps <= self.diffusion_steps:
            raise ValueError(f"sample_steps must be in [0, diffusion_steps={self.diffusion_steps}], "
                             f"got {self.sample_steps!r}")


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (B,) step indices or scalars, shape (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / max(half, 1))
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    return torch.nn.functional.pad(emb, (0, dim - 2 * half))


class ConditionEmbedding(nn.Module):
    """Embedding of the diffusion step and (optionally) the normalised quantity q, summed."""

    def __init__(self, dim: int, conditional: bool):
        super().__init__()
        self.dim = dim
        self.time = nn.Sequential(nn.Linear(dim, 2 * dim), Mish(), nn.Linear(2 * dim, dim))
        self.quantity = (nn.Sequential(nn.Linear(dim, 2 * dim), Mish(), nn.Linear(2 * dim, dim))
                         if conditional else None)

    def forward(self, t: torch.Tensor, q: torch.Tensor | None) -> torch.Tensor:
        emb = self.time(timestep_embedding(t, self.dim))
        if self.quantity is not None:
            if q is None:
                raise ValueError("conditional network called without q")
            emb = emb + self.quantity(timestep_embedding(q * 100.0, self.dim))
        return emb


class DiffusionClass(ModelClass):
    """A DDPM model class over a denoiser backbone; subclasses implement ``build``."""
    Config = DiffusionConfig
    compilable = True   # the denoiser's forward is all that training, sampling and probes call

    @staticmethod
    def schedule(cfg: DiffusionConfig, device) -> dict[str, torch.Tensor]:
        betas = cosine_betas(cfg.diffusion_steps)
        alpha_bar = torch.cumprod(1 - betas, 0)
        return {"betas": betas.float().to(device), "alpha_bar": alpha_bar.float().to(device)}

    def loss(self, net, x, q, cfg, generator):
        ab = self.schedule(cfg, x.device)["alpha_bar"]
        t = torch.randint(0, cfg.diffusion_steps, (len(x),), generator=generator, device=x.device)
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        a = ab[t][:, None, None]
        x_t = a.sqrt() * x + (1 - a).sqrt() * noise
        target = noise if cfg.prediction == "eps" else x
        return torch.mean((net(x_t, t, q) - target) ** 2)

    def predict(self, net, x_t, t: int, q, cfg, ab) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0, eps) predicted at step ``t`` (x0 clipped if ``clip_x0 > 0``)."""
        tt = torch.full((len(x_t),), t, device=x_t.device, dtype=torch.long)
        out = net(x_t, tt, q)
        a = ab[t]
        if cfg.prediction == "eps":
            x0 = (x_t - (1 - a).sqrt() * out) / a.sqrt()
        else:
            x0 = out
        if cfg.clip_x0 > 0:
            x0 = x0.clamp(-cfg.clip_x0, cfg.clip_x0)
        eps = (x_t - a.sqrt() * x0) / (1 - a).sqrt()
        return x0, eps

    def sample(self, net, n, q, cfg, horizon, dim, generator):
        device = next(net.parameters()).device
        x = torch.randn((n, horizon, dim), generator=generator, device=device)
        if cfg.sampler == "ddim":
            k = cfg.sample_steps or cfg.diffusion_steps
            steps = torch.linspace(cfg.diffusion_steps - 1, 0, k).round().long().unique_consecutive().tolist()
            return self.denoise(net, x, steps, q, cfg, generator)
        return self.denoise(net, x, list(range(cfg.diffusion_steps - 1, -1, -1)), q, cfg, generator)

    def denoise(self, net, x, steps: list[int], q, cfg, generator) -> torch.Tensor:
        """The reverse process from ``x`` at step ``steps[0]`` through the descending ``steps`` to a
        clean trajectory, with the config's sampler (ancestral needs consecutive steps)."""
        sched = self.schedule(cfg, x.device)
        betas, ab = sched["betas"], sched["alpha_bar"]
        if cfg.sampler == "ddim":
            for i, t in enumerate(steps):
                x0, eps = self.predict(net, x, t, q, cfg, ab)
                a_prev = ab[steps[i + 1]] if i + 1 < len(steps) else torch.tensor(1.0, device=x.device)
                x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
            return x
        for t in steps:
            x0, _ = self.predict(net, x, t, q, cfg, ab)
            if t == 0:
                return x0
            a, a_prev, beta = ab[t], ab[t - 1], betas[t]
            mean = (a_prev.sqrt() * beta / (1 - a)) * x0 + ((1 - beta).sqrt() * (1 - a_prev) / (1 - a)) * x
            var = beta * (1 - a_prev) / (1 - a)
            x = mean + var.sqrt() * torch.randn(x.shape, generator=generator, device=x.device)
        return x

    # -- probe (SDEdit): noise clean data to step depth-1 with the forward process, denoise back --
    probe_modes = ("sdedit",)
    probe_depth_meaning = "number of reverse diffusion steps"

    def max_probe_depth(self, cfg, horizon):
        return cfg.diffusion_steps

    def probe_is_sampler(self, cfg):
        """At all ``K`` reverse steps the probe starts from nearly pure noise and runs the
        sampler's steps: the ancestral sampler's, or DDIM's when it takes all ``K``."""
        return cfg.sampler == "ancestral" or cfg.sample_steps in (0, cfg.diffusion_steps)

    def perturb(self, net, z, depth, q, cfg, generator, mode):
        """SDEdit at ``depth`` = number of reverse steps: ``z_t = sqrt(ab_t) z + sqrt(1 - ab_t) eps``
        at step ``t = depth - 1`` (0-based), then the model's reverse process over the steps
        ``t, t-1, ..., 0`` (every step, also with the DDIM sampler: companion's choice)."""
        t = depth - 1
        a = self.schedule(cfg, z.device)["alpha_bar"][t]
        noise = torch.randn(z.shape, generator=generator, device=z.device)
        z_t = a.sqrt() * z + (1 - a).sqrt() * noise
        return self.denoise(net, z_t, list(range(t, -1, -1)), q, cfg, generator)
