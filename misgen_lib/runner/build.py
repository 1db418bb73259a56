"""Build the book: execute every notebook whose key changed, then render with Jupyter Book 1.

Layout (all under the repository root)::

    notebooks/NN_name.md              chapter sources (jupytext MyST)
    notebooks/profiles/NN_name.yaml   their profiles
    book/_toc.yml, book/*.md          narrative pages; chapters enter the toc by a glob
    book/executed/NN_name.ipynb       executed chapters (gitignored), what the book renders
    book/executed/figures/NN_name/    PNGs saved by ``misgen_lib.figures.show``
    book/executed/failed/NN_name.ipynb partial output of a failed notebook
    book/executed/manifest.json       the run manifest
    book/_build/html/                 the rendered book

A notebook's key is the sha256 of its source, its profile name and merged parameters, the
``misgen_lib`` source hash and the keys of its upstream notebooks (``depends:``). A notebook
whose key equals the manifest's and whose executed output exists is not executed again.

The book never shows a stale result as current: before a notebook runs, its executed output and
figures are removed; when it fails, its page is replaced by a notice pointing to the partial
output, as is every later page that is not current, and the book is re-rendered before the
build exits non-zero.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import nbformat

from ..cache import key_of
from ..provenance import git_revision, library_hash
from .execute import NotebookFailed, execute_notebook
from .manifest import load_manifest, save_manifest, write_reproduce_tables
from .pages import claims_environment, write_generated_pages
from .profiles import NOTEBOOK_NAME, NotebookSpec, discover, find

Echo = Callable[[str], None]


class BookRenderFailed(RuntimeError):
    """``jupyter-book build`` exited non-zero (warnings are errors)."""


@dataclass
class Project:
    """Paths of a misgen book checkout (the repository root by default)."""
    root: Path = field(default_factory=lambda: Path(__file__).resolve().parents[2])

    def __post_init__(self):
        self.root = Path(self.root).resolve()

    notebooks_dir = property(lambda self: self.root / "notebooks")
    book_dir = property(lambda self: self.root / "book")
    config = property(lambda self: self.root / "_config.yml")
    toc = property(lambda self: self.book_dir / "_toc.yml")
    executed_dir = property(lambda self: self.book_dir / "executed")
    partial_dir = property(lambda self: self.executed_dir / "partial")
    failed_dir = property(lambda self: self.executed_dir / "failed")
    figures_dir = property(lambda self: self.executed_dir / "figures")
    manifest_path = property(lambda self: self.executed_dir / "manifest.json")
    reproduce_tables = property(lambda self: self.executed_dir / "run_manifest.md")
    html_dir = property(lambda self: self.book_dir / "_build" / "html")

    def executed(self, stem: str) -> Path:
        return self.executed_dir / f"{stem}.ipynb"


@dataclass
class Plan:
    """What a build would run: each notebook with its merged parameters and key."""
    spec: NotebookSpec
    parameters: dict[str, Any]
    key: str


def plan(specs: list[NotebookSpec], profile: str,
         overrides: dict[str, dict[str, Any]] | None = None) -> list[Plan]:
    """Merged parameters and keys for every notebook, upstream first. Validates everything
    (profiles and overrides) before anything runs."""
    library = library_hash()
    keys: dict[str, str] = {}
    plans = []
    for spec in specs:
        params = spec.merged_parameters(profile, (overrides or {}).get(spec.stem))
        key = key_of({"source": spec.source, "profile": profile, "parameters": params,
                      "library": library, "upstream": {d: keys[d] for d in spec.depends}})
        keys[spec.stem] = key
        plans.append(Plan(spec, params, key))
    return plans


def is_current(project: Project, manifest: dict, p: Plan) -> bool:
    entry = manifest.get(p.spec.stem, {})
    return entry.get("status") == "ok" and entry.get("key") == p.key and project.executed(p.spec.stem).exists()


def _notice_notebook(spec: NotebookSpec, message: str) -> nbformat.NotebookNode:
    """A page standing in for a chapter whose current output does not exist."""
    nb = nbformat.v4.new_notebook(metadata=dict(spec.notebook.metadata))
    nb.cells.append(nbformat.v4.new_markdown_cell(
        f"# {spec.title}\n\n```{{warning}}\n{message}\n```\n"))
    return nb


def _write_notice(project: Project, spec: NotebookSpec, message: str) -> None:
    project.executed_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(_notice_notebook(spec, message), project.executed(spec.stem))


def remove_orphans(project: Project, specs: list[NotebookSpec], manifest: dict) -> None:
    """Executed notebooks, figures and manifest entries of notebooks that no longer exist."""
    stems = {s.stem for s in specs}
    for path in project.executed_dir.glob("*.ipynb"):
        if NOTEBOOK_NAME.match(path.stem + ".md") and path.stem not in stems:
            path.unlink()
            shutil.rmtree(project.figures_dir / path.stem, ignore_errors=True)
    for stem in set(manifest) - stems:
        del manifest[stem]


def execute_one(project: Project, p: Plan, profile_label: str, manifest: dict,
                overrides: dict[str, Any] | None, echo: Echo, progress: bool) -> None:
    """Execute one notebook into ``book/executed``, recording it in ``manifest``; on failure
    keep the partial output in ``book/executed/failed`` and raise :class:`NotebookFailed`."""
    stem = p.spec.stem
    final, partial = project.executed(stem), project.partial_dir / f"{stem}.ipynb"
    figures = project.figures_dir / stem
    for stale in (final, partial, project.failed_dir / f"{stem}.ipynb"):
        stale.unlink(missing_ok=True)
    shutil.rmtree(figures, ignore_errors=True)
    figures.mkdir(parents=True)
    entry = {"key": p.key, "profile": profile_label, "revision": git_revision(),
             "parameters": p.parameters, "overrides": overrides or {}, "reused": False}
    echo(f"> {stem}  running (profile {profile_label}) ...")
    env = {"MISGEN_NOTEBOOK": stem, "MISGEN_PROFILE": profile_label, "MISGEN_FIGURE_DIR": str(figures)}
    env.update(claims_environment(project.executed_dir, stem))  # issue 13: where verdicts are recorded
    start = time.perf_counter()
    try:
        execute_notebook(stem, p.spec.notebook, p.parameters, partial, cwd=project.notebooks_dir,
                         env=env, progress=progress, injected_label=(
                             f"Parameters of this run (profile {profile_label}), set by the runner "
                             "over the defaults above"))
    except NotebookFailed as err:
        project.failed_dir.mkdir(parents=True, exist_ok=True)
        kept = project.failed_dir / f"{stem}.ipynb"
        if partial.exists():
            partial.replace(kept)
        err.partial_output = kept
        entry.update(status="failed", duration_s=time.perf_counter() - start, finished=_now())
        manifest[stem] = entry
        _write_notice(project, p.spec, f"This chapter failed to execute at {entry['finished']} "
                      f"(profile `{profile_label}`, revision `{entry['revision']}`), in cell "
                      f"{err.cell_index}. Its results are not shown. The partial output is kept in "
                      f"`book/executed/failed/{stem}.ipynb`.")
        echo(f"x {stem}  FAILED after {entry['duration_s']:.1f} s")
        raise NotebookFailed(stem, err.cell_index, err.exec_count, err.cell_source,
                             err.traceback, kept) from None
    partial.replace(final)
    entry.update(status="ok", duration_s=time.perf_counter() - start, finished=_now())
    manifest[stem] = entry
    echo(f"+ {stem}  done in {entry['duration_s']:.1f} s")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _mark_not_current(project: Project, plans: list[Plan], manifest: dict, failed: str) -> None:
    """After a failure: every later notebook whose output is not current gets a notice page."""
    for p in plans:
        if not is_current(project, manifest, p) and manifest.get(p.spec.stem, {}).get("status") != "failed":
            manifest[p.spec.stem] = {"status": "not run", "key": p.key}
            _write_notice(project, p.spec, f"This chapter was not executed because {failed} failed "
                          "earlier in the build; no current results exist for it.")


def run_notebooks(project: Project, plans: list[Plan], profile: str, force: bool = False,
                  overrides: dict[str, dict[str, Any]] | None = None, only: set[str] | None = None,
                  echo: Echo = print, progress: bool = False) -> dict:
    """Execute the planned notebooks in order (skipping current ones unless ``force``); returns
    the manifest. ``only`` restricts execution to those stems (``misgen run``)."""
    specs = [p.spec for p in plans]
    manifest = load_manifest(project.manifest_path)
    remove_orphans(project, specs, manifest)
    try:
        for i, p in enumerate(plans):
            stem = p.spec.stem
            if only is not None and stem not in only:
                continue
            if not force and is_current(project, manifest, p):
                manifest[stem]["reused"] = True
                echo(f"= {stem}  unchanged, not executed (key {p.key[:12]})")
                continue
            own = (overrides or {}).get(stem)
            label = profile + ("+overrides" if own else "")
            try:
                execute_one(project, p, label, manifest, own, echo, progress)
            except NotebookFailed:
                if only is None:
                    _mark_not_current(project, plans[i + 1:], manifest, stem)
                raise
    finally:
        save_manifest(project.manifest_path, manifest)
        write_reproduce_tables(project.reproduce_tables, manifest, specs)
    return manifest


def render_book(project: Project, echo: Echo = print) -> Path:
    """``jupyter-book build`` strict (``-W -n``), with the root ``_config.yml``; returns the
    path of the rendered ``index.html``."""
    if not project.reproduce_tables.exists():
        write_reproduce_tables(project.reproduce_tables, load_manifest(project.manifest_path),
                               discover(project.notebooks_dir))
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build",
           str(project.book_dir), "--config", str(project.config), "--toc", str(project.toc),
           "--path-output", str(project.book_dir), "-W", "-n", "--keep-going"]
    write_generated_pages(project)  # issue 13: re-run boxes, figure index, claims page (pages.py)
    echo("> rendering the book (jupyter-book, strict) ...")
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=project.root, capture_output=True, text=True)
    if done.returncode != 0:
        raise BookRenderFailed("jupyter-book build failed (warnings are errors):\n"
                               + "\n".join((done.stdout + done.stderr).splitlines()[-60:]))
    index = project.html_dir / "index.html"
    echo(f"+ book rendered in {time.perf_counter() - start:.1f} s: {index}")
    return index


def _execute_and_render(project: Project, plans: list[Plan], profile: str, render: bool,
                        echo: Echo, **run_options) -> dict:
    """``run_notebooks`` then ``render_book``; after a failure the book is re-rendered (with
    the notice pages) or, if that fails too, removed, so no stale page is shown."""
    try:
        manifest = run_notebooks(project, plans, profile, echo=echo, **run_options)
    except NotebookFailed:
        if render:
            try:
                render_book(project, echo)
            except BookRenderFailed as err:
                shutil.rmtree(project.html_dir, ignore_errors=True)
                echo(f"the book could not be re-rendered ({err}); removed {project.html_dir} so "
                     "that no stale page is shown")
        raise
    if render:
        render_book(project, echo)
    return manifest


def build(project: Project | None = None, profile: str = "default", force: bool = False,
          render: bool = True, echo: Echo = print, progress: bool = False) -> dict:
    """Execute every notebook in order at ``profile``, then render the book. Returns the
    manifest. Raises ``NotebookSpecError``/``ParameterError`` before running anything when a
    notebook or profile is malformed, :class:`NotebookFailed` when a notebook fails (after
    re-rendering the book with notices), :class:`BookRenderFailed` when rendering fails."""
    project = project or Project()
    plans = plan(discover(project.notebooks_dir), profile)
    echo(f"misgen build: {len(plans)} notebooks, profile {profile}")
    start = time.perf_counter()
    manifest = _execute_and_render(project, plans, profile, render, echo, force=force,
                                   progress=progress)
    echo(f"misgen build finished in {time.perf_counter() - start:.1f} s")
    return manifest


def run_one(name: str, overrides: dict[str, Any] | None = None, project: Project | None = None,
            profile: str = "default", force: bool = False, render: bool = True, echo: Echo = print,
            progress: bool = False) -> dict:
    """Re-execute one notebook (by stem, number or path) with parameter overrides, then
    re-render the book. Overrides are validated before anything runs."""
    project = project or Project()
    specs = discover(project.notebooks_dir)
    stem = find(specs, name).stem
    own = {stem: overrides or {}}
    plans = plan(specs, profile, own)
    return _execute_and_render(project, plans, profile, render, echo, force=force, overrides=own,
                               only={stem}, progress=progress)
