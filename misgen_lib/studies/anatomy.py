"""Where in the generative process the drift is made (the companion's extension): the probe
kernel of each task x model pair at depths spanning the class's whole process
(``kernel.process_depths``: diffusion, 1 to all K reverse steps; transformer, clean prefixes from
T/2 down to one step; VAE, 1 to 16 round trips), each pooled over the seeds and validated
against the pair's seed-mean drift.

The curve of share explained (over its noise ceiling) against the probe's locality index says
where the drift is made: a class whose drift is reproduced by a probe that barely moves clean
trajectories makes it locally (late denoising steps); one that needs the whole process makes it
globally (a transformer's first steps, a VAE's latent prior). ``locality_at(fraction)`` is the
locality at which the ceiling-normalised share first reaches ``fraction`` (linear between the
grid's depths; NaN when it never does).

The positive control (``positive_control``): where the deepest probe *is* the class's sampler
(``ModelClass.probe_is_sampler``: a diffusion model's full chain, from nearly pure noise), it is a
perfect predictor of the drift up to its Monte Carlo noise, so its share explained must reach the
calibrated noise ceiling (``kernel.noise_ceiling`` with the prediction's own draw noise): share /
ceiling 1 within its 95% interval (seeds, samples and draws resampled, ``kernel.validate.
seed_resampled``). A control that falls short says that the ceiling is biased or that the probe
is not the sampler, and by how much.

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
from ..kernel.validate import seed_resampled
from ..seeds import derive
from .kernel_study import by_pair, pair_drift, pooled, probe_prediction


@dataclass
class DepthCurve:
    """One task x model pair: per depth of the whole process (``rows``), the locality index of
    the probe (mean over seeds), the pooled prediction's correlation and share explained with
    the drift, each beside its noise ceiling; ``budget``: the locality budget of the declared
    rule and ``chosen``, the deepest depth within it (by the mean locality); ``deepest_share``:
    the deepest depth's share explained with its 95% interval (seeds, samples and draws
    resampled); ``sampler``: whether that deepest probe is the class's sampler; ``smooth``:
    whether the task is smooth (``Task.smooth``)."""
    task: str
    model: str
    seeds: int
    rows: list[dict]
    budget: float
    deepest_share: tuple[float, tuple[float, float]] = (np.nan, (np.nan, np.nan))
    sampler: bool = False
    smooth: bool = True

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
    deepest = seed_resampled(preds, [e.drift for e in group], job.n_boot, derive(vseed, "deepest"))
    return DepthCurve(task_name, model_name, len(group), rows, job.budget, deepest["share_explained"],
                      models.get_class(model_name).probe_is_sampler(first.model.config), first.task.smooth)


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


#: the words of the positive control
REACHES, FALLS_SHORT, NO_CEILING = "reaches the ceiling", "falls short", "no positive ceiling"


def positive_control(curves: list[DepthCurve]):
    """pandas DataFrame, one row per pair whose deepest probe is its sampler (``DepthCurve.
    sampler``): at that depth the share explained, the calibrated ceiling, share / ceiling with
    its 95% interval (the share's interval over the ceiling) and the ``control``: it reaches the
    ceiling when 1 lies within or below the interval, else it falls short, ``short by`` the
    distance of the interval's upper end from 1 (the least shortfall the data allow)."""
    import pandas as pd
    rows = []
    for c in curves:
        if not c.sampler:
            continue
        last, (share, (lo, hi)) = c.rows[-1], c.deepest_share
        ceiling = last["share ceiling"]
        ratio, r_lo, r_hi = (share / ceiling, lo / ceiling, hi / ceiling) if ceiling > 0 else (np.nan,) * 3
        control = NO_CEILING if not ceiling > 0 else REACHES if r_hi >= 1 else FALLS_SHORT
        rows.append({"task": c.task, "model": c.model, "depth": last["depth"], "locality": last["locality"],
                     "share explained": share, "share ceiling": ceiling, "share / ceiling": ratio,
                     "95% CI": [float(r_lo), float(r_hi)], "control": control,
                     "short by": float(1 - r_hi) if control == FALLS_SHORT else 0.0})
    return pd.DataFrame(rows, columns=["task", "model", "depth", "locality", "share explained", "share ceiling",
                                       "share / ceiling", "95% CI", "control", "short by"])
