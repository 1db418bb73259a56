"""The task x model suite: curate each task's dataset under its intended prior, fit every model
class, sample, measure and compare the recovered distribution with the prior; once per seed.

Chapters build their ``SuiteConfig`` from a named configuration (``studies.config``); the
chapter that trains calls ``run_suite(cfg)``, later chapters pass ``require_cached=True`` and load
the same models and samples from the artifact cache.

Open for experiments beyond the book's: any intended prior per task (``priors``), task
constructor parameters (``task_params``), conditional training (``conditional``: samples are then
generated for quantities drawn from the prior), several seeds (``seeds``: each a full replicate,
from curation to sampling) and per-model-class config overrides (``overrides``).
``vectorise_seeds=True`` trains the seeds of a task x model (x intervention) together in one
vectorised pass (``vectorised.fit_seeds``, the classes of ``VECTORISED_CLASSES``; the others train
seed by seed): same streams, results equal to rounding, cached under their own keys.

Seeds: every stochastic step draws from a named stream of its seed (``misgen_lib.seeds``): the
dataset ``("data", task)``, training ``("train", task, model)``, the conditioning quantities
``("condition", task, model)``, samples ``("samples", task, model)``, the drift null
``("null", task, model)``, the clean reference set of the plausibility baseline
``("reference", task)``.
"""
from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field

import numpy as np

from .. import jobs, metrics, tasks
from .. import models as _models
from ..cache import ArtifactStore, default_store, key_of
from ..checks import check_names, check_positive_int
from ..interventions.transforms import Transform, transformed
from ..priors import Prior
from ..progress import bar
from ..seeds import derive, stream
from ..tasks.curation import check_prior
from .evaluation import evaluation, reference_plausibility
from ..models.vectorised import VECTORISED_CLASSES, fit_seeds


