"""Curation of a dataset to an intended prior, two ways (both seeded).

* ``mode="prior"``: draw ``q ~ prior``, nuisance ``xi``, and generate ``x = g(q, xi)``.
* ``mode="balanced"``: generate raw demonstrations (``task.raw_demonstrations``), measure them,
  and keep them in arrival order until every one of ``bins`` equal bins over the task's range
  holds its quota ``n * prior mass`` (largest-remainder rounding): bin-balanced rejection, the
  way an engineer curates maze demos. ``info["n_raw"]`` reports how many raw demos were needed
  (the position in the raw stream of the demo that filled the last quota; ``n_generated``
  counts the whole batches made).

In both modes ``Dataset.q`` is the measured quantity of the stored float32 trajectories (what a
model sees and what its samples are compared against).
"""
from __future__ import annotations

import numpy as np

from .. import priors as _priors
from ..checks import check_positive_int
from ..progress import bar as progress_bar
from .dataset import Dataset

MODES = ("prior", "balanced")


def quotas(n: int, masses: np.ndarray) -> np.ndarray:
    """Integer counts summing to ``n`` proportional to ``masses`` (largest remainder)."""
    exact = n * np.asarray(masses, float) / np.sum(masses)
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return counts


def check_prior(task, prior) -> _priors.Prior:
    if prior is None:
        return task.default_prior()
    if not isinstance(prior, _priors.Prior):
        raise TypeError(f"prior must be a misgen_lib.priors.Prior, got {prior!r}")
    lo, hi = task.q_range
    if prior.lo < lo or prior.hi > hi:
        raise ValueError(f"{task.name}: prior support [{prior.lo}, {prior.hi}] leaves the task's "
                         f"{task.quantity} range [{lo}, {hi}]")
    return prior


def curate(task, n: int, prior=None, seed: int = 0, mode: str = "prior", bins: int = 20,
           max_raw: int | None = None, progress: bool = False) -> Dataset:
    n = check_positive_int("n", n)
    bins = check_positive_int("bins", bins)
    seed = check_positive_int("seed", seed, minimum=0)
    if mode not in MODES:
        raise ValueError(f"unknown curation mode {mode!r}; valid: {list(MODES)}")
    prior = check_prior(task, prior)
    rng = np.random.default_rng(seed)
    if mode == "prior":
        q_drawn = prior.sample(n, rng)
        xi = task.nuisance(n, rng)
        x = np.asarray(task.generate(q_drawn, xi), dtype=np.float32)
        q = np.asarray(task.measure(x), dtype=float)
        info = {"max_measure_error": float(np.max(np.abs(q - q_drawn)))}
    else:
        x, q, xi, info = _balanced(task, n, prior, rng, bins, max_raw, progress)
    return Dataset(task=task.name, x=x, q=q, prior=prior.to_dict(), seed=seed, mode=mode, xi=xi,
                   info={"task": task.describe(), "bins": bins, **info})


def _balanced(task, n, prior, rng, bins, max_raw, progress):
    max_raw = check_positive_int("max_raw", max_raw) if max_raw is not None else 1000 * n
    edges = np.linspace(*task.q_range, bins + 1)
    quota = quotas(n, prior.bin_masses(edges))
    kept_x, kept_q, kept_xi = [], [], []
    filled = np.zeros(bins, dtype=int)
    n_raw = 0
    batch = max(256, 2 * n)
    with progress_bar(total=n, desc=f"curating {task.name}", progress=progress) as bar:
        while (filled < quota).any():
            if n_raw >= max_raw:
                short = {f"[{edges[b]:.3g}, {edges[b + 1]:.3g})": int(quota[b] - filled[b])
                         for b in np.flatnonzero(filled < quota)}
                raise RuntimeError(f"{task.name}: bin-balanced curation needs more than max_raw="
                                   f"{max_raw} raw demonstrations; bins still short: {short}")
            size = min(batch, max_raw - n_raw)
            x, xi = task.raw_demonstrations(size, rng)
            x = np.asarray(x, dtype=np.float32)
            q = np.asarray(task.measure(x), dtype=float)
            n_raw += size
            b = np.searchsorted(edges, q, side="right") - 1
            b = np.where(q == edges[-1], bins - 1, b)
            for i in np.flatnonzero((b >= 0) & (b < bins) & np.isfinite(q)):
                if filled[b[i]] < quota[b[i]]:
                    filled[b[i]] += 1
                    n_needed = n_raw - size + i + 1
                    kept_x.append(x[i])
                    kept_q.append(q[i])
                    if xi is not None:
                        kept_xi.append(xi[i])
            bar.update(int(filled.sum()) - bar.n)
    xi = np.stack(kept_xi) if kept_xi else None
    return (np.stack(kept_x), np.array(kept_q), xi,
            {"n_raw": n_needed, "n_generated": n_raw, "acceptance": n / n_needed,
             "quota": quota.tolist()})
