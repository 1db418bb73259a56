"""Vectorised multi-seed training (``models.vectorised``) against the same seeds trained one
after another (``models.training.train``), in one run, one torch thread.

    python benchmarks/bench_vectorised_seeds.py [--steps 300] [--seeds 3] [--task sine] [--repeats 3]

For each vectorised class, the book's default model config (``SuiteConfig`` defaults: width,
batch size; ``n_train`` trajectories of ``--task``) with ``--steps`` training steps (the book's
per-class step factors scale both paths alike, so they are left out). The two paths alternate
``--repeats`` times, so that load on a shared machine hits both; the fastest time of each is
compared. Prints the seconds per training step of both, the speed-up (the issue's target: >= 2
for the small classes) and the largest weight difference between the two results.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from misgen_lib import priors, tasks
from misgen_lib.models import Normaliser, get_class
from misgen_lib.models.training import train
from misgen_lib.studies import SuiteConfig
from misgen_lib.models.vectorised import VECTORISED_CLASSES, train_seeds


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def compare(name: str, x: np.ndarray, seeds: list[int], steps: int, repeats: int) -> dict:
    mc, cfg = get_class(name), SuiteConfig(models=name).model_config(name, "sine").replace(train_steps=steps)
    sequential, vectorised = [], []
    for _ in range(repeats):
        t, nets = timed(lambda: [train(mc, cfg, x, None, s, progress=False)[0] for s in seeds])
        sequential.append(t)
        t, (vnets, _) = timed(lambda: train_seeds(mc, cfg, [x] * len(seeds), None, seeds, progress=False))
        vectorised.append(t)
    diff = max((a - b).abs().max().item() for n, v in zip(nets, vnets)
               for a, b in zip(n.state_dict().values(), v.state_dict().values()))
    return {"sequential": min(sequential), "vectorised": min(vectorised), "diff": diff}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300, help="training steps per model")
    ap.add_argument("--seeds", type=int, default=3, help="seeds trained (K)")
    ap.add_argument("--task", default="sine", help="task whose curated data the models train on")
    ap.add_argument("--repeats", type=int, default=3, help="alternations of the two paths")
    ap.add_argument("--models", default=",".join(VECTORISED_CLASSES), help="classes to time")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    task = tasks.get(args.task)
    data = task.curate(SuiteConfig().n_train, prior=priors.Uniform(*task.q_range), seed=0)
    x = Normaliser.fit(data.x, None).encode_x(data.x)
    seeds = list(range(args.seeds))
    print(f"{args.seeds} seeds, {args.steps} steps, {len(data)} x {data.x.shape[1:]} trajectories of "
          f"{args.task}, 1 thread, best of {args.repeats} alternations")
    for name in args.models.split(","):
        r = compare(name, x, seeds, args.steps, args.repeats)
        per_step = 1e3 / args.steps
        print(f"{name:>14}: per step of all seeds, sequential {r['sequential'] * per_step:5.1f} ms, vectorised "
              f"{r['vectorised'] * per_step:5.1f} ms; speed-up {r['sequential'] / r['vectorised']:.2f}x; "
              f"max |weight difference| {r['diff']:.1e}")

if __name__ == "__main__":
    main()