@dataclass
class SuiteConfig:
    """What the suite trains. The field defaults are the book's base configuration; named
    variants (``studies.config``) override a few of them. ``tasks`` / ``models``: names (a
    sequence or a comma-separated string). ``width``, ``train_steps``, ``batch_size`` and
    ``device`` go to every model's config; ``overrides`` maps a model name to further config
    fields. ``priors``: task name -> intended prior (default: the task's own, uniform);
    ``task_params``: task name -> constructor parameters."""
    tasks: tuple[str, ...] = ("sine", "cone", "logistic")
    models: tuple[str, ...] = ("diffusion-unet", "diffusion-mlp", "transformer", "vae")
    n_train: int = 2000
    train_steps: int = _models.ModelConfig.train_steps
    batch_size: int = _models.ModelConfig.batch_size
    width: int = _models.ModelConfig.width
    n_samples: int = 2000
    seeds: tuple[int, ...] = (0, 1, 2)
    device: str = "cpu"
    bins: int = 20
    n_null: int = 200
    threads: int = 1               # torch CPU threads per process (0: torch's default)
    workers: int = 0               # processes training models in parallel (0: one per free core)
    conditional: bool = False
    overrides: dict = field(default_factory=dict)
    #: training steps per class as a multiple of ``train_steps`` (companion's choice: the MLP
    #: diffusion model and the VAE train ~5x faster per step and are underfit at the shared
    #: budget; at 4x the MLP's samples become plausible, the VAE's on the sine do not)
    step_factors: dict = field(default_factory=lambda: {"diffusion-mlp": 4, "vae": 4})
    #: training steps per task as a fraction of ``train_steps`` (companion's choice: the applied
    #: tasks train for two thirds of the base budget, 1000 of 1500 steps at the default profile,
    #: to fit the CPU budget). The budget is one per task x class wherever a suite trains it, so
    #: that chapter 06's untreated models are the models of chapters 02 and 05
    task_step_scale: dict = field(default_factory=lambda: {"maze": 2 / 3, "pendulum": 2 / 3})
    priors: dict = field(default_factory=dict)
    task_params: dict = field(default_factory=dict)
    #: train the seeds of one task x model together, vectorised (``vectorised.fit_seeds``): same
    #: streams as seed by seed, weights equal to rounding, so other cache keys (off: the book's)
    vectorise_seeds: bool = False

    def __post_init__(self):
        self.tasks = check_names(self.tasks, "task", tasks.available())
        self.models = check_names(self.models, "model", _models.available())
        for name in ("n_train", "train_steps", "batch_size", "width", "n_samples", "bins", "n_null",
                     "threads", "workers"):
            check_positive_int(f"SuiteConfig.{name}", getattr(self, name),
                               minimum=0 if name in ("threads", "workers") else 1)
        seeds = (self.seeds,) if isinstance(self.seeds, (int, np.integer)) else tuple(self.seeds)
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"SuiteConfig.seeds must be distinct integers >= 0, got {self.seeds!r}")
        self.seeds = tuple(check_positive_int("SuiteConfig.seeds", s, minimum=0) for s in seeds)
        for name in ("conditional", "vectorise_seeds"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"SuiteConfig.{name} must be True or False, got {getattr(self, name)!r}")
        for name, factor in self.step_factors.items():
            check_positive_int(f"SuiteConfig.step_factors[{name!r}]", factor)
        for name, scale in self.task_step_scale.items():
            if name not in tasks.available():
                raise ValueError(f"SuiteConfig.task_step_scale names {name!r}, which is not a task; valid: "
                                 f"{list(tasks.available())}")
            if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale <= 1:
                raise ValueError(f"SuiteConfig.task_step_scale[{name!r}] must be a number in (0, 1], got {scale!r}")
        for what, mapping, valid in (("overrides", self.overrides, self.models),
                                     ("priors", self.priors, self.tasks),
                                     ("task_params", self.task_params, self.tasks)):
            bad = sorted(set(mapping) - set(valid))
            if bad:
                raise ValueError(f"SuiteConfig.{what} names {bad}, which are not in the suite; valid: "
                                 f"{list(valid)}")
        for name, prior in self.priors.items():
            if not isinstance(prior, Prior):
                raise ValueError(f"SuiteConfig.priors[{name!r}] must be a misgen_lib.priors.Prior, got "
                                 f"{prior!r}")
        for name in self.models:   # fail now, not after training the first models
            self.model_config(name, self.tasks[0])
        for name in self.tasks:
            self.prior(self.task(name))

    def model_config(self, name: str, task: str):
        """The config of model class ``name`` trained on task ``task`` (its training budget:
        ``train_steps`` x the task's scale, rounded, x the class's factor)."""
        scaled = max(1, round(self.train_steps * self.task_step_scale.get(task, 1)))
        steps = scaled * self.step_factors.get(name, 1)
        return _models.make_config(name, {"train_steps": steps, "batch_size": self.batch_size,
                                          "width": self.width, "device": self.device,
                                          **self.overrides.get(name, {})})

    def task(self, name: str) -> tasks.Task:
        return tasks.get(name, **self.task_params.get(name, {}))

    def prior(self, task: tasks.Task) -> Prior:
        """The intended prior of ``task`` (checked against the task's range)."""
        return check_prior(task, self.priors.get(task.name))


@dataclass
class SuiteEntry:
    """One task x model x seed result. ``plausibility``: per-sample measures of the model's
    samples (name -> (n_samples,)); ``reference_plausibility``: the same on fresh clean
    trajectories curated like the training data, the baseline a plausible sample should match.
    ``q_condition``: the quantities a conditional model generated for (None if unconditional)."""
    task: tasks.Task
    prior: Prior
    data: tasks.Dataset
    model: _models.TrainedModel
    seed: int
    samples: np.ndarray
    q_hat: np.ndarray
    drift: metrics.Drift
    plausibility: dict[str, np.ndarray]
    reference_plausibility: dict[str, np.ndarray]
    q_condition: np.ndarray | None = None
    intervention: str = "none"

    @property
    def name(self) -> str:
        return f"{self.task.name} / {self.model.name}"

    @property
    def distance_ratio(self) -> float:
        """Median nearest-clean distance of the samples over that of fresh clean trajectories."""
        return float(np.nanmedian(self.plausibility["nearest_clean_rms"])
                     / np.nanmedian(self.reference_plausibility["nearest_clean_rms"]))


