"""The book's cost model (issue 20, item 1): what one training step and one sample cost per model
class on this host, what would make them cheaper, and where the default book's core-seconds go.

Measured in one run, one torch thread (as the book's workers train), so that the variants compare
side by side on the same host (machines here are noisy: read ratios, not absolute rates):

* training steps/s per model class and task shape at the book's base configuration
  (``SuiteConfig`` defaults: width 32, batch 64), in fp32 and under bfloat16 autocast;
* the U-Net with SiLU in place of Mish in its blocks (``activation``), and at training batch 64 / 128 / 192;
* sampling throughput (trajectories/s) per class at sampling batch 128 / 256 / 1000;
* ``--compile``: ``torch.compile`` of the U-Net, cold (a fresh inductor cache directory) and warm
  (a second process on the same persistent cache directory), compile seconds and steps/s;
* the default book's **predicted core-seconds** per chapter, split into training and sampling:
  every model the chapters train (their named suite configurations at the ``default`` profile,
  ``misgen_lib.studies.config``) times the measured fp32 rates; beside it, when a manifest of a
  default build is at hand (``book/executed/manifest.json``), each chapter's measured wall time
  times the cores (what is left over is probes, analysis and idle cores).

Every number names the CPU it was measured on (``lscpu`` model name and whether the host has
AVX-512 bf16 / AMX units: bfloat16 pays only where it has them).

    python benchmarks/bench_cost_model.py [--steps 20] [--compile] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

import misgen_lib as mg
from misgen_lib.models import get_class, make_config
from misgen_lib.studies import suite_config

REPO = Path(__file__).resolve().parents[1]
SHAPES = {name: (mg.tasks.get(name).horizon, mg.tasks.get(name).dim) for name in mg.tasks.available()}


def host() -> dict:
    """The CPU this run measured (model name, cores, bf16 / AMX units) and the load beside it."""
    cpu = mg.provenance.cpu()
    return {"cpu": cpu["model"], "cores": mg.jobs.cores(), "avx512_bf16": "avx512_bf16" in cpu["bf16_units"],
            "amx_bf16": "amx_bf16" in cpu["bf16_units"], "load_1min": round(os.getloadavg()[0], 2),
            "torch": torch.__version__}


def network(model: str, shape, batch: int = 64, width: int = 32, **config):
    """The class, its base config (the book's sizes, with ``config``'s fields) and a freshly
    built network."""
    mc = get_class(model)
    cfg = make_config(model, {"width": width, "batch_size": batch, **config})
    torch.manual_seed(0)
    net = mc.build(cfg, *shape, False)
    return mc, cfg, net


def steps_per_second(mc, cfg, net, shape, steps: int, bf16: bool = False, warmup: int = 3) -> float:
    """Training steps/s of ``net`` under the class's own loss (AdamW, one step per batch)."""
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(cfg.batch_size, *shape, generator=gen)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    net.train()
    for i in range(warmup + steps):
        if i == warmup:
            start = time.perf_counter()
        with autocast:
            loss = mc.loss(net, x, None, cfg, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - start)


def samples_per_second(mc, cfg, net, shape, batch: int, bf16: bool = False) -> float:
    """Trajectories/s of the class's sampler (all ``K`` reverse steps for diffusion, a rollout of
    the horizon for the transformer, one decode for the VAE), one batch after a warm-up batch."""
    gen = torch.Generator().manual_seed(0)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    net.eval()
    with torch.no_grad(), autocast:
        mc.sample(net, min(batch, 16), None, cfg, *shape, gen)
        start = time.perf_counter()
        mc.sample(net, batch, None, cfg, *shape, gen)
    return batch / (time.perf_counter() - start)


def training_rates(steps: int) -> list[dict]:
    rows = []
    for model in mg.models.available():
        for task, shape in SHAPES.items():
            row = {"model": model, "task": task}
            for bf16 in (False, True):
                mc, cfg, net = network(model, shape)
                row["bf16" if bf16 else "fp32"] = steps_per_second(mc, cfg, net, shape, steps, bf16)
            row["bf16 / fp32"] = row["bf16"] / row["fp32"]
            rows.append(row)
            print(f"  train {model:15s} {task:9s} fp32 {row['fp32']:7.1f}/s  bf16 {row['bf16']:7.1f}/s "
                  f"({row['bf16 / fp32']:.2f}x)", flush=True)
    return rows


def unet_variants(steps: int) -> list[dict]:
    """The U-Net on the cone's shape: Mish against SiLU, and the training batch."""
    shape, rows = SHAPES["cone"], []
    for label, kw in (("Mish, batch 64", {}), ("SiLU, batch 64", {"activation": "silu"}),
                      ("Mish, batch 128", {"batch": 128}), ("Mish, batch 192", {"batch": 192})):
        mc, cfg, net = network("diffusion-unet", shape, **kw)
        rate = steps_per_second(mc, cfg, net, shape, steps)
        rows.append({"variant": label, "steps/s": rate, "trajectories/s": rate * cfg.batch_size})
        print(f"  unet {label:16s} {rate:7.1f} steps/s  {rate * cfg.batch_size:8.0f} trajectories/s", flush=True)
    return rows


def sampling_rates() -> list[dict]:
    rows = []
    for model in mg.models.available():
        for batch in (128, 256, 1000):
            mc, cfg, net = network(model, SHAPES["cone"])
            rate = samples_per_second(mc, cfg, net, SHAPES["cone"], batch)
            rows.append({"model": model, "batch": batch, "samples/s": rate})
            print(f"  sample {model:15s} batch {batch:5d} {rate:9.0f}/s", flush=True)
    return rows


