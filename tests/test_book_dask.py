"""The ``ci`` book's first chapters built as ``make book`` builds them, on one shared Dask pool
(``conftest.dask_book``).

In a file of its own, second in collection order, so that ``make test`` (pytest-xdist,
``--dist loadfile``: one file per process at a time) builds it in one process while the other
builds the local book (``test_book.py``, which then compares the two books). This process goes
on with the unit tests meanwhile instead of waiting for the local book.
"""
from __future__ import annotations

import pytest

from conftest import DASK_CHAPTERS


@pytest.mark.book
def test_a_parallel_build_runs_every_chapter_on_one_shared_dask_pool(dask_book):
    assert any(line.startswith("one pool of") for line in dask_book["lines"]), dask_book["lines"]
    assert sorted(stem[:2] for stem in dask_book["manifest"]) == sorted(DASK_CHAPTERS)
    assert all(m["status"] == "ok" for m in dask_book["manifest"].values())
