"""What the suite measures of a set of samples: their quantities, the drift against the intended
prior with its finite-sample null (``metrics.drift``) and their plausibility against the training
data; and the plausibility of fresh clean trajectories, the baseline a plausible sample should
match.

Cached (kind ``suite-evaluation``, keyed by the code of this module and what it imports): every
chapter that loads a suite evaluates the same samples again, and the null's W1 draws and the
nearest-clean distances are most of the cost of loading a suite (about a second an entry on 2
cores), as curating the clean reference set is for the applied tasks. Loaded again bit for bit.
"""
from __future__ import annotations

import numpy as np

from .. import metrics, tasks
from ..cache import ArtifactStore
from ..priors import Prior
from ..provenance import kind_hash

KIND = "suite-evaluation"


def plausibility(task: tasks.Task, x: np.ndarray, data: tasks.Dataset) -> dict[str, np.ndarray]:
    """The task's own measures plus ``nearest_clean_rms``: RMS distance (per time step, data
    units) to the nearest training trajectory."""
    return {**task.plausibility(x), "nearest_clean_rms": metrics.nearest_clean(x, data.x)[1]}


def evaluation(task: tasks.Task, prior: Prior, data: tasks.Dataset, samples: np.ndarray, bins: int,
               n_null: int, seed: int, store: ArtifactStore) -> tuple[np.ndarray, metrics.Drift, dict]:
    """``(q_hat, drift, plausibility)`` of ``samples``: their measured quantities, the drift
    against ``prior`` (``bins`` bins, a null of ``n_null`` draws at ``seed``) and ``plausibility``
    against ``data``."""
    def compute():
        q_hat = np.asarray(task.measure(samples), dtype=float)
        d = metrics.drift(q_hat, prior, bins=bins, n_null=n_null, seed=seed)
        return {"q_hat": q_hat, "edges": d.edges, "p_star": d.p_star, "p_hat": d.p_hat, "delta": d.delta,
                "scalars": np.array([d.tv, d.w1, d.outside, d.n], dtype=float), "null_band": d.null_band,
                **{f"null_{k}": v for k, v in d.null.items()},
                **{f"plausibility_{k}": v for k, v in plausibility(task, samples, data).items()}}
    a = cached_arrays({"task": task.describe(), "prior": prior.to_dict(), "data": data.fingerprint(),
                       "samples": samples, "bins": int(bins), "n_null": int(n_null), "seed": int(seed)},
                      compute, store)
    tv, w1, outside, n = a["scalars"]
    drift = metrics.Drift(edges=a["edges"], p_star=a["p_star"], p_hat=a["p_hat"], delta=a["delta"], tv=float(tv),
                          w1=float(w1), outside=float(outside), n=int(n), null_band=a["null_band"],
                          null={k: a[f"null_{k}"] for k in ("tv", "w1", "outside")})
    return a["q_hat"], drift, {k.removeprefix("plausibility_"): v for k, v in a.items() if k.startswith("plausibility_")}


def reference_plausibility(task: tasks.Task, prior: Prior, data: tasks.Dataset, n: int, seed: int,
                           store: ArtifactStore) -> dict[str, np.ndarray]:
    """``plausibility`` of ``n`` fresh clean trajectories of ``task`` curated under ``prior`` at
    ``seed``, against ``data``."""
    return cached_arrays({"task": task.describe(), "prior": prior.to_dict(), "data": data.fingerprint(),
                          "reference": int(n), "seed": int(seed)},
                         lambda: plausibility(task, task.curate(n, prior=prior, seed=seed).x, data), store)


def cached_arrays(inputs: dict, compute, store: ArtifactStore) -> dict[str, np.ndarray]:
    """``compute()``'s named arrays, cached (``KIND``) under ``inputs`` and the code."""
    return store.get_or_compute_arrays(KIND, {**inputs, "library": kind_hash(KIND)}, compute)
