"""Does the drift survive training? The drift, plausibility and memorisation of models measured
along their training, to tell misgeneralization from underfitting (and from copying).

For each task x model class x seed, one long run (``models.checkpoints``: EMA weights kept at
checkpoints, linear warm-up then a constant learning rate) is evaluated at checkpoints on a log
grid of steps, given as multiples (``factors``) of the book's own budget for that task x class
(``SuiteConfig.model_config``), on the book's training set (same curation and training seeds as
the suite). At a few further points (``width_factors``, ``n_train_factors``) the width or the
training set size is changed, one at a time, up to ``size_factor`` x the budget. At each
checkpoint (``CheckpointEval``): TV with its finite-sample null, the mass outside the range, the
distance ratio of the plausibility rule (``claims.plausible``), the memorisation index and the
training and held-out losses.

Declared before any result (companion's choices):

* **memorisation index**: the probability that a sample lies closer to its nearest training
  trajectory than a fresh clean trajectory (curated like the training set, not in it) lies to
  its own (ties count one half): a Mann-Whitney statistic. A model that returns its training
  trajectories has index 1, one that draws fresh clean trajectories 0.5, one whose samples are
  further from the data than clean ones (noisier) below 0.5. If a share ``c`` of samples were
  copies and the rest fresh draws, the index would be ``0.5 + c / 2``. Samples count as *not
  memorised* when its interval lies below ``claims.MEMORISED`` (0.6: fewer than a fifth copied).
* **saturating law** per task x class (width and training set at the book's): ``TV(C) = TV_inf
  + a (C / C_0)^-b`` over the checkpoints' steps ``C`` (``C_0`` the first), least squares on the
  mean over seeds with ``TV_inf >= 0``, ``a >= 0`` and ``b`` on the grid ``EXPONENTS`` (40
  log-spaced values in [0.1, 2]; for each, non-negative least squares in ``TV_inf`` and ``a``).
  ``TV_inf``'s 95% interval is a hierarchical bootstrap: each round draws the seeds with
  replacement and, for each drawn seed and checkpoint, one bootstrap TV of its samples (centred
  on the seed's TV), and refits the law.
* the claim (``claims.claim_c7``) compares ``TV_inf`` with the finite-sample null's 95% quantile
  at the largest checkpoint, and asks the samples at the largest checkpoint to be plausible and
  not memorised.
* **agreement with the book's model**: the checkpoint at the book's budget (constant rate) and
  the book's model (rate decayed over its budget), on the book's training set and seeds, agree
  when the difference of their mean TVs over seeds is at most the seeds' spread (the largest
  minus the smallest TV of either, over both).
* **temperature** (the transformer, sampling only): the Gaussian head's standard deviation
  multiplied by each of ``TEMPERATURES`` (0 draws the head's mean at every step).

Seeds: the training set, the training run and the clean reference set are the suite's streams
(``("data", task)``, ``("train", task, model)``, ``("reference", task)``); the held-out set of
the losses draws ``("heldout", task)``, a checkpoint's samples ``("scaling-samples", task, model,
width, n_train, step)`` and its null ``("scaling-null", ...)`` likewise; the law's bootstrap
``("scaling-law", task, model)``; the temperature sweep's samples ``("temperature", task)``.
"""
from __future__ import annotations

import copy
import math
import tempfile
from dataclasses import dataclass, field

import numpy as np

from .. import jobs, metrics
from ..cache import ArtifactStore, default_store, key_of
from ..checks import check_names, check_positive_int
from ..models import checkpoints
from ..models.base import torch_threads
from ..seeds import derive
from .claims import MEMORISED, N_BOOT, PLAUSIBLE_FACTOR, plausible
from .config import suite_config
from .evaluation import evaluation, plausibility
from .suite import SuiteEntry, cached_samples, run_suite, samples_inputs

#: the exponents ``b`` of the saturating law tried in its fit
EXPONENTS = np.geomspace(0.1, 2.0, 40)
#: the transformer's sampling temperatures: multiples of its Gaussian head's standard deviation
TEMPERATURES = (0.0, 0.5, 1.0)


