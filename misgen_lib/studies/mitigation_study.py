"""The mitigations chapter's computation: for every task x model x seed of a suite, the untreated
model A, the registered interventions (``misgen_lib.interventions``; the book's six are in
``interventions.builtin``) applied on the same footing (same task, class, budget, seed, drift
metrics and null, plausibility), and for each intervention the outcome the kernel of model A
predicts **before** the treated model B is trained.

The kernel of model A is its probe kernel (``kernel.probe``, chapter 03) at the depth of the
declared rule (``kernel.deepest_local``: the deepest depth whose locality is within
``kernel.LOCALITY_BUDGET``, chosen without looking at the quantity); with it, the study builds each model
A's planning ``Context`` (its kernel as a q-space transition matrix, clean draws over the task's
range widened by one bin where the generator is defined there: ``extended_task``) and asks every
requested intervention for its ``Plan``. An intervention with ``after`` is planned in a later
round, once the model it needs is trained.

Seeds: named streams of each entry's seed (``misgen_lib.seeds``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .. import interventions as _interventions
from .. import jobs
from ..cache import ArtifactStore, default_store
from ..kernel.predict import clean_draws
from ..models import torch_threads
from ..priors import Uniform
from ..checks import check_names
from ..interventions import Context, Intervention, Plan, predicted_outcome, transition_matrix
from ..seeds import derive, stream
from .kernel_study import probe_depth, probe_prediction
from .suite import SuiteConfig, SuiteEntry, Unit, clean_sets, run_units


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


def mitigation_study(cfg: SuiteConfig, interventions=None, clip: float = 10.0, n_predict: int = 5000,
                     n_depth: int = 500, store: ArtifactStore | None = None,
                     progress: bool | None = None) -> list[MitigationResult]:
    """Every intervention on every task x model x seed of ``cfg`` (unconditional ``cfg``).

    ``interventions``: registered names, a sequence or a comma-separated string (default: every
    registered one); an intervention whose ``after`` is not requested brings it along. They run
    in the registry's order, whatever the order asked for."""
    chosen = requested(interventions)
    if cfg.conditional:
        raise ValueError("the mitigation study needs an unconditional suite (conditioning is one of its interventions)")
    store = store or default_store()
    units = []
    for task_name in cfg.tasks:
        task = cfg.task(task_name)
        prior = cfg.prior(task)
        for seed in cfg.seeds:
            data, reference = clean_sets(cfg, task, prior, seed, store)
            units += [Unit(cfg, task, prior, data, reference, m, seed) for m in cfg.models]
    bases = run_units(units, store, workers=cfg.workers, progress=progress)
    first, *later = rounds(chosen)
    planned = jobs.run(_plan, [(unit, base, first, clip, n_predict, n_depth, store)
                               for unit, base in zip(units, bases)],
                       workers=cfg.workers, desc="kernels and interventions", progress=progress)
    results = [result for result, _ in planned]
    treated = [(result, name, unit) for result, (_, units_) in planned for name, unit in units_.items()]
    for round_ in later:
        _train(treated, store, cfg, progress)
        treated = [(result, i.name, unit) for result, (ctx, _) in planned for i in round_
                   if (unit := _plan_after(result, ctx, i)) is not None]
    _train(treated, store, cfg, progress)
    return results


def requested(names=None) -> list[Intervention]:
    """The registered interventions named (all when ``None``), with those they come ``after``,
    in the registry's order; an unknown name is an error naming it and the valid ones."""
    valid = _interventions.available()
    wanted = set(valid if names is None else check_names(names, "intervention", valid))
    for name in valid[::-1]:   # an intervention's `after` is registered before it
        if name in wanted and _interventions.get(name).after:
            wanted.add(_interventions.get(name).after)
    return [_interventions.get(name) for name in valid if name in wanted]


def rounds(chosen: list[Intervention]) -> list[list[Intervention]]:
    """``chosen`` in rounds: first those that need no treated model, then each round those whose
    ``after`` ran in an earlier one."""
    out, done, rest = [], set(), list(chosen)
    while rest:
        now = [i for i in rest if i.after is None or i.after in done]
        out.append(now)
        done |= {i.name for i in now}
        rest = [i for i in rest if i not in now]
    return out


