"""The kernel chapters' computations over a suite of trained models (chapters 03-05 only plot).

``empirical_study``: for every task x model entry of ``suite.run_suite``, the empirical kernel of
the model's samples (residual bank and its stationary Gaussian), the predictions they make
(bank: Monte Carlo; Gaussian: analytic), their validation against the observed drift, and the
decomposition of the drift into the on-manifold part (drift of the samples' fitted ``q``) and the
measured drift.

``probe_study``: the probe kernels of the trained models, pooled over seeds (chapters 03, 05).
Each seed's probe prediction and the declared rule's depth are cached (``probe_prediction``,
``probe_depth``): pushing clean trajectories through the model is most of these chapters'
analysis, and of the mitigations chapter's plans.
``before_training_study``: the declared a-priori family per class, calibrated on a short run
(chapter 04). ``projection_comparison``: the projection residuals against the probe (chapter 03's
diagnostic); ``location_shifts``: a task's quantity shifted against its prior (chapter 05's C3).

The pairs (``probe_study``, ``before_training_study``: each trains its short model there,
cached) and entries (``empirical_study``) are independent jobs run through ``jobs.run`` (local
worker processes by default, one torch thread each, the same numbers for any number of workers;
a Dask cluster when a scheduler is given), so the kernel chapters use every core.

Seeds: named streams of each entry's seed (``misgen_lib.seeds``): clean draws for predictions
``("kernel-clean", task)``, projection references ``("projection", task, model)``, kernel draws
``("kernel-draws", task, model)``, validation bootstrap ``("validation", task, model)``.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np

from .. import jobs, metrics, models
from ..cache import ArtifactStore, default_store
from ..kernel import (DepthChoice, QSpaceView, ResidualBank, SeedAgreement, StationaryGaussian, Validation,
                      calibrated, deepest_local, estimate, family, predict, probe, qspace_view, resolve_mode,
                      seed_agreement, seed_mean_drift, validate, white_of_locality)
from ..kernel import linear_response as lr
from ..kernel.predict import Prediction, clean_draws, monte_carlo_prediction
from ..kernel.validate import seed_resampled
from ..provenance import kind_hash
from ..seeds import derive


#: the rungs of chapter 04's ladder, from the before-training prediction to the best a local
#: kernel did on the trained model: the gap between the first two is the short calibration run's,
#: between the second and third the family's shape, beyond the third the drift is not made by
#: local errors of clean trajectories (chapter 03's anatomy)
LADDER = ("family, short run", "family, trained model", "own probe, trained model")

#: the one a-priori family per model class, declared before any model is trained (companion's
#: choice): the denoiser of a diffusion U-Net errs smoothly in time (correlated), the MLP backbone
#: independently per coordinate (white), an autoregressive rollout accumulates its errors
#: (random walk), a VAE regresses to the mean (blur)
FAMILY_OF_CLASS = {"diffusion-unet": "correlated", "diffusion-mlp": "white", "transformer": "random-walk",
                   "vae": "blur"}


def _linear_response(e, clean: np.ndarray) -> Prediction:
    """The linear-response kernel (``kernel.linear_response``, errors from a clean first step) of
    suite entry ``e``'s unconditional autoregressive model on the ``clean`` trajectories."""
    q_clean = np.asarray(e.task.measure(clean), float)
    return lr.response_prediction(lr.model_response(e.model, clean, e.task, start=1), e.prior,
                                  e.drift.edges, q_clean=q_clean)


#: each class's own kernel estimator, registered beside its probe (chapter 03 shows it; C2 and C4
#: are decided on the probe, the estimator declared before any result): model class -> (name,
#: function(suite entry, clean trajectories) -> Prediction on the entry's binning). The
#: transformer's is its linear response, registered after chapter 08 measured it, where its probe
#: is local only for short rollouts that the quantity's average dilutes.
OWN_ESTIMATORS = {"transformer": ("linear response", _linear_response)}


@dataclass
class EmpiricalResult:
    entry: object                 # suite.SuiteEntry
    bank: ResidualBank
    gaussian: StationaryGaussian
    predictions: dict[str, Prediction]     # "bank (Monte Carlo)", "Gaussian (analytic)"
    validations: dict[str, Validation]
    on_manifold: metrics.Drift    # drift of the samples' fitted on-manifold quantity
    n_dropped: int                # samples with NaN/inf (not projected)

    @property
    def seed_label(self):
        return self.entry.seed

    @property
    def distance_ratio(self) -> float:
        return self.entry.distance_ratio


