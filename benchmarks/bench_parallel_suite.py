"""The suite's training and sampling in parallel worker processes against one worker, in one run.

    python benchmarks/bench_parallel_suite.py [--steps 300] [--workers 2] [--models diffusion-unet]

Trains the same small suite (sine and cone, by default diffusion-mlp and transformer) twice, each time into
an empty temporary cache: once with ``workers=1`` (in this process) and once with ``--workers``
processes (default: one per free core). Prints both wall times, their ratio (the speed-up; the issue's
target is >= 1.8 on 2 cores) and checks that the two runs gave bit-identical samples. Run it on an
otherwise idle machine: other load on the cores moves the ratio.
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from misgen_lib.cache import ArtifactStore
from misgen_lib.jobs import cores
from misgen_lib.studies import SuiteConfig, run_suite


def timed(cfg: SuiteConfig):
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        result = run_suite(cfg, store=ArtifactStore(root), progress=False)
        return time.perf_counter() - start, result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300, help="training steps per model")
    ap.add_argument("--workers", type=int, default=0, help="parallel workers (0: one per free core)")
    ap.add_argument("--models", default="diffusion-mlp,transformer", help="comma-separated model classes")
    args = ap.parse_args(argv)
    base = dict(tasks="sine,cone", models=args.models, n_train=500, n_samples=500,
                train_steps=args.steps, n_null=20)
    t1, one = timed(SuiteConfig(**base, workers=1))
    tn, many = timed(SuiteConfig(**base, workers=args.workers))
    same = all(np.array_equal(a.samples, b.samples) for a, b in zip(one, many))
    print(f"{len(one)} models, {args.steps} steps each, {cores()} cores")
    print(f"one worker: {t1:.1f} s; {args.workers or cores()} workers: {tn:.1f} s; speed-up {t1 / tn:.2f}x; "
          f"samples identical: {same}")


if __name__ == "__main__":
    main()
