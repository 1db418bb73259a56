"""The Transformer's rollout (sampling, and its ``rollout`` probe) with cached keys and values
against recomputing the whole sequence at every step, in one run, one torch thread.

    python benchmarks/bench_transformer_rollout.py [--n 2000] [--repeats 3]

The book's default network (``SuiteConfig`` defaults: width, layers, heads; horizon 64, 2
channels), random weights; ``--n`` sequences sampled from scratch (as the suite samples) and
continued after a prefix of 8 steps (the probe's default depth). The two paths alternate
``--repeats`` times and the fastest time of each is compared. Prints the seconds, the speed-up
and the largest difference between the two results (rounding: the same draws, same seed).
"""
from __future__ import annotations

import argparse
import time

import torch

from misgen_lib.models import get_class
from misgen_lib.studies import SuiteConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = SuiteConfig(models="transformer").model_config("transformer", "sine")
    net = get_class("transformer").build(cfg, horizon=64, dim=2, conditional=False).eval()
    for prefix_len in (0, 8):
        prefix = torch.randn(args.n, prefix_len, 2)
        times, out = {True: [], False: []}, {}
        for _ in range(args.repeats):
            for cache in (False, True):
                start = time.perf_counter()
                out[cache] = net.rollout(prefix, 64, None, torch.Generator().manual_seed(1), cache=cache)
                times[cache].append(time.perf_counter() - start)
        full, cached = min(times[False]), min(times[True])
        print(f"prefix {prefix_len:2d}: whole sequence each step {full:.2f} s, cached keys/values {cached:.2f} s, "
              f"speed-up {full / cached:.1f}x, largest difference {(out[True] - out[False]).abs().max():.1e}")


if __name__ == "__main__":
    main()
