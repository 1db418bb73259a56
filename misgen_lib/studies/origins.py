"""Where each class's drift comes from, by experiment (issue 19): the same trained model sampled
with one suspected source of its drift removed, its drift set beside the model's own. The
variants (``VARIANTS``, by model class; ``variant`` registers one for a user's class):

* transformer, ``first step from the data``: free rollouts whose first step is that of a random
  curated trajectory (the probe at its deepest depth, a clean prefix of one step);
* transformer, ``errors not carried``: after the same clean first step, every step drawn from the
  head given the curated trajectory's clean past (teacher forcing, the probe's ``one-step``
  mode): the model's one-step errors stay, its own dynamics no longer carry them (chapter 08's
  amplification). What it accounts for beyond ``first step from the data`` is the carrying's;
* VAE, ``aggregate posterior``: latents drawn from the encoder's posterior of random curated
  trajectories instead of ``N(0, I)`` (one round trip of the probe), decoded as in sampling;
* VAE, ``latent mixture``: latents from a Gaussian mixture fitted to one posterior draw of every
  curated trajectory (``fit_mixture``): a prior the model can ship, the fix that follows.

Diffusion models have no variant: the depth curve of their probe (``anatomy``) is their
experiment. The variants live here, not in the model classes' files, whose code is part of every
trained model's cache key.

``accounted`` is the share of the model's drift above the noise floor that the removal takes
away: ``(TV_model - TV_variant) / (TV_model - TV_null)``, with ``TV_null`` the median TV of a
perfect sample of the same size (the model's finite-sample null): 1 when only noise is left, 0
when nothing changes, below 0 when the variant drifts more. It is computed only where the
model's drift is real (its TV above the null's 95% quantile), else NaN.

Seeds: each variant's draws take the stream ``("origin", task, model, variant)`` of the entry's
seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .. import jobs, metrics, models
from ..models.base import autocast
from ..models.vae import VAE
from ..seeds import derive
from .kernel_study import by_pair

#: model class -> variant name -> (one line, function(model, data, n, seed) -> samples in data units)
VARIANTS: dict[str, dict[str, tuple[str, Callable]]] = {}

#: components of the VAE's latent mixture (companion's choice, fixed before any result: enough
#: for a multi-modal aggregate posterior in 8 dimensions, few against 2000 curated trajectories)
MIXTURE_COMPONENTS = 16


def variant(model_class: str, name: str, description: str):
    """Register ``function(model, data, n, seed)`` (``data``: the curated trajectories (N, T, d);
    returns ``n`` samples (n, T, d) in data units) as origin variant ``name`` of ``model_class``."""
    def register(function):
        VARIANTS.setdefault(model_class, {})[name] = (description, function)
        return function
    return register


def variant_samples(model, name: str, data: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` samples of trained ``model`` drawn as its class's origin variant ``name``."""
    known = VARIANTS.get(model.name, {})
    if name not in known:
        raise ValueError(f"unknown origin variant {name!r} for model class {model.name!r}; valid: {sorted(known)}")
    return known[name][1](model, data, n, seed)


def _picks(data: np.ndarray, n: int, seed: int) -> np.ndarray:
    return data[np.random.default_rng(seed).integers(len(data), size=n)]


@variant("transformer", "first step from the data",
         "free rollouts whose first step is that of a random curated trajectory")
def first_step_from_data(model, data, n, seed):
    return model.perturb(_picks(data, n, seed), depth=model.horizon - 1, mode="rollout", seed=seed)


@variant("transformer", "errors not carried",
         "after a clean first step, every step drawn from the head given the curated trajectory's clean past")
def errors_not_carried(model, data, n, seed):
    return model.perturb(_picks(data, n, seed), depth=model.horizon - 1, mode="one-step", seed=seed)


@variant("vae", "aggregate posterior",
         "latents drawn from the encoder's posterior of random curated trajectories, decoded as in sampling")
def aggregate_posterior(model, data, n, seed):
    return model.perturb(_picks(data, n, seed), depth=1, mode="sample", seed=seed)


@variant("vae", "latent mixture",
         f"latents from a {MIXTURE_COMPONENTS}-component Gaussian mixture fitted to the curated set's "
         f"posterior draws (a prior the model can ship)")
def latent_mixture(model, data, n, seed):
    if model.conditional:
        raise ValueError("the latent mixture is for an unconditional VAE; this one is conditional")
    rng = np.random.default_rng(seed)
    gen = torch.Generator(device=model.device).manual_seed(int(seed))
    with torch.no_grad(), autocast(model.config):
        mu, log_var = model.net.encode(torch.as_tensor(model.normaliser.encode_x(data), device=model.device))
        draws = mu + (0.5 * log_var).exp() * torch.randn(mu.shape, generator=gen, device=mu.device)
        z = sample_mixture(fit_mixture(draws.cpu().double().numpy(), MIXTURE_COMPONENTS, rng), n, rng)
        x = VAE._decoded(model.net, torch.as_tensor(z, dtype=torch.float32, device=mu.device),
                         (n, model.horizon, model.dim), None, model.config, gen)
    return model.normaliser.decode_x(x.cpu().numpy())


