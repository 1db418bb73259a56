"""One interface for every generative model class: config dataclasses, the registry, the
trained model (normalisation + weights + sampling) and ``fit`` with the artifact cache.

A model class is a ``ModelClass`` subclass registered under a name. It owns a config dataclass
(JSON round trip), builds its network, gives its training loss and samples in *normalised*
units. ``TrainedModel`` wraps the network with the per-channel data normalisation (part of the
saved state) and converts samples back to data units.
"""
from __future__ import annotations

import copy
import dataclasses
import io
import json
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..checks import check_positive_int
from ..jobs import free_cores
from ..provenance import cpu
from . import inference

VALID_DEVICES = ("cpu", "cuda")
#: ``ModelConfig.precision``: fp32 throughout, bfloat16 autocast (``autocast``), or ``"auto"``:
#: bfloat16 on a CPU with bfloat16 units, fp32 elsewhere (``effective_precision``)
VALID_PRECISIONS = ("fp32", "bf16", "auto")


class DeviceUnavailable(RuntimeError):
    """The config asks for a device this machine does not have (never a silent fall-back to CPU)."""


def resolve_device(want: str) -> str:
    """``want`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``) if this machine has it, else
    :class:`DeviceUnavailable` naming it."""
    if want == "cpu":
        return want
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(want.split(":")[1]) if ":" in want else 0
    if index >= count:
        raise DeviceUnavailable(f"device {want!r} was asked for, but this machine has "
                                f"{count} CUDA device(s) (torch {torch.__version__}); set device "
                                f"to 'cpu' or run where {want!r} exists")
    return want


@contextmanager
def torch_threads(n: int):
    """Run with ``n`` torch CPU threads (0: leave torch's setting), restoring it afterwards.
    Small models gain little from intra-op threads, and on a shared CPU two OpenMP threads can
    stall a step by 10-30x (measured here), so the suite defaults to one."""
    prev = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def within_free_cores():
    """``torch_threads`` at torch's own setting capped at the cores that library work elsewhere
    leaves free (``jobs.free_cores``: a book build's workers hold theirs), so that a user's
    ``fit`` or ``sample`` beside a running build never oversubscribes the CPU. Inside the suite's
    workers (one thread each) it changes nothing. Results are equal to rounding, not bit for bit,
    across thread counts; the book's models always train at one thread."""
    return torch_threads(max(1, min(torch.get_num_threads(), free_cores())))


def effective_precision(cfg: "ModelConfig") -> str:
    """``"fp32"`` or ``"bf16"``: the config's precision, ``"auto"`` resolved to bfloat16 only on a
    CPU with bfloat16 units (``provenance.cpu``). Elsewhere bfloat16 is emulated, slower than fp32
    on CPU; on CUDA the convergence study that supports it (``benchmarks/convergence_study.py``)
    has not been run, so ``"auto"`` stays fp32 there."""
    if cfg.precision != "auto":
        return cfg.precision
    return "bf16" if cfg.device == "cpu" and cpu()["bf16_units"] else "fp32"


def bf16_numerics(cfg: "ModelConfig"):
    """What a cache key records of a bfloat16 model's host-dependent numerics: the CPU's
    bfloat16 units, or the GPU."""
    return cpu()["bf16_units"] if cfg.device == "cpu" else device_description(cfg.device)


def autocast(cfg: "ModelConfig"):
    """The config's numeric precision as a context: nothing for fp32; for bf16, torch's bfloat16
    autocast on the config's device (convolutions and matrix products in bfloat16, reductions and
    the optimiser in fp32). Training, sampling and probes all run in it."""
    if effective_precision(cfg) == "fp32":
        return nullcontext()
    return torch.autocast(resolve_device(cfg.device).split(":")[0], dtype=torch.bfloat16)


def device_description(device: str) -> str:
    """What ran: ``"cpu"`` or e.g. ``"cuda:0 (NVIDIA H100 80GB HBM3)"``, for provenance."""
    return device if device == "cpu" else f"{device} ({torch.cuda.get_device_name(device)})"