@dataclass
class ScalingConfig:
    """What the scaling study trains. The base (width, training set size, batch, budget per task x
    class, bins, null draws, device) is the suite configuration ``synthetic`` at ``profile``.
    Names and factors may be given as comma-separated strings."""
    profile: str = "default"
    tasks: tuple[str, ...] = ("cone", "maze")
    models: tuple[str, ...] = ("diffusion-unet", "transformer")
    seeds: tuple[int, ...] = (0, 1)
    factors: tuple[float, ...] = (0.25, 0.5, 1, 2, 4)   # checkpoints, multiples of the book's budget
    width_factors: tuple[float, ...] = (2,)             # further widths, multiples of the book's
    n_train_factors: tuple[float, ...] = (4,)           # further training set sizes, likewise
    size_tasks: tuple[str, ...] = ("cone",)             # the tasks of the size points
    size_factor: float = 0.5                            # the size points' largest checkpoint
    size_seeds: int = 1                                 # the size points' seeds: the first k (0: all)
    n_samples: int = 1000                               # samples per checkpoint
    n_eval: int = 500                                   # trajectories of each evaluation loss
    workers: int = 0                                    # parallel training processes (0: free cores)

    def __post_init__(self):
        self.suite = suite_config("synthetic", self.profile, tasks=self.tasks, models=self.models,
                                  seeds=self.seeds, n_samples=self.n_samples)
        for name in ("n_samples", "n_eval", "size_seeds", "workers"):
            check_positive_int(f"ScalingConfig.{name}", getattr(self, name),
                               minimum=0 if name in ("size_seeds", "workers") else 1)
        if isinstance(self.size_factor, bool) or not self.size_factor > 0:
            raise ValueError(f"ScalingConfig.size_factor must be a number > 0, got {self.size_factor!r}")
        self.size_tasks = check_names(self.size_tasks, "task", self.suite.tasks) if self.size_tasks else ()
        for name in ("factors", "width_factors", "n_train_factors"):
            given = getattr(self, name)
            values = tuple(float(v) for v in (given.split(",") if isinstance(given, str) else given) if str(v).strip())
            if any(not v > 0 for v in values) or (name == "factors" and not values):
                raise ValueError(f"ScalingConfig.{name} must be positive numbers, got {getattr(self, name)!r}")
            setattr(self, name, values)

    def budget(self, model: str, task: str) -> int:
        """The book's training steps for ``model`` on ``task`` at this profile."""
        return self.suite.model_config(model, task).train_steps

    def steps(self, model: str, task: str, largest: float | None = None) -> tuple[int, ...]:
        """The checkpoint steps of a run (the factors up to ``largest``, all by default)."""
        return tuple(sorted({max(1, round(self.budget(model, task) * f)) for f in self.factors
                             if largest is None or f <= largest}))

    def runs(self) -> list["Run"]:
        """The base runs (every task x model x seed), then the size points."""
        base_width, base_n = self.suite.width, self.suite.n_train
        out = [Run(t, m, s, base_width, base_n, self.steps(m, t)) for t in self.suite.tasks
               for m in self.suite.models for s in self.suite.seeds]
        sizes = [(round(base_width * f), base_n) for f in self.width_factors]
        sizes += [(base_width, round(base_n * f)) for f in self.n_train_factors]
        seeds = self.suite.seeds[:self.size_seeds or None]
        out += [Run(t, m, s, w, n, self.steps(m, t, self.size_factor)) for t in self.size_tasks
                for m in self.suite.models for w, n in sizes for s in seeds]
        return out


@dataclass(frozen=True)
class Run:
    """One checkpointed training run."""
    task: str
    model: str
    seed: int
    width: int
    n_train: int
    steps: tuple[int, ...]


