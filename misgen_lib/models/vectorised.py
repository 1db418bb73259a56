"""Vectorised multi-seed training: several seeds of one model class trained in ONE pass with
``torch.func`` (``stack_module_state``, ``functional_call``, ``vmap``), each seed a model like the
one ``models.fit`` trains, saved in the same cache and loaded the same way.

    models = mg.models.fit_seeds("vae", data, seeds=[0, 1, 2], config={"train_steps": 2000})
    models[1].sample(500, seed=7)              # a TrainedModel, as from models.fit(..., seed=1)

Per seed it is the sequential path (``models.training.train``): the same initialisation
(``torch.manual_seed(seed)`` before ``build``), the same mini-batch order (the seed's
``"batch-order"`` stream), the same noise (the seed's own generator), AdamW, global-norm clipping
per seed, the same learning-rate schedule and EMA. What differs is floating-point reduction order
(batched matrix products, the clipping norm, AdamW as one fused kernel), so the weights agree
with the sequential ones to rounding, not to the bit: a vectorised model is cached under its own key (the sequential key's
inputs plus ``"vectorised"``: the keys of the whole group and this file's hash), never under the
sequential one. The seeds may train on different datasets of the same trajectory shape (the
suite's seeds are full replicates, each with its own curated set).

A model's key holds the hash of the code its class runs (``training.code_modules``), and the
group's the hash of this module's import closure, so editing the vectorised trainer re-trains
only vectorised models. The noise of a
class's ``loss`` is drawn per seed by intercepting draws from the generator it is handed, so only
classes whose loss draws all its randomness from that generator can be vectorised
(``VECTORISED_CLASSES``; tests compare each with the sequential path).

Speed (``benchmarks/bench_vectorised_seeds.py``, 3 seeds at the book's sizes, one thread of a
2-core CPU): about 1.3-1.5x over seed by seed for ``diffusion-mlp`` and ``vae``. Batching pays
little here because these networks are compute-bound already at a batch of 64 (one batch of 192
through one network costs ~0.65x three batches of 64); most of the gain is the optimiser, clipping
and EMA run once for all seeds. The ``transformer`` (1.05x) and the ``diffusion-unet`` (0.5x:
batched convolutions are slower) do not pay and are not vectorised.
"""
from __future__ import annotations

import copy
import time

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from torch.overrides import TorchFunctionMode

from .. import __version__
from ..cache import ArtifactStore, default_store, key_of
from ..progress import bar as progress_bar
from ..provenance import git_revision, kind_hash
from .base import Normaliser, TrainedModel, autocast, device_description, get_class, make_config, resolve_device
from .inference import numerics
from .training import (ARTIFACT_KIND, MissingArtifact, TrainingDiverged, batch_order, cache_inputs, check_data,
                       check_weights, deterministic, ema_decay, optimiser_step)

#: the classes whose training vectorises over seeds and pays (``benchmarks/bench_vectorised_seeds.py``)
VECTORISED_CLASSES = ("diffusion-mlp", "vae")


class SeedStreams(TorchFunctionMode):
    """Inside ``vmap``: every draw from ``stand_in`` (the generator the class's ``loss`` is
    handed) is made once from each seed's own generator, in the order the sequential loss makes
    it, and each seed gets its own draw (``index``: the batched seed position)."""

    def __init__(self, stand_in: torch.Generator, generators: list[torch.Generator], index: torch.Tensor):
        super().__init__()
        self.stand_in, self.generators, self.index = stand_in, generators, index

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if kwargs.get("generator") is not self.stand_in:
            return func(*args, **kwargs)
        draws = torch.stack([func(*args, **{**kwargs, "generator": g}) for g in self.generators])
        return draws.index_select(0, self.index.view(1)).squeeze(0)


class SeedLoss(nn.Module):
    """A class's ``loss`` for one seed inside ``vmap``: ``functional_call`` swaps in the seed's
    weights for everything the loss touches (``forward``, ``encode``, a parameter read directly)
    and ``SeedStreams`` gives it the seed's own noise."""

    def __init__(self, model_class, net: nn.Module, cfg, generators: list[torch.Generator]):
        super().__init__()
        self.model_class, self.net, self.cfg, self.generators = model_class, net, cfg, generators
        self.stand_in = torch.Generator(device=generators[0].device)

    def forward(self, x, q, index):
        with SeedStreams(self.stand_in, self.generators, index):
            return self.model_class.loss(self.net, x, q, self.cfg, self.stand_in)


def clip_per_seed(grads: list[torch.Tensor], max_norm: float) -> None:
    """``clip_grad_norm_`` for each seed (leading dimension) on its own global norm."""
    norms = torch.stack([torch.linalg.vector_norm(g, dim=tuple(range(1, g.dim()))) if g.dim() > 1
                         else g.abs() for g in grads], dim=1)
    norms = torch.linalg.vector_norm(norms, dim=1)
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *[1] * (g.dim() - 1)))