@dataclass
class ModelConfig:
    """Settings shared by every model class (training loop and size). The defaults are the book's
    base configuration (``studies.SuiteConfig`` takes its sizes from here): a user's first
    ``fit`` trains in a few minutes on a 2-core CPU and gives the book's model."""
    train_steps: int = 1500        # optimiser steps
    batch_size: int = 64           # trajectories per step
    lr: float = 1e-3               # AdamW peak learning rate (linear warm-up, cosine decay to 10%)
    weight_decay: float = 0.0      # AdamW weight decay
    warmup_steps: int = 100        # linear learning-rate warm-up
    grad_clip: float = 1.0         # global gradient-norm clip (0 disables)
    ema_decay: float = 0.995       # EMA of the weights used for sampling (0 disables)
    width: int = 32                # base channel / hidden width
    device: str = "cpu"            # "cpu" or "cuda"
    #: "fp32", "bf16" (bfloat16 autocast in training, sampling and probes: ``autocast``; its numbers
    #: depend on the host's bfloat16 units, which the cache key names) or "auto" (bf16 on a CPU
    #: with bfloat16 units, else fp32: ``effective_precision``)
    precision: str = "fp32"
    #: integer fields that must be >= 1 (checked in ``__post_init__``; subclasses extend it)
    positive_fields = ("train_steps", "batch_size", "width")

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int) and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
                raise ValueError(f"{type(self).__name__}.{f.name} must be an integer, got {value!r}")
            if f.type in ("tuple[int, ...]",) and isinstance(value, list):
                setattr(self, f.name, tuple(value))
        for name in self.positive_fields:
            if getattr(self, name) < 1:
                raise ValueError(f"{type(self).__name__}.{name} must be >= 1, got {getattr(self, name)!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay!r}")
        if self.device.split(":")[0] not in VALID_DEVICES:
            raise ValueError(f"device {self.device!r} is not valid; use one of {VALID_DEVICES}")
        if self.precision not in VALID_PRECISIONS:
            raise ValueError(f"precision {self.precision!r} is not valid; use one of {VALID_PRECISIONS}")

    def to_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(valid))
        if unknown:
            raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; valid: {valid}")
        return cls(**d)

    @classmethod
    def from_json(cls, s: str) -> "ModelConfig":
        return cls.from_dict(json.loads(s))

    def replace(self, **overrides) -> "ModelConfig":
        return type(self).from_dict({**self.to_dict(), **overrides})