class SuiteResult:
    """The entries of a suite run (task-major, then model, then seed) with lookups."""

    def __init__(self, config: SuiteConfig, entries: list[SuiteEntry]):
        self.config, self.entries = config, entries

    def __iter__(self):
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, task: str, model: str, seed: int | None = None) -> SuiteEntry:
        """The entry of ``task`` x ``model`` at ``seed`` (default: the first seed)."""
        seed = self.config.seeds[0] if seed is None else seed
        for e in self.entries:
            if (e.task.name, e.model.name, e.seed) == (task, model, seed):
                return e
        raise KeyError(f"no suite entry for task {task!r}, model {model!r}, seed {seed!r}; tasks "
                       f"{list(self.config.tasks)}, models {list(self.config.models)}, seeds "
                       f"{list(self.config.seeds)}")

    def first_seed(self) -> list[SuiteEntry]:
        return [e for e in self.entries if e.seed == self.config.seeds[0]]

    def table(self):
        return summary_table(self.entries)


def samples_inputs(model: _models.TrainedModel, n: int, seed: int, q: np.ndarray | None = None) -> dict:
    """What identifies a model's samples in the cache: the model's key, how it ran
    (``inference_numerics``), ``n``, the seed, the device and the conditioning quantities."""
    inputs = {"model": model.key, "inference": model.inference_numerics, "n": n, "seed": seed,
              "device": model.config.device}
    if q is not None:
        inputs["q"] = hashlib.sha256(np.ascontiguousarray(q, dtype=np.float64).tobytes()).hexdigest()
    return inputs


def cached_samples(model: _models.TrainedModel, n: int, seed: int, store: ArtifactStore,
                   q: np.ndarray | None = None) -> np.ndarray:
    """``model.sample(n, seed, q)``, cached under ``samples_inputs``."""
    return store.get_or_compute_arrays("samples", samples_inputs(model, n, seed, q),
                                       lambda: {"samples": model.sample(n, seed=seed, q=q)})["samples"]


def run_suite(cfg: SuiteConfig, require_cached: bool = False, store: ArtifactStore | None = None,
              progress: bool | None = None) -> SuiteResult:
    """Every task x model pair of ``cfg`` at every seed."""
    with _models.torch_threads(cfg.threads):
        return SuiteResult(cfg, _run(cfg, require_cached, store or default_store(), progress))


def _run(cfg: SuiteConfig, require_cached: bool, store: ArtifactStore, progress: bool) -> list[SuiteEntry]:
    units = []   # task-major, then model, then seed
    for task_name in cfg.tasks:
        task = cfg.task(task_name)
        prior = cfg.prior(task)
        clean = {seed: clean_sets(cfg, task, prior, seed, store) for seed in cfg.seeds}
        units += [Unit(cfg, task, prior, *clean[seed], m, seed) for m in cfg.models for seed in cfg.seeds]
    return run_units(units, store, require_cached, cfg.workers, progress)


def clean_sets(cfg: SuiteConfig, task: tasks.Task, prior: Prior, seed: int,
               store: ArtifactStore) -> tuple[tasks.Dataset, dict]:
    """The training set of ``task`` at ``seed`` and the plausibility of fresh clean trajectories,
    curated the same way (the baseline a plausible sample should match)."""
    data = task.curate(cfg.n_train, prior=prior, seed=derive(seed, "data", task.name))
    return data, reference_plausibility(task, prior, data, cfg.n_samples, derive(seed, "reference", task.name), store)


