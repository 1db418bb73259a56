"""Comparing a prediction with the drift of several training seeds of one task x model pair.

* ``seed_mean_drift``: the seeds' drifts pooled into one ``Drift``: ``p_hat`` is the mean of the
  seeds' histograms weighted by their sample sizes (the histogram of all samples together; the
  plain mean when every seed has the same ``n``, the usual case), ``n`` their total. Its null is
  recomputed at the total ``n`` from multinomial draws of the prior's bin masses (what
  ``metrics.drift``'s null is, binned). ``w1`` is a statistic of samples, not of histograms: it
  is NaN here (so are its null draws).
* ``seed_agreement``: the between-seed correlation of the per-bin changes, the reliability
  ceiling of any prediction: the mean pairwise Pearson correlation ``r`` of the seeds' changes
  (overflow bins included), the Spearman-Brown reliability of the mean of ``k`` seeds
  ``k r / (1 + (k - 1) r)``, and the correlation a perfect prediction of the expected change can
  reach against that mean, ``sqrt(reliability)`` (classical test theory; companion's choice).
* ``validate_seed_mean``: ``validate`` against the seed-mean drift (its noise ceiling is then at
  the total sample size).
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from ..metrics import Drift
from .predict import Prediction
from .validate import Validation, pearson, validate


def _check_drifts(drifts) -> list[Drift]:
    drifts = list(drifts)
    if len(drifts) < 2 or not all(isinstance(d, Drift) for d in drifts):
        raise ValueError(f"need at least two Drifts (one per training seed), got "
                         f"{[type(d).__name__ for d in drifts]}")
    first = drifts[0]
    for i, d in enumerate(drifts[1:], 1):
        if d.edges.shape != first.edges.shape or not np.allclose(d.edges, first.edges) \
                or not np.allclose(d.p_star, first.p_star):
            raise ValueError(f"drift {i} has a different binning or prior than drift 0; compute every "
                             f"seed's drift with the same prior, bins and q_range")
    return drifts


def seed_mean_drift(drifts, n_null: int = 200, seed: int = 0) -> Drift:
    """The pooled drift of several seeds (module docstring)."""
    drifts = _check_drifts(drifts)
    n = np.array([d.n for d in drifts], dtype=float)
    p_hat = (n[:, None] * np.stack([d.p_hat for d in drifts])).sum(0) / n.sum()
    p_star, total = drifts[0].p_star, int(n.sum())
    rng = np.random.default_rng(seed)
    null = rng.multinomial(total, p_star / p_star.sum(), size=n_null) / total - p_star
    return Drift(edges=drifts[0].edges, p_star=p_star, p_hat=p_hat, delta=p_hat - p_star,
                 tv=float(0.5 * np.abs(p_hat - p_star).sum()), w1=np.nan,
                 outside=float(p_hat[0] + p_hat[-1]), n=total,
                 null_band=np.quantile(null, [0.025, 0.975], axis=0),
                 null={"tv": 0.5 * np.abs(null).sum(1), "w1": np.full(n_null, np.nan),
                       "outside": null[:, 0] + null[:, -1] + p_star[0] + p_star[-1]})


@dataclass
class SeedAgreement:
    """Between-seed agreement of the per-bin changes: ``pairwise`` (k, k) correlations,
    ``mean_pairwise`` r, ``reliability`` of the k-seed mean, ``correlation_ceiling`` =
    sqrt(reliability)."""
    pairwise: np.ndarray
    mean_pairwise: float
    reliability: float
    correlation_ceiling: float
    k: int


def seed_agreement(drifts) -> SeedAgreement:
    """The reliability ceiling of the seeds' per-bin changes (module docstring)."""
    drifts = _check_drifts(drifts)
    k = len(drifts)
    pairwise = np.eye(k)
    for i, j in combinations(range(k), 2):
        pairwise[i, j] = pairwise[j, i] = pearson(drifts[i].delta, drifts[j].delta)
    r = float(np.nanmean(pairwise[np.triu_indices(k, 1)]))
    reliability = k * r / (1 + (k - 1) * r) if r > -1 / (k - 1) else np.nan
    ceiling = float(np.sqrt(reliability)) if np.isfinite(reliability) and reliability > 0 else 0.0
    return SeedAgreement(pairwise=pairwise, mean_pairwise=r, reliability=float(reliability),
                         correlation_ceiling=ceiling, k=k)


def validate_seed_mean(prediction: Prediction, drifts, seed: int = 0, **kwargs) -> Validation:
    """``validate(prediction, seed_mean_drift(drifts))``; ``kwargs`` go to ``validate``."""
    return validate(prediction, seed_mean_drift(drifts, seed=seed), seed=seed, **kwargs)
