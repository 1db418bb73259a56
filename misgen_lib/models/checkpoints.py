"""Checkpointed training: one long run of a model class, its EMA weights kept at chosen steps, so
that a study of the drift against training compute trains once per seed instead of once per budget.

**Schedule** (companion's choice, declared before any result): linear warm-up over
``warmup_steps`` then the constant peak rate ``lr``, a rate that does not depend on the run's
length, so the checkpoint at step ``s`` of a long run is the model a run of ``s`` steps would be.
It is ``training.learning_rate`` (and ``training.optimiser_step``) with an unbounded horizon:
the cosine decay never starts (``constant_rate``). The book's own models decay the rate to 10%
over their budget, so a checkpoint at the book's budget is not the book's model; the scaling
chapter checks once that the two agree within the seeds' spread. Everything else is
``training.train``'s, through the same ``training.TrainingRun``: AdamW, gradient clipping, the
EMA and its warm-up (``ema_decay``), the mini-batch order (``batch_order``), deterministic
algorithms, the config's precision, eager or compiled (``training_mode``, keyed as a model is).

At each checkpoint the run also records the EMA network's training loss on the first
``n_eval`` training trajectories and its held-out loss on ``heldout`` (fresh trajectories
curated like the training set), both with the same fixed draws of the loss's own noise
(diffusion's noise level and noise, from the stream ``("eval-loss",)`` of the run's seed), so the
losses of two checkpoints differ only by the weights.

**Artifact kind** ``checkpointed-run`` (``provenance.ARTIFACT_CODE``: this module, plus the
class's modules, as a model): the key is a model's key (``training.cache_inputs``) with the
``library`` hash replaced by that kind's, plus the checkpoint steps and the held-out set's
fingerprint. Files: ``step<s>-<name>`` for each checkpoint ``s`` and each file of a
``TrainedModel`` (``weights.pt``, ``config.json``, ``state.json``, ``history.json``), and
``losses.json`` (the training loss at every step, the evaluation losses at the checkpoints).
"""
from __future__ import annotations

import json
import time

import numpy as np
import torch

from ..cache import ArtifactStore, default_store, key_of
from ..progress import bar
from ..provenance import git_revision, kind_hash
from ..seeds import derive
from .base import Normaliser, TrainedModel, autocast, get_class, make_config, resolve_device, within_free_cores
from .training import TrainingRun, cache_inputs, check_data, code_modules, deterministic

ARTIFACT_KIND = "checkpointed-run"
#: the horizon that keeps ``training.learning_rate``'s cosine at its start: its argument is at
#: most 1e6 / 1e15 of a half turn for runs up to a million steps, so the rate is ``lr`` to
#: double precision (``tests/test_scaling.py``)
UNBOUNDED_STEPS = 10 ** 15


def constant_rate(cfg):
    """The config whose ``training.learning_rate`` is the checkpointed runs' schedule: linear
    warm-up over ``cfg.warmup_steps``, then ``cfg.lr`` whatever the run's length."""
    return cfg.replace(train_steps=UNBOUNDED_STEPS)


def eval_loss(mc, net, x: torch.Tensor, cfg, seed: int, batch: int = 500) -> float:
    """The class's training loss of ``net`` on ``x``, averaged over batches, with the loss's noise
    drawn from a generator seeded with ``seed`` (the same draws for every checkpoint)."""
    gen = torch.Generator(device=x.device).manual_seed(seed)
    total = 0.0
    with torch.no_grad(), autocast(cfg):
        for start in range(0, len(x), batch):
            xb = x[start:start + batch]
            total += float(mc.loss(net, xb, None, cfg, gen)) * len(xb)
    return total / len(x)