@dataclass
class ProbeResult:
    """One task x model pair over its seeds: per seed the probe depth chosen without looking at q
    (``depths``) and the probe kernel's Monte Carlo prediction (``per_seed``); ``prediction``: the seeds' predictions
    pooled; ``drift``: the seed-mean drift (a single seed's drift with one seed); ``validation``:
    the pooled prediction against it, with its noise ceiling; ``agreement``: the between-seed
    agreement of the observed changes (the reliability ceiling; None with one seed); ``view``: the
    pooled prediction in q-space (b(q), s(q), continuity equation); ``locality``: mean locality
    index of the kernels; ``blind_per_seed``: per seed, the class-blind control kernel's
    prediction on the same clean draws (``control_prediction``: a white Gaussian of the seed's
    probe's locality), ``blind`` their pooled prediction and ``blind_validation`` its validation;
    ``control``: the transformer's teacher-forced one-step prediction (pooled), None for other
    classes; ``own``: the class's own estimator (``OWN_ESTIMATORS``) where asked for and
    registered, else None."""
    entries: list
    depths: list[DepthChoice]
    per_seed: list[Prediction]
    prediction: Prediction
    drift: metrics.Drift
    validation: Validation
    agreement: SeedAgreement | None
    view: QSpaceView
    locality: float
    blind_per_seed: list[Prediction]
    blind: Prediction
    blind_validation: Validation
    control: Prediction | None = None
    control_validation: Validation | None = None
    own: "OwnEstimate | None" = None

    @property
    def entry(self):
        """The first seed's suite entry (names the task and model)."""
        return self.entries[0]

    @property
    def task(self):
        return self.entries[0].task

    @property
    def model(self) -> str:
        return self.entries[0].model.name

    @property
    def seed_label(self) -> str:
        return "+".join(str(e.seed) for e in self.entries)

    @property
    def distance_ratio(self) -> float:
        """Median over the seeds of the samples' plausibility ratio (``SuiteEntry.distance_ratio``)."""
        return float(np.median([e.distance_ratio for e in self.entries]))

    @property
    def validations(self) -> dict:
        return {"probe": self.validation}

    @property
    def class_blind(self) -> tuple[Prediction, Validation]:
        """The class-blind control kernel's pooled prediction and its validation."""
        return self.blind, self.blind_validation


@dataclass
class OwnEstimate:
    """A pair's own kernel estimator (``OWN_ESTIMATORS``) on the probe's clean draws: ``per_seed``
    predictions, ``prediction`` pooled, its ``validation`` against the seed-mean drift and
    ``resampled`` (``kernel.validate.seed_resampled``: correlation and share explained with 95%
    intervals over seeds and samples)."""
    name: str
    per_seed: list[Prediction]
    prediction: Prediction
    validation: Validation
    resampled: dict

    def share_normalised(self) -> tuple[float, tuple[float, float]]:
        return share_over_ceiling(self.resampled, self.validation)


def share_over_ceiling(resampled: dict, validation: Validation) -> tuple[float, tuple[float, float]]:
    """The share explained of ``resampled`` (``seed_resampled``'s) over ``validation``'s noise
    ceiling, its interval scaled alike; NaN where the ceiling is not positive."""
    share, (lo, hi) = resampled["share_explained"]
    ceiling = validation.ceiling.share
    if not ceiling > 0:
        return np.nan, (np.nan, np.nan)
    return share / ceiling, (lo / ceiling, hi / ceiling)


def by_pair(entries) -> list[list]:
    """The entries grouped by task x model (the seeds of one pair together), in order of first
    appearance."""
    groups: dict[tuple[str, str], list] = {}
    for e in entries:
        groups.setdefault((e.task.name, e.model.name), []).append(e)
    return list(groups.values())


def pooled(predictions: list[Prediction]) -> Prediction:
    """Several Monte Carlo predictions on one binning as one (their clean draws together)."""
    first = predictions[0]
    contributions = np.concatenate([p.contributions for p in predictions])
    delta = contributions.mean(axis=0)
    return Prediction(edges=first.edges, p_star=first.p_star, p_tilde=first.p_star + delta, delta=delta,
                      contributions=contributions, q_clean=np.concatenate([p.q_clean for p in predictions]),
                      q_pred=np.concatenate([p.q_pred for p in predictions]), spread=None,
                      method=first.method, kernel=" + ".join(sorted({p.kernel for p in predictions})),
                      locality=float(np.mean([p.locality for p in predictions])))


