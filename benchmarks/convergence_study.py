"""What the chapters measure against the training budget (issue 20, item 4): for each number of
training steps, the suite's pairs are trained (or loaded from the cache) at every seed, and the
table gives per pair what the book reports: TV beside its null, plausible seeds, and the probe
kernel of the declared depth rule (correlation and share / ceiling, each beside its ceiling),
with the C1 and C2 counts. A budget is cheap enough when its numbers stay within the seed-to-seed
spread of the book's budget (the spread is in the table: the lowest and highest seed's TV).

    python benchmarks/convergence_study.py --tasks cone --models diffusion-unet,diffusion-mlp \\
        --steps 400,800,1500 --json convergence.json

Uses the default cache (``$MISGEN_CACHE_DIR``), so the book's own budget is a cache hit after a
default build. Every row names the host's CPU.
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import pandas as pd

import misgen_lib as mg
from misgen_lib.studies import anatomy, kernel_study


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def at_budget(steps: int, tasks: str, models: str, n_curve: int, n_predict: int, n_boot: int) -> list[dict]:
    """The table's rows for one training budget."""
    cfg = mg.studies.suite_config("synthetic", "default", tasks=tasks, models=models, train_steps=steps)
    start = time.perf_counter()
    suite = mg.studies.run_suite(cfg)
    trained = time.perf_counter() - start
    curves = anatomy.depth_curves(suite, n_predict=n_curve, n_boot=n_boot)
    probes = kernel_study.probe_study(suite, n_predict=n_predict, n_boot=n_boot,
                                      depths={(c.task, c.model): c.chosen for c in curves})
    c1, c2 = mg.studies.claim_c1(suite), mg.studies.claim_c2(probes, "probe")
    rows = []
    for r in probes:
        tv = [e.drift.tv for e in r.entries]
        items = c1.items[(c1.items.task == r.task.name) & (c1.items.model == r.model)]
        v = r.validation
        rows.append({"cpu": cpu_name(), "steps": steps, "task": r.task.name, "model": r.model, "seeds": len(tv),
                     "TV median": float(np.median(tv)), "TV lowest seed": min(tv), "TV highest seed": max(tv),
                     "TV null 95%": float(np.median([e.drift.null_q95("tv") for e in r.entries])),
                     "plausible seeds": int(items["plausible"].sum()), "depth": r.depths[0].depth,
                     "correlation": v.correlation, "corr ceiling": v.ceiling.correlation,
                     "share / ceiling": v.share_normalised, "C1": f"{c1.passed}/{c1.total}",
                     "C2": f"{c2.passed}/{c2.total}", "suite seconds": round(trained, 1)})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="cone", help="comma-separated synthetic tasks")
    parser.add_argument("--models", default="diffusion-unet,diffusion-mlp", help="comma-separated model classes")
    parser.add_argument("--steps", default="400,800,1500", help="comma-separated training budgets")
    parser.add_argument("--n-curve", type=int, default=1000, help="clean trajectories per seed and depth (curves)")
    parser.add_argument("--n-predict", type=int, default=5000, help="clean trajectories per seed (probe kernel)")
    parser.add_argument("--n-boot", type=int, default=100, help="bootstrap draws of the validations")
    parser.add_argument("--json", help="write the table here as JSON")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    rows = [row for s in steps for row in at_budget(s, args.tasks, args.models, args.n_curve, args.n_predict, args.n_boot)]
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.float_format", "{:.3f}".format):
        print(table.drop(columns="cpu").to_string(index=False))
    print(f"host: {cpu_name()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