def memorisation_scores(distance: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per sample, the share of fresh clean trajectories that lie further from their nearest
    training trajectory than the sample from its own (ties one half); the index is their mean."""
    r = np.sort(np.asarray(reference, dtype=float))
    d = np.asarray(distance, dtype=float)
    below, upto = np.searchsorted(r, d, side="left"), np.searchsorted(r, d, side="right")
    return 1.0 - (below + upto) / (2.0 * r.size)


@dataclass
class CheckpointEval:
    """A checkpoint of a run, evaluated. ``nearest``: each sample's RMS distance to its nearest
    training trajectory; ``reference``: the same for fresh clean trajectories."""
    run: Run
    step: int
    factor: float
    drift: metrics.Drift
    nearest: np.ndarray = field(repr=False)
    reference: np.ndarray = field(repr=False)
    train_loss: float
    heldout_loss: float
    run_seconds: float = float("nan")   # the run's training time, from its artifact

    @property
    def seed(self) -> int:
        return self.run.seed

    @property
    def distance_ratio(self) -> float:
        """As ``SuiteEntry.distance_ratio``: the samples' median nearest-clean distance over the clean one's."""
        return float(np.nanmedian(self.nearest) / np.nanmedian(self.reference))

    @property
    def memorisation(self) -> float:
        return float(memorisation_scores(self.nearest, self.reference).mean())

    def memorisation_draws(self, n_boot: int, seed: int) -> np.ndarray:
        """Bootstrap draws of the index, the samples resampled."""
        scores = memorisation_scores(self.nearest, self.reference)
        rng = np.random.default_rng(seed)
        return scores[rng.integers(0, scores.size, size=(n_boot, scores.size))].mean(axis=1)

    def row(self) -> dict:
        r, s = self.run, self.drift.summary()
        return {"task": r.task, "model": r.model, "width": r.width, "n_train": r.n_train, "seed": r.seed,
                "step": self.step, "x budget": self.factor, "TV": s["tv"], "TV null 95%": s["tv_null95"],
                "TV excess": s["tv"] - s["tv_null95"], "outside": s["outside"],
                "outside null 95%": s["outside_null95"], "distance ratio": self.distance_ratio,
                "memorisation": self.memorisation, "train loss": self.train_loss,
                "held-out loss": self.heldout_loss}


def _sets(cfg: ScalingConfig, run: Run):
    """The run's task, prior, training set, held-out set and clean reference set."""
    task = cfg.suite.task(run.task)
    prior = cfg.suite.prior(task)
    data = task.curate(run.n_train, prior=prior, seed=derive(run.seed, "data", task.name))
    heldout = task.curate(cfg.n_eval, prior=prior, seed=derive(run.seed, "heldout", task.name))
    reference = task.curate(cfg.n_samples, prior=prior, seed=derive(run.seed, "reference", task.name))
    return task, prior, data, heldout, reference


def _models(cfg: ScalingConfig, run: Run, data, heldout, store: ArtifactStore, progress: bool = False) -> dict:
    config = cfg.suite.model_config(run.model, run.task).replace(width=run.width)
    return checkpoints.fit_checkpoints(run.model, data, heldout, config,
                                       seed=derive(run.seed, "train", run.task, run.model), steps=run.steps,
                                       n_eval=cfg.n_eval, store=store, progress=progress)


def _sample_seed(run: Run, step: int) -> int:
    return derive(run.seed, "scaling-samples", run.task, run.model, run.width, run.n_train, step)


def _cached(cfg: ScalingConfig, run: Run, store: ArtifactStore) -> bool:
    """Whether the run and its checkpoints' samples are in ``store``."""
    _, _, data, heldout, _ = _sets(cfg, run)
    config = cfg.suite.model_config(run.model, run.task).replace(width=run.width)
    inputs = checkpoints.run_inputs(run.model, config, data, heldout, derive(run.seed, "train", run.task, run.model),
                                    run.steps, cfg.n_eval)
    if not store.path(checkpoints.ARTIFACT_KIND, key_of(inputs)).exists():
        return False
    models = _models(cfg, run, data, heldout, store)
    return all(store.path("samples", key_of(samples_inputs(m, cfg.n_samples, _sample_seed(run, s)))).exists()
               for s, m in models.items())


def _train_and_sample(job: tuple[ScalingConfig, Run]) -> list:
    """A worker's job: train a run and sample its checkpoints in a throw-away store; its entries
    go back to the caller, which saves them (as ``suite._train_and_sample``)."""
    cfg, run = job
    with tempfile.TemporaryDirectory() as root, torch_threads(cfg.suite.threads):
        store = ArtifactStore(root, log=False)
        _, _, data, heldout, _ = _sets(cfg, run)
        for step, model in _models(cfg, run, data, heldout, store).items():
            cached_samples(model, cfg.n_samples, _sample_seed(run, step), store)
        return store.entries()


def checkpoint_entries(cfg: ScalingConfig, run: Run, store: ArtifactStore) -> dict:
    """Each checkpoint of ``run`` as a suite entry (``suite.SuiteEntry``: its samples measured and
    their drift and plausibility), by step; models and samples from ``store``."""
    task, prior, data, heldout, reference = _sets(cfg, run)
    reference_plausibility = plausibility(task, reference.x, data)
    out = {}
    for step, model in _models(cfg, run, data, heldout, store).items():
        x = cached_samples(model, cfg.n_samples, _sample_seed(run, step), store)
        q_hat, drift, plaus = evaluation(task, prior, data, x, cfg.suite.bins, cfg.suite.n_null, derive(
            run.seed, "scaling-null", run.task, run.model, run.width, run.n_train, step), store)
        out[step] = SuiteEntry(task, prior, data, model, run.seed, x, q_hat, drift, plaus, reference_plausibility)
    return out


def evaluate(cfg: ScalingConfig, run: Run, store: ArtifactStore) -> list[CheckpointEval]:
    """Every checkpoint of ``run`` evaluated (models and samples from ``store``)."""
    budget = cfg.budget(run.model, run.task)
    return [CheckpointEval(run, step, step / budget, e.drift, e.plausibility["nearest_clean_rms"],
                           e.reference_plausibility["nearest_clean_rms"], e.model.history["eval_train"],
                           e.model.history["eval_heldout"], e.model.meta["run_seconds"])
            for step, e in checkpoint_entries(cfg, run, store).items()]


def probe_checkpoints(result: "ScalingResult", factors, n_predict: int, n_depth: int, n_boot: int,
                      store: ArtifactStore | None = None, progress: bool | None = None):
    """The probe kernel (chapter 03's study, ``kernel_study.probe_study``: the declared depth rule,
    pooled over seeds, beside its noise ceiling) of each task x class at the book's size, at the
    checkpoints of ``factors`` (multiples of the book's budget); pandas DataFrame, one row per
    task x class x checkpoint (``kernel_study.probe_table`` with the step)."""
    import pandas as pd
    from .kernel_study import probe_study, probe_table
    cfg, store = result.config, store or default_store()
    base = [r for r in cfg.runs() if (r.width, r.n_train) == (cfg.suite.width, cfg.suite.n_train)]
    tables = []
    for factor in factors:
        step = {r: max(1, round(cfg.budget(r.model, r.task) * factor)) for r in base}
        entries = [checkpoint_entries(cfg, r, store)[step[r]] for r in base if step[r] in r.steps]
        table = probe_table(probe_study(entries, n_predict, n_depth, n_boot, workers=cfg.workers, progress=progress))
        tables.append(table.assign(**{"x budget": factor}))
    columns = ["task", "model", "x budget", "depths", "locality", "TV (seed mean)", "correlation", "corr ceiling",
               "share explained", "share ceiling", "share / ceiling"]
    return pd.concat(tables, ignore_index=True)[columns]


def fit_law(steps, tv) -> tuple[float, float, float]:
    """``(TV_inf, a, b)`` of the saturating law fitted to ``tv`` at ``steps`` (module docstring)."""
    from scipy.optimize import nnls
    c = np.asarray(steps, dtype=float) / float(np.min(steps))
    tv = np.asarray(tv, dtype=float)
    best = None
    for b in EXPONENTS:
        coef, residual = nnls(np.column_stack([np.ones_like(c), c ** -b]), tv)
        if best is None or residual < best[0]:
            best = (residual, float(coef[0]), float(coef[1]), float(b))
    return best[1:]


@dataclass
class LawFit:
    """The saturating law of one task x class over its seeds' checkpoints (``curves``: per seed, its
    ``CheckpointEval`` by increasing step)."""
    task: str
    model: str
    curves: list[list[CheckpointEval]]
    tv_inf: float
    a: float
    b: float
    tv_inf_interval: tuple[float, float]

    @property
    def steps(self) -> np.ndarray:
        return np.array([e.step for e in self.curves[0]])

    @property
    def final(self) -> list[CheckpointEval]:
        """Each seed's largest checkpoint."""
        return [c[-1] for c in self.curves]

    @property
    def null95(self) -> float:
        """The mean over seeds of the TV null's 95% quantile at the largest checkpoint."""
        return float(np.mean([e.drift.null_q95("tv") for e in self.final]))

    def law(self, steps) -> np.ndarray:
        return self.tv_inf + self.a * (np.asarray(steps, float) / self.steps[0]) ** -self.b

    def first_plausible(self) -> int | None:
        """The first checkpoint step at which the samples are plausible (``claims.plausible``)."""
        for i, step in enumerate(self.steps):
            if plausible([c[i] for c in self.curves], PLAUSIBLE_FACTOR):
                return int(step)
        return None


def _centred(draws: np.ndarray, point: float) -> np.ndarray:
    """Bootstrap draws shifted to centre on ``point`` (as ``metrics.seed_mean_interval`` does)."""
    return draws - draws.mean() + point


def law_fit(curves: list[list[CheckpointEval]], n_boot: int = N_BOOT, seed: int = 0) -> LawFit:
    """``fit_law`` on the seeds' mean TV, with ``TV_inf``'s bootstrap interval (module docstring)."""
    steps = [e.step for e in curves[0]]
    if any([e.step for e in c] != steps for c in curves):
        raise ValueError("law_fit needs the same checkpoint steps for every seed")
    drifts = [[e.drift for e in c] for c in curves]
    points = np.array([[d.tv for d in row] for row in drifts])
    rng = np.random.default_rng(seed)
    draws = np.array([[_centred(d.tv_draws(n_boot, derive(seed, s, j)), d.tv) for j, d in enumerate(row)]
                      for s, row in enumerate(drifts)])   # (seeds, checkpoints, n_boot)
    picks = metrics.seed_draws(len(curves), n_boot, rng)
    which = rng.integers(0, n_boot, size=picks.shape)
    rounds = draws[picks, :, which].mean(axis=1)           # (n_boot, checkpoints)
    tv_inf = np.array([fit_law(steps, r)[0] for r in rounds])
    lo, hi = np.quantile(tv_inf, [0.025, 0.975])
    first = curves[0][0].run
    return LawFit(first.task, first.model, curves, *fit_law(steps, points.mean(axis=0)), (float(lo), float(hi)))


@dataclass
class ScalingResult:
    """Every checkpoint of every run (``evals``) and the law of each task x class (``fits``)."""
    config: ScalingConfig
    evals: list[CheckpointEval]
    fits: list[LawFit]

    def table(self):
        """pandas DataFrame, one row per checkpoint of every run and seed (``CheckpointEval.row``)."""
        import pandas as pd
        return pd.DataFrame([e.row() for e in self.evals])

    def summary(self):
        """``table`` as the mean over seeds per task x class x width x training set x step."""
        keys = ["task", "model", "width", "n_train", "step"]
        return self.table().drop(columns="seed").groupby(keys, sort=False).mean().reset_index()

    def base_summary(self):
        """``summary`` at the book's width and training set size."""
        table = self.summary()
        return table[(table["width"] == self.config.suite.width) & (table["n_train"] == self.config.suite.n_train)]

    def laws(self):
        """pandas DataFrame, one row per task x class: the law's parameters, ``TV_inf``'s interval
        beside the null, where the samples first become plausible and the largest checkpoint's
        distance ratio and memorisation index (means over seeds)."""
        import pandas as pd
        return pd.DataFrame([{"task": f.task, "model": f.model, "TV_inf": f.tv_inf,
                              "TV_inf 95% CI": [round(v, 4) for v in f.tv_inf_interval], "null 95%": f.null95,
                              "a": f.a, "b": f.b, "largest step": int(f.steps[-1]),
                              "first plausible step": f.first_plausible() or "none",
                              "distance ratio (largest)": float(np.median([e.distance_ratio for e in f.final])),
                              "memorisation (largest)": float(np.mean([e.memorisation for e in f.final]))}
                             for f in self.fits])

    def run_seconds(self) -> float:
        """Training seconds of every run, as recorded in the artifacts (a cached run counts its
        first training)."""
        return float(sum(e.run_seconds for e in self.evals if e.step == e.run.steps[-1]))


def run_scaling(cfg: ScalingConfig, store: ArtifactStore | None = None, progress: bool | None = None) -> ScalingResult:
    """Train (or load) every run of ``cfg`` in the pool (``jobs.run``), evaluate every checkpoint
    and fit the law of each task x class at the book's size."""
    store = store or default_store()
    runs = cfg.runs()

    def keep(made):   # saved as each run arrives
        for kind, key, files, inputs in made:
            store.save(kind, key, files, inputs)
    # the longest runs first, so that the pool's last job is a short one
    missing = sorted(((cfg, r) for r in runs if not _cached(cfg, r, store)), key=lambda j: -j[1].steps[-1] * j[1].width)
    jobs.run(_train_and_sample, missing, workers=cfg.workers, desc="checkpointed runs", progress=progress,
             on_result=keep)
    evals = {r: evaluate(cfg, r, store) for r in runs}
    base = [r for r in runs if (r.width, r.n_train) == (cfg.suite.width, cfg.suite.n_train)]
    fits = [law_fit([evals[r] for r in base if (r.task, r.model) == (t, m)],
                    seed=derive(cfg.suite.seeds[0], "scaling-law", t, m))
            for t in cfg.suite.tasks for m in cfg.suite.models]
    return ScalingResult(cfg, [e for r in runs for e in evals[r]], fits)


def book_suite(cfg: ScalingConfig, progress: bool | None = None):
    """The book's own models of the study's tasks, classes and seeds (chapters 02 and 05: cache hits
    once they have run), with their samples."""
    return run_suite(suite_config("synthetic", cfg.profile, tasks=cfg.tasks, models=cfg.models, seeds=cfg.seeds),
                     progress=progress)


def book_agreement(result: ScalingResult, suite):
    """pandas DataFrame, one row per task x class: the mean TV over seeds of the checkpoint at the
    book's budget and of the book's model (its first ``n_samples`` samples, so that both TVs
    have the same sample size), their difference, the seeds' spread and whether they agree
    (module docstring)."""
    import pandas as pd
    cfg, rows = result.config, []
    for f in result.fits:
        at_budget = [e.drift.tv for e in result.evals if (e.run.task, e.run.model) == (f.task, f.model)
                     and e.factor == 1.0 and (e.run.width, e.run.n_train) == (cfg.suite.width, cfg.suite.n_train)]
        if not at_budget:
            raise ValueError(f"book_agreement needs a checkpoint at the book's budget (factor 1 in {cfg.factors})")
        book = [metrics.drift(e.q_hat[:cfg.n_samples], e.prior, bins=cfg.suite.bins, n_null=cfg.suite.n_null,
                              seed=derive(e.seed, "scaling-null", "book", f.task, f.model)).tv
                for e in suite if (e.task.name, e.model.name) == (f.task, f.model)]
        diff = float(np.mean(at_budget) - np.mean(book))
        spread = float(max(np.ptp(at_budget), np.ptp(book)))
        rows.append({"task": f.task, "model": f.model, "TV checkpoint (constant rate)": float(np.mean(at_budget)),
                     "TV book's model (decayed rate)": float(np.mean(book)), "difference": diff,
                     "seeds' spread": spread, "agree": abs(diff) <= spread})
    return pd.DataFrame(rows)


def tempered(model, scale: float):
    """A copy of trained transformer ``model`` whose Gaussian head's standard deviation is
    multiplied by ``scale`` when it samples (0: the head's mean at every step); the weights are
    the model's."""
    if model.name != "transformer" or not scale >= 0:
        raise ValueError(f"tempered needs a transformer and a scale >= 0, got {model.name!r} and {scale!r}")
    net = copy.deepcopy(model.net)
    gaussian, shift = net._gaussian, math.log(scale) if scale > 0 else -math.inf

    def scaled(h):
        mean, log_std = gaussian(h)
        return mean, log_std + shift
    net._gaussian = scaled
    out = copy.copy(model)
    out.net, out._compiled = net, None
    return out


def temperature_sweep(suite, scales=TEMPERATURES, n_samples: int | None = None):
    """pandas DataFrame, one row per transformer entry of ``suite`` and scale: TV with its null's
    95% quantile, the distance ratio and the memorisation index of ``n_samples`` samples (default:
    the suite's) drawn at that scale (the same seed at every scale)."""
    import pandas as pd
    rows = []
    for e in suite:
        if e.model.name != "transformer":
            continue
        n = n_samples or suite.config.n_samples
        reference = e.reference_plausibility["nearest_clean_rms"]
        for scale in scales:
            x = tempered(e.model, scale).sample(n, seed=derive(e.seed, "temperature", e.task.name))
            drift = metrics.drift(e.task.measure(x), e.prior, bins=suite.config.bins, n_null=suite.config.n_null,
                                  seed=derive(e.seed, "temperature-null", e.task.name, f"{scale:g}"))
            nearest = metrics.nearest_clean(x, e.data.x)[1]
            rows.append({"task": e.task.name, "seed": e.seed, "scale": scale, "TV": drift.tv,
                         "TV null 95%": drift.null_q95("tv"), "outside": drift.outside,
                         "distance ratio": float(np.nanmedian(nearest) / np.nanmedian(reference)),
                         "memorisation": float(memorisation_scores(nearest, reference).mean())})
    return pd.DataFrame(rows)