def probe_study(entries, n_predict: int = 5000, n_depth: int = 500, n_boot: int = 300, depths: dict | None = None,
                own: bool = False, workers: int = 0, threads: int = 1, progress: bool | None = None
                ) -> list[ProbeResult]:
    """The probe kernel of every task x model pair (one kernel per seed's model), pooled over the
    seeds and validated against the seed-mean drift. Each seed's depth is the declared rule's
    (``kernel.deepest_local``: the deepest depth of the whole process whose locality on ``n_depth``
    clean trajectories is within ``kernel.LOCALITY_BUDGET``), or ``depths[(task, model)]`` when
    given (the same rule applied once per pair, as ``anatomy.DepthCurve.chosen``: no depth is
    probed twice); ``n_predict`` clean trajectories per seed are pushed through the kernel.
    ``own``: also each unconditional model's own estimator where its class registers one
    (``OWN_ESTIMATORS``), on the same clean draws (``ProbeResult.own``). The pairs are
    independent jobs (``jobs.run``: ``workers`` processes, ``threads`` torch threads
    each; the same numbers for any number of workers)."""
    groups = by_pair(entries)
    chosen = [None if depths is None else int(depths[g[0].task.name, g[0].model.name]) for g in groups]
    return jobs.run(_probe_pair, [_ProbeJob(group, n_predict=n_predict, n_depth=n_depth, n_boot=n_boot, depth=depth,
                                            own=own, threads=threads) for group, depth in zip(groups, chosen)],
                    workers=workers, desc="probe kernels", progress=progress)


@dataclass(frozen=True)
class _ProbeJob:
    """One task x model pair of ``probe_study`` with its arguments (a job for ``jobs.run``: a
    module-level dataclass, so it pickles for the process pool and Dask)."""
    group: list
    n_predict: int
    n_depth: int
    n_boot: int
    depth: int | None
    own: bool
    threads: int


def pair_drift(group) -> metrics.Drift:
    """The drift of one task x model pair over its seeds (``group``: their suite entries): the
    seed-mean drift with a null of the first seed's size, on the stream ``("seed-mean-null", task,
    model)`` of the first seed; with one seed, that seed's drift as it is."""
    first = group[0]
    if len(group) == 1:
        return first.drift
    return seed_mean_drift([e.drift for e in group], n_null=len(first.drift.null["tv"]),
                           seed=derive(first.seed, "seed-mean-null", first.task.name, first.model.name))


def _probe_pair(job: _ProbeJob) -> ProbeResult:
    """``probe_study`` for one task x model pair (a job)."""
    group, n_predict, n_depth, n_boot = job.group, job.n_predict, job.n_depth, job.n_boot
    task_name, model_name = group[0].task.name, group[0].model.name
    depths, preds, blinds, controls, own = [], [], [], [], []
    wanted = job.own and not group[0].model.conditional
    own_name, own_estimate = OWN_ESTIMATORS.get(model_name, (None, None)) if wanted else (None, None)
    with models.torch_threads(job.threads):
        for e in group:
            clean = clean_draws(e.task, e.prior, n_predict, derive(e.seed, "kernel-clean", task_name))
            choice = (probe_depth(e, clean[:n_depth], _streams(e, "probe-depth"))
                      if job.depth is None else DepthChoice(job.depth, [job.depth], [np.nan], resolve_mode(e.model, None)))
            depths.append(choice)
            preds.append(probe_prediction(e, choice.depth, clean, _streams(e, "probe-draws")))
            blinds.append(control_prediction(e, preds[-1].locality, clean, _streams(e, "blind-control-draws")))
            if model_name == "transformer":
                controls.append(probe_prediction(e, choice.depth, clean, _streams(e, "probe-control"),
                                                 mode="one-step"))
            if own_estimate is not None:
                own.append(own_estimate(e, clean))
        drift = pair_drift(group)
        prediction = pooled(preds)
        vseed = derive(group[0].seed, "validation-pooled", task_name, model_name)
        control, blind = (pooled(controls) if controls else None), pooled(blinds)
        return ProbeResult(
            entries=group, depths=depths, per_seed=preds, prediction=prediction, drift=drift,
            validation=validate(prediction, drift, n_boot=n_boot, seed=vseed),
            agreement=seed_agreement([e.drift for e in group]) if len(group) > 1 else None,
            view=qspace_view(prediction), locality=prediction.locality, blind_per_seed=blinds, blind=blind,
            blind_validation=validate(blind, drift, n_boot=n_boot, seed=vseed), control=control,
            control_validation=validate(control, drift, n_boot=n_boot, seed=vseed) if control else None,
            own=None if own_estimate is None else OwnEstimate(
                own_name, own, pooled(own), validate(pooled(own), drift, n_boot=n_boot, seed=vseed),
                seed_resampled(own, [e.drift for e in group], n_boot=n_boot, seed=derive(vseed, "own"))))