def fit_mixture(z: np.ndarray, components: int, rng: np.random.Generator, iterations: int = 200):
    """A Gaussian mixture with diagonal covariances fitted to points ``z`` (n, k) by EM, started
    from ``components`` distinct points: (weights, means, variances)."""
    n = len(z)
    if not 1 <= components <= n:
        raise ValueError(f"components must be in [1, {n}] for {n} points, got {components!r}")
    means = z[rng.choice(n, components, replace=False)]
    var = np.tile(z.var(axis=0) + 1e-6, (components, 1))
    weights = np.full(components, 1.0 / components)
    for _ in range(iterations):
        log_p = np.log(weights) - 0.5 * (((z[:, None] - means) ** 2 / var) + np.log(2 * np.pi * var)).sum(-1)
        r = np.exp(log_p - log_p.max(axis=1, keepdims=True))
        r /= r.sum(axis=1, keepdims=True)
        mass = r.sum(axis=0) + 1e-12
        weights, means = mass / n, (r.T @ z) / mass[:, None]
        var = np.maximum((r.T @ z ** 2) / mass[:, None] - means ** 2, 1e-6)
    return weights, means, var


def sample_mixture(mixture, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws (n, k) of a ``fit_mixture`` result."""
    weights, means, var = mixture
    c = rng.choice(len(weights), size=n, p=weights / weights.sum())
    return means[c] + np.sqrt(var[c]) * rng.standard_normal((n, means.shape[1]))


@dataclass
class OriginResult:
    """One task x model pair and one variant: per seed (``rows``) the model's TV, the variant's,
    the null's median and 95% quantile, and ``accounted``."""
    task: str
    model: str
    variant: str
    description: str
    rows: list[dict]

    @property
    def accounted(self) -> float:
        """The median over the seeds of ``accounted`` (NaN where no seed's drift is real)."""
        values = [r["accounted"] for r in self.rows if np.isfinite(r["accounted"])]
        return float(np.median(values)) if values else float("nan")


def accounted(tv_model: float, tv_variant: float, null: np.ndarray) -> float:
    """``(TV_model - TV_variant) / (TV_model - median(null))`` where the model's TV is above the
    null's 95% quantile, else NaN."""
    floor, q95 = np.quantile(null, [0.5, 0.95])
    return float((tv_model - tv_variant) / (tv_model - floor)) if tv_model > q95 else float("nan")


@dataclass(frozen=True)
class _OriginJob:
    group: list
    variant: str
    threads: int


def origin_study(entries, workers: int = 0, threads: int = 1, progress: bool | None = None) -> list[OriginResult]:
    """Every variant of every unconditional task x model pair of suite ``entries`` whose class
    has variants (one job per pair and variant; as many samples as the model's own)."""
    todo = [_OriginJob(group, name, threads) for group in by_pair(entries) if not group[0].model.conditional
            for name in VARIANTS.get(group[0].model.name, {})]
    return jobs.run(_origin, todo, workers=workers, desc="origins", progress=progress)


def _origin(job: _OriginJob) -> OriginResult:
    first = job.group[0]
    task = first.task
    rows = []
    with models.torch_threads(job.threads):
        for e in job.group:
            x = variant_samples(e.model, job.variant, e.data.x, len(e.samples),
                                derive(e.seed, "origin", task.name, e.model.name, job.variant))
            p = metrics.histogram(np.asarray(task.measure(x), dtype=float), e.drift.edges)
            tv = 0.5 * float(np.abs(p - e.drift.p_star).sum())
            null = np.asarray(e.drift.null["tv"])
            rows.append({"seed": e.seed, "TV": e.drift.tv, "TV variant": tv, "TV null 50%": float(np.median(null)),
                         "TV null 95%": float(np.quantile(null, 0.95)), "accounted": accounted(e.drift.tv, tv, null)})
    return OriginResult(task.name, first.model.name, job.variant, VARIANTS[first.model.name][job.variant][0], rows)


def origin_table(results: list[OriginResult]):
    """pandas DataFrame, one row per pair and variant: medians over the seeds of the model's TV,
    the variant's and the null's, and ``accounted`` (median, lowest and highest seed)."""
    import pandas as pd
    out = []
    for r in results:
        per_seed = pd.DataFrame(r.rows)
        finite = per_seed["accounted"].dropna()
        out.append({"task": r.task, "model": r.model, "variant": r.variant, "seeds": len(per_seed),
                    "TV": per_seed["TV"].median(), "TV variant": per_seed["TV variant"].median(),
                    "TV null 95%": per_seed["TV null 95%"].median(), "accounted": r.accounted,
                    "accounted (lowest seed)": finite.min() if len(finite) else np.nan,
                    "accounted (highest seed)": finite.max() if len(finite) else np.nan})
    return pd.DataFrame(out)
