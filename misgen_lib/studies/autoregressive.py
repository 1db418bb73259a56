"""Where an autoregressive model makes its drift (the chapter "Where the transformer makes its
drift"), on the suite's trained transformers, per task over its seeds. Four experiments, one job
per task (``transformer_study``; ``jobs.run``):

* **prefix curve**: rollouts from clean prefixes of ``L`` steps (``prefix_grid``: 0, a free
  sample, then 1, 2, 4, ... T - 1), the quantity measured on the whole trajectory and, where the
  measurement allows it (``window_measurable``: clean windows recover their quantity), on the
  generated window ``x[L:]`` alone; each TV beside its finite-sample null, pooled over the seeds
  with a 95% interval that resamples seeds and samples (``metrics.seed_mean_interval``). A drift
  that starts clean for ``L`` steps and still reaches the free model's is made late; one that
  falls with ``L`` is made early. ``excess``: TV minus the null's median.
* **error amplification**: per step, the RMS error of teacher-forced one-step draws (the head
  given the clean past) and of free-running rollouts from a clean first step, both against the
  clean trajectory and in units of the data's spread; their ratio is what the learned dynamics
  make of the one-step errors.
* **linear-response kernel** (``kernel.linear_response``): the head's one-step errors carried by
  the learned dynamics to the quantity, per clean input ``N(q + sum J mu, sum J^2 sigma^2)``,
  counted from step 0 (every step the model's own) and from step 1 (a clean first step, as the
  rollouts of the prefix curve); validated like the probe kernels (``kernel.validate``,
  ``validate.seed_resampled``: correlation and share explained beside the noise ceiling, over
  the seeds, against a class-blind white kernel of the same locality, on the same clean draws);
  beside it, how far the first-order response follows Monte Carlo rollouts of the same inputs.
* **perturbation growth**: a perturbation of ``PERTURBATION`` of the data's spread injected at
  step ``t`` of a rollout (a float64 copy of the network, the same noise draws with and without
  it), its size along the rest of the rollout and in the quantity; and the same rollouts in
  float32 against float64, whose difference is rounding alone.

Seeds: named streams of each entry's seed: clean draws ``("rollout-clean", task)`` and
``("kernel-clean", task)`` (the probe kernels' clean draws, chapter 03), rollouts
``("prefix-rollout", task, L)``, free samples ``("prefix-free", task)``, one-step draws
``("one-step", task)``, perturbations ``("perturbation", task)``, validation
``("validation-pooled", task, "linear-response")``, the response check ``("response-check", task)``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import jobs, metrics, models
from ..kernel import locality_index, validate
from ..kernel import linear_response as lr
from ..kernel.predict import Prediction, clean_draws
from ..kernel.seed_mean import seed_mean_drift
from ..kernel.validate import Validation, seed_resampled
from ..seeds import derive
from .kernel_study import by_pair, ci_text, control_prediction, pair_drift, pooled

#: the injected perturbation, as a fraction of the data's spread
PERTURBATION = 1e-6
#: the first step whose errors the linear response counts: 0, every step the model's own; 1, a
#: clean first step (the first step is a draw from the data's marginal, not a local error)
STARTS = (0, 1)
#: the targets set for the linear-response kernel before it was computed (companion's choice):
#: correlation with the observed per-bin change and share explained over its noise ceiling
TARGET_CORRELATION, TARGET_SHARE_NORMALISED = 0.8, 0.6
#: a window is measurable when clean windows recover their quantity within this fraction of the
#: quantity's range (median over the clean draws)
WINDOW_TOLERANCE = 1e-3


def prefix_grid(horizon: int) -> tuple[int, ...]:
    """Clean prefix lengths: 0 (a free sample), then 1, 2, 4, ... and ``horizon - 1``."""
    if horizon < 2:
        raise ValueError(f"horizon must be >= 2, got {horizon!r}")
    return (0, *sorted({2 ** k for k in range(horizon.bit_length()) if 2 ** k < horizon} | {horizon - 1}))


def window_measurable(task, clean: np.ndarray, prefix: int) -> bool:
    """Whether ``task.measure`` of the window ``clean[:, prefix:]`` recovers each clean
    trajectory's quantity (median error within ``WINDOW_TOLERANCE`` of the range)."""
    if clean.shape[1] - prefix < 3:
        return False
    with np.errstate(all="ignore"):
        q, qw = (np.asarray(task.measure(x), float) for x in (clean, clean[:, prefix:]))
    err = np.nanmedian(np.abs(qw - q)) if np.isfinite(qw).any() else np.inf
    return bool(err <= WINDOW_TOLERANCE * (task.q_range[1] - task.q_range[0]))


