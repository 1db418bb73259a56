"""Shared test set-up.

* ``MISGEN_CACHE_DIR`` points to a fresh temporary folder for the whole run unless it is
  already set (``.ci/run`` sets it), so tests never read or write a developer's cache. The
  pytest-xdist workers (``make test`` runs ``-n``) inherit it from the process that starts them,
  so they share it.
* ``fixture_project``: a throw-away copy of the book layout (``_config.yml``, ``book/`` sources)
  with the small fixture notebooks of ``tests/fixtures/notebooks`` as its chapters.
* ``ci_book``: the real chapters built once per run at the ``ci`` profile in a throw-away
  copy of the repository's book (``(project, manifest)``), shared by ``test_book.py`` and
  ``test_browser.py``; ``dask_book``: its first chapters built on a Dask pool, as ``make book``
  builds them. Under pytest-xdist the first worker that needs one builds it under a file lock
  and the others read its record (``built_once``); collection puts ``test_book.py`` and
  ``test_book_dask.py`` first, so the two books build side by side.
* ``book``: a rendered book and the chapters it executed, ``(project, stems)``: the ``ci`` book,
  and, when ``$MISGEN_READER_BOOK`` names a checkout whose book is already built (``.ci/run``
  builds chapters of the default profile there after ``make test``), that book too, test id
  ``[reader]``: the checks of a rendered book (its HTML, claims, ``misgen verify``, Chromium) run
  on both (``pytest -m book -k reader`` on the reader's alone).
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

from misgen_lib.vocabulary import READER_BOOK_ENV

REPO = Path(__file__).resolve().parents[1]
FIXTURE_NOTEBOOKS = Path(__file__).resolve().parent / "fixtures" / "notebooks"
#: on ``PYTHONPATH``, its ``sitecustomize`` refuses every connection beyond this machine
OFFLINE = Path(__file__).resolve().parent / "offline"
BOOK_SOURCES = ("_toc.yml", "intro.md", "reproduce.md", "extending.md")

if not os.environ.get("MISGEN_CACHE_DIR"):
    os.environ["MISGEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="misgen-test-cache-")


def copy_book_layout(dest: Path, notebooks: Path, chapters: tuple[str, ...] | None = None) -> Path:
    """``dest`` with the repository's book configuration and sources and ``notebooks`` (those
    whose number is in ``chapters`` and their profiles, when given)."""
    (dest / "book").mkdir(parents=True)
    shutil.copy(REPO / "_config.yml", dest / "_config.yml")
    for name in BOOK_SOURCES:
        shutil.copy(REPO / "book" / name, dest / "book" / name)

    def ignore(folder, names):
        left_out = set(shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")(folder, names))
        if chapters is not None:
            left_out |= {n for n in names if n[:2].isdigit() and n[:2] not in chapters}
        return left_out
    shutil.copytree(notebooks, dest / "notebooks", ignore=ignore)
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


def built_once(tmp_path_factory, name: str, make) -> dict:
    """``make(folder)``'s record (a JSON-able dict), made once per run: the first test process
    that asks makes it under a file lock, in the run's temporary folder, which the pytest-xdist
    workers share, and records it (``<name>.json``); the others wait for the lock and read the
    record. A failure is recorded too and reported by every test that needs it, not retried."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    record = root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # released when the file closes
        if not record.exists():
            try:
                made = make(root / name)
            except BaseException as e:
                record.write_text(json.dumps({"error": f"{type(e).__name__}: {e}"}))
                raise
            record.write_text(json.dumps(made))
    built = json.loads(record.read_text())
    if "error" in built:
        pytest.fail(f"{name} failed to build (in another worker): {built['error']}")
    return built


@pytest.fixture(scope="session")
def ci_book(tmp_path_factory):
    """The real chapters built at the ci profile with no network, once per run (``built_once``),
    as ``(project, manifest)``: the kernels and jupyter-book start with ``tests/offline`` on
    ``PYTHONPATH``, whose ``sitecustomize`` refuses every connection and lookup beyond this
    machine (loopback, which the kernels use, stays up)."""
    from misgen_lib.runner import Project, build

    def make(folder):
        repo = copy_book_layout(folder / "repo", REPO / "notebooks")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PYTHONPATH", str(OFFLINE), prepend=os.pathsep)
            return {"repo": str(repo), "manifest": build(Project(repo), profile="ci")}
    built = built_once(tmp_path_factory, "ci_book", make)
    return Project(Path(built["repo"])), built["manifest"]


@pytest.fixture(scope="session", params=["ci", "reader"] if os.environ.get(READER_BOOK_ENV) else ["ci"])
def book(request):
    """``(project, stems)``: a rendered book and the chapters it executed, sorted: the ``ci``
    book (``ci_book``), and with ``$MISGEN_READER_BOOK`` set, the book already built in that
    checkout (every chapter its manifest records as ``ok``)."""
    from misgen_lib.runner import Project
    from misgen_lib.runner.manifest import load_manifest
    if request.param == "ci":
        project, manifest = request.getfixturevalue("ci_book")
        return project, sorted(manifest)
    project = Project(Path(os.environ[READER_BOOK_ENV]).resolve())
    manifest = load_manifest(project.manifest_path)
    stems = sorted(stem for stem, entry in manifest.items() if entry.get("status") == "ok")
    if not stems or not (project.html_dir / "index.html").exists():
        pytest.fail(f"${READER_BOOK_ENV}={os.environ[READER_BOOK_ENV]}: no rendered book with an executed "
                    f"chapter there ({project.manifest_path}); build it first, e.g. misgen run 02")
    return project, stems


#: the chapters the Dask book builds: the suite's training (02) and two chapters side by side on
#: its models (03, 04) exercise every way a build uses the shared pool; the later chapters would
#: repeat the local book's work, not test the pool further
DASK_CHAPTERS = ("01", "02", "03", "04")


@pytest.fixture(scope="session")
def dask_book(tmp_path_factory):
    """The first chapters (``DASK_CHAPTERS``) built as ``make book`` builds them (``misgen build
    --parallel 3``: independent chapters side by side, their work on the one Dask
    ``LocalCluster`` the build starts), with no network and an artifact cache of their own, not
    rendered; once per run (``built_once``): ``{"repo", "cache", "manifest", "lines"}`` (the
    lines the build printed)."""
    from misgen_lib.runner import Project, build
    from misgen_lib.vocabulary import SCHEDULER_ENV

    def make(folder):
        repo, cache, lines = copy_book_layout(folder / "repo", REPO / "notebooks", DASK_CHAPTERS), folder / "cache", []
        with pytest.MonkeyPatch.context() as mp:
            mp.delenv(SCHEDULER_ENV, raising=False)
            mp.setenv("MISGEN_CACHE_DIR", str(cache))
            mp.setenv("PYTHONPATH", str(OFFLINE), prepend=os.pathsep)
            manifest = build(Project(repo), profile="ci", render=False, echo=lines.append, parallel=3)
        return {"repo": str(repo), "cache": str(cache), "manifest": manifest, "lines": lines}
    return built_once(tmp_path_factory, "dask_book", make)


def pytest_collection_modifyitems(config, items):
    """The two book builds first (``make test`` runs each file in one process, in this order:
    the local ``ci`` book and the Dask one build side by side), the browser tests, which read
    the built book, last."""
    first = {"test_book.py": 0, "test_book_dask.py": 1, "test_browser.py": 3}
    items.sort(key=lambda item: first.get(item.path.name, 2))


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