class ModelClass:
    """A generative model class. Subclasses set ``name``, ``Config`` and implement the three
    methods; all tensors are in normalised units, ``q`` is the normalised quantity (B,) or None."""
    name: str = "model"
    Config: type[ModelConfig] = ModelConfig

    def build(self, cfg: ModelConfig, horizon: int, dim: int, conditional: bool) -> nn.Module:
        raise NotImplementedError

    def loss(self, net: nn.Module, x: torch.Tensor, q: torch.Tensor | None, cfg: ModelConfig,
             generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, net: nn.Module, n: int, q: torch.Tensor | None, cfg: ModelConfig,
               horizon: int, dim: int, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    #: whether the class trains, samples and probes through its network's ``forward`` alone, which
    #: is what ``models.inference.compiled`` compiles; a class that calls other methods of its
    #: network (the transformer's ``rollout``, the VAE's ``encode`` and ``decode``) runs eager
    #: whatever ``$MISGEN_INFERENCE`` and ``$MISGEN_TRAINING`` ask
    compilable: bool = False

    def compiles_faster(self, cfg: ModelConfig) -> bool:
        """Whether compiled inference (``models.inference``) is measured faster than eager for
        ``cfg`` on this host; eager where not measured."""
        return False

    def trains_faster_compiled(self, cfg: ModelConfig) -> bool:
        """Whether compiled training (``models.inference``: the network compiled, the loss
        eager) is measured faster than eager for ``cfg`` on this host; eager where not measured."""
        return False

    # -- probe kernels: the class's own local perturbation of clean data ----------------------
    #: probe modes of the class, the first is the default (see ``kernel/probe.py``)
    probe_modes: tuple[str, ...] = ()
    #: what ``depth`` counts for this class (named in errors)
    probe_depth_meaning: str = "depth"

    def max_probe_depth(self, cfg: ModelConfig, horizon: int) -> int:
        """The deepest probe: the class's whole generative process."""
        raise NotImplementedError(f"model class {self.name!r} has no probe (implement perturb)")

    def process_depths(self, cfg: ModelConfig, horizon: int) -> tuple[int, ...]:
        """Depths spanning the class's whole generative process, smallest first, from which the
        declared locality rule (``kernel.deepest_local``) chooses: by default 1, 2, 4, ... up to
        ``max_probe_depth`` and that depth itself."""
        largest = self.max_probe_depth(cfg, horizon)
        return tuple(sorted({*(2 ** k for k in range(largest.bit_length()) if 2 ** k <= largest), largest}))

    def probe_is_sampler(self, cfg: ModelConfig) -> bool:
        """Whether the probe at the deepest depth of ``process_depths`` regenerates a trajectory
        as the class's sampler does (then it *is* the sampler: the positive control of the noise
        ceiling, ``studies.anatomy``); no by default."""
        return False

    def perturb(self, net: nn.Module, z: torch.Tensor, depth: int, q: torch.Tensor | None,
                cfg: ModelConfig, generator: torch.Generator, mode: str) -> torch.Tensor:
        """The class's own local perturbation of clean normalised trajectories ``z`` (B, T, d)
        at ``depth`` (checked by ``check_probe``), in ``mode`` (one of ``probe_modes``)."""
        raise NotImplementedError(f"model class {self.name!r} has no probe (implement perturb)")

    def check_probe(self, cfg: ModelConfig, horizon: int, depth, mode) -> tuple[int, str]:
        """``(depth, mode)`` checked: ``depth`` an int in ``[1, max_probe_depth]`` (a ValueError
        says what it counts), ``mode`` one of ``probe_modes`` (None: the first)."""
        if not self.probe_modes:
            raise ValueError(f"model class {self.name!r} has no probe; classes with one: "
                             f"{[n for n, c in _REGISTRY.items() if c.probe_modes]}")
        mode = self.probe_modes[0] if mode is None else mode
        if mode not in self.probe_modes:
            raise ValueError(f"unknown probe mode {mode!r} for {self.name}; valid: {list(self.probe_modes)}")
        largest = self.max_probe_depth(cfg, horizon)
        if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or not 1 <= depth <= largest:
            raise ValueError(f"probe depth of {self.name} ({self.probe_depth_meaning}) must be an "
                             f"integer in [1, {largest}], got {depth!r} (the declared rule's depth: "
                             f"kernel.deepest_local)")
        return int(depth), mode


_REGISTRY: dict[str, ModelClass] = {}


def register(model_class: type[ModelClass]) -> type[ModelClass]:
    """Register a ``ModelClass`` subclass (usable as a decorator) under its ``name``."""
    if not (isinstance(model_class, type) and issubclass(model_class, ModelClass)):
        raise TypeError(f"register expects a ModelClass subclass, got {model_class!r}")
    _REGISTRY[model_class.name] = model_class()
    return model_class


def available() -> list[str]:
    return sorted(_REGISTRY)


def get_class(name: str) -> ModelClass:
    if name not in _REGISTRY:
        raise ValueError(f"unknown model class {name!r}; available: {available()}")
    return _REGISTRY[name]


def make_config(name: str, config=None) -> ModelConfig:
    """The config of model class ``name`` from None (defaults), a dict of overrides or an
    instance of the class's config dataclass."""
    cls = get_class(name).Config
    if config is None:
        return cls()
    if isinstance(config, dict):
        return cls.from_dict(config)
    if type(config) is not cls:
        raise TypeError(f"config for {name!r} must be a {cls.__name__}, a dict or None, "
                        f"got {type(config).__name__}")
    return config


@dataclass
class Normaliser:
    """Per-channel mean/std of the trajectories (and of the quantity, for conditioning)."""
    x_mean: list[float]
    x_std: list[float]
    q_mean: float = 0.0
    q_std: float = 1.0

    @classmethod
    def fit(cls, x: np.ndarray, q: np.ndarray | None) -> "Normaliser":
        mean = x.mean(axis=(0, 1), dtype=np.float64)
        std = np.maximum(x.std(axis=(0, 1), dtype=np.float64), 1e-8)
        qm, qs = (float(np.mean(q)), float(max(np.std(q), 1e-8))) if q is not None else (0.0, 1.0)
        return cls([float(v) for v in mean], [float(v) for v in std], qm, qs)

    def encode_x(self, x: np.ndarray) -> np.ndarray:
        return ((x - np.asarray(self.x_mean)) / np.asarray(self.x_std)).astype(np.float32)

    def decode_x(self, z: np.ndarray) -> np.ndarray:
        return (z * np.asarray(self.x_std) + np.asarray(self.x_mean)).astype(np.float32)

    def encode_q(self, q: np.ndarray) -> np.ndarray:
        return ((np.asarray(q, dtype=np.float64) - self.q_mean) / self.q_std).astype(np.float32)


class TrainedModel:
    """A trained generative model: ``sample(n, seed, q)`` gives (n, T, d) float32 trajectories in
    data units. ``history["loss"]`` is the training loss per step; ``meta`` its provenance."""

    def __init__(self, name: str, config: ModelConfig, net: nn.Module, normaliser: Normaliser,
                 horizon: int, dim: int, conditional: bool, seed: int, history: dict, meta: dict):
        self.name, self.config, self.net, self.normaliser = name, config, net.eval(), normaliser
        self.horizon, self.dim, self.conditional, self.seed = horizon, dim, conditional, seed
        self.history, self.meta = history, meta
        self._compiled = None

    @property
    def key(self) -> str:
        """Cache key of this model (identifies it in downstream artifacts)."""
        return self.meta.get("key", "")

    def __repr__(self) -> str:
        return (f"TrainedModel({self.name!r}, steps={self.config.train_steps}, "
                f"conditional={self.conditional}, seed={self.seed})")

    @property
    def device(self) -> str:
        """The config's device; :class:`DeviceUnavailable` if this machine lacks it."""
        return resolve_device(self.config.device)

    @property
    def inference(self) -> str:
        """``"eager"`` or ``"compiled"``: how the network runs when this model samples and probes
        (``models.inference.mode``)."""
        mc = get_class(self.name)
        return inference.mode(mc.compiles_faster(self.config), "inference") if mc.compilable else "eager"

    @property
    def inference_numerics(self) -> str:
        """What the cache keys of this model's samples and probe draws record of ``inference``."""
        return inference.numerics(self.inference)

    def _network(self) -> nn.Module:
        """The network as ``inference`` runs it (compiled once per process, on first use)."""
        if self.inference == "eager":
            return self.net
        if self._compiled is None:
            self._compiled = inference.compiled(self.net)
        return self._compiled

    def sample(self, n: int, seed: int = 0, q=None, batch_size: int = 1000) -> np.ndarray:
        """``n`` samples (n, T, d) in data units; deterministic for a seed. A conditional model
        needs ``q`` (scalar or (n,) array of quantities to generate for)."""
        check_positive_int("n", n)
        qn = self._condition(n, q)
        mc = get_class(self.name)
        device, net = self.device, self._network()
        gen = torch.Generator(device=device).manual_seed(int(seed))
        out = []
        with torch.no_grad(), within_free_cores(), autocast(self.config):
            for start in range(0, n, batch_size):
                m = min(batch_size, n - start)
                qb = None if qn is None else torch.as_tensor(qn[start:start + m], device=device)
                z = mc.sample(net, m, qb, self.config, self.horizon, self.dim, gen)
                out.append(z.float().cpu().numpy())
        return self.normaliser.decode_x(np.concatenate(out))

    # -- probe kernels ---------------------------------------------------------------------------
    def perturb(self, x: np.ndarray, depth: int, seed: int = 0, q=None,
                mode: str | None = None, batch_size: int = 1000) -> np.ndarray:
        """The model's own local perturbation ``x'`` (n, T, d) of clean trajectories ``x`` in data
        units (normalise, the class's ``perturb`` hook, decode) at ``depth`` (``kernel/probe.py``
        says what it counts per class), in ``mode`` (None: the class's first); deterministic for
        a seed."""
        mc = get_class(self.name)
        depth, mode = mc.check_probe(self.config, self.horizon, depth, mode)
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3 or x.shape[1:] != (self.horizon, self.dim):
            raise ValueError(f"x must have shape (n, {self.horizon}, {self.dim}) for this model, "
                             f"got {x.shape}")
        qn = self._condition(len(x), q)
        device, net = self.device, self._network()
        gen = torch.Generator(device=device).manual_seed(int(seed))
        out = []
        with torch.no_grad(), within_free_cores(), autocast(self.config):
            for start in range(0, len(x), batch_size):
                z = torch.as_tensor(self.normaliser.encode_x(x[start:start + batch_size]), device=device)
                qb = None if qn is None else torch.as_tensor(qn[start:start + len(z)], device=device)
                out.append(mc.perturb(net, z, depth, qb, self.config, gen, mode).float().cpu().numpy())
        return self.normaliser.decode_x(np.concatenate(out)) if out else x.astype(np.float32)

    def _condition(self, n: int, q) -> np.ndarray | None:
        if not self.conditional:
            if q is not None:
                raise ValueError(f"{self.name} was trained unconditionally; q must be None "
                                 f"(fit with conditional=True to condition on the quantity)")
            return None
        if q is None:
            raise ValueError(f"{self.name} is conditional: pass q, the quantities to generate for "
                             f"(scalar or array of shape ({n},))")
        q = np.broadcast_to(np.asarray(q, dtype=np.float64), (n,)) if np.ndim(q) == 0 else np.asarray(q, float)
        if q.shape != (n,) or not np.all(np.isfinite(q)):
            raise ValueError(f"q must be finite with shape ({n},), got shape {q.shape}")
        return self.normaliser.encode_q(q)

    # -- serialisation ------------------------------------------------------------------------
    def to_files(self) -> dict[str, bytes]:
        buf = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in self.net.state_dict().items()}, buf)
        state = {"name": self.name, "horizon": self.horizon, "dim": self.dim,
                 "conditional": self.conditional, "seed": self.seed,
                 "normaliser": dataclasses.asdict(self.normaliser), "meta": self.meta}
        return {"weights.pt": buf.getvalue(), "config.json": self.config.to_json().encode(),
                "state.json": json.dumps(state, sort_keys=True).encode(),
                "history.json": json.dumps(self.history).encode()}

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> "TrainedModel":
        state = json.loads(files["state.json"])
        mc = get_class(state["name"])
        cfg = mc.Config.from_json(files["config.json"].decode())
        with torch.random.fork_rng(devices=[]):   # building initialises weights: keep the
            net = mc.build(cfg, state["horizon"], state["dim"], state["conditional"])  # caller's RNG
        weights = torch.load(io.BytesIO(files["weights.pt"]), map_location="cpu", weights_only=True)
        net.load_state_dict(weights)
        model = cls(state["name"], cfg, net, Normaliser(**state["normaliser"]), state["horizon"],
                    state["dim"], state["conditional"], state["seed"],
                    json.loads(files["history.json"]), state["meta"])
        model.net.to(model.device)
        return model

    def __getstate__(self):
        """Pickled with its network's tensors on the CPU, moved to its device where it is
        unpickled: torch's sharing of CUDA tensors between processes cannot send on a tensor
        that a process received, so a model that went to a pool's worker and came back could
        not go to another (the ``paper`` profile's jobs on a GPU failed so). On the CPU nothing
        is copied. (Not rebuilt from its files: building a network draws initial weights from the
        global random generator, which a Dask worker's unpickling thread shares with the job
        that trains meanwhile; a model of the tests' Dask book trained differently so.)"""
        state = {**self.__dict__, "_compiled": None}   # compiled code stays in its process
        if any(t.device.type != "cpu" for t in self.net.state_dict().values()):
            state["net"] = copy.deepcopy(self.net).cpu()
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.net.to(self.device)
