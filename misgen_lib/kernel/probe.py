"""Probe kernels: a trained model perturbs *clean* trajectories locally, in its own way.

The pairs ``(x, x')`` are the kernel (the primary estimator of the book's chapter "The data
deviation kernel"). Per model class (the hooks live with the classes, ``models/*.py``), what
``depth`` counts and the grid that spans the class's whole generative process
(``process_depths``):

* ``diffusion-unet``, ``diffusion-mlp`` (mode ``sdedit``): noise ``x`` to diffusion step
  ``depth - 1`` with the forward process, then the model's own reverse process back to step 0
  (SDEdit). ``depth`` = number of reverse steps, 1..K; grid 1, 2, 4, ... and all K (the probe
  then regenerates from nearly pure noise: it is the sampler, ``ModelClass.probe_is_sampler``).
* ``transformer`` (modes ``rollout``, ``one-step``): ``depth`` = number of regenerated steps
  after a clean prefix of ``T - depth`` steps (so a larger depth is less local and a short
  prefix is a large depth). ``rollout`` samples them step by step with the Gaussian head;
  ``one-step`` (the control) draws each from the head given the clean past (teacher forcing).
  Grid 1, 2, 4, ... steps and the depths after clean prefixes of T/2, T/4, ... down to one step.
* ``vae`` (modes ``sample``, ``mean``): ``depth`` encode -> decode round trips, decoding a
  posterior draw (``sample``, the default mode) or the posterior mean (``mean``). Grid 1, 2, 4,
  8, 16.

The probe never sees the evaluated samples. Its depth is chosen by the declared rule,
``deepest_local``: the deepest depth of the grid whose ``locality`` (the RMS of ``x' - x``
relative to the data's spread) stays within ``LOCALITY_BUDGET``, free of the quantity. (The
distance of the probe's outputs to the clean training set cannot choose it: that distance
barely changes with depth, since the errors that move the quantity run along the data.)

A conditional model is conditioned on the clean trajectory's own measured quantity
(``task.measure(x)``, the quantity an engineer would ask for), so it needs ``task``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks import check_trajectories
from ..models.base import TrainedModel, get_class
from .base import DeviationKernel, locality_index


class ProbeKernel(DeviationKernel):
    """``apply(x, rng)``: ``model.perturb(x, depth, seed)`` with the seed drawn from ``rng``
    (deterministic for a generator state)."""
    family = "probe"

    def __init__(self, model: TrainedModel, depth: int, mode: str, task=None):
        self.model, self.depth, self.mode, self.task = model, depth, mode, task

    def apply(self, x, rng):
        x = check_trajectories(x)
        seed = int(rng.integers(0, 2 ** 62))
        q = np.asarray(self.task.measure(x), dtype=float) if self.model.conditional else None
        return self.model.perturb(x, self.depth, seed=seed, q=q, mode=self.mode).astype(np.float64)

    def locality(self, x, seed: int = 0) -> float:
        """``locality_index`` of one probe draw around ``x`` (n, T, d)."""
        x = check_trajectories(x)
        return locality_index(x, self.apply(x, np.random.default_rng(seed)))

    def to_dict(self):
        return {"family": self.family, "model": self.model.name, "model_key": self.model.key,
                "inference": self.model.inference_numerics, "depth": self.depth, "mode": self.mode}


def probe(model: TrainedModel, depth: int, mode: str | None = None, task=None) -> ProbeKernel:
    """The probe kernel of a trained model at ``depth`` (the declared rule's: ``deepest_local``)
    in ``mode`` (None: the class's first, see the module docstring). A conditional model needs
    ``task`` (to measure the clean q)."""
    if not isinstance(model, TrainedModel):
        raise TypeError(f"probe needs a TrainedModel (mg.models.fit), got {type(model).__name__}")
    depth, mode = get_class(model.name).check_probe(model.config, model.horizon, depth, mode)
    if model.conditional and task is None:
        raise ValueError(f"{model.name} is conditional: pass task, so the probe can condition on "
                         f"the clean trajectories' measured quantity")
    return ProbeKernel(model, depth, mode, task)


@dataclass
class DepthChoice:
    """``depth``: the chosen depth; per candidate in ``depths``, its ``locality`` (NaN where the
    rule stopped before probing it); ``mode``: the probe mode."""
    depth: int
    depths: list[int]
    locality: list[float]
    mode: str

    def table(self) -> list[dict]:
        return [{"depth": d, "locality": loc, "chosen": d == self.depth} for d, loc in zip(self.depths, self.locality)]


def resolve_mode(model: TrainedModel, mode: str | None) -> str:
    """``mode``, or the class's default probe mode when None (checked)."""
    return get_class(model.name).check_probe(model.config, model.horizon, 1, mode)[1]   # depth 1: always valid


def _probe_outputs(model, clean, depths, mode, task, seed):
    """Per depth: the probe's outputs around ``clean`` and which of them are finite (the same
    draws for a seed and depth, whichever rule asks)."""
    for depth in depths:
        out = probe(model, depth, mode, task).apply(clean, np.random.default_rng([seed, depth]))
        yield out, np.isfinite(out).all(axis=(1, 2))


def process_depths(model: TrainedModel) -> tuple[int, ...]:
    """The depths that span the model's whole generative process, smallest first
    (``ModelClass.process_depths``, module docstring): the grid of "where is the drift made",
    from which ``deepest_local`` chooses."""
    return tuple(get_class(model.name).process_depths(model.config, model.horizon))


#: the locality budget of ``deepest_local`` (companion's choice, fixed before this library computed
#: any depth curve, but after issue 19's table of a few probes' localities was seen; the book
#: shows the rule at half and twice it): a local error is at most a quarter of the data's spread
#: (``locality_index``; an independent draw of the data is about 1.4)
LOCALITY_BUDGET = 0.25


def within_budget(depths, locality, budget: float) -> int:
    """The declared rule on a grid: walking from the shallowest depth, the last one before the
    first whose locality exceeds ``budget`` (the shallowest when even it does). On a grid whose
    locality grows with depth this is the deepest depth within the budget."""
    chosen = depths[0]
    for depth, loc in zip(depths, locality):
        if not loc <= budget:
            break
        chosen = depth
    return int(chosen)


def deepest_local(model: TrainedModel, clean, budget: float = LOCALITY_BUDGET, depths=None,
                  mode: str | None = None, task=None, seed: int = 0) -> DepthChoice:
    """The declared depth rule (``within_budget``): the deepest probe whose locality index stays
    within ``budget``, probing the depths (default ``process_depths(model)``) from the shallowest
    until one exceeds it. It looks at neither the quantity nor the samples, only at how far the
    probe moves clean trajectories (unlike matching the samples' distance to the clean set,
    which barely changes with depth because the errors that move the quantity run along the
    data). ``locality`` of the depths not probed is NaN."""
    clean = check_trajectories(getattr(clean, "x", clean), "clean")
    if not (isinstance(budget, (int, float)) and budget > 0):
        raise ValueError(f"budget must be a locality index > 0, got {budget!r}")
    depths = [int(d) for d in (process_depths(model) if depths is None else depths)]
    if not depths:
        raise ValueError("deepest_local needs at least one candidate depth")
    locality = []
    for out, ok in _probe_outputs(model, clean, depths, mode, task, seed):
        locality.append(locality_index(clean[ok], out[ok]))
        if not locality[-1] <= budget:
            break
    probed = len(locality)
    locality += [np.nan] * (len(depths) - probed)
    return DepthChoice(depth=within_budget(depths[:probed], locality[:probed], budget), depths=depths,
                       locality=locality, mode=resolve_mode(model, mode))


def calibrated(name: str, model: TrainedModel, clean, seed: int = 0, task=None,
               depth: int | None = None) -> DeviationKernel:
    """The a-priori family ``name`` with its parameters fitted (``apriori.calibrate``) to the
    residuals of ``model``'s probe on ``clean`` trajectories, at ``depth`` (default: the declared
    rule's, ``deepest_local``): the before-training kernel when ``model`` is a short, cheap run of
    the class."""
    from .apriori import calibrate
    clean = check_trajectories(getattr(clean, "x", clean), "clean")
    if depth is None:
        depth = deepest_local(model, clean, task=task, seed=seed).depth
    out = probe(model, depth, task=task).apply(clean, np.random.default_rng(seed))
    return calibrate(name, out - clean, clean=clean)
