"""Progress bars for anything long, shown where a reader wants them.

``bar(...)`` is a ``tqdm`` bar; the library makes every progress bar with it. ``progress=True`` shows it where the code runs (a terminal, or a
notebook's output); ``progress=None`` (the default of the studies) shows it only when the book
runner asks for live progress: ``misgen build`` / ``misgen run`` set ``MISGEN_PROGRESS_FILE``
for each notebook and echo that file while the notebook runs (``runner.live``: live on a
terminal, a line a minute in a log), so a reader sees which models are training, at what rate
and what remains, while the rendered book stays free of progress noise.
"""
from __future__ import annotations

import os

from tqdm import tqdm as text_bar
from tqdm.auto import tqdm

from .vocabulary import PROGRESS_FILE_ENV


def bar(iterable=None, total: int | None = None, desc: str = "", progress: bool | None = None,
        leave: bool = True):
    """A tqdm bar over ``iterable`` (or of ``total`` steps); see the module doc for ``progress``.
    ``leave=False`` clears the bar when it ends (an inner loop's)."""
    live = os.environ.get(PROGRESS_FILE_ENV)
    if live and progress is not False:
        stream = open(live, "a", buffering=1)   # closed with the process; the runner reads it
        return text_bar(iterable, total=total, desc=desc, file=stream, mininterval=1.0, ncols=100, leave=leave)
    return tqdm(iterable, total=total, desc=desc, disable=not progress, leave=leave)