def gradient_layout(stacked: torch.Tensor) -> torch.Tensor:
    """A stacked weight (K, out, in) stored as (K, in, out) transposed: the layout in which the
    batched matrix product gives its gradient, so autograd accumulates it without a copy."""
    if stacked.dim() < 3:
        return stacked
    return stacked.detach().transpose(-1, -2).contiguous().transpose(-1, -2).requires_grad_()


def train_seeds(model_class, cfg, xs: list[np.ndarray], qs: list[np.ndarray] | None, seeds: list[int],
                progress: bool = True, desc: str = "", weights: list | None = None):
    """``models.training.train`` for each seed at once, seed ``k`` on normalised ``xs[k]`` (N_k,
    T, d) (and ``qs[k]``); returns the networks to sample with and the loss histories."""
    device = resolve_device(cfg.device)
    horizon, dim = xs[0].shape[1:]
    conditional = qs is not None
    with torch.random.fork_rng(devices=[]), deterministic(device):
        nets = []
        for seed in seeds:
            torch.manual_seed(seed)
            nets.append(model_class.build(cfg, horizon, dim, conditional).to(device))
        params, buffers = stack_module_state(nets)
        params = {f"net.{k}": gradient_layout(v) for k, v in params.items()}
        buffers = {f"net.{k}": v for k, v in buffers.items()}
        ema = {k: v.detach().clone() for k, v in params.items()} if cfg.ema_decay > 0 else params
        opt = torch.optim.AdamW(params.values(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
        xt = [torch.as_tensor(x, device=device) for x in xs]
        qt = None if qs is None else [torch.as_tensor(q, device=device) for q in qs]
        orders = [batch_order(s, len(x), cfg.batch_size, None if weights is None else weights[k])
                  for k, (s, x) in enumerate(zip(seeds, xs))]
        streams = [torch.Generator(device=device).manual_seed(s) for s in seeds]
        loss_module = SeedLoss(model_class, copy.deepcopy(nets[0]).to("meta"), cfg, streams)
        batched_loss = vmap(lambda p, b, x, q, i: functional_call(loss_module, (p, b), (x, q, i)),
                            in_dims=(0, 0, 0, None if qt is None else 0, 0), randomness="same")
        index = torch.arange(len(seeds), device=device)
        losses = []
        bar = progress_bar(range(cfg.train_steps), desc=desc or model_class.name, progress=progress, leave=False)
        for step in bar:
            idx = [next(o).to(device) for o in orders]
            xb = torch.stack([x[i] for x, i in zip(xt, idx)])
            qb = None if qt is None else torch.stack([q[i] for q, i in zip(qt, idx)])
            with autocast(cfg):
                loss = batched_loss(params, buffers, xb, qb, index)
            if not torch.isfinite(loss).all():
                bad = [s for s, v in zip(seeds, loss.tolist()) if not np.isfinite(v)]
                raise TrainingDiverged(f"{model_class.name}: training loss became non-finite at step {step} "
                                       f"of {cfg.train_steps} for seed(s) {bad} (lr={cfg.lr}); lower lr "
                                       f"or check the data")
            optimiser_step(opt, loss.sum(), step, cfg,   # seed k's gradient is that of its own loss
                           lambda: clip_per_seed([p.grad for p in params.values()], cfg.grad_clip))
            if ema is not params:
                decay = ema_decay(step, cfg)
                with torch.no_grad():
                    for name, p in params.items():
                        ema[name].lerp_(p, 1 - decay)
            losses.append(loss.tolist())
            if step % 50 == 0:
                bar.set_postfix(loss=f"{float(np.mean(losses[-1])):.4f}")
        bar.close()
    for k, net in enumerate(nets):
        net.load_state_dict({name[4:]: v[k] for name, v in {**ema, **buffers}.items()})
    return [net.requires_grad_(False).eval() for net in nets], [{"loss": list(h)} for h in zip(*losses)]


def vectorised_class(name: str):
    """The registered class ``name`` if its training vectorises, else a ValueError."""
    if name not in VECTORISED_CLASSES:
        raise ValueError(f"model class {name!r} has no vectorised multi-seed training; vectorised "
                         f"classes: {list(VECTORISED_CLASSES)} (train other classes seed by seed "
                         f"with models.fit)")
    return get_class(name)


def per_seed(what: str, value, seeds: list[int], one: str, shared) -> list:
    """``value`` for each seed: ``value`` itself for all (``shared(value)``) or a list/tuple with
    one entry per seed; ``one`` names the shared kind in the error."""
    if shared(value):
        return [value] * len(seeds)
    if not isinstance(value, (list, tuple)) or len(value) != len(seeds):
        length = f" of length {len(value)}" if hasattr(value, "__len__") else ""
        raise ValueError(f"{what} must be {one} for all seeds or a list of {len(seeds)} (one per seed "
                         f"{seeds}), got {type(value).__name__}{length}")
    return list(value)


def check_seeds(seeds) -> list[int]:
    """``seeds`` as a list of distinct integers >= 0 (at least one), else a ValueError naming it."""
    valid = (isinstance(seeds, (list, tuple, range, np.ndarray)) and len(seeds) > 0
             and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0 for s in seeds)
             and len({int(s) for s in seeds}) == len(seeds))
    if not valid:
        raise ValueError(f"seeds must be a non-empty list of distinct integers >= 0, got {seeds!r}")
    return [int(s) for s in seeds]


def group_inputs(name: str, cfg, datasets: list, seeds: list[int], conditional: bool, weights: list) -> list[dict]:
    """The cache inputs of each seed's model: the sequential ones plus ``"vectorised"`` (the
    sequential keys of the whole group and this file's hash), since the result is the group's,
    and ``"training"`` eager (``torch.func`` runs the network eager, whatever ``$MISGEN_TRAINING``)."""
    own = [cache_inputs(name, cfg, d, s, conditional, w) for d, s, w in zip(datasets, seeds, weights)]
    group = {"group": [key_of(i) for i in own], "library": kind_hash("model, trained vectorised")}
    return [{**i, "training": numerics("eager"), "vectorised": group} for i in own]


def fit_seeds(name: str, data, seeds, config=None, conditional: bool = False,
              store: ArtifactStore | None = None, require_cached: bool = False, progress: bool = True,
              weights=None) -> list[TrainedModel]:
    """One trained model per seed of class ``name`` (one of ``VECTORISED_CLASSES``), trained
    together in one vectorised pass or loaded from the cache; each is a ``TrainedModel`` like
    ``models.fit(name, data, config, seed)`` gives, equal to it up to rounding (module docstring).

    ``data``: one ``Dataset`` for all seeds or a list, one per seed (same trajectory shape);
    ``weights``: None, one array for all seeds or a list, one per seed (see ``models.fit``).
    ``require_cached=True`` raises ``MissingArtifact`` if any seed's model is not cached; else the
    whole group is trained when one is missing (a group's results belong together)."""
    model_class, cfg = vectorised_class(name), make_config(name, config)
    resolve_device(cfg.device)
    seeds = check_seeds(seeds)
    datasets = per_seed("data", data, seeds, "one Dataset", lambda v: hasattr(v, "x"))
    for d in datasets:
        check_data(d)
    shapes = [d.x.shape[1:] for d in datasets]
    if len(set(shapes)) > 1:
        raise ValueError(f"the seeds' datasets must share the trajectory shape (T, d); got "
                         f"{dict(zip(seeds, shapes))} (seed: shape)")
    weights = per_seed("weights", weights, seeds, "None or one array",
                       lambda v: v is None or isinstance(v, np.ndarray))
    weights = [check_weights(w, len(d)) for w, d in zip(weights, datasets)]
    if len({w is None for w in weights}) > 1:
        raise ValueError("weights must be given for every seed or for none")
    store = store or default_store()
    inputs = group_inputs(name, cfg, datasets, seeds, conditional, weights)
    files = [store.get_or_compute(ARTIFACT_KIND, i, None) for i in inputs]
    missing = [s for s, f in zip(seeds, files) if f is None]
    if missing and require_cached:
        raise MissingArtifact(f"missing artifact: no cached vectorised {name!r} model for seed(s) {missing} "
                              f"of the group {seeds} (task {datasets[0].task!r}, config {cfg.to_json()}) in "
                              f"{store.root}; train the group first, or call with require_cached=False")
    if missing:
        files = trained_files(model_class, cfg, datasets, seeds, conditional, weights, inputs, progress)
        for i, f in zip(inputs, files):
            store.save(ARTIFACT_KIND, key_of(i), f, i)
    return [TrainedModel.from_files(f) for f in files]


def trained_files(model_class, cfg, datasets, seeds, conditional, weights, inputs, progress) -> list[dict]:
    """Train the group and give each seed's model as cache files (meta as ``models.fit`` writes
    it, plus the group; ``train_seconds`` is the group's time shared equally)."""
    start = time.perf_counter()
    normalisers = [Normaliser.fit(d.x, d.q if conditional else None) for d in datasets]
    nets, histories = train_seeds(
        model_class, cfg, [n.encode_x(d.x) for n, d in zip(normalisers, datasets)],
        [n.encode_q(d.q) for n, d in zip(normalisers, datasets)] if conditional else None, seeds,
        progress, desc=f"{model_class.name} x{len(seeds)} seeds on {datasets[0].task}",
        weights=None if weights[0] is None else weights)
    seconds = (time.perf_counter() - start) / len(seeds)
    device = device_description(resolve_device(cfg.device))
    out = []
    for net, history, normaliser, d, s, i in zip(nets, histories, normalisers, datasets, seeds, inputs):
        meta = {"key": key_of(i), "library_version": __version__, "library_hash": i["library"],
                "versions": i["versions"], "device": device, "revision": git_revision(),
                "data_fingerprint": i["data"], "task": d.task, "n_train": len(d),
                "train_seconds": seconds, "vectorised_seeds": seeds}
        out.append(TrainedModel(model_class.name, cfg, net, normaliser, d.x.shape[1], d.x.shape[2],
                                conditional, s, history, meta).to_files())
    return out
