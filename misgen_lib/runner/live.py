"""Live progress of a running notebook on the runner's terminal: the library's progress bars
write to a file named by ``MISGEN_PROGRESS_FILE`` (``misgen_lib.progress``); while the notebook
runs, ``echo_progress`` copies what is appended to it onto this process's stderr."""
from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def echo_progress(path: Path, interval: float = 1.0):
    """Create ``path`` empty and echo its growth to stderr until the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    stop = threading.Event()

    def follow():
        with open(path, "r", errors="replace") as f:
            while True:
                chunk = f.read()
                if chunk:
                    sys.stderr.write(chunk)
                    sys.stderr.flush()
                if stop.wait(interval):
                    sys.stderr.write(f.read())
                    return

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        sys.stderr.write("\n")
        path.unlink(missing_ok=True)
