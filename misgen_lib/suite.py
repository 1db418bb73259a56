"""The task x model suite: curate each task's dataset under its intended prior, fit every model
class, sample, measure and compare the recovered distribution with the prior.

Notebooks 02, 03 and 04 call ``run_suite`` with the same ``SuiteConfig``: the first trains (and
caches models and samples), the later ones pass ``require_cached=True`` and load them.

Seeds (companion's choice, all derived from ``SuiteConfig.seed``): dataset ``seed``, model
training ``seed``, model samples ``seed + 1``, drift null ``seed + 2``, clean reference
trajectories (the plausibility baseline) ``seed + 3``.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from . import metrics, tasks
from . import models as _models
from .cache import ArtifactStore, default_store
from .priors import Prior


def _names(value, kind: str, valid: list[str]) -> tuple[str, ...]:
    names = tuple(v.strip() for v in value.split(",")) if isinstance(value, str) else tuple(value)
    bad = [n for n in names if n not in valid]
    if not names or bad:
        raise ValueError(f"unknown {kind} {bad or names!r}; valid: {valid}")
    return names


@dataclass
class SuiteConfig:
    """What the suite trains. ``tasks`` / ``models``: names (a sequence or a comma-separated
    string). ``width``, ``train_steps``, ``batch_size`` and ``device`` go to every model's config;
    ``overrides`` maps a model name to further config fields."""
    tasks: tuple[str, ...] = ("sine", "cone", "logistic")
    models: tuple[str, ...] = ("diffusion-unet", "diffusion-mlp", "transformer", "vae")
    n_train: int = 2000
    train_steps: int = 1500
    batch_size: int = 64
    width: int = 32
    n_samples: int = 2000
    seed: int = 0
    device: str = "cpu"
    bins: int = 20
    n_null: int = 200
    threads: int = 1               # torch CPU threads while running (0: torch's default)
    overrides: dict = field(default_factory=dict)

    def __post_init__(self):
        self.tasks = _names(self.tasks, "task", tasks.available())
        self.models = _names(self.models, "model", _models.available())
        for name in ("n_train", "train_steps", "batch_size", "width", "n_samples", "bins", "n_null",
                     "threads"):
            tasks.base.check_positive_int(f"SuiteConfig.{name}", getattr(self, name),
                                          minimum=0 if name == "threads" else 1)
        bad = sorted(set(self.overrides) - set(self.models))
        if bad:
            raise ValueError(f"overrides for models not in the suite: {bad}; models: {list(self.models)}")
        for name in self.models:   # fail now, not after training the first models
            self.model_config(name)

    def model_config(self, name: str):
        return _models.make_config(name, {"train_steps": self.train_steps, "batch_size": self.batch_size,
                                          "width": self.width, "device": self.device,
                                          **self.overrides.get(name, {})})


@dataclass
class SuiteEntry:
    """One task x model result. ``plausibility``: per-sample measures of the model's samples
    (name -> (n_samples,)); ``reference_plausibility``: the same on clean trajectories from the
    prior, the baseline a plausible sample should match."""
    task: tasks.Task
    prior: Prior
    data: tasks.Dataset
    model: _models.TrainedModel
    samples: np.ndarray
    q_hat: np.ndarray
    drift: metrics.Drift
    plausibility: dict[str, np.ndarray]
    reference_plausibility: dict[str, np.ndarray]

    @property
    def name(self) -> str:
        return f"{self.task.name} / {self.model.name}"


def plausibility(task: tasks.Task, x: np.ndarray, data: tasks.Dataset) -> dict[str, np.ndarray]:
    """The task's own measures plus ``nearest_clean_rms``: RMS distance (per time step, data
    units) to the nearest training trajectory."""
    return {**task.plausibility(x), "nearest_clean_rms": metrics.nearest_clean(x, data.x)[1]}


def cached_samples(model: _models.TrainedModel, n: int, seed: int, store: ArtifactStore) -> np.ndarray:
    """``model.sample(n, seed)``, cached under the model's key."""
    def compute():
        buf = io.BytesIO()
        np.save(buf, model.sample(n, seed=seed))
        return {"samples.npy": buf.getvalue()}
    files = store.get_or_compute("samples", {"model": model.key, "n": n, "seed": seed}, compute)
    return np.load(io.BytesIO(files["samples.npy"]))


def run_suite(cfg: SuiteConfig, require_cached: bool = False, store: ArtifactStore | None = None,
              progress: bool = True) -> list[SuiteEntry]:
    """Every task x model pair of ``cfg``, in task-major order."""
    with _models.torch_threads(cfg.threads):
        return _run(cfg, require_cached, store or default_store(), progress)


def _run(cfg: SuiteConfig, require_cached: bool, store: ArtifactStore, progress: bool) -> list[SuiteEntry]:
    entries = []
    bar = tqdm(total=len(cfg.tasks) * len(cfg.models), desc="suite", disable=not progress)
    for task_name in cfg.tasks:
        task = tasks.get(task_name)
        prior = task.default_prior()
        data = task.curate(cfg.n_train, prior=prior, seed=cfg.seed)
        reference = task.sample(prior.sample(cfg.n_samples, np.random.default_rng(cfg.seed + 3)),
                                np.random.default_rng(cfg.seed + 3))
        reference_plaus = plausibility(task, reference, data)
        for model_name in cfg.models:
            bar.set_postfix_str(f"{task_name} / {model_name}")
            model = _models.fit(model_name, data, cfg.model_config(model_name), seed=cfg.seed,
                                store=store, require_cached=require_cached, progress=progress)
            samples = cached_samples(model, cfg.n_samples, cfg.seed + 1, store)
            q_hat = np.asarray(task.measure(samples), dtype=float)
            drift = metrics.drift(q_hat, prior, bins=cfg.bins, n_null=cfg.n_null, seed=cfg.seed + 2)
            entries.append(SuiteEntry(task, prior, data, model, samples, q_hat, drift,
                                      plausibility(task, samples, data), reference_plaus))
            bar.update()
    bar.close()
    return entries


def summary_table(entries: list[SuiteEntry]):
    """pandas DataFrame, one row per task x model: drift metrics beside their null's 95%
    quantile, ``TV above null``, the median of each plausibility measure for the samples and for
    clean reference trajectories, and ``relative distance``: the median nearest-clean RMS distance
    over the RMS of the training trajectories."""
    import pandas as pd
    rows = []
    for e in entries:
        s = e.drift.summary()
        row = {"task": e.task.name, "model": e.model.name, "TV": s["tv"], "TV null 95%": s["tv_null95"],
               "W1": s["w1"], "W1 null 95%": s["w1_null95"], "outside": s["outside"],
               "outside null 95%": s["outside_null95"], "TV above null": s["tv"] > s["tv_null95"]}
        for name, values in e.plausibility.items():
            row[f"{name} (samples)"] = float(np.nanmedian(values))
            row[f"{name} (clean)"] = float(np.nanmedian(e.reference_plausibility[name]))
        scale = float(np.sqrt(np.mean(e.data.x.astype(np.float64) ** 2)))
        row["relative distance (samples)"] = row["nearest_clean_rms (samples)"] / scale
        row["relative distance (clean)"] = row["nearest_clean_rms (clean)"] / scale
        rows.append(row)
    return pd.DataFrame(rows)
