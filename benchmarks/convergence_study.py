"""What the chapters measure against the model's cost (issue 20, item 4): for each value of one
suite setting (``--vary FIELD=V1,V2,...``: the training budget ``train_steps``, the ``width``,
the ``batch_size``, the numeric ``precision`` of every model, fp32 or bf16, the U-Net's
``activation``, mish or silu), the suite's pairs are trained (or loaded from the cache) at every seed, and
the table gives per pair what the book reports: TV beside its null, plausible seeds, and the
probe kernel of the declared depth rule (correlation and share / ceiling, each beside its
ceiling, with their bootstrap half-widths), with the C1 and C2 counts. A setting is cheap enough
when it keeps the numbers of the first value given (the book's) on every pair, by the rule the
sampler study declared (``keeps``: TV median within the first value's lowest and
highest seed, every seed plausible, correlation and share / ceiling moved by less than their
half-widths); the table's ``keeps`` column applies it.

    python benchmarks/convergence_study.py --tasks cone --models diffusion-unet,diffusion-mlp \\
        --vary train_steps=400,800,1500 --json convergence.json
    python benchmarks/convergence_study.py --vary width=32,64
    python benchmarks/convergence_study.py --models diffusion-unet --vary precision=fp32,bf16
    python benchmarks/convergence_study.py --models diffusion-unet --vary activation=mish,silu

Uses the default cache (``$MISGEN_CACHE_DIR``), so the book's own budget is a cache hit after a
default build. Every row names the host's CPU.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

import misgen_lib as mg
from misgen_lib.studies import anatomy, kernel_study


#: settings of each model's config rather than of the suite, with their valid values
MODEL_FIELDS = {"precision": mg.models.VALID_PRECISIONS, "activation": tuple(mg.models.unet.ACTIVATIONS)}


def cpu_name() -> str:
    return mg.provenance.cpu()["model"]


def agreement(v) -> dict:
    """The kernel's correlation and share / ceiling of validation ``v``, each with its bootstrap
    interval's half-width (the share's scaled by the ceiling as the share is), and the ceiling."""
    return {"correlation": v.correlation, "corr CI half": (v.correlation_ci[1] - v.correlation_ci[0]) / 2,
            "corr ceiling": v.ceiling.correlation, "share / ceiling": v.share_normalised,
            "share CI half": (v.share_explained_ci[1] - v.share_explained_ci[0]) / 2 / max(v.ceiling.share, 1e-12)}


def keeps(row: dict, book_row: dict, seeds: int) -> bool:
    """The rule the sampler study declared (its module docstring): ``row``'s setting keeps
    ``book_row``'s numbers when its TV median lies within the book's lowest and highest seed, all
    ``seeds`` are plausible, and its correlation and share / ceiling move by less than the book's
    half-widths."""
    return bool(book_row["TV lowest seed"] <= row["TV median"] <= book_row["TV highest seed"]
                and row["plausible seeds"] == seeds
                and abs(row["correlation"] - book_row["correlation"]) < book_row["corr CI half"]
                and abs(row["share / ceiling"] - book_row["share / ceiling"]) < book_row["share CI half"])


def report(rows: list[dict], json_path: str | None):
    """Print the table of ``rows`` (one dict per row, each naming the CPU) and the host; write
    the rows as JSON to ``json_path`` when given."""
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.float_format", "{:.3f}".format):
        print(pd.DataFrame(rows).drop(columns="cpu").to_string(index=False))
    print(f"host: {cpu_name()}")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(rows, f, indent=1)


def at_setting(field: str, value, tasks: str, models: str, n_curve: int, n_predict: int,
               n_boot: int) -> list[dict]:
    """The table's rows for one value of one suite setting (``precision``, ``activation``: of every
    model's config)."""
    setting = ({"overrides": {m: {field: value} for m in models.split(",")}} if field in MODEL_FIELDS
               else {field: value})
    cfg = mg.studies.suite_config("synthetic", "default", tasks=tasks, models=models, **setting)
    start = time.perf_counter()
    suite = mg.studies.run_suite(cfg)
    trained = time.perf_counter() - start
    curves = anatomy.depth_curves(suite, n_predict=n_curve, n_boot=n_boot)
    probes = kernel_study.probe_study(suite, n_predict=n_predict, n_boot=n_boot,
                                      depths={(c.task, c.model): c.chosen for c in curves})
    c1, c2 = mg.studies.claim_c1(suite), mg.studies.claim_c2(probes)
    rows = []
    for r in probes:
        tv = [e.drift.tv for e in r.entries]
        v = r.validation
        rows.append({"cpu": cpu_name(), field: value, "task": r.task.name, "model": r.model, "seeds": len(tv),
                     "TV median": float(np.median(tv)), "TV lowest seed": min(tv), "TV highest seed": max(tv),
                     "TV null 95%": float(np.median([e.drift.null_q95("tv") for e in r.entries])),
                     "plausible seeds": sum(mg.studies.claims.plausible([e]) for e in r.entries), "depth": r.depths[0].depth,
                     **agreement(v), "C1": f"{c1.passed}/{c1.total}",
                     "C2": f"{c2.passed}/{c2.total}", "suite seconds": round(trained, 1)})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="cone", help="comma-separated synthetic tasks")
    parser.add_argument("--models", default="diffusion-unet,diffusion-mlp", help="comma-separated model classes")
    parser.add_argument("--vary", default="train_steps=400,800,1500",
                        help="one suite setting and its comma-separated values (FIELD=V1,V2,...)")
    parser.add_argument("--n-curve", type=int, default=1000, help="clean trajectories per seed and depth (curves)")
    parser.add_argument("--n-predict", type=int, default=5000, help="clean trajectories per seed (probe kernel)")
    parser.add_argument("--n-boot", type=int, default=100, help="bootstrap draws of the validations")
    parser.add_argument("--json", help="write the table here as JSON")
    args = parser.parse_args()
    field, _, values = args.vary.partition("=")
    fields = ("train_steps", "width", "batch_size", "n_train", *MODEL_FIELDS)
    if field not in fields:
        parser.error(f"--vary {args.vary!r}: the field must be one of {', '.join(fields)}")
    values = values.split(",")
    if field in MODEL_FIELDS:
        if not set(values) <= set(MODEL_FIELDS[field]):
            parser.error(f"--vary {args.vary!r}: {field} values are {MODEL_FIELDS[field]}")
    else:
        try:
            values = [int(v) for v in values]
        except ValueError:
            parser.error(f"--vary {args.vary!r}: the values must be comma-separated integers")
    rows = [row for v in values for row in at_setting(field, v, args.tasks, args.models, args.n_curve, args.n_predict,
                                                     args.n_boot)]
    first = {(r["task"], r["model"]): r for r in rows if r[field] == values[0]}
    for row in rows:
        row["keeps"] = keeps(row, first[row["task"], row["model"]], row["seeds"])
    report(rows, args.json)


if __name__ == "__main__":
    main()