def probe_depth(e, clean: np.ndarray, seed: int, store: ArtifactStore | None = None) -> DepthChoice:
    """The declared rule's depth (``kernel.deepest_local``, its default budget and mode) of suite
    entry ``e``'s model on the ``clean`` trajectories. Cached (kind ``probe-depths``) under the
    model key, the task, the clean draws, the seed and the code of the kernel, the tasks and the
    metrics: the depths probed and their localities."""
    inputs = {"model_key": e.model.key, "inference": e.model.inference_numerics, "task": e.task.describe(), "clean": clean, "seed": int(seed),
              "library": kind_hash("probe-depths")}

    def compute():
        choice = deepest_local(e.model, clean, task=e.task, seed=seed)
        return {"choice.json": json.dumps(vars(choice)).encode()}
    files = (store or default_store()).get_or_compute("probe-depths", inputs, compute)
    return DepthChoice(**json.loads(files["choice.json"]))


def probe_prediction(e, depth: int, clean: np.ndarray, seed: int, mode: str | None = None,
                     store: ArtifactStore | None = None) -> Prediction:
    """``predict`` (Monte Carlo) of suite entry ``e``'s probe kernel at ``depth`` (``mode``: the
    class's default when None) on the ``clean`` trajectories, binned as ``e``'s drift. Cached
    (kind ``probe-predictions``) under the kernel (model key, depth, mode), the task, the clean
    draws, the seed and the code of the kernel, the tasks and the metrics: the clean and deviated
    quantities and the locality, from which the prediction is rebuilt
    (``kernel.predict.monte_carlo_prediction``)."""
    return _cached_prediction(e, probe(e.model, depth, mode=mode, task=e.task), clean, seed, store)


def control_prediction(e, locality: float, clean: np.ndarray, seed: int,
                       store: ArtifactStore | None = None) -> Prediction:
    """The class-blind control of a prediction of ``locality`` on the ``clean`` trajectories of
    suite entry ``e`` (``kernel.white_of_locality``: a white Gaussian kernel of the same locality
    index), predicted by Monte Carlo on the same clean draws, binned as ``e``'s drift. Cached like
    ``probe_prediction``, under the white kernel's description."""
    return _cached_prediction(e, white_of_locality(locality, clean), clean, seed, store)


def _cached_prediction(e, kernel, clean: np.ndarray, seed: int, store: ArtifactStore | None) -> Prediction:
    """``predict`` (Monte Carlo) of ``kernel`` on the ``clean`` trajectories of suite entry ``e``,
    cached (kind ``probe-predictions``: every kernel's Monte Carlo prediction, told apart by the
    kernel's description) under the kernel, the task, the clean draws, the seed and the code
    (``provenance.kind_hash``)."""
    kind = "probe-predictions"
    edges = metrics.bin_edges((e.prior.lo, e.prior.hi), len(e.drift.edges) - 1)
    inputs = {"kernel": kernel.to_dict(), "task": e.task.describe(), "clean": clean, "seed": int(seed),
              "library": kind_hash(kind)}

    def compute():
        pred = predict(e.task, kernel, e.prior, clean=clean, seed=seed, bins=len(edges) - 1, progress=False)
        return {"q_clean": pred.q_clean, "q_pred": pred.q_pred, "locality": np.asarray(pred.locality)}
    stored = (store or default_store()).get_or_compute_arrays(kind, inputs, compute)
    return monte_carlo_prediction(e.prior, edges, stored["q_clean"], stored["q_pred"], kernel.describe(),
                                  float(stored["locality"]))


