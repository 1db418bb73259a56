"""One build at a time per checkout: ``misgen build`` and ``misgen run`` hold an exclusive lock
(``fcntl.flock``) on ``book/executed/.lock`` while they execute and render. A second one is
refused with :class:`BuildLocked`, naming the holder (pid, command, start time), instead of
sharing ``book/executed`` with it. The operating system releases the lock when the holder exits,
however it exits (a killed build leaves no stale lock)."""
from __future__ import annotations

import fcntl
import os
import socket
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path


class BuildLocked(RuntimeError):
    """Another build holds the checkout's lock."""


@contextmanager
def build_lock(path: Path, command: str):
    """Hold the lock file ``path`` for the duration of the block, or raise :class:`BuildLocked`.
    ``command`` (e.g. ``misgen build --profile ci``) is written into the file for whoever is
    refused."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "a process that has not yet written its name"
            raise BuildLocked(f"another misgen build is running on this checkout: {holder} holds "
                              f"{path}; wait for it to finish (or stop it) and try again") from None
        f.seek(0)
        f.truncate()
        started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        f.write(f"pid {os.getpid()} on {socket.gethostname()} ({command}, started {started})\n")
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()   # the file stays: removing it would race with a process about to lock it
