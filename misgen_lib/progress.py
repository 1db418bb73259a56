"""Progress bars for anything long, shown where a reader wants them.

``bar(...)`` is a ``tqdm`` bar. ``progress=True`` shows it where the code runs (a terminal, or a
notebook's output); ``progress=None`` (the default of the studies) shows it only when the book
runner asks for live progress (``MISGEN_LIVE_PROGRESS=1``, set by ``misgen build`` / ``misgen
run`` when their terminal is interactive): the bar then goes to the notebook kernel's own stderr,
which is the runner's terminal, so a reader sees which model is training and what remains while
the rendered book stays free of progress noise.
"""
from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm

LIVE_ENV = "MISGEN_LIVE_PROGRESS"


def live() -> bool:
    return os.environ.get(LIVE_ENV) == "1"


def bar(iterable=None, total: int | None = None, desc: str = "", progress: bool | None = None):
    """A tqdm bar over ``iterable`` (or of ``total`` steps); see the module doc for ``progress``."""
    if progress is None:
        progress = live()
    if live():
        from tqdm import tqdm as plain   # a text bar on the terminal, never a notebook widget
        return plain(iterable, total=total, desc=desc, disable=not progress, file=sys.__stderr__,
                     dynamic_ncols=True, mininterval=1.0)
    return tqdm(iterable, total=total, desc=desc, disable=not progress)
