"""Interventions as registered objects: an ``Intervention`` plans, for one untreated model A, the
treated model B it trains and the outcome A's kernel predicts for B before B is trained.

    @mg.interventions.register
    class Squared(mg.interventions.Intervention):
        name, description = "reweight-squared", "importance weights (p*/p_hat_A)^2, clipped"

        def plan(self, ctx):                      # ctx: the Context of one untreated model A
            w = np.clip(ctx.weights ** 2, 1 / ctx.clip, ctx.clip)
            masses = mg.interventions.weighted_masses(ctx.unit.data.q, w, ctx.edges)
            return self.through_kernel(ctx, masses, self.treat(ctx, weights=w / w.mean()))

The study (``studies.mitigation_study``) builds the ``Context``, calls ``plan`` of every requested
intervention, trains the planned units and evaluates them on the same footing as model A.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Protocol

import numpy as np

from ..metrics import Drift
from ..priors import Prior
from ..tasks import Dataset, Task
from .precompensation import predicted_outcome
from .transforms import Transform
from .weights import reweighting_weights

#: the roles an intervention can play in the paper's claims, and the claim each bears on
ROLES = {"reweighting": "C5a", "conditioning": "C5b", "kernel-informed": "C5c"}


class Sizes(Protocol):
    """What an intervention reads of a suite's configuration (``studies.suite.SuiteConfig``)."""
    n_train: int


class TrainingUnit(Protocol):
    """What an intervention reads of the unit that trained model A (``studies.suite.Unit``, a
    dataclass; the interventions sit below the studies, so they name the fields they use);
    ``Intervention.treat`` copies it with the fields an intervention may change."""
    cfg: Sizes
    task: Task
    prior: Prior
    data: Dataset
    model_name: str
    seed: int


class Evaluated(Protocol):
    """What an intervention reads of an evaluated model (``studies.suite.SuiteEntry``): the
    measured quantity of its samples and their drift against the intended prior."""
    q_hat: np.ndarray
    drift: Drift


@dataclass(frozen=True)
class Context:
    """What an intervention may use to plan its treated model, for one untreated model A.

    ``unit``: the ``studies.suite.Unit`` that trained model A (its task, prior, curated ``data``,
    seed, suite configuration); ``base``: model A's ``SuiteEntry`` (its samples, ``q_hat``, drift
    against ``p*``); ``transition``: model A's kernel as a q-space transition matrix ``P`` over
    ``edges`` plus the two overflow bins; ``clean``: clean trajectories drawn uniform over the
    ``wide`` task's range; ``locality``: the probe kernel's size relative to the data; ``wide``:
    the task, its range widened by one bin on the ``sides`` (below, above) where its generator is
    defined there; ``clip``: the clip of the reweighting weights; ``previous``: for an
    intervention with ``after``, the treated entry of that intervention (else ``None``)."""
    unit: TrainingUnit
    base: Evaluated
    transition: np.ndarray
    clean: np.ndarray
    locality: float
    wide: Task
    sides: tuple[bool, bool]
    clip: float
    previous: Evaluated | None = None

    @property
    def edges(self) -> np.ndarray:
        return self.base.drift.edges

    @property
    def p_star(self) -> np.ndarray:
        return self.base.drift.p_star

    @cached_property
    def weights(self) -> np.ndarray:
        """The reweighting weights ``p*/p_hat_A`` of the curated examples (``weights.reweighting_weights``)."""
        return reweighting_weights(self.unit.data.q, self.base.q_hat, self.unit.prior, self.edges, self.clip)


@dataclass
class Plan:
    """An intervention's plan for one model A: ``unit``, the treated model's unit (``None``: not
    run, ``note`` says why); ``training``, the bin masses it trains on; ``predicted``, the bin
    masses A's kernel predicts it recovers; ``note``, a line shown beside the result."""
    unit: TrainingUnit | None = None
    training: np.ndarray | None = None
    predicted: np.ndarray | None = None
    note: str | None = None


class Intervention:
    """An intervention against misgeneralization, registered by ``name``.

    ``description``: one line; ``role``: the part it plays in the paper's claims (a key of
    ``ROLES``) or ``None``; ``after``: the name of an intervention whose treated model this one
    needs (``Context.previous``): it is planned in a later round, once that model is trained."""
    name: str = ""
    description: str = ""
    role: str | None = None
    after: str | None = None

    def plan(self, ctx: Context) -> Plan:
        """The treated model of the untreated model A of ``ctx`` and its predicted outcome. Draws
        take named streams of ``ctx.unit.seed`` with labels of their own (``seeds.derive``)."""
        raise NotImplementedError

    def treat(self, ctx: Context, *, train_data: Dataset | None = None, weights: np.ndarray | None = None,
              transform: Transform | None = None, conditional: bool | None = None,
              sampler: str | None = None) -> TrainingUnit:
        """Model A's unit with this intervention's changes, the unit of the treated model: what it
        trains on (``train_data``, importance ``weights``, the coordinates of ``transform``,
        ``conditional``) or how model A samples (``sampler``, an origin variant of its class);
        None leaves a field as it is."""
        changes = {"train_data": train_data, "weights": weights, "transform": transform,
                   "conditional": conditional, "sampler": sampler}
        return replace(ctx.unit, intervention=self.name, **{k: v for k, v in changes.items() if v is not None})

    def through_kernel(self, ctx: Context, training: np.ndarray, unit: TrainingUnit,
                       note: str | None = None) -> Plan:
        """The plan of a model trained on bin masses ``training``, its outcome predicted by pushing
        them through model A's kernel (``predicted_outcome``)."""
        return Plan(unit, training, predicted_outcome(ctx.transition, training), note)

    def __repr__(self) -> str:
        return f"<intervention {self.name!r}: {self.description}>"


_REGISTRY: dict[str, Intervention] = {}


def register(cls: type[Intervention]) -> type[Intervention]:
    """Register an ``Intervention`` subclass under its ``name`` (usable as a decorator). A name
    already registered, a role outside ``ROLES`` or an ``after`` that is not registered is an
    error."""
    if not (isinstance(cls, type) and issubclass(cls, Intervention)):
        raise TypeError(f"register expects an Intervention subclass, got {cls!r}")
    if not cls.name or cls.name in _REGISTRY:
        raise ValueError(f"intervention name {cls.name!r} is empty or already registered; registered: {available()}")
    if cls.role is not None and cls.role not in ROLES:
        raise ValueError(f"unknown role {cls.role!r} of intervention {cls.name!r}; valid: {list(ROLES)} or None")
    if cls.after is not None and cls.after not in _REGISTRY:
        raise ValueError(f"intervention {cls.name!r} comes after {cls.after!r}, which is not registered; "
                         f"registered: {available()}")
    _REGISTRY[cls.name] = cls()
    return cls


def available() -> list[str]:
    """The registered interventions' names, in the order they were registered (the order of a
    study's tables)."""
    return list(_REGISTRY)


def get(name: str) -> Intervention:
    if name not in _REGISTRY:
        raise ValueError(f"unknown intervention {name!r}; available: {available()}")
    return _REGISTRY[name]
