"""Shared test set-up.

* ``MISGEN_CACHE_DIR`` points to a fresh temporary folder for the whole run unless it is
  already set (``.ci/run`` sets it), so tests never read or write a developer's cache. The
  pytest-xdist workers (``make test`` runs ``-n``) inherit it from the process that starts them,
  so they share it.
* ``fixture_project``: a throw-away copy of the book layout (``_config.yml``, ``book/`` sources)
  with the small fixture notebooks of ``tests/fixtures/notebooks`` as its chapters.
* ``ci_book``: the real chapters built once per run at the ``ci`` profile in a throw-away
  copy of the repository's book (``(project, manifest)``), shared by ``test_book.py`` and
  ``test_browser.py``: under pytest-xdist the first worker that needs it builds it under a file
  lock and the others read its record.
* Each test process records in the library's core ledger (``jobs.occupying``) that it keeps one
  core busy, as a build's pool does: under ``make test`` (a test process per core) a test's
  ``workers=0`` then finds no free core and works in its own process, instead of starting a pool
  whose workers would import torch only to take turns with the other test process. Tests of the
  pools themselves ask for ``workers=2``.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURE_NOTEBOOKS = Path(__file__).resolve().parent / "fixtures" / "notebooks"
#: on ``PYTHONPATH``, its ``sitecustomize`` refuses every connection beyond this machine
OFFLINE = Path(__file__).resolve().parent / "offline"
BOOK_SOURCES = ("_toc.yml", "intro.md", "reproduce.md", "extending.md")

if not os.environ.get("MISGEN_CACHE_DIR"):
    os.environ["MISGEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="misgen-test-cache-")


def copy_book_layout(dest: Path, notebooks: Path) -> Path:
    """``dest`` with the repository's book configuration and sources and ``notebooks``."""
    (dest / "book").mkdir(parents=True)
    shutil.copy(REPO / "_config.yml", dest / "_config.yml")
    for name in BOOK_SOURCES:
        shutil.copy(REPO / "book" / name, dest / "book" / name)
    shutil.copytree(notebooks, dest / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return dest


def build_quietly(project, **kw):
    """``build`` without rendering; returns the manifest and the lines it printed."""
    from misgen_lib.runner import build
    lines = []
    manifest = build(project, render=False, echo=lines.append, **kw)
    return manifest, lines


def executed_stems(lines):
    """The notebooks a build's printed lines say it executed, in order."""
    return [line.split()[1] for line in lines if line.startswith("> ")]


@pytest.fixture(scope="session", autouse=True)
def one_core_per_test_process():
    from misgen_lib.jobs import occupying
    with occupying(1):
        yield


@pytest.fixture
def fixture_project(tmp_path):
    from misgen_lib.runner import Project
    return Project(copy_book_layout(tmp_path / "project", FIXTURE_NOTEBOOKS))


@pytest.fixture(scope="session")
def ci_book(tmp_path_factory):
    """The real chapters built at the ci profile with no network: the kernels and jupyter-book
    start with ``tests/offline`` on ``PYTHONPATH``, whose ``sitecustomize`` refuses every
    connection and lookup beyond this machine (loopback, which the kernels use, stays up).

    Built once per run. The build and its record (``ci_book.json``: the project's folder and the
    manifest, or the error) live in the run's temporary folder, which the xdist workers share;
    a worker that finds the record reads it instead of building again, and a failed build is
    reported by every worker that needs it instead of being retried."""
    from misgen_lib.runner import Project, build
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    record = root / "ci_book.json"
    with open(root / "ci_book.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # released when the file closes
        if not record.exists():
            repo = copy_book_layout(root / "ci_book" / "repo", REPO / "notebooks")
            try:
                with pytest.MonkeyPatch.context() as mp:
                    mp.setenv("PYTHONPATH", str(OFFLINE), prepend=os.pathsep)
                    manifest = build(Project(repo), profile="ci")
            except BaseException as e:
                record.write_text(json.dumps({"error": f"{type(e).__name__}: {e}"}))
                raise
            record.write_text(json.dumps({"repo": str(repo), "manifest": manifest}))
    built = json.loads(record.read_text())
    if "error" in built:
        pytest.fail(f"the ci book failed to build (in another worker): {built['error']}")
    return Project(Path(built["repo"])), built["manifest"]


@pytest.fixture
def vae_loss_nan_at_step_2(monkeypatch):
    """The VAE's training loss becomes NaN at its third evaluation (step 2)."""
    import misgen_lib as mg
    mc = mg.models.get_class("vae")
    original, calls = mc.loss, []

    def nan_at_step_2(net, x, q, cfg, gen):
        calls.append(1)
        loss = original(net, x, q, cfg, gen)
        return loss * float("nan") if len(calls) == 3 else loss
    monkeypatch.setattr(mc, "loss", nan_at_step_2)
