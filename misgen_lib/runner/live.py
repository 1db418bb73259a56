"""Live progress of a running notebook on the runner's terminal: the library's progress bars
write to a file named by ``MISGEN_PROGRESS_FILE`` (``misgen_lib.progress``); while the notebook
runs, ``echo_progress`` copies what is appended to it onto this process's stderr. Where stderr
is not a terminal (a log file, CI), it writes instead, once a minute, the bars' newest state as
one line naming the notebook, so that a long chapter does not leave the log silent."""
from __future__ import annotations

import re
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

#: seconds between two lines of progress in a log
LOG_INTERVAL_S = 60.0


def newest_state(chunk: str) -> str:
    """The last non-blank state the bars wrote into ``chunk`` (tqdm redraws a bar after ``\\r``)."""
    return next((part.strip() for part in reversed(re.split(r"[\r\n]", chunk)) if part.strip()), "")


@contextmanager
def echo_progress(path: Path, interval: float | None = None, lines: bool | None = None):
    """Create ``path`` empty and echo its growth to stderr until the block ends: as written
    (``lines`` False; every ``interval`` s, default 1) or as a line ``<notebook>: <newest state>``
    when the state changed (``lines`` True; default interval ``LOG_INTERVAL_S``). ``lines``
    defaults to whether stderr is not a terminal."""
    lines = not sys.stderr.isatty() if lines is None else lines
    interval = interval or (LOG_INTERVAL_S if lines else 1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    stop = threading.Event()

    def write(chunk: str, last: str) -> str:
        """Echo ``chunk``; returns the newest state shown (``lines``)."""
        if not lines:
            sys.stderr.write(chunk)
        elif (state := newest_state(chunk)) and state != last:
            sys.stderr.write(f"  {path.stem}: {state}\n")
            last = state
        sys.stderr.flush()
        return last

    def follow():
        last = ""
        with open(path, "r", errors="replace") as f:
            while True:
                last = write(f.read(), last)
                if stop.wait(interval):
                    write(f.read(), last)
                    return

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        if not lines:
            sys.stderr.write("\n")
        path.unlink(missing_ok=True)