@dataclass
class ResponseResult:
    """The linear-response kernel of one task's transformers counted from step ``start``:
    per seed the prediction and its class-blind control (``per_seed``, ``controls``), pooled
    ``validation`` and ``control_validation`` against the seed-mean drift, ``resampled``
    (``validate.seed_resampled``: intervals over seeds, the control's share and the paired
    difference), the control's ``locality``, and the mean per-step shift and variance of q
    (``per_step_shift``, ``per_step_variance``, (T,), over seeds and inputs)."""
    start: int
    per_seed: list[Prediction]
    controls: list[Prediction]
    validation: Validation
    control_validation: Validation
    resampled: dict
    locality: float
    per_step_shift: np.ndarray
    per_step_variance: np.ndarray


@dataclass
class DriftOrigin:
    """One task's transformers over their seeds: every experiment of the module docstring."""
    task: object
    seeds: list[int]
    prefixes: tuple[int, ...]
    rows: list[dict]                         # per prefix: TVs with intervals and nulls
    drifts: dict[int, metrics.Drift]         # per prefix, the seed-mean drift (whole trajectory)
    window_drifts: dict[int, metrics.Drift]  # per measurable prefix, on the generated window
    one_step_error: np.ndarray               # (seeds, T), in units of the data's spread
    rollout_error: np.ndarray                # (seeds, T)
    independent_error: np.ndarray            # (seeds, T): an independent clean draw's
    responses: dict[int, ResponseResult]     # per start
    response_check: dict                     # first seed: the response against rollouts
    growth: dict[int, np.ndarray]            # injection step -> (seeds, T) median |dx| / eps
    q_growth: dict[int, np.ndarray]          # injection step -> (seeds,) median |dq| / (eps range)
    rounding: dict = field(default_factory=dict)   # float32 against float64 rollouts
    observed: metrics.Drift | None = None    # the seed-mean drift of the suite's free samples

    @property
    def name(self) -> str:
        return self.task.name

    @property
    def amplification(self) -> np.ndarray:
        """Free-running over teacher-forced error per step, mean over seeds (step 0: NaN)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nanmean(self.rollout_error / self.one_step_error, axis=0)


@dataclass(frozen=True)
class _TaskJob:
    group: list
    n_curve: int
    n_predict: int
    n_perturb: int
    n_check: int
    n_rollouts: int
    n_boot: int
    threads: int


def transformer_study(suite, n_curve: int = 1000, n_predict: int = 1000, n_perturb: int = 200,
                      n_check: int = 50, n_rollouts: int = 100, n_boot: int = 300, workers: int = 0,
                      threads: int = 1, progress: bool | None = None) -> list[DriftOrigin]:
    """Every experiment of the module docstring for each task's unconditional transformers in
    ``suite`` (its entries; one job per task): ``n_curve`` clean draws per seed and prefix,
    ``n_predict`` per seed for the linear response, ``n_perturb`` for the perturbations, and
    ``n_check`` inputs of the first seed with ``n_rollouts`` rollouts each for the response check."""
    groups = [g for g in by_pair(suite) if g[0].model.name == "transformer" and not g[0].model.conditional]
    if not groups:
        raise ValueError("transformer_study needs unconditional transformers in the suite; it has "
                         f"{sorted({e.model.name for e in suite})}")
    todo = [_TaskJob(g, n_curve, n_predict, n_perturb, n_check, n_rollouts, n_boot, threads) for g in groups]
    return jobs.run(_task, todo, workers=workers, desc="transformer drift", progress=progress)


def _task(job: _TaskJob) -> DriftOrigin:
    group = job.group
    task, horizon = group[0].task, group[0].model.horizon
    prefixes = prefix_grid(horizon)
    with models.torch_threads(job.threads):
        curves = [_seed_rollouts(e, prefixes, job.n_curve, job.n_boot) for e in group]
        clean = [clean_draws(e.task, e.prior, job.n_predict, derive(e.seed, "kernel-clean", task.name)) for e in group]
        full = [lr.model_response(e.model, c, e.task, start=0) for e, c in zip(group, clean)]
        responses = {s: _response(group, clean, [f.from_start(s) for f in full], job.n_boot) for s in STARTS}
        check = _response_check(group[0], job.n_check, job.n_rollouts)
        perturbed = [_perturbations(e, job.n_perturb) for e in group]
    rows, drifts, window_drifts = [], {}, {}
    first = group[0]
    for i, L in enumerate(prefixes):
        row = {"prefix": L}
        for part, store in (("", drifts), ("window ", window_drifts)):
            per_seed = [c["drifts" if not part else "window"][i] for c in curves]
            if any(d is None for d in per_seed):
                continue
            pooled_drift = (per_seed[0] if len(per_seed) == 1 else
                            seed_mean_drift(per_seed, n_null=len(per_seed[0].null["tv"]),
                                            seed=derive(first.seed, "prefix-null", task.name, L, part)))
            store[L] = pooled_drift
            tv, (lo, hi) = metrics.seed_mean_interval([d.tv for d in per_seed],
                                                      [d.tv_draws(job.n_boot, seed=k) for k, d in enumerate(per_seed)],
                                                      n_boot=job.n_boot, seed=derive(first.seed, "prefix-ci", L))
            null = pooled_drift.null["tv"]
            row.update({f"{part}TV": tv, f"{part}TV lo": lo, f"{part}TV hi": hi,
                        f"{part}TV null 50%": float(np.median(null)), f"{part}TV null 95%": float(np.quantile(null, 0.95)),
                        f"{part}excess": tv - float(np.median(null))})
        rows.append(row)
    steps = sorted(perturbed[0]["growth"])
    return DriftOrigin(
        task=task, seeds=[e.seed for e in group], prefixes=prefixes, rows=rows, drifts=drifts,
        window_drifts=window_drifts, one_step_error=np.stack([c["one_step"] for c in curves]),
        rollout_error=np.stack([c["rollout"] for c in curves]),
        independent_error=np.stack([c["independent"] for c in curves]), responses=responses,
        response_check=check, growth={t: np.stack([p["growth"][t] for p in perturbed]) for t in steps},
        q_growth={t: np.array([p["q_growth"][t] for p in perturbed]) for t in steps},
        rounding={k: np.array([p["rounding"][k] for p in perturbed]) for k in perturbed[0]["rounding"]},
        observed=pair_drift(group))


def _seed_rollouts(e, prefixes, n: int, n_boot: int) -> dict:
    """One seed's rollouts from every clean prefix, measured (whole and window), and the
    per-step errors of the one-step draws and of the rollouts from a clean first step."""
    task, model, horizon = e.task, e.model, e.model.horizon
    clean = clean_draws(task, e.prior, n, derive(e.seed, "rollout-clean", task.name))
    bins, n_null = len(e.drift.edges) - 1, len(e.drift.null["tv"])
    out = {"drifts": [], "window": []}
    for L in prefixes:
        x = (model.sample(n, seed=derive(e.seed, "prefix-free", task.name)) if L == 0 else
             model.perturb(clean, depth=horizon - L, mode="rollout", seed=derive(e.seed, "prefix-rollout", task.name, L)))
        # W1 is not reported here: a small reference sample keeps its cost (most of the nulls') low
        kw = dict(bins=bins, n_null=n_null, n_reference=1000, seed=derive(e.seed, "prefix-null", task.name, L))
        out["drifts"].append(metrics.drift(np.asarray(task.measure(x), float), e.prior, **kw))
        out["window"].append(metrics.drift(np.asarray(task.measure(x[:, L:]), float), e.prior, **kw)
                             if window_measurable(task, clean, L) else None)
        if L == 1:
            rollout = x
    spread = float(np.std(clean))
    one_step = model.perturb(clean, depth=horizon - 1, mode="one-step", seed=derive(e.seed, "one-step", task.name))
    other = clean[np.random.default_rng(derive(e.seed, "independent", task.name)).permutation(n)]

    def per_step(y):
        return np.sqrt(((y - clean) ** 2).mean(axis=(0, 2))) / spread
    return {**out, "one_step": per_step(one_step), "rollout": per_step(rollout), "independent": per_step(other)}


def _response(group, cleans, responses, n_boot: int) -> ResponseResult:
    """The linear-response kernel (``responses``, one per seed, all counted from one start) on
    each seed's clean draws ``cleans``, validated against the seed-mean drift with its
    class-blind control."""
    preds, controls, shifts, variances, localities = [], [], [], [], []
    start = responses[0].start
    for e, clean, response in zip(group, cleans, responses):
        task, model, n = e.task, e.model, len(clean)
        edges = e.drift.edges
        preds.append(lr.response_prediction(response, e.prior, edges, q_clean=np.asarray(task.measure(clean), float)))
        shifts.append(response.per_step_shift())
        variances.append(response.per_step_variance())
        # the control's locality: that of the rollouts the response linearises (free samples
        # from step 0; from a clean first step otherwise), on the same clean draws
        moved = (model.sample(n, seed=derive(e.seed, "response-locality", task.name)) if start == 0 else
                 model.perturb(clean, depth=model.horizon - start, mode="rollout",
                               seed=derive(e.seed, "response-locality", task.name)))
        localities.append(locality_index(clean, moved))
        controls.append(control_prediction(e, localities[-1], clean,
                                           derive(e.seed, "blind-control-draws", task.name, "linear-response", start)))
    first = group[0]
    drift = pair_drift(group)
    vseed = derive(first.seed, "validation-pooled", first.task.name, "linear-response")
    resampled = seed_resampled(preds, [e.drift for e in group], n_boot=n_boot, seed=vseed, controls=controls)
    return ResponseResult(start=start, per_seed=preds, controls=controls,
                          validation=validate(pooled(preds), drift, n_boot=n_boot, seed=vseed),
                          control_validation=validate(pooled(controls), drift, n_boot=n_boot, seed=vseed),
                          resampled=resampled, locality=float(np.mean(localities)),
                          per_step_shift=np.mean(shifts, axis=0), per_step_variance=np.mean(variances, axis=0))


def _normalised_measure(model, task, dtype):
    mean = torch.as_tensor(model.normaliser.x_mean, dtype=dtype)
    std = torch.as_tensor(model.normaliser.x_std, dtype=dtype)
    return lambda z: task.measure(z * std + mean)


def _response_check(e, n: int, n_rollouts: int, start: int = 1) -> dict:
    """The first-order response against Monte Carlo rollouts from the same clean first step, on
    ``n`` inputs of one seed: the correlation over inputs of the predicted and sampled mean change
    of q, the median ratio of sampled to predicted spread, and the same for the response
    without the learned dynamics (each step's error pushed straight through the measurement)."""
    task, model = e.task, e.model
    clean = clean_draws(task, e.prior, n, derive(e.seed, "response-check", task.name))
    response = lr.model_response(model, clean, task, start=start)
    z = model.normaliser.encode_x(clean)
    with models.within_free_cores():
        sampled = lr.rollout_quantities(model.net, z, start, n_rollouts, _normalised_measure(model, task, torch.float32),
                                        seed=derive(e.seed, "response-check", task.name))
    check = lr.check_response(response, sampled)
    ok = np.isfinite(check.sampled_mean) & np.isfinite(check.predicted_mean)
    q = response.q_clean
    return {"inputs": int(ok.sum()), "rollouts": n_rollouts,
            "shift correlation": float(np.corrcoef((check.predicted_mean - q)[ok], (check.sampled_mean - q)[ok])[0, 1]),
            "median sd ratio": float(np.nanmedian(check.sd_ratio)),
            "predicted shift (median)": float(np.median(response.shift)),
            "sampled shift (median)": float(np.nanmedian(check.sampled_mean - q))}


def injection_steps(horizon: int) -> tuple[int, ...]:
    """Where the perturbation is injected: after the clean first step, a quarter and half way."""
    return tuple(sorted({1, horizon // 4, horizon // 2}))


def _split_rollout(net, prefix, t0: int, horizon: int, seed: int, delta=None):
    """A rollout of ``net`` from ``prefix`` to ``horizon`` that stops after step ``t0``, adds
    ``delta`` (B, d) to it (None: nothing) and goes on with the same noise stream."""
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        x = net.rollout(prefix, t0 + 1, None, gen)
        if delta is not None:
            x = torch.cat([x[:, :t0], x[:, t0:t0 + 1] + delta[:, None]], dim=1)
        return net.rollout(x, horizon, None, gen)


def _perturbations(e, n: int) -> dict:
    """Perturbation growth (float64) and float32-against-float64 rollouts of one seed's model
    from a clean first step, on ``n`` clean inputs (normalised units)."""
    task, model, horizon = e.task, e.model, e.model.horizon
    clean = clean_draws(task, e.prior, n, derive(e.seed, "perturbation", task.name))
    z = torch.as_tensor(model.normaliser.encode_x(clean), dtype=torch.float64)
    net64 = copy.deepcopy(model.net).double()
    measure = _normalised_measure(model, task, torch.float64)
    eps = PERTURBATION * float(z.std())
    q_range = task.q_range[1] - task.q_range[0]
    seed = derive(e.seed, "perturbation", task.name)
    growth, q_growth = {}, {}
    direction = torch.as_tensor(np.random.default_rng(seed).normal(size=(n, model.dim)))
    delta = eps * direction / direction.norm(dim=1, keepdim=True)
    with models.within_free_cores():
        for t0 in injection_steps(horizon):
            base = _split_rollout(net64, z[:, :1], t0, horizon, seed)
            moved = _split_rollout(net64, z[:, :1], t0, horizon, seed, delta)
            growth[t0] = np.median((moved - base).norm(dim=-1).numpy(), axis=0) / eps
            q_growth[t0] = float(np.nanmedian(np.abs((measure(moved) - measure(base)).numpy()))) / (PERTURBATION * q_range)
        x32 = _split_rollout(model.net, z[:, :1].float(), 1, horizon, seed).double()
    x64 = _split_rollout(net64, z[:, :1], 1, horizon, seed)
    diff = (x32 - x64).norm(dim=-1).numpy()
    q32, q64 = (np.asarray(task.measure(model.normaliser.decode_x(x.numpy())), float) for x in (x32, x64))
    edges = e.drift.edges
    return {"growth": growth, "q_growth": q_growth,
            "rounding": {"median |dx| per step": np.median(diff, axis=0), "perturbation": eps,
                         "median |dq| / range": float(np.nanmedian(np.abs(q32 - q64))) / q_range,
                         "share of samples changing bin": float(np.mean(metrics.bin_index(q32, edges)
                                                                        != metrics.bin_index(q64, edges))),
                         "TV float32 vs float64": 0.5 * float(np.abs(metrics.histogram(q32, edges)
                                                                     - metrics.histogram(q64, edges)).sum())}}


# -- tables and the chapter's glued values ------------------------------------------------------
def prefix_table(results: list[DriftOrigin]):
    """pandas DataFrame, one row per task and clean prefix: the TV of the whole trajectory and of
    the generated window (seed mean, 95% interval), each beside its null's median and 95%."""
    import pandas as pd
    return pd.DataFrame([{"task": r.name, **row} for r in results for row in r.rows])


def half_prefix(result: DriftOrigin, part: str = "") -> float:
    """The shortest clean prefix whose drift above the null's median is at most half the free
    model's (prefix 0): a clean start of that many steps removes half of the drift. NaN where
    the free model's drift is within its null; the longest prefix + 1 where no prefix halves it."""
    rows = [r for r in result.rows if f"{part}excess" in r]
    if len(rows) < 2 or rows[0]["prefix"] != 0:
        raise ValueError(f"half_prefix needs the free model (prefix 0) and a clean prefix measured"
                         f"{' on the window' if part else ''}; {result.name} has prefixes {[r['prefix'] for r in rows]}")
    free = rows[0][f"{part}excess"]
    if not rows[0][f"{part}TV"] > rows[0][f"{part}TV null 95%"]:
        return float("nan")
    for r in rows[1:]:
        if r[f"{part}excess"] <= 0.5 * free:
            return float(r["prefix"])
    return float(rows[-1]["prefix"] + 1)


def response_table(results: list[DriftOrigin]):
    """pandas DataFrame, one row per task and start: the linear-response kernel's agreement with
    the seed-mean drift (all bins and in range), with 95% intervals over seeds and samples,
    beside the noise ceiling and the class-blind control."""
    import pandas as pd
    rows = []
    for r in results:
        for start, res in r.responses.items():
            v, rs = res.validation, res.resampled
            rows.append({"task": r.name, "errors from step": start, "seeds": len(r.seeds),
                         "TV (seed mean)": v.tv_observed, "TV predicted": v.tv_predicted,
                         "correlation": v.correlation, "corr 95% CI": ci_text(rs["correlation"][1]),
                         "corr ceiling": v.ceiling.correlation, "share explained": v.share_explained,
                         "share 95% CI": ci_text(rs["share_explained"][1]), "share ceiling": v.ceiling.share,
                         "share / ceiling": v.share_normalised,
                         "correlation (in range)": v.correlation_in_range, "share (in range)": v.share_in_range,
                         "control locality": res.locality,
                         "control share explained": res.control_validation.share_explained,
                         "share over control": rs["share_over_control"][0],
                         "over control 95% CI": ci_text(rs["share_over_control"][1])})
    return pd.DataFrame(rows)


def amplification_table(results: list[DriftOrigin]):
    """pandas DataFrame, one row per task: the per-step errors at a few steps (data spread
    units, mean over seeds) and their ratio (lowest and highest seed)."""
    import pandas as pd
    rows = []
    for r in results:
        horizon = r.one_step_error.shape[1]
        for t in sorted({1, horizon // 4, horizon // 2, horizon - 1}):
            ratio = r.rollout_error[:, t] / r.one_step_error[:, t]
            rows.append({"task": r.name, "step": t, "one-step error": r.one_step_error[:, t].mean(),
                         "rollout error": r.rollout_error[:, t].mean(),
                         "independent draw": r.independent_error[:, t].mean(), "amplification": ratio.mean(),
                         "lowest seed": ratio.min(), "highest seed": ratio.max()})
    return pd.DataFrame(rows)


def perturbation_table(results: list[DriftOrigin]):
    """pandas DataFrame, one row per task and injection step: the perturbation's growth to the
    last step (median over inputs; geometric mean, lowest and highest over seeds), per step, and
    the quantity's change per unit of relative perturbation (mean over seeds)."""
    import pandas as pd
    rows = []
    for r in results:
        for t0, g in r.growth.items():
            final = g[:, -1]
            rate = np.log(np.maximum(final, 1e-300)) / max(g.shape[1] - 1 - t0, 1)
            rows.append({"task": r.name, "injected at step": t0, "growth to last step": float(np.exp(np.log(final).mean())),
                         "lowest seed": final.min(), "highest seed": final.max(),
                         "growth per step": float(np.exp(rate.mean())),
                         "|dq| / range per unit": float(r.q_growth[t0].mean())})
    return pd.DataFrame(rows)


def rounding_table(results: list[DriftOrigin]):
    """pandas DataFrame, one row per task: the same rollouts from a clean first step in float32
    and in float64 (the same noise draws), mean over seeds: their distance at the last step in
    units of the injected perturbation, the quantity's change in millionths of its range, the
    share of samples whose quantity lands in another bin and the TV between the two histograms."""
    import pandas as pd
    rows = []
    for r in results:
        rd = r.rounding
        rows.append({"task": r.name, "|dx| last step / perturbation":
                     float((rd["median |dx| per step"][:, -1] / rd["perturbation"]).mean()),
                     "|dq| (millionths of the range)": 1e6 * float(rd["median |dq| / range"].mean()),
                     "samples in another bin": float(rd["share of samples changing bin"].mean()),
                     "TV float32 vs float64": float(rd["TV float32 vs float64"].mean())})
    return pd.DataFrame(rows)


def forget_step(result: DriftOrigin) -> int:
    """The first step at which the rollouts from a clean first step are, on average over the
    seeds, at least half as far from the clean trajectory as an independent clean draw is: from
    there on they follow trajectories of their own (the horizon where they never do)."""
    ratio = result.rollout_error.mean(0) / result.independent_error.mean(0)
    far = np.flatnonzero(ratio[1:] >= 0.5)
    return int(far[0] + 1) if far.size else int(ratio.size)
