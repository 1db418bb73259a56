"""One pool of training workers for every notebook of a build (``misgen build --parallel N``).

Notebooks that do not depend on each other run side by side (``build.run_notebooks``); their
units of work (``misgen_lib.jobs``: a model to train, a kernel to probe) all go to one Dask
``LocalCluster`` of one single-threaded worker process per core, which the build starts and
names to every notebook's kernel through ``$MISGEN_SCHEDULER``. So no core idles while any
chapter still has work queued (a chapter's analysis, its longest model, the chapters' ends),
and the cores are never oversubscribed: the pool's cores are recorded in the library's core
ledger (``jobs.occupying``) for work started outside the build. A scheduler given by the user
(``--scheduler``) is used as it is. Every unit seeds itself, so the results are those of a
sequential build, bit for bit (``tests/test_book_dask.py``).
"""
from __future__ import annotations

import os
from contextlib import contextmanager

from ..jobs import cores, occupying
from ..vocabulary import SCHEDULER_ENV


#: Dask's environment for its worker processes, set before they start
SPAWN_ENVIRON = "distributed.nanny.pre-spawn-environ"

#: Dask's statistical profiler in each worker, off: every 10 ms it takes the frames of the
#: running task (``sys._current_frames``) and holds them while it walks the stack. A frame held
#: past its return keeps its locals alive, and torch's compiler restores grad mode through such a
#: local (``torch.autograd.grad_mode._enter_inference_mode``'s guard, released by reference
#: count): held, its restore comes late, on the profiler's thread, and a compilation under
#: ``no_grad`` stops on "Global grad_mode state changed while dynamo tracing"
#: (``benchmarks/dask_profiler_and_compile.py`` shows both).
WORKER_PROFILER = "distributed.worker.profile.enabled"


def untrimmed(environ: dict) -> dict:
    """Dask's worker environment without ``MALLOC_TRIM_THRESHOLD_``: Dask sets it to 64 KiB so
    that workers hand freed memory back to the system, which makes glibc map and unmap every
    large tensor of a training step anew (measured here: a U-Net step took 1.8x as long, with 8x
    the system time; the first default build on the pool ran at half the local pool's speed)."""
    return {k: v for k, v in environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}


@contextmanager
def shared_pool(echo=print):
    """A Dask ``LocalCluster`` (one worker process per core, one thread each) named in
    ``$MISGEN_SCHEDULER`` for the block; nothing when a scheduler is already named."""
    if os.environ.get(SCHEDULER_ENV):
        yield os.environ[SCHEDULER_ENV]
        return
    try:
        import dask
        from dask.distributed import LocalCluster
    except ImportError as err:
        raise RuntimeError("misgen build --parallel needs dask.distributed for its shared pool of "
                           "workers; install the book extra: pip install -e '.[book]'") from err
    n = cores()
    with dask.config.set({SPAWN_ENVIRON: untrimmed(dask.config.get(SPAWN_ENVIRON, {})),
                          WORKER_PROFILER: False}), \
            LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            occupying(n):
        echo(f"one pool of {n} workers for every notebook: {cluster.scheduler_address}")
        os.environ[SCHEDULER_ENV] = cluster.scheduler_address
        try:
            yield cluster.scheduler_address
        finally:
            os.environ.pop(SCHEDULER_ENV, None)
