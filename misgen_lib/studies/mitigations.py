"""Interventions against physical misgeneralization, as functions a user applies to a task and
model class of their own (the mitigations chapter runs them on the book's tasks):

1. **reweighting** (``reweighting_weights``, ``resample``): from a first model A, weight the
   training examples by ``w(q) = p*(q) / p_hat_A(q)`` (per bin, clipped), as importance weights of
   the training loss or by resampling the dataset to the same size;
2. **conditioning**: ``SuiteConfig(conditional=True)``; ``fidelity`` gives the curves
   ``E[m(x_hat) | q_c] - q_c`` and ``sd[m(x_hat) | q_c]`` (the kernel's b(q) and s(q) in q-space);
3. **kernel-informed pre-compensation** (``transition_matrix``, ``precompensate``): the kernel's
   q-space transition matrix ``P(b' | b)``, and a training prior ``pi >= 0`` with ``P pi ~ p*``;
4. **kernel-informed coordinate transform**: see ``studies.transforms``.

Each intervention's outcome can be predicted before model B is trained by pushing its training
distribution through the kernel (``predicted_outcome``).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

from .. import metrics, priors
from ..checks import check_positive_int
from ..seeds import stream
from ..tasks import Dataset

PRECOMPENSATION_METHODS = ("nnls", "richardson-lucy")


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


def fidelity(q_condition, q_hat, edges: np.ndarray):
    """Conditioning fidelity per bin of the requested quantity ``q_c``: the mean error
    ``E[m(x_hat) | q_c] - q_c``, the spread ``sd[m(x_hat) | q_c]`` and the count (pandas
    DataFrame; non-finite measurements are counted as ``non-finite`` and left out)."""
    import pandas as pd
    q_condition, q_hat = np.asarray(q_condition, float), np.asarray(q_hat, float)
    b = np.clip(np.searchsorted(edges, q_condition, side="right") - 1, 0, len(edges) - 2)
    rows = []
    for k in range(len(edges) - 1):
        sel = b == k
        finite = sel & np.isfinite(q_hat)
        err = q_hat[finite] - q_condition[finite]
        rows.append({"q_c": 0.5 * (edges[k] + edges[k + 1]), "mean error": err.mean() if err.size else np.nan,
                     "sd": q_hat[finite].std() if err.size > 1 else np.nan, "n": int(sel.sum()),
                     "non-finite": int((sel & ~np.isfinite(q_hat)).sum())})
    return pd.DataFrame(rows)
