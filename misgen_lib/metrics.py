"""Drift of a recovered distribution against the intended prior, with finite-sample nulls.

Binning: ``bins`` equal bins over ``[q_lo, q_hi]`` plus two overflow bins (below, above), so mass
that leaves the range is counted, not dropped. Metrics:

* ``delta``: per-bin mass change ``p_hat_b - p*_b`` (overflow bins included);
* ``tv``: total variation ``1/2 sum_b |delta_b|``;
* ``w1``: 1-Wasserstein distance between the recovered samples and a large reference sample of
  the prior (``w1_sorted``: ``scipy.stats.wasserstein_distance``'s arithmetic on presorted
  samples, so the reference is sorted once per drift, not once per null draw);
* ``outside``: mass outside ``[q_lo, q_hi]``.

The **finite-sample null** of each metric is its distribution when the "recovered" samples are an
independent clean sample of the same size from the prior (``n_null`` bootstrap draws): a drift is
real only where it leaves the null's central 95% (``null_band`` per bin; ``null_q95`` per scalar).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .priors import Prior


def w1_sorted(u: np.ndarray, v: np.ndarray) -> float:
    """1-Wasserstein distance between the empirical distributions of two sorted samples, by the
    arithmetic of ``scipy.stats.wasserstein_distance(u, v)`` (the CDFs' difference summed over
    the gaps between the merged values; equal to scipy's to rounding: tests). The merge of two
    sorted samples is linear (the stable sort finds two runs) where scipy sorts them from
    scratch. The sum is numpy's, not BLAS's dot product as in scipy: OpenBLAS splits a long dot
    product over its threads, so its last bits move with their number (one in a parallel
    build's processes, which inherit Dask's worker setting; one per core in a sequential build)."""
    merged = np.sort(np.concatenate((u, v)), kind="mergesort")
    deltas = np.diff(merged)
    u_cdf = u.searchsorted(merged[:-1], "right") / u.size
    v_cdf = v.searchsorted(merged[:-1], "right") / v.size
    return float((np.abs(u_cdf - v_cdf) * deltas).sum())


def bin_edges(q_range: tuple[float, float], bins: int) -> np.ndarray:
    """Interior edges; the overflow bins are ``(-inf, lo)`` and ``[hi, inf)``."""
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins!r}")
    return np.linspace(q_range[0], q_range[1], bins + 1)


def bin_index(q: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value, overflow bins first (0) and last (len(edges)); NaN counts as above."""
    q = np.asarray(q, dtype=float)
    q = np.where(np.isfinite(q), q, np.inf)
    idx = np.searchsorted(edges, q, side="right")  # 0 = below, len(edges) = above
    return np.where(q == edges[-1], len(edges) - 1, idx)  # the top edge belongs to the last bin


def histogram(q: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mass per bin with overflow bins first and last: shape (len(edges) + 1,). NaN counts as
    outside (above)."""
    idx = bin_index(q, edges)
    return np.bincount(idx.ravel(), minlength=len(edges) + 1) / max(idx.size, 1)


def prior_masses(prior: Prior, edges: np.ndarray) -> np.ndarray:
    inner = prior.bin_masses(edges)
    below = float(prior.cdf(np.array([edges[0]]))[0])
    above = 1.0 - float(prior.cdf(np.array([edges[-1]]))[0])
    return np.concatenate([[below], inner, [above]])


@dataclass
class Drift:
    edges: np.ndarray
    p_star: np.ndarray
    p_hat: np.ndarray
    delta: np.ndarray
    tv: float
    w1: float
    outside: float
    n: int
    null_band: np.ndarray            # (2, nbins): 2.5% and 97.5% of delta under the null
    null: dict[str, np.ndarray] = field(repr=False)  # bootstrap draws of tv, w1, outside

    @property
    def centers(self) -> np.ndarray:
        """Bin centres of the interior bins (overflow bins excluded)."""
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    def null_q95(self, metric: str) -> float:
        return float(np.quantile(self.null[metric], 0.95))

    def beyond_null(self) -> np.ndarray:
        """Boolean per bin: observed change outside the null's central 95%."""
        return (self.delta < self.null_band[0]) | (self.delta > self.null_band[1])

    def resampled(self, n_boot: int, seed: int = 0) -> np.ndarray:
        """``n_boot`` bootstrap histograms, shape (n_boot, bins): the observed histogram resampled
        as a multinomial of its own sample size (the same as resampling the measured samples)."""
        rng = np.random.default_rng(seed)
        return rng.multinomial(self.n, self.p_hat / self.p_hat.sum(), size=n_boot) / self.n

    def tv_draws(self, n_boot: int, seed: int = 0) -> np.ndarray:
        """TV against ``p_star`` of ``resampled(n_boot, seed)``."""
        return 0.5 * np.abs(self.resampled(n_boot, seed) - self.p_star).sum(axis=1)

    def summary(self) -> dict[str, float]:
        return {"n": self.n, "tv": self.tv, "tv_null95": self.null_q95("tv"),
                "w1": self.w1, "w1_null95": self.null_q95("w1"),
                "outside": self.outside, "outside_null95": self.null_q95("outside")}


def drift(q_hat, prior: Prior, bins: int = 20, q_range: tuple[float, float] | None = None,
          n_null: int = 200, n_reference: int = 20000, seed: int = 0) -> Drift:
    """Drift of the measured quantities ``q_hat`` of model samples against ``prior``."""
    q_hat = np.asarray(q_hat, dtype=float).ravel()
    if q_hat.size == 0:
        raise ValueError("drift needs at least one measured sample, got an empty array")
    q_range = q_range or (prior.lo, prior.hi)
    edges = bin_edges(q_range, bins)
    rng = np.random.default_rng(seed)
    reference = np.sort(prior.sample(n_reference, rng))
    p_star = prior_masses(prior, edges)

    def metrics(q):
        p = histogram(q, edges)
        finite = q[np.isfinite(q)]
        w1 = w1_sorted(np.sort(finite), reference) if finite.size else np.inf
        return p, 0.5 * np.abs(p - p_star).sum(), w1, p[0] + p[-1]

    p_hat, tv, w1, outside = metrics(q_hat)
    null_deltas, null_tv, null_w1, null_out = [], [], [], []
    for _ in range(n_null):
        p, t, w, o = metrics(prior.sample(q_hat.size, rng))
        null_deltas.append(p - p_star)
        null_tv.append(t)
        null_w1.append(w)
        null_out.append(o)
    band = np.quantile(np.array(null_deltas), [0.025, 0.975], axis=0)
    return Drift(edges=edges, p_star=p_star, p_hat=p_hat, delta=p_hat - p_star, tv=float(tv),
                 w1=float(w1), outside=float(outside), n=q_hat.size, null_band=band,
                 null={"tv": np.array(null_tv), "w1": np.array(null_w1), "outside": np.array(null_out)})


def seed_draws(k: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """The seeds of ``n_boot`` hierarchical bootstrap rounds over ``k`` seeds, shape (n_boot, k):
    each round draws ``k`` seeds with replacement (the first level; the second, samples within
    each drawn seed, is the caller's)."""
    return rng.integers(0, k, size=(n_boot, k))


def seed_mean_interval(points, draws, n_boot: int = 1000, seed: int = 0) -> tuple[float, tuple[float, float]]:
    """Mean over seeds of a per-seed statistic, with its 95% hierarchical bootstrap interval.

    ``points``: the statistic of each seed; ``draws``: per seed, bootstrap draws of it with that
    seed's samples resampled (each shifted to centre on its point, so the resampling's own bias,
    e.g. TV's upward one, does not move the interval). Each of ``n_boot`` rounds draws the seeds
    with replacement (``seed_draws``) and, for each drawn seed, one of its draws; the round's value
    is their mean, and the interval the 2.5% and 97.5% quantiles of the rounds. With one seed this
    is that seed's sample bootstrap. With few seeds the between-seed spread is underestimated by
    the factor (k - 1) / k in variance, as in any bootstrap over k replicates."""
    points = np.asarray(points, dtype=float)
    k = points.size
    if k == 0:
        raise ValueError("seed_mean_interval needs at least one seed")
    centred = [np.asarray(d, float)[np.isfinite(d)] for d in draws]
    if len(centred) != k or any(d.size == 0 for d in centred):
        raise ValueError(f"seed_mean_interval needs finite draws for each of the {k} seeds")
    centred = [d - d.mean() + p for d, p in zip(centred, points)]
    rng = np.random.default_rng(seed)
    picks = seed_draws(k, n_boot, rng)
    rounds = np.empty(picks.shape)
    for s, d in enumerate(centred):
        where = picks == s
        rounds[where] = d[rng.integers(0, d.size, size=int(where.sum()))]
    lo, hi = np.quantile(rounds.mean(axis=1), [0.025, 0.975])
    return float(points.mean()), (float(lo), float(hi))


def nearest_clean(x_hat: np.ndarray, reference: np.ndarray, chunk: int = 512
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest clean trajectory in ``reference`` (M, T, d) for each sample in
    ``x_hat`` (N, T, d), and the RMS distance per time step to it. Chunked to bound memory."""
    import torch
    ref = torch.as_tensor(np.asarray(reference, dtype=np.float32)).flatten(1)
    xs = torch.as_tensor(np.asarray(x_hat, dtype=np.float32)).flatten(1)
    if ref.shape[1] != xs.shape[1]:
        raise ValueError(f"sample shape {tuple(x_hat.shape[1:])} does not match reference "
                         f"shape {tuple(reference.shape[1:])}")
    idx, dist = [], []
    for start in range(0, len(xs), chunk):
        d = torch.cdist(xs[start:start + chunk].double(), ref.double())
        best = d.min(dim=1)
        idx.append(best.indices.numpy())
        dist.append(best.values.numpy() / np.sqrt(ref.shape[1]))
    return np.concatenate(idx), np.concatenate(dist)


def prior_location(prior: Prior, grid: int = 20001) -> tuple[float, float]:
    """Mean and median of ``prior`` from its CDF: mean ``lo + int_lo^hi (1 - F)``, median by
    bisection of ``F = 1/2`` (exact up to the grid / 1e-12 of the range)."""
    q = np.linspace(prior.lo, prior.hi, grid)
    survival = 1.0 - np.asarray(prior.cdf(q), dtype=float)
    mean = prior.lo + float(np.sum(0.5 * (survival[1:] + survival[:-1]) * np.diff(q)))
    lo, hi = float(prior.lo), float(prior.hi)
    while hi - lo > 1e-12 * (prior.hi - prior.lo):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if float(prior.cdf(np.array([mid]))[0]) < 0.5 else (lo, mid)
    return mean, 0.5 * (lo + hi)


@dataclass
class LocationShift:
    """Where the recovered quantities sit against the prior. ``mean_shift``: mean of the finite
    ``q_hat`` minus the prior's mean; ``share_above_median``: share of the finite ``q_hat`` above
    the prior's median (1/2 under the prior). Each with ``*_ci``, the 95% bootstrap interval of
    the samples, and ``*_null``, the central 95% of the same statistic for an independent clean
    sample of the same size from the prior (the finite-sample null)."""
    mean_shift: float
    mean_shift_ci: tuple[float, float]
    mean_shift_null: tuple[float, float]
    share_above_median: float
    share_above_median_ci: tuple[float, float]
    share_above_median_null: tuple[float, float]
    prior_mean: float
    prior_median: float
    n: int                 # finite samples used
    n_nonfinite: int       # samples left out (NaN / inf quantities)
    #: the bootstrap draws behind ``*_ci`` and the null draws behind ``*_null``
    draws: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def beyond_null(self, statistic: str = "mean_shift") -> int:
        """+1 where the statistic's whole bootstrap interval lies above the null's band, -1 below,
        0 where they overlap (no shift a finite sample cannot explain)."""
        ci, band = getattr(self, f"{statistic}_ci"), getattr(self, f"{statistic}_null")
        return 1 if ci[0] > band[1] else -1 if ci[1] < band[0] else 0


def location_shift(q_hat, prior: Prior, n_boot: int = 1000, seed: int = 0) -> LocationShift:
    """Mean shift and share above the prior's median of the measured quantities ``q_hat``, with
    bootstrap intervals and their finite-sample nulls (see ``LocationShift``)."""
    q_hat = np.asarray(q_hat, dtype=float).ravel()
    finite = q_hat[np.isfinite(q_hat)]
    if finite.size == 0:
        raise ValueError(f"location_shift needs at least one finite quantity, got {q_hat.size} "
                         f"values, none finite")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot!r}")
    mean, median = prior_location(prior)
    rng = np.random.default_rng(seed)
    boot = finite[rng.integers(0, finite.size, size=(n_boot, finite.size))]
    null = prior.sample(n_boot * finite.size, rng).reshape(n_boot, finite.size)

    def band(values):
        lo, hi = np.quantile(values, [0.025, 0.975])
        return float(lo), float(hi)

    return LocationShift(
        mean_shift=float(finite.mean() - mean), mean_shift_ci=band(boot.mean(1) - mean),
        mean_shift_null=band(null.mean(1) - mean),
        share_above_median=float((finite > median).mean()),
        share_above_median_ci=band((boot > median).mean(1)),
        share_above_median_null=band((null > median).mean(1)),
        prior_mean=mean, prior_median=median, n=int(finite.size),
        n_nonfinite=int(q_hat.size - finite.size),
        draws={"mean_shift": boot.mean(1) - mean, "share_above_median": (boot > median).mean(1),
               "mean_shift_null": null.mean(1) - mean, "share_above_median_null": (null > median).mean(1)})
