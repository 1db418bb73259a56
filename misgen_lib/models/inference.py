"""How a model runs its network when it trains, samples and probes: eager, or compiled by
``torch.compile`` (inductor) where that is measured faster.

Two switches of one kind, each ``auto`` (the default), ``eager`` or ``compiled``:
``$MISGEN_INFERENCE`` for sampling and probes, ``$MISGEN_TRAINING`` for training (``mode``).
``auto`` compiles a model whose class says compiled code is faster for its config on this host
(``ModelClass.compiles_faster`` for inference, ``ModelClass.trains_faster_compiled`` for
training) when a C++ compiler is on the path, and runs eager elsewhere (companion's choice,
measured by ``benchmarks/bench_compiled.py`` on an Intel Xeon with AMX: the U-Net in bfloat16,
its forward pass about 1.8-2x and its training step about 1.5x faster compiled; the other
classes are not compiled). ``compiled`` compiles every class that is ``compilable`` (the
diffusion classes, whose network is called only through ``forward``); the transformer and the
VAE call other methods of their networks and always run eager. Two switches rather than one (companion's choice): compiled training
changes the weights, so it re-keys every model downstream, while compiled inference re-keys only
samples and probe draws; either can be set back to eager alone. Training compiles the network
(forward and backward, through autograd); the loss around it stays eager.

Compiled results differ from eager ones at rounding level (the fused Mish, other kernels), and
inductor's kernels depend on the host's vector instructions, so ``numerics`` names both in the
cache keys of what a model computes (its weights, samples, probe draws). A result must not
depend on what else a process compiled before it, so: inputs are made contiguous and the batch
dimension of every input is marked dynamic (one compiled kernel serves every batch size, a
size-1 batch apart); every other shape gets its own static kernel (no automatic dynamic shapes,
which would let a later, generic kernel serve a shape an earlier one was compiled for); and a
process that would need more kernels than dynamo keeps per function fails loudly instead of
falling back to eager (``RECOMPILE_LIMIT``: every network shape of a book is a few dozen at
most). Compiled code is kept in the artifact cache's folder (``torch-compile``), so a build's
workers compile each network shape once, unless ``$TORCHINDUCTOR_CACHE_DIR`` was set before
misgen was imported (``compile_cache_dir``: inductor sets that variable itself when it first
runs, so its value afterwards says nothing of the user's wish).
"""
from __future__ import annotations

import os
import shutil
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from ..cache import default_root
from ..vocabulary import INFERENCE_ENV, TRAINING_ENV

MODES = ("auto", "eager", "compiled")
#: the switch of each use (``mode``)
SWITCHES = {"inference": INFERENCE_ENV, "training": TRAINING_ENV}
#: compiled kernels dynamo may keep per function (every U-Net shares its ``forward``)
RECOMPILE_LIMIT = 256
#: inductor's cache folder as the user set it before misgen was imported (None: not set)
USER_INDUCTOR_CACHE = os.environ.get("TORCHINDUCTOR_CACHE_DIR")


def requested(use: str = "inference") -> str:
    """The switch of ``use`` (``"inference"`` or ``"training"``; ``auto`` when unset), checked."""
    if use not in SWITCHES:
        raise ValueError(f"unknown use {use!r}; valid: {tuple(SWITCHES)}")
    env = SWITCHES[use]
    want = os.environ.get(env, "auto")
    if want not in MODES:
        raise ValueError(f"{env}={want!r} is not valid; use one of {MODES}")
    return want


def mode(compiles_faster: bool, use: str = "inference") -> str:
    """``"eager"`` or ``"compiled"`` for ``use`` of a model whose class does (or does not)
    compile faster for it."""
    want = requested(use)
    if want == "auto":
        return "compiled" if compiles_faster and have_compiler() else "eager"
    return want


def have_compiler() -> bool:
    """Whether inductor finds a C++ compiler for its CPU kernels."""
    return any(shutil.which(c) for c in ("g++", "clang++", "c++"))


def compile_cache_dir() -> Path:
    """Where inductor keeps compiled code: ``$TORCHINDUCTOR_CACHE_DIR`` as set before misgen was
    imported, else ``torch-compile`` in the artifact cache's folder; set for inductor before it
    first runs (``vector_isa``, ``compiled``)."""
    folder = Path(USER_INDUCTOR_CACHE) if USER_INDUCTOR_CACHE else default_root() / "torch-compile"
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
    return folder


@lru_cache(maxsize=1)
def vector_isa() -> str:
    """The vector instruction set inductor's CPU kernels are generated for (e.g. ``avx512``)."""
    compile_cache_dir()    # inductor builds its probe of the CPU in its cache folder
    from torch._inductor.cpu_vec_isa import pick_vec_isa
    return str(pick_vec_isa()) or "none"


def numerics(run_mode: str) -> str:
    """What a cache key records of how a network ran: ``"eager"``, or ``"compiled (<isa>)"``."""
    return "eager" if run_mode == "eager" else f"compiled ({vector_isa()})"


class BatchDynamic(nn.Module):
    """``torch.compile(net)`` called with the batch dimension of every tensor input marked dynamic."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.compiled = torch.compile(net)

    def forward(self, *args):
        args = [a.contiguous() if isinstance(a, torch.Tensor) else a for a in args]
        for a in args:
            if isinstance(a, torch.Tensor) and a.dim() and a.shape[0] > 1:
                torch._dynamo.mark_dynamic(a, 0)
        return self.compiled(*args)


def compiled(net: nn.Module) -> nn.Module:
    """``net`` compiled (``BatchDynamic``) for inference or training, its code cached in
    ``compile_cache_dir``."""
    compile_cache_dir()
    config = torch._dynamo.config
    config.automatic_dynamic_shapes = False
    config.recompile_limit = config.accumulated_recompile_limit = RECOMPILE_LIMIT
    config.fail_on_recompile_limit_hit = True
    return BatchDynamic(net)
