"""Independent units of work (train a model, draw its samples) run in parallel worker processes.

``run(fn, items, workers)`` calls ``fn(item)`` for every item, in ``workers`` processes
(``0``: one per CPU core), and returns the results in the order of ``items``. Workers are
started with ``spawn`` (a forked PyTorch process can deadlock in OpenMP) and run with one torch
thread each unless the item says otherwise, so a parallel run gives the same numbers, bit for
bit, as a sequential one (each unit seeds itself; nothing is shared but the artifact cache,
whose writes are atomic). ``workers=1`` runs in this process, with no pool.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable, Sequence

from tqdm.auto import tqdm

from .checks import check_positive_int


def cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def worker_count(workers: int, n_items: int) -> int:
    """``workers`` (``0``: one per core), never more than there are items."""
    workers = check_positive_int("workers", workers, minimum=0)
    return max(1, min(workers or cores(), n_items))


def run(fn: Callable, items: Sequence, workers: int = 0, desc: str = "jobs", progress: bool = True) -> list:
    """``[fn(item) for item in items]``, computed in parallel processes (see the module doc).
    ``fn`` must be a module-level function and ``items`` picklable."""
    items = list(items)
    if not items:
        return []
    n = worker_count(workers, len(items))
    bar = tqdm(total=len(items), desc=desc, disable=not progress)
    results: list = [None] * len(items)
    try:
        if n == 1:
            for i, item in enumerate(items):
                results[i] = fn(item)
                bar.update()
            return results
        with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
            try:
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    bar.update()
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)   # do not start what is left
                raise
        return results
    finally:
        bar.close()