def _train(treated: list[tuple[MitigationResult, str, Unit]], store, cfg, progress) -> None:
    """Train and evaluate the treated units of one round, into their results."""
    for (result, name, _), entry in zip(treated, run_units([u for *_, u in treated], store, workers=cfg.workers,
                                                            progress=progress)):
        result.treated[name] = entry


def _plan_after(result: MitigationResult, ctx: Context, intervention: Intervention) -> Unit | None:
    """A later round's plan, its context given the treated entry of the intervention it comes after."""
    if intervention.after not in result.treated:
        result.notes[intervention.name] = f"not run: {intervention.after!r} was not run"
        return None
    return _record(result, intervention, intervention.plan(replace(ctx, previous=result.treated[intervention.after])))


def _plan(job) -> tuple[MitigationResult, tuple[Context, dict[str, Unit]]]:
    """Model A's kernel and the plans of the first round of interventions (a job of
    ``jobs.run``: the units are independent); returns the result, the planning context (for
    later rounds) and the treated units."""
    unit = job[0]
    with torch_threads(unit.cfg.threads):
        return _plan_unit(*job)


def _plan_unit(unit: Unit, base: SuiteEntry, interventions: list[Intervention], clip, n_predict, n_depth,
               store: ArtifactStore) -> tuple[MitigationResult, tuple[Context, dict[str, Unit]]]:
    """Model A's kernel (probe, depth chosen without the quantity), its planning context, and the
    plan of each of ``interventions`` recorded in the result. The kernel's depth and prediction
    are cached in ``store`` (``kernel_study.probe_depth``, ``probe_prediction``), so a rebuild of
    the chapter only plans."""
    task, prior, data = unit.task, unit.prior, unit.data
    edges = base.drift.edges
    width = float(np.diff(edges).mean())
    wide, sides = extended_task(task, width)
    clean = clean_draws(wide, Uniform(*wide.q_range), n_predict, derive(unit.seed, "kernel-clean", task.name, "wide"))
    fresh = clean_draws(task, prior, n_depth, derive(unit.seed, "kernel-clean", task.name))
    choice = probe_depth(base, fresh, derive(unit.seed, "probe-depth", task.name, unit.model_name), store=store)
    locality = choice.locality[choice.depths.index(choice.depth)]
    pred = probe_prediction(base, choice.depth, clean, derive(unit.seed, "kernel-draws", task.name, unit.model_name),
                            store=store)
    P = transition_matrix(pred.q_clean, pred.q_pred, edges)
    result = MitigationResult(base, P)
    result.notes["kernel"] = f"probe ({choice.mode}) at depth {choice.depth}, locality {locality:.3f}"
    result.training_masses["none"] = base.drift.p_star
    result.predicted["none"] = predicted_outcome(P, base.drift.p_star)
    ctx = Context(unit, base, P, clean, locality, wide, sides, clip)
    units = {}
    for intervention in interventions:
        treated = _record(result, intervention, intervention.plan(ctx))
        if treated is not None:
            units[intervention.name] = treated
    return result, (ctx, units)


def _record(result: MitigationResult, intervention: Intervention, plan: Plan) -> Unit | None:
    """``plan`` into ``result`` (training and predicted masses where planned, the note); returns
    the treated unit (``None``: not run)."""
    name = intervention.name
    if not isinstance(plan, Plan):
        raise TypeError(f"intervention {name!r} planned {plan!r}; expected a Plan")
    if plan.unit is not None:
        if plan.unit.intervention != name:
            raise ValueError(f"intervention {name!r} planned a unit named {plan.unit.intervention!r} "
                             f"(use Intervention.treat)")
        result.training_masses[name] = plan.training
        if plan.predicted is not None:      # None: the kernel makes no prediction for it
            result.predicted[name] = plan.predicted
    if plan.note:
        result.notes[name] = plan.note
    return plan.unit


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


def conditioning_fidelity(results, tasks) -> dict:
    """Per task with conditional models among the mitigation ``results``: ``(fidelity table,
    task)``, the fidelity pooled over the seeds (``interventions.fidelity``: mean error and spread of
    the measured quantity per requested quantity)."""
    out = {}
    for task_name in tasks:
        treated = [r.treated["condition"] for r in results
                   if r.base.task.name == task_name and "condition" in r.treated]
        if treated:
            out[task_name] = (_interventions.fidelity(np.concatenate([e.q_condition for e in treated]),
                                                    np.concatenate([e.q_hat for e in treated]),
                                                    treated[0].drift.edges), treated[0].task)
    return out