def probe_table(results: list[ProbeResult]):
    """pandas DataFrame, one row per task x model: the pooled probe prediction against the
    seed-mean drift, beside its noise ceiling and the between-seed reliability ceiling, over all
    bins and in range (without the overflow bins), and the class-blind control's share."""
    import pandas as pd
    rows = []
    for r in results:
        v, a = r.validation, r.agreement
        rows.append({"task": r.task.name, "model": r.model, "seeds": len(r.entries),
                     "depths": ",".join(str(d.depth) for d in r.depths), "locality": r.locality,
                     "TV (seed mean)": r.drift.tv, "TV null 95%": r.drift.null_q95("tv"),
                     "correlation": v.correlation, "corr ceiling": v.ceiling.correlation,
                     "corr reliability ceiling": a.correlation_ceiling if a else np.nan,
                     "corr null 95%": v.correlation_null95, "share explained": v.share_explained,
                     "share ceiling": v.ceiling.share, "share / ceiling": v.share_normalised,
                     "share explained (in range)": v.share_in_range, "correlation (in range)": v.correlation_in_range,
                     "control share explained": r.blind_validation.share_explained,
                     "control share (in range)": r.blind_validation.share_in_range,
                     "sign agreement": v.sign_agreement,
                     "continuity vs Monte Carlo": r.view.agreement,
                     "one-step control corr": r.control_validation.correlation if r.control_validation else np.nan})
    return pd.DataFrame(rows)


#: chapter 04's class-blind baselines (C6), in order: a white kernel of the declared family's
#: locality on the same clean draws (``kernel.white_of_locality``), and the data's own Gaussian
#: (no training, no parameter)
WHITE_BASELINE, DATA_GAUSSIAN = "white, same locality", "data-Gaussian"


@dataclass
class BeforeTrainingResult:
    """One task x model pair, predicted before the pair's model was trained: the family declared
    for the class (``FAMILY_OF_CLASS``) with its scale calibrated on a short probe run
    (``calibration``), its Monte Carlo prediction and, beside it, the class-blind ``baselines``
    (``WHITE_BASELINE``, ``DATA_GAUSSIAN``) on the same clean draws; all validated against the
    seed-mean drift; the predicted and observed ``direction`` (``location``: sign of the mean
    shift of the quantity; ``outside``: sign of the mass leaving above minus below; 0 where the
    observation is within its null), and each baseline's predicted direction."""
    entries: list
    family: str
    kernel: object
    calibration: str
    prediction: Prediction
    baselines: dict[str, Prediction]
    drift: metrics.Drift
    validation: Validation
    baseline_validations: dict[str, Validation]
    observed_direction: dict
    predicted_direction: dict
    baseline_directions: dict[str, dict]
    seconds: float                 # short training (as it was trained) + probe + prediction, wall clock
    #: read only after the prediction, on the first seed's trained model at the declared rule's
    #: depth: where the before-training prediction loses (``LADDER``; its first rung is
    #: ``validation``)
    after_training: dict[str, Validation]

    @property
    def entry(self):
        return self.entries[0]

    @property
    def seed_label(self) -> str:
        return "+".join(str(e.seed) for e in self.entries)

    @property
    def class_blind(self) -> tuple[Prediction, Validation]:
        """The white baseline of the declared family's locality: its prediction and validation."""
        return self.baselines[WHITE_BASELINE], self.baseline_validations[WHITE_BASELINE]


def observed_direction(entries, drift: metrics.Drift, n_boot: int, seed: int) -> dict:
    """Direction of the observed drift, pooled over ``entries`` (the seeds of one pair)."""
    q_hat = np.concatenate([e.q_hat for e in entries])
    shift = metrics.location_shift(q_hat, entries[0].prior, n_boot=n_boot, seed=seed)
    outside = int(np.sign(drift.p_hat[-1] - drift.p_hat[0])) if drift.outside > drift.null_q95("outside") else 0
    return {"location": shift.beyond_null("mean_shift"), "outside": outside}


def predicted_direction(pred: Prediction) -> dict:
    """Direction of a Monte Carlo prediction: the sign of the mean change of the quantity, and of
    the mass it sends above the range minus below (0 if none leaves)."""
    finite = np.isfinite(pred.q_pred)
    location = int(np.sign(np.mean(pred.q_pred[finite]) - np.mean(pred.q_clean[finite])))
    outside = int(np.sign(pred.p_tilde[-1] - pred.p_tilde[0])) if pred.p_tilde[0] + pred.p_tilde[-1] > 0 else 0
    return {"location": location, "outside": outside}


def before_training_study(entries, probe_steps: int = 200, n_calibrate: int = 500, n_predict: int = 5000,
                          n_boot: int = 300, store=None, workers: int = 0, threads: int = 1,
                          progress: bool | None = None) -> list[BeforeTrainingResult]:
    """For every task x model pair: train the class for ``probe_steps`` on the first seed's data
    (a short run, cached), probe it at the class's default depth on ``n_calibrate`` clean
    trajectories, calibrate the declared family on the probe's residuals, and predict by Monte
    Carlo; the trained models' drift is only read afterwards, to validate. One job per pair
    (``jobs.run``: the same numbers for any number of ``workers``); ``threads``: torch threads
    per job (1, as the suite's models were trained, so that the seconds compare; and torch's
    default of one per core stalls many times over when another process holds a core)."""
    return jobs.run(_before_training, [_BeforeTrainingJob(group, probe_steps, n_calibrate, n_predict, n_boot, store,
                                                          threads) for group in by_pair(entries)],
                    workers=workers, desc="before training", progress=progress)


