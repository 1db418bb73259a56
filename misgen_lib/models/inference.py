"""How a trained model runs its network when it samples and probes: eager, or compiled by
``torch.compile`` (inductor) where that is measured faster.

``$MISGEN_INFERENCE`` chooses: ``auto`` (the default), ``eager`` or ``compiled``. ``auto``
compiles a model whose class says compiled inference is faster for its config
(``ModelClass.compiles_faster``) when a C++ compiler is on the path, and runs eager elsewhere
(companion's choice, measured by ``benchmarks/bench_compiled.py``: the U-Net's forward pass in
bfloat16 about 1.8-2x faster compiled on an Intel Xeon with AMX; the other classes are not
compiled). Training is always eager.

Compiled results differ from eager ones at rounding level (the fused Mish, other kernels), and
inductor's kernels depend on the host's vector instructions, so ``numerics`` names both in the
cache keys of what a model computes (samples, probe draws). A result must not depend on what
else a process compiled before it, so: inputs are made contiguous and the batch dimension of
every input is marked dynamic (one compiled kernel serves every batch size, a size-1 batch
apart); every other shape gets its own static kernel (no automatic dynamic shapes, which would
let a later, generic kernel serve a shape an earlier one was compiled for); and a process that
would need more kernels than dynamo keeps per function fails loudly instead of falling back to
eager (``RECOMPILE_LIMIT``: every network shape of a book is a few dozen at most). Compiled code
is kept in the artifact cache's folder (``torch-compile``), so a build's workers compile each
network shape once.
"""
from __future__ import annotations

import os
import shutil
from functools import lru_cache

import torch
from torch import nn

from ..cache import default_root
from ..vocabulary import INFERENCE_ENV

INFERENCE_MODES = ("auto", "eager", "compiled")
#: compiled kernels dynamo may keep per function (every U-Net shares its ``forward``)
RECOMPILE_LIMIT = 256


def requested() -> str:
    """``$MISGEN_INFERENCE`` (``auto`` when unset), checked."""
    want = os.environ.get(INFERENCE_ENV, "auto")
    if want not in INFERENCE_MODES:
        raise ValueError(f"{INFERENCE_ENV}={want!r} is not valid; use one of {INFERENCE_MODES}")
    return want


def mode(compiles_faster: bool) -> str:
    """``"eager"`` or ``"compiled"`` for a model whose class does (or does not) compile faster."""
    want = requested()
    if want == "auto":
        return "compiled" if compiles_faster and have_compiler() else "eager"
    return want


def have_compiler() -> bool:
    """Whether inductor finds a C++ compiler for its CPU kernels."""
    return any(shutil.which(c) for c in ("g++", "clang++", "c++"))


@lru_cache(maxsize=1)
def vector_isa() -> str:
    """The vector instruction set inductor's CPU kernels are generated for (e.g. ``avx512``)."""
    from torch._inductor.cpu_vec_isa import pick_vec_isa
    return str(pick_vec_isa()) or "none"


def numerics(run_mode: str) -> str:
    """What a cache key records of the inference: ``"eager"``, or ``"compiled (<isa>)"``."""
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
    """``net`` compiled for inference (``BatchDynamic``), its code cached in the artifact cache's folder."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(default_root() / "torch-compile"))
    config = torch._dynamo.config
    config.automatic_dynamic_shapes = False
    config.recompile_limit = config.accumulated_recompile_limit = RECOMPILE_LIMIT
    config.fail_on_recompile_limit_hit = True
    return BatchDynamic(net)