def run_units(units: list["Unit"], store: ArtifactStore, require_cached: bool = False, workers: int = 0,
              progress: bool | None = None) -> list[SuiteEntry]:
    """Each unit's entry; models and samples not yet cached are made first, a group of units
    (``seed_groups``) per job, in ``workers`` parallel processes (``require_cached``: none is
    made, a missing one is an error)."""
    groups = seed_groups(units)
    if not require_cached:
        missing = [g for g in groups if not group_cached(g, store)]
        def keep(made):   # saved as each group arrives: an interrupted run keeps what finished
            for kind, key, files, inputs in made:
                store.save(kind, key, files, inputs)
        jobs.run(_train_and_sample, missing, workers=workers, desc="training", progress=progress, on_result=keep)
    entries = {}
    for group in bar(groups, desc="suite", progress=progress):
        for unit, model in zip(group, fit_group(group, store, require_cached, progress)):
            entries[id(unit)] = unit.entry(model, store)
    return [entries[id(u)] for u in units]


def seed_groups(units: list["Unit"]) -> list[list["Unit"]]:
    """The units trained together: with ``vectorise_seeds`` (and a class in
    ``VECTORISED_CLASSES``) those that differ only in the seed, else each unit alone; in the
    order of their first unit (a seed met twice starts another group)."""
    groups: dict = {}
    for u in units:
        if not (u.cfg.vectorise_seeds and u.model_name in VECTORISED_CLASSES):
            groups[id(u)] = [u]
            continue
        alike, n = (id(u.cfg), u.task.name, u.model_name, u.intervention, u.is_conditional, u.weights is None), 0
        while any(v.seed == u.seed for v in groups.get((alike, n), [])):
            n += 1   # this seed is in group n already: the next group of alike units
        groups.setdefault((alike, n), []).append(u)
    return list(groups.values())


def fit_group(group: list["Unit"], store: ArtifactStore, require_cached: bool, progress: bool) -> list:
    """The trained model of each unit of a group: ``Unit.fit`` for a lone unit, one vectorised
    pass (``fit_seeds``) for several."""
    if len(group) == 1:
        return [group[0].fit(store, require_cached, progress)]
    first = group[0]
    weights = None if first.weights is None else [u.weights for u in group]
    return fit_seeds(first.model_name, [u.training_set() for u in group], [u.training_seed() for u in group],
                     first.model_config(), conditional=first.is_conditional, store=store,
                     require_cached=require_cached, progress=progress, weights=weights)


def group_cached(group: list["Unit"], store: ArtifactStore) -> bool:
    """Whether the models of a group and their samples are in ``store`` already."""
    try:
        models = fit_group(group, store, require_cached=True, progress=False)
    except _models.MissingArtifact:
        return False
    return all(u.sampler is not None or store.path("samples", key_of(samples_inputs(
        m, u.cfg.n_samples, u.sample_seed(), u.q_condition()))).exists() for u, m in zip(group, models))