COMPILE_CHILD = """
import json, sys, time, torch
sys.path.insert(0, {bench!r})
from bench_cost_model import network, steps_per_second, SHAPES
torch.set_num_threads(1)
mc, cfg, net = network("diffusion-unet", SHAPES["cone"])
start = time.perf_counter()
net = torch.compile(net)
steps_per_second(mc, cfg, net, SHAPES["cone"], 1, warmup=1)   # compiles forward and backward
compiled = time.perf_counter() - start
print(json.dumps({{"compile seconds": compiled, "steps/s": steps_per_second(mc, cfg, net, SHAPES["cone"], {steps})}}))
"""


def compile_costs(steps: int) -> list[dict]:
    """``torch.compile`` of the U-Net in two fresh processes sharing one inductor cache directory:
    the first compiles cold, the second finds its kernels in the persistent cache."""
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache, "TORCHINDUCTOR_FX_GRAPH_CACHE": "1"}
        for label in ("cold cache", "warm cache"):
            code = COMPILE_CHILD.format(bench=str(Path(__file__).parent), steps=steps)
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
            if out.returncode:
                rows.append({"variant": label, "error": out.stderr.strip().splitlines()[-1:]})
            else:
                rows.append({"variant": label, **json.loads(out.stdout.strip().splitlines()[-1])})
            print(f"  compile {label}: {rows[-1]}", flush=True)
    return rows


def book_models() -> list[dict]:
    """Every model the default book trains, by chapter: (chapter, task, class, steps, samples)."""
    rows = []
    def add(chapter, cfg, copies=1, trained=True):
        for task in cfg.tasks:
            for model in cfg.models:
                steps = cfg.model_config(model, task).train_steps if trained else 0
                rows.append({"chapter": chapter, "task": task, "model": model, "steps": steps,
                             "samples": cfg.n_samples, "count": len(cfg.seeds) * copies})
    add("02", suite_config("synthetic", "default"))
    short = suite_config("synthetic", "default")
    for task in short.tasks:       # chapter 04: one 200-step calibration run per pair (first seed)
        rows += [{"chapter": "04", "task": task, "model": m, "steps": 200, "samples": 0, "count": 1}
                 for m in short.models]
    add("05", suite_config("applied", "default"))
    # chapter 06: its four default interventions (resample, condition, precompensate, transform)
    # trained; model A is a model of 02 or 05 (one budget per task x class), only sampled again
    # at the chapter's n_samples; and the origin fixes' conditional transformer and VAE
    mitigations = suite_config("mitigations", "default")
    add("06", mitigations, copies=4)
    add("06", mitigations, trained=False)
    add("06", suite_config("synthetic", "default", tasks="cone", models="transformer,vae"))
    return rows


def predicted_book(train: list[dict], sample: list[dict]) -> list[dict]:
    """Core-seconds per chapter predicted from the measured fp32 rates."""
    rate = {(r["model"], r["task"]): r["fp32"] for r in train}
    throughput = {r["model"]: r["samples/s"] for r in sample if r["batch"] == 1000}
    chapters: dict[str, dict] = {}
    for m in book_models():
        c = chapters.setdefault(m["chapter"], {"chapter": m["chapter"], "models": 0, "training core-s": 0.0,
                                               "sampling core-s": 0.0})
        c["models"] += m["count"]
        c["training core-s"] += m["count"] * m["steps"] / rate[m["model"], m["task"]]
        c["sampling core-s"] += m["count"] * m["samples"] / throughput[m["model"]]
    manifest = REPO / "book" / "executed" / "manifest.json"
    measured = json.loads(manifest.read_text()) if manifest.exists() else {}
    for c in chapters.values():
        entry = next((v for k, v in measured.items() if k.startswith(c["chapter"]) and v.get("profile") == "default"
                      and v.get("duration_s")), None)
        c["measured wall s"] = entry["duration_s"] if entry else None
        c["measured core-s"] = entry["duration_s"] * mg.jobs.cores() if entry else None
    return list(chapters.values())


def table(rows: list[dict]) -> str:
    import pandas as pd
    return pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=20, help="timed training steps per measurement")
    p.add_argument("--compile", action="store_true", help="also torch.compile the U-Net (minutes)")
    p.add_argument("--json", default=None, help="write every table as JSON here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    result = {"host": host()}
    print(f"host: {result['host']}", flush=True)
    result["training"] = training_rates(args.steps)
    result["unet variants"] = unet_variants(args.steps)
    result["sampling"] = sampling_rates()
    if args.compile:
        result["compile"] = compile_costs(args.steps)
    result["book"] = predicted_book(result["training"], result["sampling"])
    result["host"]["load_1min_after"] = round(os.getloadavg()[0], 2)
    for name in ("training", "unet variants", "sampling", *(("compile",) if args.compile else ()), "book"):
        print(f"\n## {name} ({result['host']['cpu']}, one torch thread)\n{table(result[name])}")
    total = sum(c["training core-s"] + c["sampling core-s"] for c in result["book"])
    print(f"\npredicted training + sampling of the default book: {total:.0f} core-s, "
          f"{total / mg.jobs.cores() / 60:.1f} min on {mg.jobs.cores()} cores if no core is ever idle")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
