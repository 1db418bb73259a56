"""``fit``: train a registered model class on a curated dataset, cached in the artifact store.

The cache key is the model name, its config (JSON, the device and the effective precision
included: ``"auto"`` keys as fp32 or bf16, as it resolves on this host; with bf16 also the host's
bfloat16 units or the GPU), how it trains (``"training"``: ``"eager"`` or ``"compiled (<isa>)"``,
``training_mode`` and ``inference.numerics``: compiled weights differ from eager ones at rounding
level and depend on the host's vector instructions), the dataset fingerprint
(and the quantities' hash when conditional), the seed, ``conditional``, the hash of the code the
class runs (``code_files``: the files defining the class, its config and their bases, with
``base.py`` and ``training.py``; editing another class's file leaves these keys alone) and the
versions of torch, numpy and scipy, so a notebook
trains once and every later run (or notebook) loads the same weights. Training is seeded and
deterministic on CPU: weights are initialised under ``torch.manual_seed(seed)`` inside a forked
RNG (the caller's global RNG is untouched), mini-batches and noise come from explicit generators,
and ``torch.use_deterministic_algorithms`` is on while training; compiled training is
deterministic too (``tests/test_models_inference.py``: the same weights bit for bit).
"""
from __future__ import annotations

import copy
import hashlib
import inspect
import math
from pathlib import Path
import time
from contextlib import contextmanager

import numpy as np
import torch

from .. import __version__
from ..cache import ArtifactStore, default_store, key_of
from ..progress import bar
from ..provenance import PACKAGE_DIR, git_revision, kind_hash, module_name, package_versions
from ..seeds import derive
from . import inference
from .base import (ModelClass, ModelConfig, Normaliser, TrainedModel, autocast, bf16_numerics, device_description,
                   effective_precision, get_class, make_config, resolve_device, within_free_cores)

ARTIFACT_KIND = "model"


class MissingArtifact(LookupError):
    """``require_cached=True`` and the trained model is not in the store (or was corrupt)."""


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite."""


@contextmanager
def deterministic(device: str):
    """Deterministic algorithms while training (warn-only off CPU, where some kernels lack a
    deterministic version); the previous global setting is restored afterwards."""
    prev, prev_warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=device != "cpu")
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)


def learning_rate(step: int, cfg: ModelConfig) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine decay to 10% of ``lr``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(cfg.train_steps - cfg.warmup_steps, 1)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def batch_order(seed: int, n: int, batch_size: int, weights: np.ndarray | None):
    """The mini-batch indices of training at ``seed``, step after step: random
    permutations walked in order (a new one when the rest is shorter than a batch), or, with
    importance ``weights``, draws with replacement (after drawing the first permutation)."""
    order = torch.Generator().manual_seed(derive(seed, "batch-order"))
    perm, pos = torch.randperm(n, generator=order), 0
    w = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
    while True:
        if w is not None:
            yield torch.multinomial(w, batch_size, replacement=True, generator=order)
            continue
        if pos + batch_size > n:
            perm, pos = torch.randperm(n, generator=order), 0
        yield perm[pos:pos + batch_size]
        pos += batch_size


def optimiser_step(opt: torch.optim.Optimizer, loss: torch.Tensor, step: int, cfg: ModelConfig, clip) -> None:
    """One step of ``opt`` down ``loss`` at the schedule's learning rate (``learning_rate``);
    ``clip()`` clips the gradients when ``cfg.grad_clip > 0``."""
    for group in opt.param_groups:
        group["lr"] = learning_rate(step, cfg)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip > 0:
        clip()
    opt.step()


def ema_decay(step: int, cfg: ModelConfig) -> float:
    """The EMA's decay at ``step``: ``cfg.ema_decay``, lower early on (warm-up)."""
    return min(cfg.ema_decay, (1 + step) / (10 + step))


def update_ema(ema: torch.nn.Module, net: torch.nn.Module, decay: float) -> None:
    """Move ``ema``'s parameters a fraction ``1 - decay`` of the way to ``net``'s; copy its buffers."""
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), net.parameters()):
            pe.lerp_(p, 1 - decay)
        for be, b in zip(ema.buffers(), net.buffers()):
            be.copy_(b)


