"""Where in the generative process the drift is made (issue 19): the probe kernel of each task x
model pair at depths spanning the class's whole process (``kernel.process_depths``: diffusion,
1 to all K reverse steps; transformer, clean prefixes from T/2 down to one step; VAE, 1 to 16
round trips), each pooled over the seeds and validated against the pair's seed-mean drift.

The curve of share explained (over its noise ceiling) against the probe's locality index says
where the drift is made: a class whose drift is reproduced by a probe that barely moves clean
trajectories makes it locally (late denoising steps); one that needs the whole process makes it
globally (a transformer's first steps, a VAE's latent prior). ``locality_at(fraction)`` is the
locality at which the ceiling-normalised share first reaches ``fraction`` (linear between the
grid's depths; NaN when it never does).

The chosen depth of the declared rule (``kernel.within_budget``, as ``kernel.deepest_local``:
the deepest depth whose locality, mean over the seeds, is within ``kernel.LOCALITY_BUDGET``;
free of the quantity and of the samples) is marked on each curve; ``at_budget`` gives the row
the rule chooses at another budget (its sensitivity).

Seeds: the clean draws are those of ``kernel_study.probe_study`` (stream ``("kernel-clean",
task)`` of each seed, the first ``n_predict``); the probe draws ``("anatomy-draws", task, model,
depth)`` (they also measure its locality); the validation ``("validation-pooled", task, model)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import jobs, models
from ..kernel import LOCALITY_BUDGET, process_depths, validate, within_budget
from ..kernel.predict import clean_draws
from ..seeds import derive
from .kernel_study import by_pair, pair_drift, pooled, probe_prediction


@dataclass
class DepthCurve:
    """One task x model pair: per depth of the whole process (``rows``), the locality index of
    the probe (mean over seeds), the pooled prediction's correlation and share explained with
    the drift, each beside its noise ceiling; ``budget``: the locality budget of the declared
    rule and ``chosen``, the deepest depth within it (by the mean locality)."""
    task: str
    model: str
    seeds: int
    rows: list[dict]
    budget: float

    @property
    def chosen(self) -> int:
        """The depth the declared rule chooses at ``budget``."""
        return self.at_budget(self.budget)["depth"]

    def locality_at(self, fraction: float) -> float:
        """The locality at which the ceiling-normalised share first reaches ``fraction`` (linear
        between grid depths; NaN if it never does)."""
        loc = np.array([r["locality"] for r in self.rows])
        share = np.array([r["share / ceiling"] for r in self.rows])
        hit = np.flatnonzero(share >= fraction)
        if not hit.size:
            return float("nan")
        i = int(hit[0])
        if i == 0 or not np.isfinite(share[i - 1]):
            return float(loc[i])
        t = (fraction - share[i - 1]) / (share[i] - share[i - 1])
        return float(loc[i - 1] + t * (loc[i] - loc[i - 1]))

    def at_budget(self, budget: float) -> dict:
        """The row of the depth the declared rule chooses at locality ``budget``."""
        depth = within_budget([r["depth"] for r in self.rows], [r["locality"] for r in self.rows], budget)
        return next(r for r in self.rows if r["depth"] == depth)

    def summary(self) -> dict:
        best = max(self.rows, key=lambda r: r["share / ceiling"] if np.isfinite(r["share / ceiling"]) else -np.inf)
        at = self.at_budget(self.budget)
        return {"task": self.task, "model": self.model, "seeds": self.seeds, "budget": self.budget,
                "chosen depth": self.chosen, "locality (chosen)": at["locality"],
                "correlation (chosen)": at["correlation"], "corr ceiling": at["corr ceiling"],
                "share / ceiling (chosen)": at["share / ceiling"],
                "best share / ceiling": best["share / ceiling"], "at depth": best["depth"],
                "locality at 1/2": self.locality_at(0.5), "locality at 4/5": self.locality_at(0.8)}


@dataclass(frozen=True)
class _CurveJob:
    group: list
    n_predict: int
    n_boot: int
    budget: float
    threads: int


def depth_curves(entries, n_predict: int = 1000, n_boot: int = 100,
                 budget: float = LOCALITY_BUDGET, workers: int = 0, threads: int = 1,
                 progress: bool | None = None) -> list[DepthCurve]:
    """The depth curve of every task x model pair of suite ``entries`` (one job per pair, as
    ``kernel_study.probe_study``: the same numbers for any number of workers). ``n_predict``
    clean trajectories per seed and depth are pushed through the probe; the locality is that of
    the same draws (``Prediction.locality``, mean over the seeds)."""
    return jobs.run(_curve, [_CurveJob(group, n_predict, n_boot, budget, threads)
                             for group in by_pair(entries)], workers=workers, desc="depth curves", progress=progress)


def _curve(job: _CurveJob) -> DepthCurve:
    group, first = job.group, job.group[0]
    task_name, model_name = first.task.name, first.model.name
    drift = pair_drift(group)
    vseed = derive(first.seed, "validation-pooled", task_name, model_name)
    cleans = [clean_draws(e.task, e.prior, job.n_predict, derive(e.seed, "kernel-clean", task_name)) for e in group]
    rows = []
    with models.torch_threads(job.threads):
        for depth in process_depths(first.model):
            preds = [probe_prediction(e, depth, clean, derive(e.seed, "anatomy-draws", task_name, model_name, depth))
                     for e, clean in zip(group, cleans)]
            prediction = pooled(preds)
            v = validate(prediction, drift, n_boot=job.n_boot, seed=vseed)
            rows.append({"depth": depth, "locality": prediction.locality, "correlation": v.correlation,
                         "corr ceiling": v.ceiling.correlation, "share explained": v.share_explained,
                         "share ceiling": v.ceiling.share, "share / ceiling": v.share_normalised})
    return DepthCurve(task_name, model_name, len(group), rows, job.budget)


def curve_table(curves: list[DepthCurve]):
    """pandas DataFrame, one row per task x model: the declared rule's depth and its agreement
    beside the ceilings, the best depth of the curve, and the localities at which half and four
    fifths of the ceiling-normalised share are reached."""
    import pandas as pd
    return pd.DataFrame([c.summary() for c in curves])


#: the budgets at which the book shows the rule's sensitivity: half and twice the declared one
SENSITIVITY = (LOCALITY_BUDGET / 2, LOCALITY_BUDGET, 2 * LOCALITY_BUDGET)


def budget_table(curves: list[DepthCurve], budgets=SENSITIVITY):
    """pandas DataFrame, one row per task x model and budget: the depth the rule chooses at that
    budget, its locality, correlation and share / ceiling (the rule's sensitivity to its one knob)."""
    import pandas as pd
    rows = []
    for c in curves:
        for b in budgets:
            r = c.at_budget(b)
            rows.append({"task": c.task, "model": c.model, "budget": b, "depth": r["depth"], "locality": r["locality"],
                         "correlation": r["correlation"], "corr ceiling": r["corr ceiling"],
                         "share / ceiling": r["share / ceiling"]})
    return pd.DataFrame(rows)
