"""The mitigations chapter's computation: for every task x model x seed of a suite, the untreated
model A, the interventions of ``studies.mitigations`` applied on the same footing (same task,
class, budget, seed, drift metrics and null, plausibility), and for each intervention the outcome
the kernel of model A predicts **before** the treated model B is trained.

Interventions (``INTERVENTIONS``):

* ``reweight``: importance weights ``w = p*/p_hat_A`` (clipped) in the loss (weighted mini-batches);
* ``resample``: the curated set resampled with the same weights to the same size;
* ``resample-2``: one more iteration: weights ``w * p*/p_hat_B`` from the resampled model B;
* ``condition``: a conditional model, sampled at ``q ~ p*``;
* ``precompensate``: trained on a prior ``pi`` with ``P pi ~ p*`` (``P``: model A's kernel in
  q-space; Richardson-Lucy), support one bin beyond the range on each side where the task's
  generator is defined there (checked explicitly: ``extended_task``);
* ``transform``: trained in coordinates where the measurement is linear (``studies.transforms``;
  tasks without a transform skip it).

The kernel of model A is its probe kernel (``kernel.probe``, chapter 03), its depth chosen
without looking at the quantity (``kernel.choose_depth``). The predicted outcome of an
intervention is the kernel's q-space transition matrix applied to the intervention's training
distribution; for ``condition`` the kernel predicts no change (the model's local errors are
unchanged); for ``transform`` the probe's size relative to the data (its locality index) is
carried into the new coordinates as white noise (a companion's approximation, stated beside the
result).

Seeds: named streams of each entry's seed (``misgen_lib.seeds``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .. import jobs, metrics
from ..cache import ArtifactStore, default_store
from ..kernel import choose_depth, predict, probe
from ..kernel.predict import clean_draws
from ..models import torch_threads
from ..priors import Uniform
from ..seeds import derive, stream
from . import mitigations as mit
from .suite import SuiteConfig, SuiteEntry, Unit, clean_sets, run_units
from .transforms import TRANSFORMS, transformed

INTERVENTIONS = ("reweight", "resample", "resample-2", "condition", "precompensate", "transform")


@dataclass
class MitigationResult:
    """One task x model x seed: the untreated entry, the kernel's transition matrix, and per
    intervention the treated entry and the predicted recovered bin masses."""
    base: SuiteEntry
    transition: np.ndarray
    training_masses: dict[str, np.ndarray] = field(default_factory=dict)
    predicted: dict[str, np.ndarray] = field(default_factory=dict)
    treated: dict[str, SuiteEntry] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def predicted_tv(self, name: str) -> float:
        return 0.5 * float(np.abs(self.predicted[name] - self.base.drift.p_star).sum())


def extended_task(task, width: float):
    """``task`` with its range widened by ``width`` on each side where its generator is defined
    there (constructor accepts the range and ``m(g(q, xi)) = q`` holds at the new end within the
    task's tolerance); a side that fails keeps the original end. Returns the task and the
    (below, above) sides that were extended."""
    lo, hi = task.q_range
    sides = []
    for new in ((lo - width, hi), (lo, hi + width)):
        try:
            wider = type(task)(**{**task.params(), "q_range": list(new)})
            end = np.array([new[0] if new[0] != lo else new[1]] * 4)
            x = wider.sample(end, stream(0, "extension-check", task.name))
            ok = np.all(np.isfinite(x)) and np.max(np.abs(wider.measure(x) - end)) <= max(wider.measure_tolerance, 1e-6)
        except (ValueError, RuntimeError):
            ok = False
        sides.append(bool(ok))
    lo_new, hi_new = lo - width * sides[0], hi + width * sides[1]
    return type(task)(**{**task.params(), "q_range": [lo_new, hi_new]}), tuple(sides)


def mitigation_study(cfg: SuiteConfig, interventions=INTERVENTIONS, clip: float = 10.0, n_predict: int = 5000,
                     n_depth: int = 500, store: ArtifactStore | None = None,
                     progress: bool | None = None) -> list[MitigationResult]:
    """Every intervention on every task x model x seed of ``cfg`` (unconditional ``cfg``)."""
    bad = sorted(set(interventions) - set(INTERVENTIONS))
    if bad:
        raise ValueError(f"unknown interventions {bad}; valid: {list(INTERVENTIONS)}")
    if cfg.conditional:
        raise ValueError("the mitigation study needs an unconditional suite (conditioning is one of its interventions)")
    store = store or default_store()
    units = []
    for task_name in cfg.tasks:
        task = cfg.task(task_name)
        prior = cfg.prior(task)
        for seed in cfg.seeds:
            data, reference = clean_sets(cfg, task, prior, seed)
            units += [Unit(cfg, task, prior, data, reference, m, seed) for m in cfg.models]
    bases = run_units(units, store, workers=cfg.workers, progress=progress)
    results, first, second = [], [], []
    planned = jobs.run(_plan, [(unit, base, interventions, clip, n_predict, n_depth) for unit, base in zip(units, bases)],
                       workers=cfg.workers, desc="kernels and interventions", progress=progress)
    for result, treated in planned:
        results.append(result)
        first += [(result, name, u) for name, u in treated.items()]
    for (result, name, _), entry in zip(first, run_units([u for *_, u in first], store, workers=cfg.workers,
                                                          progress=progress)):
        result.treated[name] = entry
    if "resample-2" in interventions:
        for result, unit in zip(results, units):
            second.append((result, _second_iteration(unit, result, clip)))
        for (result, _), entry in zip(second, run_units([u for _, u in second], store, workers=cfg.workers,
                                                         progress=progress)):
            result.treated["resample-2"] = entry
    return results


def _plan(job) -> tuple[MitigationResult, dict[str, Unit]]:
    """Model A's kernel, its predictions, and the units of the first round of interventions (a
    job of ``jobs.run``: the units are independent)."""
    unit = job[0]
    with torch_threads(unit.cfg.threads):
        return _plan_unit(*job)


def _plan_unit(unit: Unit, base: SuiteEntry, interventions, clip, n_predict, n_depth
               ) -> tuple[MitigationResult, dict[str, Unit]]:
    task, prior, data, cfg = unit.task, unit.prior, unit.data, unit.cfg
    edges = base.drift.edges
    width = float(np.diff(edges).mean())
    wide, sides = extended_task(task, width)
    clean = clean_draws(wide, Uniform(*wide.q_range), n_predict, derive(unit.seed, "kernel-clean", task.name, "wide"))
    fresh = clean_draws(task, prior, n_depth, derive(unit.seed, "kernel-clean", task.name))
    choice = choose_depth(base.model, fresh, base.samples, data, task=task,
                          seed=derive(unit.seed, "probe-depth", task.name, unit.model_name))
    kernel = probe(base.model, choice.depth, task=task)
    locality = choice.locality[choice.depths.index(choice.depth)]
    pred = predict(task, kernel, prior, clean=clean, bins=len(edges) - 1,
                   seed=derive(unit.seed, "kernel-draws", task.name, unit.model_name), progress=False)
    P = mit.transition_matrix(pred.q_clean, pred.q_pred, edges)
    result = MitigationResult(base, P)
    result.notes["kernel"] = f"probe ({kernel.mode}) at depth {choice.depth}, locality {locality:.3f}"
    p_star = base.drift.p_star
    result.training_masses["none"] = p_star
    result.predicted["none"] = mit.predicted_outcome(P, p_star)
    units = {}
    w = mit.reweighting_weights(data.q, base.q_hat, prior, edges, clip)
    if "reweight" in interventions or "resample" in interventions or "resample-2" in interventions:
        masses = _weighted_masses(data.q, w, edges)
        for name in ("reweight", "resample"):
            if name in interventions:
                result.training_masses[name] = masses
                result.predicted[name] = mit.predicted_outcome(P, masses)
        result.notes["weights"] = f"w = p*/p_hat_A per bin, clipped to [1/{clip:g}, {clip:g}]"
    if "reweight" in interventions:
        units["reweight"] = replace(unit, intervention="reweight", weights=w)
    if "resample" in interventions or "resample-2" in interventions:
        units["resample"] = replace(unit, intervention="resample",
                                    train_data=mit.resample(data, w, derive(unit.seed, "resample", task.name)))
    if "condition" in interventions:
        result.training_masses["condition"] = p_star
        result.predicted["condition"] = result.predicted["none"]
        units["condition"] = replace(unit, intervention="condition", conditional=True)
    if "precompensate" in interventions:
        pi, result.notes["precompensate"] = _precompensation(P, p_star, sides)
        if pi is not None:
            result.training_masses["precompensate"] = pi
            result.predicted["precompensate"] = mit.predicted_outcome(P, pi)
            train = wide.curate(cfg.n_train, prior=mit.histogram_prior(pi, edges),
                                seed=derive(unit.seed, "data-precompensated", task.name, unit.model_name))
            units["precompensate"] = replace(unit, intervention="precompensate", train_data=train)
    if "transform" in interventions and task.name in TRANSFORMS:
        transform = TRANSFORMS[task.name]
        result.training_masses["transform"] = p_star
        result.predicted["transform"] = _predict_in_coordinates(task, prior, transform, data, locality, clean, edges,
                                                               derive(unit.seed, "kernel-draws-y", task.name))
        result.notes["transform"] = (f"{transform.name}; prediction: the probe's size relative to the data, "
                                     f"as white noise in the new coordinates")
        units["transform"] = replace(unit, intervention="transform", transform=transform)
    return result, units


def _precompensation(P, p_star, sides) -> tuple[np.ndarray | None, str]:
    """The pre-compensated training prior (Richardson-Lucy), its support the range plus one bin
    on each side where the task is defined there; ``None`` and the reason when there is none."""
    support = np.zeros(len(p_star), bool)
    support[1:-1] = True
    support[0], support[-1] = sides
    try:
        pi = mit.precompensate(P, p_star, support=support, method="richardson-lucy")
    except ValueError as err:
        return None, f"not possible: {err}"
    return pi, f"support extended below the range: {sides[0]}, above: {sides[1]}; Richardson-Lucy"


def _weighted_masses(q, w, edges) -> np.ndarray:
    idx = metrics.bin_index(q, edges)
    return np.bincount(idx, weights=w, minlength=len(edges) + 1) / w.sum()


def _predict_in_coordinates(task, prior, transform, data, relative, clean, edges, seed) -> np.ndarray:
    """Recovered bin masses when the kernel acts in the transform's coordinates: white noise whose
    size relative to each channel's spread is ``relative`` (the probe's locality index)."""
    inside = clean[(task.measure(clean) >= task.q_range[0]) & (task.measure(clean) <= task.q_range[1])]
    y = transform.encode(inside)
    scale = relative * transformed(data, transform).x.reshape(-1, y.shape[-1]).std(0)
    noisy = y + scale * stream(seed, "noise").standard_normal(y.shape)
    q = task.measure(transform.decode(noisy))
    # reweight the clean draws to the intended prior (they were drawn uniform over the range)
    q0 = task.measure(inside)
    w = prior.pdf(q0) / max(float(np.mean(prior.pdf(q0))), 1e-300)
    return np.bincount(metrics.bin_index(q, edges), weights=w, minlength=len(edges) + 1) / w.sum()


def _second_iteration(unit: Unit, result: MitigationResult, clip: float) -> Unit:
    """Resampling once more: the first weights times ``p*/p_hat_B`` of the resampled model B."""
    edges, prior = result.base.drift.edges, unit.prior
    w1 = mit.reweighting_weights(unit.data.q, result.base.q_hat, prior, edges, clip)
    w2 = w1 * mit.reweighting_weights(unit.data.q, result.treated["resample"].q_hat, prior, edges, clip)
    w2 = np.clip(w2 / w2.mean(), 1.0 / clip, clip)
    masses = _weighted_masses(unit.data.q, w2, edges)
    result.training_masses["resample-2"] = masses
    result.predicted["resample-2"] = mit.predicted_outcome(result.transition, masses)
    return replace(unit, intervention="resample-2",
                   train_data=mit.resample(unit.data, w2, derive(unit.seed, "resample-2", unit.task.name)))


def outcome_table(results: list[MitigationResult]):
    """pandas DataFrame, one row per task x model x seed x intervention (``none``: model A): TV
    and its null's 95% quantile, TV reduction against A and its ceiling (the reduction of a
    perfect model, whose TV is the null's median at this sample size), the TV the kernel
    predicted before B was trained and the predicted reduction, and the samples' distance ratio
    (plausibility)."""
    import pandas as pd
    rows = []
    for r in results:
        tv_a, pred_a = r.base.drift.tv, r.predicted_tv("none")
        for name, e in [("none", r.base), *r.treated.items()]:
            rows.append({"task": e.task.name, "model": e.model.name, "seed": e.seed, "intervention": name,
                         "TV": e.drift.tv, "TV null 95%": e.drift.null_q95("tv"), "TV reduction": 1 - e.drift.tv / tv_a,
                         "reduction ceiling": 1 - float(np.median(e.drift.null["tv"])) / tv_a,
                         "predicted TV": r.predicted_tv(name) if name in r.predicted else np.nan,
                         "predicted reduction": (1 - r.predicted_tv(name) / pred_a) if name in r.predicted else np.nan,
                         "outside": e.drift.outside, "distance ratio": e.distance_ratio})
    return pd.DataFrame(rows)