@dataclass(frozen=True)
class _BeforeTrainingJob:
    """One task x model pair of ``before_training_study`` with its arguments (a job)."""
    group: list
    probe_steps: int
    n_calibrate: int
    n_predict: int
    n_boot: int
    store: ArtifactStore | None
    threads: int


def _before_training(job: _BeforeTrainingJob) -> BeforeTrainingResult:
    """``before_training_study`` for one task x model pair (a job)."""
    group, probe_steps, n_calibrate, n_predict, n_boot, store = (
        job.group, job.probe_steps, job.n_calibrate, job.n_predict, job.n_boot, job.store)
    with models.torch_threads(job.threads):
        first = group[0]
        task_name, model_name = first.task.name, first.model.name
        cfg = first.model.config.replace(train_steps=probe_steps)
        short = models.fit(model_name, first.data, cfg, seed=_streams(first, "short-probe"), store=store,
                           progress=False)
        start = time.perf_counter()   # the short run's cost is its training time, also when loaded from the cache
        clean = clean_draws(first.task, first.prior, n_predict, derive(first.seed, "kernel-clean", task_name))
        fam = FAMILY_OF_CLASS[model_name]
        kernel = calibrated(fam, short, clean[:n_calibrate], seed=_streams(first, "short-probe-draws"), task=first.task)
        kw = dict(clean=clean, bins=len(first.drift.edges) - 1, progress=False)
        pred = predict(first.task, kernel, first.prior, seed=_streams(first, "before-training-draws"), **kw)
        seconds = short.meta["train_seconds"] + time.perf_counter() - start
        blind = {WHITE_BASELINE: (white_of_locality(pred.locality, clean), "white-baseline-draws"),
                 DATA_GAUSSIAN: (family("data-gaussian", data=first.data), "data-gaussian-draws")}
        baselines = {name: predict(first.task, k, first.prior, seed=_streams(first, stream), **kw)
                     for name, (k, stream) in blind.items()}
        drift = pair_drift(group)
        vseed = derive(first.seed, "validation-pooled", task_name, model_name)
        after = {name: validate(predict(first.task, k, first.prior, seed=_streams(first, f"ladder-draws-{i}"), **kw),
                                drift, n_boot=n_boot, seed=vseed)
                 for i, (name, k) in enumerate(_after_training_kernels(first, fam, clean[:n_calibrate], store).items())}
        return BeforeTrainingResult(
            entries=group, family=fam, kernel=kernel,
            calibration=f"{probe_steps}-step {model_name}, probed at the declared rule's depth",
            prediction=pred, baselines=baselines, drift=drift,
            validation=validate(pred, drift, n_boot=n_boot, seed=vseed),
            baseline_validations={k: validate(p, drift, n_boot=n_boot, seed=vseed) for k, p in baselines.items()},
            observed_direction=observed_direction(group, drift, n_boot,
                                                  derive(first.seed, "direction", task_name, model_name)),
            predicted_direction=predicted_direction(pred),
            baseline_directions={k: predicted_direction(p) for k, p in baselines.items()},
            seconds=seconds, after_training=after)


def _after_training_kernels(entry, fam: str, clean, store=None) -> dict:
    """The ladder's rungs after training (``LADDER[1:]``): the declared family calibrated on the
    trained model, and that model's own probe, both at the declared rule's depth."""
    depth = probe_depth(entry, clean, _streams(entry, "probe-depth"), store=store).depth
    return {LADDER[1]: calibrated(fam, entry.model, clean, seed=_streams(entry, "trained-family"), task=entry.task,
                                  depth=depth),
            LADDER[2]: probe(entry.model, depth, task=entry.task)}


def before_training_ladder(results: list[BeforeTrainingResult]):
    """pandas DataFrame, one row per task x model: share explained / its ceiling at each rung of
    ``LADDER`` and for the data-Gaussian reference (NaN where the ceiling is not positive)."""
    import pandas as pd
    return pd.DataFrame([{"task": r.entry.task.name, "model": r.entry.model.name,
                          LADDER[0]: r.validation.share_normalised,
                          **{name: v.share_normalised for name, v in r.after_training.items()},
                          DATA_GAUSSIAN: r.baseline_validations[DATA_GAUSSIAN].share_normalised} for r in results])


