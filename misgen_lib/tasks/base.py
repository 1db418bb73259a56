"""The task contract: quantity range, generator ``g(q, xi)``, measurement ``m(x)``, plausibility.

A task maps a scalar physical quantity ``q`` and nuisance randomness ``xi`` to a trajectory
``x`` of shape ``(T, d)``; its measurement recovers ``q`` from ``x``. Subclasses implement
``nuisance``, ``generate`` and ``measure`` (and usually ``plausibility``); curation, checks and
the registry are shared here.
"""
from __future__ import annotations

import numpy as np

from .. import priors as _priors
from .curation import curate as _curate
from .dataset import Dataset


class Task:
    """Base class of all tasks. Class attributes describe the quantity."""
    name: str = "task"
    quantity: str = "q"
    unit: str = ""
    q_range: tuple[float, float] = (0.0, 1.0)
    horizon: int = 64
    dim: int = 1
    #: how ``curate`` works by default: "prior" (draw q then generate) or "balanced"
    default_mode: str = "prior"
    #: stated tolerance of ``measure(generate(q, xi))`` against ``q`` on clean data (abs. units)
    measure_tolerance: float = 1e-6
    #: whether the trajectories depend smoothly on ``(q, xi)`` (a chaotic iterated map does not),
    #: so that the kernel's local errors move the quantity smoothly
    smooth: bool = True
    #: optional one-step map ``step_map(x_t, q) -> x_{t+1}`` (numpy or torch) of tasks that are
    #: iterated maps; the projection then fits orbits instead of searching a reference set
    step_map = None

    # -- to implement -------------------------------------------------------------------
    def nuisance(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw nuisance randomness ``xi`` for ``n`` trajectories, shape (n, k)."""
        raise NotImplementedError

    def generate(self, q: np.ndarray, xi: np.ndarray) -> np.ndarray:
        """Clean trajectories ``g(q, xi)``, float array (n, T, d)."""
        raise NotImplementedError

    def measure(self, x):
        """Quantity of each trajectory; numpy in -> numpy out, torch in -> torch out
        (differentiable). ``x`` has shape (n, T, d)."""
        raise NotImplementedError

    def plausibility(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Per-sample plausibility measures (name -> array (n,)); lower is more plausible
        unless the name says otherwise. Default: none beyond the shared distance measure."""
        return {}

    def draw(self, ax, x, **style) -> None:
        """Draw trajectories ``x`` (n, T, d) on a matplotlib ``ax``, the way this task is read:
        time series for one channel, the plane for two (tasks override it; ``style`` goes to
        ``ax.plot``)."""
        x = np.asarray(x)
        for k, traj in enumerate(x):
            kw = {"color": f"C{k}", "lw": 1.0, **style}
            if self.dim == 2:
                ax.plot(traj[:, 0], traj[:, 1], **kw)
            else:
                ax.plot(np.arange(len(traj)), traj[:, 0], **kw)
        if self.dim == 2:
            ax.set_aspect("equal", adjustable="datalim")
        else:
            ax.set_xlabel("time step")

    # -- shared ----------------------------------------------------------------------------
    def params(self) -> dict:
        """Constructor parameters (JSON-serialisable): identifies the task in cache keys."""
        return {}

    def describe(self) -> dict:
        return {"task": self.name, "quantity": self.quantity, "unit": self.unit,
                "q_range": list(self.q_range), "horizon": self.horizon, "dim": self.dim,
                **self.params()}

    def check_q(self, q) -> np.ndarray:
        q = np.atleast_1d(np.asarray(q, dtype=float))
        lo, hi = self.q_range
        bad = q[~((q >= lo) & (q <= hi))]
        if bad.size:
            raise ValueError(f"{self.name}: {self.quantity} {bad[0]!r} is outside the valid range "
                             f"[{lo}, {hi}]")
        return q

    def sample(self, q, rng: np.random.Generator) -> np.ndarray:
        """``g(q, xi)`` with fresh nuisance: convenience for ``generate(q, nuisance(...))``."""
        q = self.check_q(q)
        return self.generate(q, self.nuisance(len(q), rng))

    def default_prior(self) -> _priors.Prior:
        return _priors.Uniform(*self.q_range)

    def curate(self, n: int, prior: _priors.Prior | None = None, seed: int = 0,
               mode: str | None = None, bins: int = 20, max_raw: int | None = None) -> Dataset:
        """A curated dataset of ``n`` trajectories whose measured quantity follows ``prior``.

        ``mode="prior"``: draw ``q ~ prior`` and generate. ``mode="balanced"``: generate raw
        demonstrations (``raw_demonstrations``) and select them so that the histogram of the
        measured quantity over ``bins`` equal bins matches ``prior`` (bin-balanced rejection);
        ``info["n_raw"]`` reports how many raw demonstrations were needed."""
        return _curate(self, n=n, prior=prior, seed=seed, mode=mode or self.default_mode,
                      bins=bins, max_raw=max_raw)

    def raw_demonstrations(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """Uncurated demonstrations for bin-balanced curation: (x, xi or None). Default: q
        uniform over ``q_range`` with fresh nuisance."""
        lo, hi = self.q_range
        q = rng.uniform(lo, hi, size=n)
        xi = self.nuisance(n, rng)
        return self.generate(q, xi), xi

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


_REGISTRY: dict[str, type[Task]] = {}


def register(cls: type[Task] | None = None, *, name: str | None = None):
    """Register a Task subclass (usable as a decorator) so ``get(name)`` builds it."""
    def add(c):
        if not (isinstance(c, type) and issubclass(c, Task)):
            raise TypeError(f"register expects a Task subclass, got {c!r}")
        _REGISTRY[name or c.name] = c
        return c
    return add(cls) if cls is not None else add


def available() -> list[str]:
    return sorted(_REGISTRY)


def task_class(name: str) -> type[Task]:
    """The class registered as task ``name`` (its defaults and parameters, unbuilt)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown task {name!r}; available: {available()}")
    return _REGISTRY[name]


def get(name: str, **params) -> Task:
    """Build a registered task: ``get("maze", layout="umaze", horizon=64)``."""
    return task_class(name)(**params)