def training_mode(mc: ModelClass, cfg: ModelConfig) -> str:
    """``"eager"`` or ``"compiled"``: how ``mc`` trains for ``cfg`` here (``$MISGEN_TRAINING``,
    ``ModelClass.trains_faster_compiled``: ``models.inference``; eager for a class that is not
    ``compilable``)."""
    return inference.mode(mc.trains_faster_compiled(cfg), "training") if mc.compilable else "eager"


class TrainingRun:
    """One training run of ``mc`` on normalised ``x`` (N, T, d) (and normalised ``q`` (N,)), one
    optimiser step per ``step`` call: its network (built under ``torch.manual_seed(seed)``), the
    EMA of its weights (the network itself if ``ema_decay`` is 0), AdamW, the mini-batch order
    (``batch_order``) and the loss's noise generator. The network runs as ``training_mode`` says
    (compiled: ``inference.compiled``, forward and backward; the loss around it eager). Both
    ``train`` and checkpointed runs (``models.checkpoints``) step through it; build and step it
    under ``torch.random.fork_rng`` and ``deterministic``, as they do."""

    def __init__(self, mc: ModelClass, cfg: ModelConfig, x: np.ndarray, q: np.ndarray | None, seed: int,
                 weights: np.ndarray | None = None, schedule: ModelConfig | None = None):
        self.mc, self.cfg, self.schedule = mc, cfg, schedule or cfg
        self.device = resolve_device(cfg.device)
        n, horizon, dim = x.shape
        torch.manual_seed(seed)
        self.net = mc.build(cfg, horizon, dim, q is not None).to(self.device)
        self.ema = copy.deepcopy(self.net).requires_grad_(False) if cfg.ema_decay > 0 else self.net
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.gen = torch.Generator(device=self.device).manual_seed(seed)
        self.orders = batch_order(seed, n, cfg.batch_size, weights)
        self.xt = torch.as_tensor(x, device=self.device)
        self.qt = torch.as_tensor(q, device=self.device) if q is not None else None
        self.mode = training_mode(mc, cfg)
        self.run_net = self.net if self.mode == "eager" else inference.compiled(self.net)

    def step(self, step: int) -> float:
        """Optimiser step number ``step`` (from 0) on the next mini-batch; returns its loss."""
        idx = next(self.orders).to(self.device)
        self.net.train()
        with autocast(self.cfg):
            loss = self.mc.loss(self.run_net, self.xt[idx], None if self.qt is None else self.qt[idx], self.cfg, self.gen)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"{self.mc.name}: training loss became {loss.item()} at step {step} "
                                   f"(lr={self.cfg.lr}); lower lr or check the data")
        optimiser_step(self.opt, loss, step, self.schedule,
                       lambda: torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.cfg.grad_clip))
        if self.ema is not self.net:
            update_ema(self.ema, self.net, ema_decay(step, self.cfg))
        return loss.item()


def train(mc: ModelClass, cfg: ModelConfig, x: np.ndarray, q: np.ndarray | None, seed: int,
          progress: bool = True, desc: str = "", weights: np.ndarray | None = None) -> tuple[torch.nn.Module, dict]:
    """Train ``mc`` on normalised data ``x`` (N, T, d) (and normalised ``q`` (N,)); returns the
    network to sample with (EMA weights if ``ema_decay > 0``) and the loss history.

    ``weights`` (N,): importance weights of the examples, realised by drawing each mini-batch
    with replacement with probability proportional to the weight (the expected loss is the
    weighted loss); without weights, mini-batches walk through random permutations."""
    with torch.random.fork_rng(devices=[]), deterministic(resolve_device(cfg.device)):
        run = TrainingRun(mc, cfg, x, q, seed, weights)
        losses = []
        steps = bar(range(cfg.train_steps), desc=desc or mc.name, progress=bool(progress), leave=False)
        for step in steps:
            losses.append(run.step(step))
            if step % 50 == 0:
                steps.set_postfix(loss=f"{losses[-1]:.4f}")
        steps.close()
    return run.ema.eval(), {"loss": losses}