def train_checkpoints(mc, cfg, x: np.ndarray, heldout: np.ndarray, seed: int, steps: tuple[int, ...],
                      n_eval: int, progress: bool = True, desc: str = "") -> tuple[dict, dict]:
    """Train ``mc`` unconditionally on normalised ``x`` (N, T, d) up to ``max(steps)`` under
    ``constant_rate(cfg)``; returns the EMA network's state at each step of ``steps`` and the
    losses (``train``: every step's mini-batch loss; ``eval_train`` / ``eval_heldout``: per
    checkpoint, on ``x[:n_eval]`` and normalised ``heldout``)."""
    states, losses = {}, {"train": [], "eval_train": [], "eval_heldout": []}
    eval_seed = derive(seed, "eval-loss")
    with torch.random.fork_rng(devices=[]), deterministic(resolve_device(cfg.device)):
        run = TrainingRun(mc, cfg, x, None, seed, schedule=constant_rate(cfg))
        ht = torch.as_tensor(heldout, device=run.device)
        for step in bar(range(max(steps)), desc=desc or mc.name, progress=bool(progress), leave=False):
            losses["train"].append(run.step(step))
            if step + 1 in steps:
                ema = run.ema.eval()
                states[step + 1] = {k: v.detach().cpu().clone() for k, v in ema.state_dict().items()}
                losses["eval_train"].append(eval_loss(mc, ema, run.xt[:n_eval], cfg, eval_seed))
                losses["eval_heldout"].append(eval_loss(mc, ema, ht, cfg, eval_seed))
    return states, losses


def check_steps(steps) -> tuple[int, ...]:
    steps = tuple(sorted({int(s) for s in steps}))
    if not steps or steps[0] < 1:
        raise ValueError(f"checkpoint steps must be integers >= 1, got {steps!r}")
    return steps


def run_inputs(name: str, cfg, data, heldout, seed: int, steps: tuple[int, ...], n_eval: int) -> dict:
    """What identifies a checkpointed run in the cache (module docstring)."""
    inputs = cache_inputs(name, cfg, data, seed, conditional=False)
    return {**inputs, "library": kind_hash(ARTIFACT_KIND, *code_modules(name)), "steps": list(steps),
            "heldout": heldout.fingerprint(), "n_eval": int(n_eval), "schedule": "linear warm-up, then constant"}


def fit_checkpoints(name: str, data, heldout, config=None, seed: int = 0, steps=(1500,), n_eval: int = 500,
                    store: ArtifactStore | None = None, progress: bool = True) -> dict[int, TrainedModel]:
    """Model class ``name`` trained once on ``data`` under the constant-rate schedule, as a
    ``TrainedModel`` per checkpoint step (its ``history`` holds the run's losses up to that step
    and its evaluation losses); cached as one ``checkpointed-run`` artifact."""
    mc, cfg = get_class(name), make_config(name, config)
    check_data(data)
    check_data(heldout)
    steps = check_steps(steps)
    store = store or default_store()
    inputs = run_inputs(name, cfg, data, heldout, seed, steps, n_eval)
    key = key_of(inputs)

    def compute() -> dict[str, bytes]:
        start = time.perf_counter()
        normaliser = Normaliser.fit(data.x, None)
        with within_free_cores():
            states, losses = train_checkpoints(mc, cfg, normaliser.encode_x(data.x), normaliser.encode_x(heldout.x),
                                               int(seed), steps, n_eval, progress, desc=f"{name} on {data.task}")
        seconds = time.perf_counter() - start
        files = {"losses.json": json.dumps(losses).encode()}
        for i, (step, state) in enumerate(states.items()):
            net = mc.build(cfg, data.x.shape[1], data.x.shape[2], False)
            net.load_state_dict(state)
            meta = {"key": f"{key}/step{step}", "run": key, "step": step, "schedule": inputs["schedule"],
                    "library_hash": inputs["library"], "versions": inputs["versions"], "task": data.task,
                    "n_train": len(data), "revision": git_revision(), "run_seconds": seconds}
            history = {"loss": losses["train"][:step], "eval_train": losses["eval_train"][i],
                       "eval_heldout": losses["eval_heldout"][i]}
            model = TrainedModel(name, cfg.replace(train_steps=step), net, normaliser, data.x.shape[1],
                                 data.x.shape[2], False, int(seed), history, meta)
            files.update({f"step{step}-{k}": v for k, v in model.to_files().items()})
        return files

    with torch.random.fork_rng(devices=[]):   # building the checkpoints' networks draws weights
        files = store.get_or_compute(ARTIFACT_KIND, inputs, compute)
    return {s: TrainedModel.from_files({k.split("-", 1)[1]: v for k, v in files.items() if k.startswith(f"step{s}-")})
            for s in steps}
