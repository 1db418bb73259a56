"""Eager against compiled, fused Mish against torch's, on this host: the ratios behind
``models.inference`` (which classes ``auto`` compiles) and ``models.activations``.

One torch thread (as the book's workers), each pair timed alternately after a warm-up call,
best of ``--repeats``:

* Mish alone on 4.2 M values, fp32 and bfloat16: ``F.mish`` eager against the fused form compiled;
* the denoiser's forward pass on 1000 trajectories (the book's U-Net: width 32, mults (1, 2),
  kernel 5, horizon 64; and the MLP backbone), fp32 and under bfloat16 autocast, eager against
  ``inference.compiled`` (its batch dimension dynamic, as sampling runs it);
* a model's whole ``sample`` (64 ancestral steps) and ``perturb`` (an SDEdit probe of 8 steps) of
  500 trajectories, through ``$MISGEN_INFERENCE`` eager against compiled;
* a training step of every class (batch 64, its loss, backward, AdamW), fp32 and bfloat16, eager
  against the network compiled through ``inference.compiled`` (forward and backward; the loss eager;
  the VAE's ``encode`` and ``decode``), which ``$MISGEN_TRAINING`` uses for the diffusion classes.

Compile times are reported apart (cold in a fresh inductor cache: ``--cold``). The CPU is named in
the output; ``--record`` writes it with the results as a run record to ``benchmarks/runs/``.

    python benchmarks/bench_compiled.py [--repeats 5] [--cold] [--record] [--parts training ...]
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from contextlib import nullcontext
from datetime import date
from unittest.mock import patch

import numpy as np
import torch

from misgen_lib.models import get_class, make_config
from misgen_lib.models.activations import Mish
from misgen_lib.models.base import Normaliser, TrainedModel
from misgen_lib.models.inference import compiled, vector_isa
from misgen_lib.provenance import cpu, git_revision
from misgen_lib.vocabulary import INFERENCE_ENV

HORIZON, DIM, BATCH = 64, 2, 1000


def timed_once(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def pair(name: str, eager, fast, repeats: int, rows: list) -> None:
    """Time ``eager`` and ``fast`` alternately, best of ``repeats`` each, after one warm-up call
    of each (``fast``'s, its compilation, reported apart)."""
    compile_s = timed_once(fast)
    timed_once(eager)
    e, f = [], []
    for _ in range(repeats):
        e.append(timed_once(eager))
        f.append(timed_once(fast))
    rows.append({"measure": name, "eager_ms": 1e3 * min(e), "compiled_ms": 1e3 * min(f),
                 "speed-up": min(e) / min(f), "first_call_s": compile_s})
    r = rows[-1]
    print(f"{name:<44} eager {r['eager_ms']:9.1f} ms  compiled {r['compiled_ms']:9.1f} ms  "
          f"x{r['speed-up']:.2f}  (first call {compile_s:.1f} s)", flush=True)


def precision_context(precision: str):
    return torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()


def mish_pairs(repeats: int, rows: list) -> None:
    x = torch.randn(4_200_000)
    fused = torch.compile(Mish())
    for precision, v in (("fp32", x), ("bf16", x.bfloat16())):
        pair(f"Mish, 4.2 M values, {precision}", lambda: torch.nn.functional.mish(v), lambda: fused(v), repeats, rows)


def forward_pairs(repeats: int, rows: list) -> None:
    x, t = torch.randn(BATCH, HORIZON, DIM), torch.full((BATCH,), 5)
    for name in ("diffusion-unet", "diffusion-mlp"):
        for precision in ("fp32", "bf16"):
            cfg = make_config(name, {"precision": precision})
            torch.manual_seed(0)
            net = get_class(name).build(cfg, HORIZON, DIM, False).eval()
            fast = compiled(net)
            with torch.no_grad(), precision_context(precision):
                pair(f"{name} forward, {BATCH} trajectories, {precision}", lambda: net(x, t), lambda: fast(x, t),
                     repeats, rows)


def model(name: str, precision: str) -> TrainedModel:
    cfg = make_config(name, {"precision": precision})
    torch.manual_seed(0)
    net = get_class(name).build(cfg, HORIZON, DIM, False)
    return TrainedModel(name, cfg, net, Normaliser([0.0] * DIM, [1.0] * DIM), HORIZON, DIM, False, 0, {}, {})


def with_inference(mode: str, fn):
    """``fn`` run with ``$MISGEN_INFERENCE`` set to ``mode`` (the environment restored after)."""
    def run():
        with patch.dict(os.environ, {INFERENCE_ENV: mode}):
            return fn()
    return run


def sampling_pairs(repeats: int, rows: list) -> None:
    clean = np.random.default_rng(0).standard_normal((500, HORIZON, DIM))
    for precision in ("fp32", "bf16"):
        m = model("diffusion-unet", precision)
        for what, fn in (("sample, 64 steps", lambda: m.sample(500, seed=0)),
                         ("perturb (probe), 8 steps", lambda: m.perturb(clean, depth=8, seed=0))):
            pair(f"diffusion-unet {what}, 500, {precision}", with_inference("eager", fn),
                 with_inference("compiled", fn), max(1, repeats // 2), rows)


def compiled_for_training(name: str, net):
    """``net`` as compiled training runs it (``inference.compiled``); the VAE's loss calls its
    ``encode`` and ``decode`` rather than its forward, so those two are compiled instead (on a
    shallow copy that shares the parameters)."""
    if name != "vae":
        return compiled(net)
    run_net = copy.copy(net)
    run_net.encode, run_net.decode = torch.compile(net.encode), torch.compile(net.decode)
    return run_net


def training_pairs(repeats: int, rows: list) -> None:
    """A training step of every class (batch 64, the class's loss, backward, AdamW), eager
    against the network compiled through ``compiled_for_training``."""
    x = torch.randn(64, HORIZON, DIM)
    for name in ("diffusion-unet", "diffusion-mlp", "transformer", "vae"):
        mc = get_class(name)
        for precision in ("fp32", "bf16"):
            cfg = make_config(name, {"precision": precision})
            steps = {}
            for mode in ("eager", "compiled"):
                torch.manual_seed(0)
                net = mc.build(cfg, HORIZON, DIM, False).train()
                run_net = net if mode == "eager" else compiled_for_training(name, net)
                opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
                gen = torch.Generator().manual_seed(0)

                def step(run_net=run_net, opt=opt, gen=gen, mc=mc, cfg=cfg):
                    with precision_context(precision):
                        loss = mc.loss(run_net, x, None, cfg, gen)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                steps[mode] = step
            pair(f"{name} training step, batch 64, {precision}", steps["eager"], steps["compiled"],
                 repeats, rows)


PARTS = {"mish": mish_pairs, "forward": forward_pairs, "sampling": sampling_pairs, "training": training_pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cold", action="store_true", help="compile into a fresh inductor cache")
    parser.add_argument("--record", action="store_true", help="write a run record to benchmarks/runs/")
    parser.add_argument("--parts", nargs="+", choices=tuple(PARTS), default=tuple(PARTS),
                        help="which pairs to time (default: all)")
    args = parser.parse_args()
    if args.cold:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-")
    torch.set_num_threads(1)
    host, revision = cpu(), git_revision()   # the code that runs, before any later edit
    print(f"{host['model']} (bfloat16 units: {', '.join(host['bf16_units']) or 'none'}; inductor ISA "
          f"{vector_isa()}); torch {torch.__version__}, one thread", flush=True)
    rows: list[dict] = []
    for part in args.parts:
        PARTS[part](args.repeats, rows)
    if args.record:
        from pathlib import Path

        from misgen_lib.runner.records import write_record
        note = "; ".join(f"{r['measure']}: x{r['speed-up']:.2f}" for r in rows)
        path = write_record(Path(__file__).parent / "runs", {
            "date": date.today().isoformat(), "revision": revision,
            "command": " ".join(["python benchmarks/bench_compiled.py", *(a for a in sys.argv[1:] if a != "--record")]),
            "cpu": host["model"], "bf16_units": host["bf16_units"], "note": f"eager against compiled, one thread: {note}",
            "results": {r["measure"]: {k: round(v, 4) for k, v in r.items() if k != "measure"} for r in rows}})
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
