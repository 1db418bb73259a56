"""The ``ci`` book built in parallel on one shared Dask pool is the local ``ci`` book (``conftest.ci_book``).

In a file of its own so that ``make test`` (pytest-xdist, ``--dist loadfile``: one file per
process at a time) builds it in one process while another builds the local book; it asks for
``ci_book`` only after its own build.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import OFFLINE, REPO, copy_book_layout
from misgen_lib.vocabulary import SCHEDULER_ENV
from misgen_lib.cache import MANIFEST
from misgen_lib.runner import Project, build
from test_book import displayed_pngs


def artifact_digests(cache: Path, keys=None) -> dict[str, dict[str, str]]:
    """``kind/key`` -> file -> sha256 of every entry in an artifact cache (or of those of
    ``keys`` that it holds), except the model's ``state.json`` (its ``meta`` holds the
    wall-clock training time)."""
    manifests = cache.glob(f"*/*/{MANIFEST}") if keys is None else (cache / k / MANIFEST for k in keys)
    return {m.parent.relative_to(cache).as_posix(): {
                name: meta["sha256"] for name, meta in json.loads(m.read_text())["files"].items()
                if name != "state.json"}
            for m in manifests if m.exists()}


def figure_pixels(ipynb: Path) -> list[str]:
    """sha256 of the decoded pixels of each PNG a notebook displays (its metadata, which names
    the git revision of the run, aside)."""
    from PIL import Image
    return [hashlib.sha256(np.asarray(Image.open(io.BytesIO(png))).tobytes()).hexdigest()
            for png in displayed_pngs(ipynb)]


def claim_outcomes(project: Project) -> dict:
    return {p.relative_to(project.executed_dir).as_posix(): {k: v for k, v in json.loads(p.read_text()).items()
                                                           if k in ("outcome", "passed", "total", "items")}
            for p in sorted((project.executed_dir / "claims").rglob("*.json"))}


@pytest.mark.book
def test_a_parallel_build_on_one_shared_dask_pool_builds_the_same_book(request, tmp_path, monkeypatch):
    """``misgen build --parallel 3`` (as ``make book`` runs it): independent chapters side by
    side, their work on the one Dask ``LocalCluster`` the build starts (a worker per core,
    nothing shared with the workers but the scheduler, a cache of the build's own), against the
    sequential local build of ``ci_book``: every artifact the parallel build made is in the local
    build's cache with the same bytes, and every chapter shows the same figures and claim
    verdicts. (The tables beside them are computed from the same artifacts by the same notebook
    code; chapter 04's also hold wall-clock seconds, so they are not compared as text.)"""
    pytest.importorskip("dask.distributed")
    project = Project(copy_book_layout(tmp_path / "repo", REPO / "notebooks"))
    cache = tmp_path / "cache"
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    monkeypatch.setenv("MISGEN_CACHE_DIR", str(cache))
    monkeypatch.setenv("PYTHONPATH", str(OFFLINE), prepend=os.pathsep)
    lines = []
    manifest = build(project, profile="ci", render=False, echo=lines.append, parallel=3)
    assert any(line.startswith("one pool of") for line in lines), lines
    monkeypatch.undo()   # this run's cache and no scheduler again
    assert all(m["status"] == "ok" for m in manifest.values())
    # the local book only now: under xdist another process builds it meanwhile
    local, local_cache = request.getfixturevalue("ci_book")[0], Path(os.environ["MISGEN_CACHE_DIR"])
    made = artifact_digests(cache)   # (the local cache may be written by other tests meanwhile)
    assert made and artifact_digests(local_cache, made) == made
    for stem in sorted(manifest):
        assert figure_pixels(project.executed(stem)) == figure_pixels(local.executed(stem)), stem
    assert claim_outcomes(project) == claim_outcomes(local)