def before_training_table(results: list[BeforeTrainingResult]):
    """pandas DataFrame, one row per task x model: the declared family's calibrated kernel and its
    agreement with the seed-mean drift, the class-blind baselines' correlations, and the directions
    (the declared family's and each baseline's)."""
    import pandas as pd
    return pd.DataFrame([{
        "task": r.entry.task.name, "model": r.entry.model.name, "family": r.family, "kernel": r.kernel.describe(),
        "correlation": r.validation.correlation, "corr null 95%": r.validation.correlation_null95,
        "share explained": r.validation.share_explained, "share ceiling": r.validation.ceiling.share,
        **{f"{k} correlation": v.correlation for k, v in r.baseline_validations.items()},
        "observed location": r.observed_direction["location"], "predicted location": r.predicted_direction["location"],
        "observed outside": r.observed_direction["outside"], "predicted outside": r.predicted_direction["outside"],
        **{f"{k} {c}": d[c] for k, d in r.baseline_directions.items() for c in ("location", "outside")},
        "prediction seconds": r.seconds, "training seconds": np.mean([e.model.meta.get("train_seconds", np.nan)
                                                                       for e in r.entries])}
        for r in results])


def _clean_by_task(entries, n: int) -> dict[tuple[str, int], np.ndarray]:
    """Clean trajectories from the intended prior, one set per task and seed."""
    out = {}
    for e in entries:
        if (e.task.name, e.seed) not in out:
            out[e.task.name, e.seed] = clean_draws(e.task, e.prior, n, derive(e.seed, "kernel-clean", e.task.name))
    return out


def _streams(e, purpose: str) -> int:
    return derive(e.seed, purpose, e.task.name, e.model.name)


def empirical_study(entries, n_predict: int = 20000, n_reference: int = 20000,
                    refine_steps: int = 30, n_boot: int = 500, analytic: bool = True, workers: int = 0,
                    threads: int = 1, progress: bool | None = None) -> list[EmpiricalResult]:
    """The projection-residual kernel of every entry's samples, its predictions (the bank by
    Monte Carlo; with ``analytic``, also its stationary Gaussian by the delta method) and their
    validation. The entries are independent jobs (``jobs.run``, as in ``probe_study``)."""
    clean = _clean_by_task(entries, n_predict)
    return jobs.run(_empirical_entry, [_EmpiricalJob(e, clean=clean[e.task.name, e.seed], n_reference=n_reference,
                                                    refine_steps=refine_steps, n_boot=n_boot, analytic=analytic,
                                                    threads=threads) for e in entries],
                    workers=workers, desc="empirical kernels", progress=progress)


@dataclass(frozen=True)
class _EmpiricalJob:
    """One entry of ``empirical_study`` with its clean draws and arguments (a job for
    ``jobs.run``, picklable like ``_ProbeJob``)."""
    entry: object                 # suite.SuiteEntry
    clean: np.ndarray
    n_reference: int
    refine_steps: int
    n_boot: int
    analytic: bool
    threads: int


def _empirical_entry(job: _EmpiricalJob) -> EmpiricalResult:
    """``empirical_study`` for one entry (a job)."""
    e = job.entry
    bins = len(e.drift.edges) - 1
    finite = np.isfinite(e.samples).all(axis=(1, 2))
    with models.torch_threads(job.threads):
        bank = estimate(e.task, e.data, e.samples[finite], form="bank", n_reference=job.n_reference,
                        refine_steps=job.refine_steps, seed=_streams(e, "projection"), progress=False)
        gauss = bank.to_gaussian()
        kw = dict(prior=e.prior, clean=job.clean, bins=bins, seed=_streams(e, "kernel-draws"), progress=False)
        preds = {"bank (Monte Carlo)": predict(e.task, bank, method="monte-carlo", **kw)}
        if job.analytic:
            preds["Gaussian (analytic)"] = predict(e.task, gauss, method="analytic", **kw)
    vals = {name: validate(p, e.drift, n_boot=job.n_boot, seed=_streams(e, "validation"))
            for name, p in preds.items()}
    on_manifold = metrics.drift(bank.projection.q_fit, e.prior, bins=bins,
                                n_null=len(e.drift.null["tv"]), seed=_streams(e, "null"))
    return EmpiricalResult(entry=e, bank=bank, gaussian=gauss, predictions=preds, validations=vals,
                           on_manifold=on_manifold, n_dropped=int((~finite).sum()))