@dataclass
class Unit:
    """One independent unit of work: a model of one task, class and seed, its samples and their
    evaluation against the intended ``prior``. An intervention changes what the model trains on:
    ``train_data`` (default: ``data``, the curated set), importance ``weights``, coordinates
    (``transform``: the model trains on ``transform.encode(x)``, samples are decoded before they
    are measured) or ``conditional`` (default: the config's); or how the trained model samples:
    ``sampler``, an origin variant of its class (``studies.origins``; the model is model A's)."""
    cfg: SuiteConfig
    task: tasks.Task
    prior: Prior
    data: tasks.Dataset
    reference_plausibility: dict
    model_name: str
    seed: int
    intervention: str = "none"
    train_data: tasks.Dataset | None = None
    weights: np.ndarray | None = None
    transform: Transform | None = None
    conditional: bool | None = None
    sampler: str | None = None

    @property
    def is_conditional(self) -> bool:
        return self.cfg.conditional if self.conditional is None else self.conditional

    def training_set(self) -> tasks.Dataset:
        """What the model trains on: ``train_data`` (default ``data``), in the transform's coordinates."""
        data = self.train_data if self.train_data is not None else self.data
        return data if self.transform is None else transformed(data, self.transform)

    def training_seed(self) -> int:
        return derive(self.seed, "train", self.task.name, self.model_name)

    def model_config(self):
        """The model's config: its class's, at its task's training budget."""
        return self.cfg.model_config(self.model_name, self.task.name)

    def fit(self, store: ArtifactStore, require_cached: bool, progress: bool) -> _models.TrainedModel:
        return _models.fit(self.model_name, self.training_set(), self.model_config(),
                           seed=self.training_seed(), conditional=self.is_conditional, store=store,
                           require_cached=require_cached, progress=progress, weights=self.weights)

    def q_condition(self) -> np.ndarray | None:
        if not self.is_conditional:
            return None
        return self.prior.sample(self.cfg.n_samples, stream(self.seed, "condition", self.task.name, self.model_name))

    def sample_seed(self) -> int:
        return derive(self.seed, "samples", self.task.name, self.model_name)

    def samples(self, model, store: ArtifactStore) -> np.ndarray:
        """The model's samples in data coordinates (drawn by the ``sampler`` variant when set:
        not cached, as they cost little beside the model)."""
        if self.sampler is not None:
            from .origins import variant_samples
            return variant_samples(model, self.sampler, self.data.x, self.cfg.n_samples, self.sample_seed())
        x = cached_samples(model, self.cfg.n_samples, self.sample_seed(), store, q=self.q_condition())
        return x if self.transform is None else self.transform.decode(x)

    def entry(self, model: _models.TrainedModel, store: ArtifactStore) -> SuiteEntry:
        """The evaluated entry of the unit's trained ``model`` (samples cached in ``store``)."""
        samples = self.samples(model, store)
        q_hat, drift, plaus = evaluation(self.task, self.prior, self.data, samples, self.cfg.bins, self.cfg.n_null,
                                         derive(self.seed, "null", self.task.name, self.model_name), store)
        return SuiteEntry(self.task, self.prior, self.data, model, self.seed, samples, q_hat, drift, plaus,
                          self.reference_plausibility, self.q_condition(), self.intervention)


def _train_and_sample(group: list[Unit]) -> list:
    """A worker's job: train a group's models and draw their samples in a throw-away store, and
    send its entries back (the caller saves them in its cache: workers need no shared disk)."""
    with tempfile.TemporaryDirectory() as root:
        store = ArtifactStore(root, log=False)
        with _models.torch_threads(group[0].cfg.threads):
            for unit, model in zip(group, fit_group(group, store, require_cached=False, progress=False)):
                unit.samples(model, store)
        return store.entries()


def summary_table(entries):
    """pandas DataFrame, one row per task x model x seed: drift metrics beside their null's 95%
    quantile, ``TV above null``, the median of each plausibility measure for the samples and for
    clean reference trajectories, ``distance ratio`` (samples' median nearest-clean distance over
    the clean one's) and ``relative distance``: the median nearest-clean RMS distance over the RMS
    of the training trajectories."""
    import pandas as pd
    rows = []
    for e in entries:
        s = e.drift.summary()
        row = {"task": e.task.name, "model": e.model.name, "seed": e.seed, "TV": s["tv"],
               "TV null 95%": s["tv_null95"], "W1": s["w1"], "W1 null 95%": s["w1_null95"],
               "outside": s["outside"], "outside null 95%": s["outside_null95"],
               "TV above null": s["tv"] > s["tv_null95"]}
        for name, values in e.plausibility.items():
            row[f"{name} (samples)"] = float(np.nanmedian(values))
            row[f"{name} (clean)"] = float(np.nanmedian(e.reference_plausibility[name]))
        scale = float(np.sqrt(np.mean(e.data.x.astype(np.float64) ** 2)))
        row["distance ratio"] = e.distance_ratio
        row["relative distance (samples)"] = row["nearest_clean_rms (samples)"] / scale
        row["relative distance (clean)"] = row["nearest_clean_rms (clean)"] / scale
        rows.append(row)
    return pd.DataFrame(rows)
