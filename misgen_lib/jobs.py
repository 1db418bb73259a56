"""Independent units of work (train a model, draw its samples) run in parallel.

``run(fn, items, workers)`` calls ``fn(item)`` for every item and returns the results in the
order of ``items``, on one of two executors:

* **local processes** (default): ``workers`` processes (``0``: one per free core, below), started with
  ``spawn`` (a forked PyTorch process can deadlock in OpenMP); ``workers=1`` runs in this
  process, with no pool;
* **a Dask cluster**, when a scheduler address is given (``scheduler=`` or the environment
  variable ``MISGEN_SCHEDULER``, which ``misgen build --scheduler tcp://host:8786`` sets): the
  items go to the cluster's workers (which need ``misgen`` installed, nothing else) and the
  results come back to this process. Needs the ``dask`` extra (``pip install -e .[dask]``).

Each unit seeds itself and returns its results (nothing is shared between workers), so a
parallel run gives the same numbers, bit for bit, as a sequential one. A local worker exits within
a second when the process that started it dies (killed build, stopped kernel): no orphaned
worker keeps training.

Cores in use: while a local pool runs, the process that started it records how many cores its
workers occupy in a ledger shared by this user's processes on the machine (``occupying``: one
small file per claim in ``<tmp>/misgen-cores-<uid>/``, ignored once its process is gone).
``free_cores()`` is what the ledger leaves of this machine's cores, so that work started
elsewhere (a user's ``models.fit`` beside a running book build) sizes its torch threads to the
cores left, never oversubscribing them (two OpenMP threads on a core that a worker holds stall
a training step many times over), and ``workers=0`` starts a worker per free core only: none,
work in this process, when one core is left (a pool's workers beside a build's would only take
turns on the same cores, each after importing torch anew).
"""
from __future__ import annotations

import multiprocessing
import os
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Sequence

from .checks import check_positive_int
from .progress import bar as progress_bar
from .vocabulary import SCHEDULER_ENV


def cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def ledger_dir() -> Path:
    """The folder of the core ledger (``occupying``) of this user on this machine."""
    return Path(tempfile.gettempdir()) / f"misgen-cores-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def occupying(n: int):
    """Record in the core ledger that this process keeps ``n`` cores busy until the block ends."""
    folder = ledger_dir()
    folder.mkdir(parents=True, exist_ok=True)
    claim = folder / f"{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}"
    claim.write_text(str(int(n)))
    try:
        yield
    finally:
        claim.unlink(missing_ok=True)


def busy_cores() -> int:
    """Cores claimed in the ledger by live processes other than this one; the claims of
    processes that have died are removed."""
    total = 0
    for claim in ledger_dir().glob("*-*-*") if ledger_dir().is_dir() else ():
        try:
            pid, n = int(claim.name.split("-")[0]), int(claim.read_text() or 0)
        except (ValueError, OSError):
            continue
        if not _alive(pid):
            claim.unlink(missing_ok=True)
        elif pid != os.getpid():
            total += n
    return total


def free_cores() -> int:
    """This machine's cores less those that library work elsewhere keeps busy (at least 1)."""
    return max(1, cores() - busy_cores())


def worker_count(workers: int, n_items: int) -> int:
    """``workers`` (``0``: one per free core, ``free_cores``), never more than there are items."""
    workers = check_positive_int("workers", workers, minimum=0)
    return max(1, min(workers or free_cores(), n_items))


def run(fn: Callable, items: Sequence, workers: int = 0, desc: str = "jobs", progress: bool | None = None,
        scheduler: str | None = None, on_result: Callable | None = None) -> list:
    """``[fn(item) for item in items]``, computed in parallel (see the module doc). ``fn`` must be
    a module-level function and ``items`` picklable. ``on_result(result)`` is called in this
    process as each result arrives (e.g. to store it at once, so an interrupted run keeps what
    finished)."""
    items = list(items)
    if not items:
        return []
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
    if scheduler:
        return _run_dask(fn, items, scheduler, desc, progress, on_result)
    n = worker_count(workers, len(items))
    bar = progress_bar(total=len(items), desc=desc, progress=progress)
    results: list = [None] * len(items)
    try:
        if n == 1:
            for i, item in enumerate(items):
                results[i] = _arrived(fn(item), on_result)
                bar.update()
            return results
        with occupying(n), ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"),
                                               initializer=_exit_with_parent, initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
            try:
                for future in as_completed(futures):
                    results[futures[future]] = _arrived(future.result(), on_result)
                    bar.update()
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)   # do not start what is left
                raise
        return results
    finally:
        bar.close()


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: a watcher thread ends this worker once ``parent`` is gone (a pool's
    workers would otherwise wait on its queue for ever, which they hold open themselves)."""
    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def _arrived(result, on_result):
    if on_result is not None:
        on_result(result)
    return result


def _run_dask(fn: Callable, items: list, scheduler: str, desc: str, progress: bool, on_result) -> list:
    try:
        from dask.distributed import Client, as_completed as completed
    except ImportError as err:
        raise RuntimeError(f"a Dask scheduler was given ({scheduler!r}) but dask.distributed is not "
                           f"installed; install the extra: pip install -e '.[dask]'") from err
    results: list = [None] * len(items)
    with Client(scheduler) as client, progress_bar(total=len(items), desc=f"{desc} (dask)", progress=progress) as bar:
        futures = {client.submit(fn, item, pure=False): i for i, item in enumerate(items)}
        for future in completed(futures):
            results[futures[future]] = _arrived(future.result(), on_result)
            bar.update()
    return results
