"""Reweighting: from a first model A, weight the training examples by ``w(q) = p*(q) / p_hat_A(q)``
(per bin, clipped), as importance weights of the training loss or by resampling the dataset to
the same size.
"""
from __future__ import annotations

import numpy as np

from .. import metrics, priors
from ..seeds import stream
from ..tasks import Dataset


def reweighting_weights(q_train, q_hat_a, prior: priors.Prior, edges: np.ndarray, clip: float = 10.0) -> np.ndarray:
    """Per training example, ``w = p*(b) / p_hat_A(b)`` of its quantity's bin ``b`` (interior bins
    of ``edges``), clipped to ``[1/clip, clip]`` (companion's choice: 10; a bin model A never
    reached would otherwise get an infinite weight) and scaled to mean 1."""
    if not clip >= 1:
        raise ValueError(f"clip must be >= 1, got {clip!r}")
    p_star = metrics.prior_masses(prior, edges)
    p_hat = metrics.histogram(q_hat_a, edges)
    b = metrics.bin_index(q_train, edges)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(p_hat[b] > 0, p_star[b] / p_hat[b], clip)
    w = np.clip(w, 1.0 / clip, clip)
    return w / w.mean()


def resample(data: Dataset, weights: np.ndarray, seed: int) -> Dataset:
    """A dataset of the same size drawn from ``data`` with replacement, example ``i`` with
    probability proportional to ``weights[i]`` (the resampling variant of reweighting)."""
    w = np.asarray(weights, float)
    if w.shape != (len(data),) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {len(data)} finite values >= 0 with a positive sum, got shape {w.shape}")
    idx = stream(seed, "resample").choice(len(data), size=len(data), p=w / w.sum())
    return Dataset(task=data.task, x=data.x[idx], q=data.q[idx], prior=data.prior, seed=data.seed,
                   mode=data.mode, xi=None if data.xi is None else data.xi[idx],
                   info={**data.info, "resampled_from": data.fingerprint(), "resample_seed": seed})


def weighted_masses(q, weights, edges: np.ndarray) -> np.ndarray:
    """The bin masses (``edges`` plus the two overflow bins) of quantities ``q`` under ``weights``:
    the training distribution of a reweighted or resampled model."""
    idx = metrics.bin_index(q, edges)
    return np.bincount(idx, weights=weights, minlength=len(edges) + 1) / weights.sum()