def _validation_columns(v: Validation) -> dict:
    return {"correlation": v.correlation, "corr 95% CI": _fmt_ci(v.correlation_ci),
            "corr null 95%": v.correlation_null95, "sign agreement": v.sign_agreement,
            "sign 95% CI": _fmt_ci(v.sign_agreement_ci), "bins beyond null": v.n_beyond_null,
            "share explained": v.share_explained, "share 95% CI": _fmt_ci(v.share_explained_ci),
            "TV observed": v.tv_observed, "TV predicted": v.tv_predicted}


def _fmt_ci(ci) -> str:
    return f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"


def empirical_table(results: list[EmpiricalResult]):
    """pandas DataFrame: one row per task x model x predictor with the validation numbers."""
    import pandas as pd
    rows = []
    for r in results:
        for name, v in r.validations.items():
            rows.append({"task": r.entry.task.name, "model": r.entry.model.name, "seed": r.entry.seed,
                         "predictor": name,
                         "TV null 95%": r.entry.drift.null_q95("tv"), **_validation_columns(v),
                         "residual RMS": float(np.sqrt(np.mean(r.bank.residuals ** 2)))})
    return pd.DataFrame(rows)


def decomposition_table(results: list[EmpiricalResult]):
    """pandas DataFrame: drift of the fitted on-manifold quantity beside the measured drift."""
    import pandas as pd
    return pd.DataFrame([{
        "task": r.entry.task.name, "model": r.entry.model.name, "seed": r.entry.seed,
        "TV measured": r.entry.drift.tv, "TV on-manifold": r.on_manifold.tv,
        "TV null 95%": r.entry.drift.null_q95("tv"),
        "on-manifold within null": r.on_manifold.tv <= r.on_manifold.null_q95("tv"),
        "on-manifold outside range": r.bank.projection.outside,
        "samples refined": float(r.bank.projection.refined.mean()),
        "projection RMS (median)": float(np.median(r.bank.projection.rms)),
        "non-finite samples": r.n_dropped} for r in results])


def projection_comparison(suite, table, n_predict: int, n_reference: int, refine_steps: int, n_boot: int):
    """Chapter 03's diagnostic: the first seed's projection-residual bank (``empirical_study``)
    against the pooled probe (``table``: ``probe_table``), per task x model, with the on-manifold
    drift of ``decomposition_table``."""
    projection = empirical_study(suite.first_seed(), n_predict=n_predict, n_reference=n_reference,
                                 refine_steps=refine_steps, n_boot=n_boot, analytic=False)
    decomposition = decomposition_table(projection)
    bank = empirical_table(projection)
    bank = bank[bank.predictor == "bank (Monte Carlo)"][["task", "model", "correlation", "share explained"]]
    compare = bank.merge(table[["task", "model", "correlation", "share explained"]], on=["task", "model"],
                         suffixes=(" (projection, seed 0)", " (probe, pooled)"))
    return compare.merge(decomposition[["task", "model", "TV measured", "TV on-manifold",
                                        "on-manifold within null", "on-manifold outside range"]],
                         on=["task", "model"])


def location_shifts(suite, projection, task: str, n_boot: int) -> tuple[dict, dict]:
    """Per model, the location shift (``metrics.location_shift``) of ``task``'s quantity against
    the intended prior, with bootstrap intervals and the finite-sample null: of the measured
    quantity (all seeds' samples pooled) and of the on-manifold one (the first seed's projection,
    ``projection``: ``empirical_study`` results). Chapter 05's C3, on the maze's travel distance."""
    cfg = suite.config
    result_of = {(r.entry.task.name, r.entry.model.name): r for r in projection}
    shifts, on_manifold = {}, {}
    for m in cfg.models:
        e = suite.get(task, m)
        pooled_q = np.concatenate([suite.get(task, m, s).q_hat for s in cfg.seeds])   # all seeds' samples
        shift_seed = derive(cfg.seeds[0], "location-shift", task, m)
        shifts[m] = metrics.location_shift(pooled_q, e.prior, n_boot=n_boot, seed=shift_seed)
        on_manifold[m] = metrics.location_shift(result_of[task, m].bank.projection.q_fit, e.prior,
                                                n_boot=n_boot, seed=shift_seed)
    return shifts, on_manifold


def ci_text(ci) -> str:
    """A 95% interval ``(lo, hi)`` as a table cell, signed to two decimals."""
    return f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"
