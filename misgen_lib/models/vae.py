"""VAE with a small latent, sampled from the prior.

Encoder and decoder are MLPs on the flattened trajectory (``T * d`` numbers). The likelihood is
Gaussian with a learned per-channel observation scale, so the ELBO is a proper likelihood and
the balance between reconstruction and KL is learned, not set by hand; ``beta`` scales the KL.
Sampling: ``z ~ N(0, I)`` and the decoder mean (``sample_noise=False``, companion's choice: the
usual way VAE trajectories are generated) or the mean plus observation noise (``True``).
When conditional, the normalised quantity is appended to the encoder and decoder inputs (CVAE).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .activations import Mish
from .base import ModelClass, ModelConfig, register


def mlp(n_in: int, hidden: int, n_out: int, layers: int) -> nn.Sequential:
    mods, width = [], n_in
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), Mish()]
        width = hidden
    return nn.Sequential(*mods, nn.Linear(width, n_out))


class TrajectoryVAE(nn.Module):
    def __init__(self, horizon: int, dim: int, hidden: int, layers: int, latent: int, conditional: bool):
        super().__init__()
        n, c = horizon * dim, int(conditional)
        self.latent, self.conditional = latent, conditional
        self.encoder = mlp(n + c, hidden, 2 * latent, layers)
        self.decoder = mlp(latent + c, hidden, n, layers)
        self.log_scale = nn.Parameter(torch.zeros(dim))

    def _with_q(self, h: torch.Tensor, q: torch.Tensor | None) -> torch.Tensor:
        if not self.conditional:
            return h
        if q is None:
            raise ValueError("conditional network called without q")
        return torch.cat([h, q[:, None]], dim=1)

    def encode(self, x, q=None):
        mu, log_var = self.encoder(self._with_q(x.flatten(1), q)).chunk(2, dim=1)
        return mu, log_var.clamp(-12, 6)

    def decode(self, z, shape, q=None):
        return self.decoder(self._with_q(z, q)).view(shape)


@dataclass
class VAEConfig(ModelConfig):
    """``width``: base width; hidden layers have ``hidden_mult * width`` units."""
    latent: int = 8          # latent dimension
    layers: int = 2          # hidden layers in encoder and in decoder
    hidden_mult: int = 4     # hidden width = hidden_mult * width
    beta: float = 1.0        # KL weight (1: the ELBO)
    sample_noise: bool = False  # add observation noise to decoded samples
    positive_fields = (*ModelConfig.positive_fields, "latent", "layers", "hidden_mult")

    def __post_init__(self):
        super().__post_init__()
        if not self.beta > 0:
            raise ValueError(f"beta must be > 0, got {self.beta!r}")


@register
class VAE(ModelClass):
    name = "vae"
    Config = VAEConfig

    def build(self, cfg, horizon, dim, conditional):
        return TrajectoryVAE(horizon, dim, cfg.width * cfg.hidden_mult, cfg.layers, cfg.latent, conditional)

    def loss(self, net, x, q, cfg, generator):
        mu, log_var = net.encode(x, q)
        z = mu + (0.5 * log_var).exp() * torch.randn(mu.shape, generator=generator, device=x.device)
        recon = net.decode(z, x.shape, q)
        scale = net.log_scale.exp()
        nll = 0.5 * ((x - recon) / scale) ** 2 + net.log_scale + 0.5 * math.log(2 * math.pi)
        kl = 0.5 * (mu ** 2 + log_var.exp() - 1 - log_var).sum(dim=1)
        return (nll.sum(dim=(1, 2)) + cfg.beta * kl).mean() / x[0].numel()

    def sample(self, net, n, q, cfg, horizon, dim, generator):
        device = next(net.parameters()).device
        z = torch.randn((n, net.latent), generator=generator, device=device)
        return self._decoded(net, z, (n, horizon, dim), q, cfg, generator)

    @staticmethod
    def _decoded(net, z, shape, q, cfg, generator):
        """Decoder mean, plus observation noise when ``cfg.sample_noise`` (as in sampling)."""
        x = net.decode(z, shape, q)
        if cfg.sample_noise:
            x = x + net.log_scale.exp() * torch.randn(x.shape, generator=generator, device=x.device)
        return x

    # -- probe: encode -> decode, ``depth`` round trips --------------------------------------------
    probe_modes = ("sample", "mean")
    probe_depth_meaning = "number of encode-decode round trips"
    MAX_ROUND_TRIPS = 16

    def max_probe_depth(self, cfg, horizon):
        """16 round trips (the process grid: 1, 2, 4, 8, 16; the chain of round trips drifts
        towards what the decoder makes of its own latents; decoding from the prior is not a probe
        of clean data)."""
        return self.MAX_ROUND_TRIPS

    def perturb(self, net, z, depth, q, cfg, generator, mode):
        """``depth`` encode -> decode round trips. ``sample`` (default, companion's choice: the
        local version of how the VAE generates, decoding a latent drawn from a distribution)
        decodes a posterior draw ``mu + sigma * eps``; ``mean`` decodes the posterior mean (the
        deterministic reconstruction). Observation noise is added as in sampling."""
        for _ in range(depth):
            mu, log_var = net.encode(z, q)
            if mode == "sample":
                mu = mu + (0.5 * log_var).exp() * torch.randn(mu.shape, generator=generator, device=z.device)
            z = self._decoded(net, mu, z.shape, q, cfg, generator)
        return z