def check_data(data) -> None:
    x = getattr(data, "x", None)
    if not isinstance(x, np.ndarray) or x.ndim != 3 or len(x) < 2:
        raise ValueError(f"fit needs a Dataset whose x has shape (N >= 2, T, d), got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"dataset {getattr(data, 'task', '?')!r} has non-finite trajectories")


def check_weights(weights, n: int) -> np.ndarray | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {n} finite values >= 0 with a positive sum (one per training "
                         f"example), got shape {w.shape}")
    return w


def code_modules(name: str) -> list[str]:
    """The library modules (absolute names) defining model class ``name``, its config and their
    bases (a user's class outside the library adds none); its key hashes their import closure
    with ``training``'s (``provenance.kind_hash("model", ...)``)."""
    mc = get_class(name)
    modules = set()
    for k in (*type(mc).__mro__, *mc.Config.__mro__):
        source = inspect.getsourcefile(k) if k.__module__.startswith("misgen_lib.") else None
        if source and Path(source).resolve().is_relative_to(PACKAGE_DIR):
            modules.add(module_name(Path(source)))
    return sorted(modules)


def cache_inputs(name: str, cfg: ModelConfig, data, seed: int, conditional: bool,
                 weights: np.ndarray | None = None) -> dict:
    precision = effective_precision(cfg)   # "auto" keys as what it resolves to on this host
    inputs = {"model": name, "config": {**cfg.to_dict(), "precision": precision}, "data": data.fingerprint(),
              "seed": int(seed), "conditional": bool(conditional), "library": kind_hash("model", *code_modules(name)),
              "versions": package_versions()}
    if precision != "fp32":
        inputs["numerics"] = bf16_numerics(cfg)
    inputs["training"] = inference.numerics(training_mode(get_class(name), cfg))
    if weights is not None:
        inputs["weights"] = hashlib.sha256(np.ascontiguousarray(weights).tobytes()).hexdigest()
    if conditional:
        inputs["q"] = hashlib.sha256(np.ascontiguousarray(data.q, dtype=np.float64).tobytes()).hexdigest()
    return inputs


def fit(name: str, data, config=None, seed: int = 0, conditional: bool = False,
        store: ArtifactStore | None = None, require_cached: bool = False,
        progress: bool = True, weights=None) -> TrainedModel:
    """Train model class ``name`` on ``data`` (a curated ``Dataset``), or load it from the cache.

    ``config``: None (class defaults), a dict of overrides or the class's config dataclass.
    ``conditional=True`` trains on (x, q) so that ``sample(n, seed, q=...)`` generates for given
    quantities. ``weights``: importance weights of the training examples (see ``train``).
    ``require_cached=True`` raises ``MissingArtifact`` instead of training (a corrupt
    cached entry is moved aside and named in the error). Asking for a device this machine lacks
    raises ``DeviceUnavailable``; ``meta["device"]`` records the device that trained."""
    mc = get_class(name)
    cfg = make_config(name, config)
    resolve_device(cfg.device)
    check_data(data)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    store = store or default_store()
    weights = check_weights(weights, len(data))
    inputs = cache_inputs(name, cfg, data, seed, conditional, weights)
    key = key_of(inputs)
    if require_cached:
        files, problem = store.load_or_quarantine(ARTIFACT_KIND, key)
        if files is None:
            what = f"the cached model was corrupt ({problem})" if problem else "no cached model"
            raise MissingArtifact(f"missing artifact: {what}: {name!r} for task {data.task!r} "
                                  f"(seed {seed}, config {cfg.to_json()}) in {store.root}; run the "
                                  f"notebook that trains it first (e.g. 02_misgeneralization) with "
                                  f"the same parameters, or call with require_cached=False")
        return TrainedModel.from_files(files)

    def compute() -> dict[str, bytes]:
        start = time.perf_counter()
        normaliser = Normaliser.fit(data.x, data.q if conditional else None)
        xq = normaliser.encode_q(data.q) if conditional else None
        with within_free_cores():
            threads = torch.get_num_threads()
            net, history = train(mc, cfg, normaliser.encode_x(data.x), xq, int(seed), progress,
                                 desc=f"{name} on {data.task}", weights=weights)
        meta = {"key": key, "library_version": __version__, "library_hash": inputs["library"],
                "versions": inputs["versions"], "device": device_description(resolve_device(cfg.device)),
                "revision": git_revision(), "data_fingerprint": inputs["data"], "task": data.task,
                "n_train": len(data), "train_seconds": time.perf_counter() - start, "threads": threads,
                "training": inputs["training"]}
        return TrainedModel(name, cfg, net, normaliser, data.x.shape[1], data.x.shape[2],
                            conditional, int(seed), history, meta).to_files()

    files = store.get_or_compute(ARTIFACT_KIND, inputs, compute)
    # always rebuilt from the stored bytes: a fresh model and a cached one sample identically
    return TrainedModel.from_files(files)
