"""The rendered book.

* On the fixture notebooks: the whole pipeline renders, and a failing notebook's page turns
  into a notice instead of showing its old figure.
* On the real chapters (marker ``book``): ``misgen build --profile ci`` with the network
  disabled, in a throw-away copy of the repository's book, then checks of the HTML (every toc
  page exists, every figure the notebooks produced is on its page, no error output or
  traceback, MathJax from local files, no remote scripts) and a no-change rebuild that executes
  nothing; and the same book built on a Dask pool (``test_book_dask.py``) is this book.

* ``misgen compare`` finds that book equal to, or within the tolerances of, the committed
  reference of the ci book (``book/reference-ci.json``).
* ``misgen verify`` (nbval) re-executes every chapter of that book and finds the same results
  in the cells tagged ``nbval-check-output`` and the same claim verdicts; on a fixture chapter
  (``test_runner_verify.py``) it finds a changed result. What it compares with is the book just
  built on this machine, to the last decimals, not a committed output: the chapters' numbers
  depend on the platform's floating point (torch training).
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
from fnmatch import fnmatch
from pathlib import Path

import nbformat
import numpy as np
import pytest
import yaml

from misgen_lib.cache import MANIFEST
from misgen_lib.runner import BookRenderFailed, NotebookFailed, Project, build
from misgen_lib.runner.compare import compare_build
from misgen_lib.runner.manifest import load_manifest
from misgen_lib.runner.pages import claims_dir, recorded_claims
from misgen_lib.runner.profiles import discover
from misgen_lib.runner.reference import reference_path
from misgen_lib.runner.verify import claim_outcomes, verify
from misgen_lib.vocabulary import CLAIM_IDS

SCRIPT_SRC = re.compile(r'<script[^>]*\ssrc="([^"]+)"')
IMG_SRC = re.compile(r'<img[^>]*\ssrc="([^"]+)"')
OUTCOMES = ("supports", "partly supports", "does not support", "not tested")
ERROR_MARKERS = ("Traceback (most recent call last)", 'class="output traceback',
                 'class="output stderr', "failed to execute", "was not executed")


def toc_docnames(project: Project) -> list[str]:
    """Documents of ``book/_toc.yml``, globs expanded against the executed notebooks."""
    toc = yaml.safe_load(project.toc.read_text())
    names = [toc["root"]]
    sources = sorted(p.relative_to(project.book_dir).with_suffix("").as_posix()
                     for p in project.book_dir.rglob("*") if p.suffix in (".md", ".ipynb")
                     and "_build" not in p.parts)
    for part in toc.get("parts", []):
        for entry in part["chapters"]:
            names += [entry["file"]] if "file" in entry else [
                s for s in sources if fnmatch(s, entry["glob"]) and "/" not in s[len("executed/"):]]
    return names


def displayed_pngs(ipynb: Path) -> list[bytes]:
    """Each PNG an executed notebook displays, in order."""
    nb = nbformat.read(ipynb, as_version=4)
    return [base64.b64decode(o["data"]["image/png"]) for c in nb.cells if c.cell_type == "code"
            for o in c.outputs if "image/png" in o.get("data", {})]


def png_outputs(ipynb: Path) -> list[str]:
    """sha256 of each PNG an executed notebook displays (myst-nb names images by it)."""
    return [hashlib.sha256(png).hexdigest() for png in displayed_pngs(ipynb)]


def check_html(project: Project, stems: list[str] | None = None) -> None:
    """The rendered book whose executed chapters are ``stems`` (default: every notebook)."""
    html = project.html_dir
    pages = toc_docnames(project)
    chapters = [d for d in pages if re.match(r"executed/\d\d_", d)]
    stems = stems or [p.stem for p in project.notebooks_dir.glob("[0-9][0-9]_*.md")]
    assert chapters == sorted(f"executed/{stem}" for stem in stems), "every executed chapter is in the toc"
    math_seen = False
    for doc in pages:
        page = html / f"{doc}.html"
        assert page.exists(), f"toc page {doc} was not rendered"
        text = page.read_text()
        for marker in ERROR_MARKERS:
            assert marker not in text, f"{page}: contains {marker!r}"
        for src in SCRIPT_SRC.findall(text):
            assert not re.match(r"(https?:)?//", src), f"{page}: remote script {src}"
            if "mathjax" in src:
                assert (page.parent / src.split("?")[0]).exists(), f"{page}: missing {src}"
                math_seen = True
        shown = {Path(src).stem for src in IMG_SRC.findall(text)}
        if doc in chapters:
            ipynb = project.book_dir / f"{doc}.ipynb"
            for digest in png_outputs(ipynb):
                assert digest in shown, f"{page}: figure {digest[:12]} of {ipynb.name} not shown"
                assert (html / "_images" / f"{digest}.png").exists()
            stem = Path(doc).name
            for saved in (project.figures_dir / stem).glob("*.png"):
                assert hashlib.sha256(saved.read_bytes()).hexdigest() in png_outputs(ipynb), \
                    f"saved figure {saved.name} is not the one displayed on {page}"
    assert math_seen, "no page loads MathJax (the introduction has math)"
    assert 'class="math' in (html / "intro.html").read_text()


def test_fixture_book_renders_and_a_failure_replaces_the_stale_page(fixture_project):
    build(fixture_project, profile="ci", echo=lambda line: None)
    check_html(fixture_project)
    page = fixture_project.html_dir / "executed" / "01_prior.html"
    assert "prior_histogram" in page.read_text() and "<table" in (
        fixture_project.html_dir / "reproduce.html").read_text()
    profile = fixture_project.notebooks_dir / "profiles" / "01_prior.yaml"
    profile.write_text(profile.read_text().replace("n_samples: 200", "n_samples: 200, fail: true"))
    with pytest.raises(NotebookFailed):
        build(fixture_project, profile="ci", echo=lambda line: None)
    text = page.read_text()
    assert "failed to execute" in text and not IMG_SRC.search(text.split('id="main-content"')[-1])
    assert "not executed because 01_prior failed" in (
        fixture_project.html_dir / "executed" / "02_downstream.html").read_text()


def test_rendering_is_all_or_nothing_and_deleted_chapters_leave_no_page(fixture_project):
    project, quiet = fixture_project, (lambda line: None)
    build(project, profile="ci", echo=quiet)
    assert (project.html_dir / "executed" / "02_downstream.html").exists()
    (project.notebooks_dir / "02_downstream.md").unlink()
    (project.notebooks_dir / "profiles" / "02_downstream.yaml").unlink()
    build(project, profile="ci", echo=quiet)
    assert (project.html_dir / "executed" / "01_prior.html").exists()
    assert not (project.html_dir / "executed" / "02_downstream.html").exists()
    assert "02_downstream" not in (project.html_dir / "index.html").read_text()
    intro = project.book_dir / "intro.md"
    intro.write_text(intro.read_text() + "\nA broken reference: {ref}`no-such-label`.\n")
    with pytest.raises(BookRenderFailed, match="no-such-label"):
        build(project, profile="ci", force=True, echo=quiet)
    assert not project.html_dir.exists()   # no half-updated book, no book of older results
    assert not [p.name for p in project.build_dir.iterdir() if p.name.startswith(".render")]


@pytest.mark.book
def test_ci_build_succeeds_for_every_notebook(ci_book):
    project, manifest = ci_book
    stems = sorted(p.stem for p in project.notebooks_dir.glob("[0-9][0-9]_*.md"))
    assert sorted(manifest) == stems
    assert all(manifest[s]["status"] == "ok" and manifest[s]["profile"] == "ci" for s in stems)


@pytest.mark.book
def test_book_html(book):
    check_html(*book)


@pytest.mark.book
def test_every_claim_of_the_book_has_a_verdict_on_the_claims_page(book):
    """Each claim a chapter records carries a verdict, shown on the claims page; a book of every
    chapter records every claim of the design."""
    project, stems = book
    specs = discover(project.notebooks_dir)
    found = recorded_claims(project.executed_dir, specs, load_manifest(project.manifest_path))
    page = (project.html_dir / "executed" / "claims.html").read_text()
    assert {r["notebook"] for r in found.values()} <= set(stems)
    for claim, r in found.items():
        assert r["outcome"] in OUTCOMES and 0 <= r["passed"] <= r["total"], (claim, r)
        assert f"{claim}: {r['outcome']}" in page, f"{claim}'s verdict is not on the claims page"
    if len(stems) == len(specs):
        assert sorted(found) == sorted(CLAIM_IDS)


@pytest.mark.book
def test_ci_book_rebuild_without_change_executes_nothing(ci_book):
    lines = []
    build(ci_book[0], profile="ci", render=False, echo=lines.append)
    assert not [line for line in lines if line.startswith("> ")], lines


@pytest.mark.book
def test_the_ci_book_reproduces_the_committed_ci_reference(ci_book):
    """``misgen compare``: the ci book built here against the repository's ``book/reference-ci.json``
    (written from a ci build by ``misgen reference --profile ci``; a change that moves the ci
    book's numbers rewrites it): every value equal to it or within its interval or tolerance
    (another CPU's rounding), every claim's verdict the same."""
    project, manifest = ci_book
    comparison = compare_build(project, "ci", path=reference_path(Project().book_dir, "ci"))
    assert comparison.compared == sorted(manifest) and not comparison.failed, comparison.report()


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


def chapter_claims(project: Project, stems) -> dict:
    return {stem: claim_outcomes(claims_dir(project.executed_dir, stem)) for stem in stems}


@pytest.mark.book
def test_reexecuting_every_chapter_states_the_same_results(book):
    """``misgen verify``: each chapter executed again from its stored output on the same cache
    (nbval) shows the same outputs in its checked cells and records the same claim verdicts."""
    project, stems = book
    verdicts = verify(project, echo=lambda line: None)
    assert [v.stem for v in verdicts] == stems
    for v in verdicts:
        assert v.checked_cells >= 1, f"{v.stem} tags no cell for comparison"
        assert v.same, v.report


@pytest.mark.book
def test_the_book_built_on_one_shared_dask_pool_is_the_local_book(ci_book, dask_book):
    """``misgen build --parallel 3`` (as ``make book`` runs it: independent chapters side by
    side, their work on the one Dask ``LocalCluster`` the build starts, a worker per core,
    nothing shared with the workers but the scheduler, a cache of the build's own) against the
    sequential local build: every artifact the parallel build made is in the local build's cache
    with the same bytes, and every chapter it built shows the same figures and claim verdicts. (The
    tables beside them are computed from the same artifacts by the same notebook code; chapter
    04's also hold wall-clock seconds, so they are not compared as text.) Last in this file, so
    that the Dask book, built meanwhile by the other test process, is ready."""
    local, parallel = ci_book[0], Project(Path(dask_book["repo"]))
    made = artifact_digests(Path(dask_book["cache"]))   # (the local cache may be written by other tests meanwhile)
    assert made and artifact_digests(Path(os.environ["MISGEN_CACHE_DIR"]), made) == made
    for stem in sorted(dask_book["manifest"]):
        assert figure_pixels(parallel.executed(stem)) == figure_pixels(local.executed(stem)), stem
    assert chapter_claims(parallel, dask_book["manifest"]) == chapter_claims(local, dask_book["manifest"])
