"""Kernel-informed pre-compensation: model A's kernel as a q-space transition matrix ``P(b' | b)``
(``transition_matrix``), the outcome it predicts for a training distribution (``predicted_outcome``:
every intervention's prediction before its model B is trained), and a training prior ``pi >= 0``
with ``P pi ~ p*`` (``precompensate``) as a prior to curate with (``histogram_prior``).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

from .. import metrics, priors
from ..checks import check_positive_int

PRECOMPENSATION_METHODS = ("nnls", "richardson-lucy")


def transition_matrix(q_before, q_after, edges: np.ndarray) -> np.ndarray:
    """``P[j, i]``: the probability that a clean trajectory with quantity in bin ``i`` is measured
    in bin ``j`` after the kernel (bins: ``edges`` plus the two overflow bins, as in
    ``metrics.histogram``). Columns of source bins with no trajectory are the identity."""
    nb = len(edges) + 1
    i = metrics.bin_index(q_before, edges)
    j = metrics.bin_index(q_after, edges)
    counts = np.zeros((nb, nb))
    np.add.at(counts, (j, i), 1.0)
    total = counts.sum(0)
    P = np.where(total > 0, counts / np.maximum(total, 1), 0.0)
    P[:, total == 0] = np.eye(nb)[:, total == 0]
    return P


def precompensate(P: np.ndarray, target: np.ndarray, support: np.ndarray | None = None,
                  method: str = "nnls", iterations: int = 500) -> np.ndarray:
    """A training distribution ``pi >= 0`` (summing to 1) over the bins with ``P @ pi ~ target``.

    ``support``: boolean mask of the bins ``pi`` may use (default: where ``target > 0``; widen it
    by the bins just outside the range where the task's generator is defined there).
    ``method="nnls"``: non-negative least squares, then normalised; ``"richardson-lucy"``: the
    multiplicative EM deconvolution, started from ``target`` on the support (keeps ``pi >= 0``
    and its sum, converges to the maximum-likelihood solution)."""
    if method not in PRECOMPENSATION_METHODS:
        raise ValueError(f"unknown pre-compensation method {method!r}; valid: {list(PRECOMPENSATION_METHODS)}")
    target = np.asarray(target, float)
    support = target > 0 if support is None else np.asarray(support, bool)
    if support.shape != target.shape or not support.any():
        raise ValueError(f"support must be a non-empty boolean mask of shape {target.shape}")
    A = P[:, support]
    if method == "nnls":
        x, _ = nnls(A, target)
    else:
        check_positive_int("iterations", iterations)
        x = np.where(target[support] > 0, target[support], 1e-3)
        x = x / x.sum()
        norm = np.maximum(A.sum(0), 1e-12)
        for _ in range(iterations):
            x *= (A.T @ (target / np.maximum(A @ x, 1e-12))) / norm
    pi = np.zeros_like(target)
    pi[support] = x
    if not pi.sum() > 0:
        raise ValueError("pre-compensation found no training distribution: from the bins of the support, "
                         "the kernel sends no mass into the bins where the target has mass")
    return pi / pi.sum()


def histogram_prior(pi: np.ndarray, edges: np.ndarray, outer_width: float | None = None) -> priors.Histogram:
    """``pi`` over ``edges`` plus the two overflow bins as a ``priors.Histogram``; overflow bins
    with mass become bins of ``outer_width`` (default: one bin width) just outside the range."""
    edges = np.asarray(edges, float)
    width = float(np.diff(edges).mean()) if outer_width is None else float(outer_width)
    full = np.concatenate([[edges[0] - width], edges, [edges[-1] + width]])
    keep = np.flatnonzero(pi > 0)
    lo, hi = keep.min(), keep.max()
    return priors.Histogram(full[lo:hi + 2], pi[lo:hi + 1])


def predicted_outcome(P: np.ndarray, training: np.ndarray) -> np.ndarray:
    """The recovered bin masses the kernel predicts for a model trained on the bin masses
    ``training`` (the intervention's training distribution): ``P @ training``."""
    return P @ np.asarray(training, float)
