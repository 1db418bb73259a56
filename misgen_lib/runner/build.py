"""Build the book: execute every notebook that is not current, then render it (``render.py``).

A notebook's key is the sha256 of its source, its profile name and merged parameters, the hash
of the library code it runs (``notebook_code``: the import closure of the ``misgen_lib`` modules
its code imports, so an edit to the runner re-renders the book without re-executing it), the
versions of the packages that produce results (torch, numpy, scipy) and of matplotlib (which
draws the figures), the host's bfloat16 units (``provenance.cpu``: the U-Net's numerics depend
on them), the inference and training modes asked for (``$MISGEN_INFERENCE``,
``$MISGEN_TRAINING``: compiled sampling and training change rounding) and the
keys of its upstream notebooks (``depends:``). A notebook is *current*, and is not
executed again, when its manifest entry is ``ok`` with that key, its executed output exists and
every cache entry it read or wrote (the cache's access log, ``$MISGEN_CACHE_LOG``) is still in
the cache: clearing the cache re-runs the notebooks that made or used what was cleared.

The book never shows a stale or foreign result as current:

* one build at a time per checkout (``lock.py``); leftovers of killed builds are removed first;
* before a notebook runs, its executed output and figures are removed and its manifest entry is
  saved as ``running``; the manifest is saved after every notebook, so a killed build resumes
  with the first notebook it had not finished;
* a notebook that fails (a cell error, a cell past the cell timeout, a dead kernel, Ctrl-C) keeps
  its partial output in ``book/executed/failed/``, and its page, and every later page that is
  not current, is replaced by a notice; the book is then re-rendered (or removed if that fails);
* ``misgen run NN`` marks the chapters that depend on NN ``stale`` (a warning on their page;
  the next ``misgen build`` re-runs them) and says so;
* rendering is all or nothing (``render.py``).
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import nbformat

from ..cache import entry_exists, key_of, read_access_log
from ..provenance import PACKAGE_DIR, cpu, module_file, git_revision, host_description, kind_hash, package_versions
from ..vocabulary import (CACHE_LOG_ENV, CELL_TIMEOUT_ENV, FIGURE_DIR_ENV, INFERENCE_ENV, KERNEL_LOG_ENV, NOTEBOOK_ENV, PROFILE_ENV,
                          PROGRESS_FILE_ENV, TRAINING_ENV)
from .execute import NotebookFailed, execute_notebook, interrupt_running_kernels
from .live import echo_progress
from .lock import build_lock
from .manifest import FINISHED_FORMAT, load_manifest, save_manifest, write_reproduce_tables
from .pages import claims_environment
from .parameters import Choices, ParameterError
from .pool import shared_pool
from .profiles import NOTEBOOK_NAME, NotebookSpec, discover, find
from .project import Project
from .render import BookRenderFailed, remove_leftovers, render_book

Echo = Callable[[str], None]

#: seconds a cell may run at each profile, unless ``--cell-timeout`` or ``$MISGEN_CELL_TIMEOUT``
#: says otherwise (0: no limit). The limit stops a hung cell, not a slow one: the default book's
#: longest cell (chapter 06 trains 45 models) takes about 50 minutes on a 2-core CPU, hence 3 h
CELL_TIMEOUT_S = {"ci": 600, "default": 3 * 3600, "paper": 12 * 3600}
#: packages that change a chapter's output but no cached result, so only the notebook's key names
#: their versions (the results' packages, ``provenance.RESULT_PACKAGES``, are in every key)
FIGURE_PACKAGES = ("matplotlib",)


def cell_timeout(profile: str, seconds: float | str | None = None) -> float | None:
    """The per-cell time limit: ``seconds`` if given, else ``$MISGEN_CELL_TIMEOUT``, else the
    profile's :data:`CELL_TIMEOUT_S`; ``None`` (no limit) for 0."""
    source, value = ("--cell-timeout", seconds) if seconds is not None else (
        f"${CELL_TIMEOUT_ENV}", os.environ.get(CELL_TIMEOUT_ENV))
    if value is None or value == "":
        return CELL_TIMEOUT_S.get(profile)
    try:
        limit = float(value)
    except ValueError:
        limit = float("nan")
    if not limit >= 0:
        raise ParameterError(f"{source} must be a number of seconds >= 0 (0: no limit), got {value!r}")
    return limit or None


@dataclass
class Plan:
    """What a build would run: each notebook with its merged parameters and key."""
    spec: NotebookSpec
    parameters: dict[str, Any]
    key: str


def plan(specs: list[NotebookSpec], profile: str, overrides: dict[str, dict[str, Any]] | None = None,
         choices: dict[str, Choices] | None = None) -> list[Plan]:
    """Merged parameters and keys for every notebook, upstream first. Validates everything
    (profiles, and overrides against their types and ``choices``) before anything runs."""
    versions = {**package_versions(), **{name: metadata.version(name) for name in FIGURE_PACKAGES}}
    keys: dict[str, str] = {}
    plans = []
    for spec in specs:
        params = spec.merged_parameters(profile, (overrides or {}).get(spec.stem), choices)
        key = key_of({"source": spec.source, "profile": profile, "parameters": params,
                      "library": kind_hash("notebooks", *notebook_code(spec)), "versions": versions,
                      "numerics": {"bf16_units": cpu()["bf16_units"], "inference": os.environ.get(INFERENCE_ENV, "auto"),
                                   "training": os.environ.get(TRAINING_ENV, "auto")},
                      "upstream": {d: keys[d] for d in spec.depends}})
        keys[spec.stem] = key
        plans.append(Plan(spec, params, key))
    return plans


LIBRARY = PACKAGE_DIR.name


def notebook_code(spec: NotebookSpec) -> list[str]:
    """The library modules a notebook's code cells import: ``from misgen_lib.x import y``
    (``x.y`` when it is a module, else ``x``) and, for ``import misgen_lib as mg``, every
    ``mg.<module>`` it uses."""
    code = "\n".join(c.source for c in spec.notebook.cells if c.cell_type == "code")
    names = set()
    for package, imported in re.findall(rf"^\s*from {LIBRARY}((?:\.\w+)*) import \(?([\w ,]+)", code, re.M):
        base = package.lstrip(".")
        for name in (n.split(" as ")[0].strip() for n in imported.split(",")):
            full = f"{base}.{name}".lstrip(".")
            names.add(full if module_file(full) else base)
    for alias in re.findall(rf"^\s*import {LIBRARY} as (\w+)", code, re.M):
        names.update(n for n in re.findall(rf"\b{alias}\.(\w+)", code) if module_file(n))
    return sorted(n for n in names if n)


def why_not_current(project: Project, manifest: dict, p: Plan) -> str | None:
    """Why notebook ``p`` must run, or ``None`` when its recorded output is current."""
    entry = manifest.get(p.spec.stem)
    if not entry:
        return "never executed"
    if entry.get("status") != "ok":
        return f"last status {entry.get('status')!r}" + (
            f": {entry['stale_reason']}" if entry.get("stale_reason") else "")
    if entry.get("key") != p.key:
        return "key changed (source, parameters, library, package versions or upstream)"
    if not project.executed(p.spec.stem).exists():
        return "executed output missing"
    gone = [f"{r['kind']}/{r['key'][:12]}" for r in entry.get("artifacts", []) if not entry_exists(r)]
    if gone:
        return f"cache entries it made or used are gone: {', '.join(gone)}"
    return None


def is_current(project: Project, manifest: dict, p: Plan) -> bool:
    return why_not_current(project, manifest, p) is None


def _write_notice(project: Project, spec: NotebookSpec, message: str) -> None:
    """A page standing in for a chapter whose current output does not exist."""
    nb = nbformat.v4.new_notebook(metadata=dict(spec.notebook.metadata))
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {spec.title}\n\n```{{warning}}\n{message}\n```\n"))
    project.executed_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, project.executed(spec.stem))


def _add_stale_warning(project: Project, stem: str, message: str) -> None:
    """A warning under the title of an executed chapter whose results are out of date."""
    path = project.executed(stem)
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0] if nb.cells else None
    at = 1 if first is not None and first.cell_type == "markdown" and first.source.startswith("# ") else 0
    nb.cells.insert(at, nbformat.v4.new_markdown_cell(f"```{{warning}}\n{message}\n```\n"))
    nbformat.write(nb, path)


def remove_orphans(project: Project, specs: list[NotebookSpec], manifest: dict) -> None:
    """Executed notebooks, figures and manifest entries of notebooks that no longer exist."""
    stems = {s.stem for s in specs}
    for path in project.executed_dir.glob("*.ipynb"):
        if NOTEBOOK_NAME.match(path.stem + ".md") and path.stem not in stems:
            path.unlink()
            shutil.rmtree(project.figures_dir / path.stem, ignore_errors=True)
    for stem in set(manifest) - stems:
        del manifest[stem]


def _summary(err: NotebookFailed) -> str:
    """The last line of the traceback (the exception) or what stopped the notebook."""
    lines = err.traceback.strip().splitlines()
    return (lines[-1] if lines else "unknown error").replace("`", "'")


def kernel_environment(executed_dir: Path, stem: str, profile_label: str, figures: Path) -> dict[str, str]:
    """What a chapter's kernel is told: the notebook and profile it runs (provenance), where
    ``figures.show`` saves PNGs and where ``claims.record`` writes verdicts (issue 13; the
    folder under ``executed_dir`` is emptied first)."""
    return {NOTEBOOK_ENV: stem, PROFILE_ENV: profile_label, FIGURE_DIR_ENV: str(figures),
            **claims_environment(executed_dir, stem)}


def execute_one(project: Project, p: Plan, profile_label: str, manifest: dict,
                overrides: dict[str, Any] | None, echo: Echo, save: Callable[[], None],
                progress: bool = False, timeout: float | None = None, reason: str = "") -> None:
    """Execute one notebook into ``book/executed``, recording it in ``manifest`` (saved with
    ``save`` before and after); on failure keep the partial output in ``book/executed/failed``
    and raise :class:`NotebookFailed`."""
    stem = p.spec.stem
    final, partial = project.executed(stem), project.partial_dir / f"{stem}.ipynb"
    cache_log, kept = project.partial_dir / f"{stem}.cache-log", project.failed_dir / f"{stem}.ipynb"
    kernel_log, kept_kernel_log = (project.partial_dir / f"{stem}.kernel.log",
                                   project.failed_dir / f"{stem}.kernel.log")
    figures = project.figures_dir / stem
    for stale in (final, partial, cache_log, kept, kernel_log, kept_kernel_log):
        stale.unlink(missing_ok=True)
    shutil.rmtree(figures, ignore_errors=True)
    figures.mkdir(parents=True)
    entry = {"key": p.key, "profile": profile_label, "revision": git_revision(), "host": host_description(),
             "parameters": p.parameters, "overrides": overrides or {}, "reused": False,
             "upstream": {d: manifest.get(d, {}).get("key") for d in p.spec.depends}}
    manifest[stem] = {**entry, "status": "running"}   # what a killed build leaves: not current
    save()
    echo(f"> {stem}  running (profile {profile_label}; {reason or 'forced'}) ...")
    env = {**kernel_environment(project.executed_dir, stem, profile_label, figures),
           CACHE_LOG_ENV: str(cache_log), KERNEL_LOG_ENV: str(kernel_log)}
    live = project.partial_dir / f"{stem}.progress"
    if progress:   # the library's bars on this terminal (or a line a minute in a log), not in the book
        env[PROGRESS_FILE_ENV] = str(live)
    start = time.perf_counter()
    try:
        with echo_progress(live) if progress else nullcontext():
            execute_notebook(stem, p.spec.notebook, p.parameters, partial, cwd=project.notebooks_dir,
                             env=env, progress=progress and sys.stderr.isatty(), timeout=timeout, injected_label=(
                                 f"Parameters of this run (profile {profile_label}), set by the runner "
                                 "over the defaults above"))
    except NotebookFailed as err:
        cache_log.unlink(missing_ok=True)
        project.failed_dir.mkdir(parents=True, exist_ok=True)
        for temporary, keep in ((partial, kept), (kernel_log, kept_kernel_log)):
            if temporary.exists():
                temporary.replace(keep)
        entry.update(status="failed", failure=_summary(err), duration_s=time.perf_counter() - start,
                     finished=_now())
        manifest[stem] = entry
        where = "before its first cell" if err.cell_index is None else f"in cell {err.cell_index}"
        _write_notice(project, p.spec, f"This chapter failed to execute at {entry['finished']} "
                      f"(profile `{profile_label}`, revision `{entry['revision']}`), {where}: "
                      f"`{entry['failure']}`. Its results are not shown. The partial output is "
                      f"kept in `book/executed/failed/{stem}.ipynb`.")
        echo(f"x {stem}  FAILED after {entry['duration_s']:.1f} s" + (
            f" (the kernel process's own stderr is in {kept_kernel_log})"
            if kept_kernel_log.exists() and kept_kernel_log.stat().st_size else ""))
        raise type(err)(stem, err.cell_index, err.exec_count, err.cell_source, err.traceback,
                        kept) from None
    # entries of temporary stores (gone by now) are not inputs a later build could reuse
    entry["artifacts"] = [ref for ref in read_access_log(cache_log) if entry_exists(ref)]
    cache_log.unlink(missing_ok=True)   # absent when the notebook used no cache
    kernel_log.unlink(missing_ok=True)
    partial.replace(final)
    entry.update(status="ok", duration_s=time.perf_counter() - start, finished=_now())
    manifest[stem] = entry
    echo(f"+ {stem}  done in {entry['duration_s']:.1f} s")


def _now() -> str:
    return datetime.now(timezone.utc).strftime(FINISHED_FORMAT)


def _mark_not_current(project: Project, plans: list[Plan], manifest: dict, failed: str) -> None:
    """After a failure: every later notebook whose output is not current gets a notice page."""
    for p in plans:
        if not is_current(project, manifest, p) and manifest.get(p.spec.stem, {}).get("status") != "failed":
            manifest[p.spec.stem] = {"status": "not run", "key": p.key}
            _write_notice(project, p.spec, f"This chapter was not executed because {failed} failed "
                          "earlier in the build; no current results exist for it.")


def _mark_dependants_stale(project: Project, plans: list[Plan], manifest: dict, rerun: str,
                           overrides: dict[str, Any] | None, echo: Echo) -> None:
    """After ``misgen run``: every chapter that (transitively) depends on ``rerun`` and was made
    from another output of it than the one now recorded is marked ``stale``."""
    how = f" with overrides {overrides}" if overrides else ""
    reason = (f"{rerun} was re-run{how} at {_now()} by `misgen run`; this page shows results "
              f"computed from its earlier output; `misgen build` re-runs it")
    changed, marked = {rerun}, []
    for p in plans:
        stem, entry = p.spec.stem, manifest.get(p.spec.stem, {})
        upstream = [u for u in p.spec.depends if u in changed]
        if not upstream or entry.get("status") != "ok" or all(
                manifest[u].get("status") == "ok" and entry.get("upstream", {}).get(u) == manifest[u].get("key")
                for u in upstream):
            continue
        entry.update(status="stale", stale_reason=reason)
        _add_stale_warning(project, stem, f"Out of date: {reason}.")
        changed.add(stem)
        marked.append(stem)
    if marked:
        echo(f"! {', '.join(marked)} depend on {rerun} (depends: in their profile files) and were "
             f"made from its earlier output: marked stale; `misgen build` re-runs them")


def run_notebooks(project: Project, plans: list[Plan], profile: str, force: bool = False,
                  overrides: dict[str, dict[str, Any]] | None = None, only: set[str] | None = None,
                  echo: Echo = print, progress: bool = False, timeout: float | None = None,
                  parallel: int = 1) -> dict:
    """Execute the planned notebooks (skipping current ones unless ``force``); returns the
    manifest. ``only`` restricts execution to those stems (``misgen run``) and marks their
    dependants stale. The manifest is saved after every notebook.

    ``parallel``: notebooks executed side by side, each as soon as the notebooks it depends on
    (``depends:``) are done, their work on one shared pool of workers (``pool.shared_pool``,
    started only when some notebook is to run); 1 runs them one after another in order. After a failure no further
    notebook starts; those running finish, then the first failure is raised."""
    specs = [p.spec for p in plans]
    manifest = load_manifest(project.manifest_path)
    remove_orphans(project, specs, manifest)
    lock = threading.Lock()

    def save():
        with lock:
            save_manifest(project.manifest_path, manifest)
            write_reproduce_tables(project.reproduce_tables, manifest, specs)

    def run(p: Plan) -> None:
        stem = p.spec.stem
        reason = "--force" if force else why_not_current(project, manifest, p)
        if reason is None:
            with lock:
                manifest[stem]["reused"] = True
            echo(f"= {stem}  unchanged, not executed (key {p.key[:12]})")
            return
        own = (overrides or {}).get(stem)
        label = profile + ("+overrides" if own else "")
        try:
            execute_one(project, p, label, manifest, own, echo, save, progress, timeout, reason)
        finally:
            if only is not None:
                _mark_dependants_stale(project, plans, manifest, stem, own, echo)
            save()

    todo = [p for p in plans if only is None or p.spec.stem in only]
    pool = parallel > 1 and any(force or not is_current(project, manifest, p) for p in todo)
    try:
        with shared_pool(echo) if pool else nullcontext():   # not started for a no-change rebuild
            failed = _in_dependency_order(todo, run, parallel)
        if failed is not None:
            if only is None:
                _mark_not_current(project, plans, manifest, failed.stem)
            raise failed
    finally:
        save()
    return manifest


def _in_dependency_order(todo: list[Plan], run: Callable[[Plan], None], parallel: int) -> NotebookFailed | None:
    """``run`` every plan of ``todo``, a plan only once those it depends on that are in ``todo``
    are done, up to ``parallel`` at a time (threads: each notebook runs in a kernel process of
    its own). Stops starting plans at the first :class:`NotebookFailed`, waits for the running
    ones and returns that failure (``None`` if all succeeded); Ctrl-C interrupts every running
    kernel and is raised once they have stopped."""
    if parallel <= 1:
        for p in todo:
            try:
                run(p)
            except NotebookFailed as err:
                return err
        return None
    waiting, failure = list(todo), None
    running: dict[Future, Plan] = {}
    with ThreadPoolExecutor(parallel, thread_name_prefix="notebook") as pool:
        try:
            while (waiting and failure is None) or running:
                for p in list(waiting):
                    busy = {w.spec.stem for w in waiting} | {r.spec.stem for r in running.values()}
                    if failure is None and len(running) < parallel and not busy & set(p.spec.depends):
                        waiting.remove(p)
                        running[pool.submit(run, p)] = p
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    running.pop(future)
                    err = future.exception()
                    if isinstance(err, NotebookFailed):
                        failure = failure or err
                    elif err is not None:
                        raise err
        except KeyboardInterrupt:
            interrupt_running_kernels()
            wait(running)
            raise
    return failure


def _render_or_remove(project: Project, echo: Echo) -> None:
    """Render the book; if that fails or is interrupted, remove the old one, whose pages may
    show results that are no longer current."""
    try:
        render_book(project, echo)
    except (BookRenderFailed, KeyboardInterrupt):
        shutil.rmtree(project.html_dir, ignore_errors=True)
        echo(f"the book could not be rendered; removed {project.html_dir} so that no stale page is shown")
        raise


def _execute_and_render(project: Project, plans: list[Plan], profile: str, render: bool,
                        echo: Echo, command: str, **run_options) -> dict:
    """Under the checkout's lock: ``run_notebooks`` then render; after a failure the book is
    re-rendered with the notice pages."""
    with build_lock(project.lock_path, command):
        shutil.rmtree(project.partial_dir, ignore_errors=True)   # leftovers of a killed build
        remove_leftovers(project)
        try:
            manifest = run_notebooks(project, plans, profile, echo=echo, **run_options)
        except NotebookFailed:
            if render:
                try:
                    _render_or_remove(project, echo)
                except BookRenderFailed:
                    pass   # the notebook's failure is the error to report
            raise
        if render:
            _render_or_remove(project, echo)
    return manifest


def build(project: Project | None = None, profile: str = "default", force: bool = False,
          render: bool = True, echo: Echo = print, progress: bool = False,
          cell_timeout_s: float | str | None = None, parallel: int = 1) -> dict:
    """Execute every notebook in order at ``profile``, then render the book. Returns the
    manifest. Raises ``NotebookSpecError``/``ParameterError`` before running anything when a
    notebook or profile is malformed, ``BuildLocked`` when another build runs on the checkout,
    :class:`NotebookFailed` when a notebook fails (after re-rendering the book with notices),
    :class:`BookRenderFailed` when rendering fails. ``cell_timeout_s``: see :func:`cell_timeout`.
    ``parallel``: notebooks run side by side (``run_notebooks``), their work on one shared pool
    of workers (``pool.shared_pool``); 1: one after another, each with its own local pool."""
    project = project or Project()
    plans = plan(discover(project.notebooks_dir), profile)
    timeout = cell_timeout(profile, cell_timeout_s)
    echo(f"misgen build: {len(plans)} notebooks, profile {profile}")
    start = time.perf_counter()
    manifest = _execute_and_render(project, plans, profile, render, echo, f"misgen build --profile {profile}",
                                   force=force, progress=progress, timeout=timeout, parallel=parallel)
    echo(f"misgen build finished in {time.perf_counter() - start:.1f} s")
    return manifest


def run_one(name: str, overrides: dict[str, Any] | None = None, project: Project | None = None,
            profile: str = "default", force: bool = False, render: bool = True, echo: Echo = print,
            progress: bool = False, cell_timeout_s: float | str | None = None,
            choices: dict[str, Choices] | None = None) -> dict:
    """Re-execute one notebook (by stem, number or path) with parameter overrides, mark the
    chapters depending on it stale, then re-render the book. Overrides are validated before
    anything runs: their types, the ``profile`` parameter, and the values ``choices`` lists (the
    ``misgen`` command passes the library's registered names, which the pipeline cannot import)."""
    project = project or Project()
    specs = discover(project.notebooks_dir)
    stem = find(specs, name).stem
    own = {stem: overrides or {}}
    plans = plan(specs, profile, own, choices)
    timeout = cell_timeout(profile, cell_timeout_s)
    return _execute_and_render(project, plans, profile, render, echo, f"misgen run {stem}",
                               force=force, overrides=own, only={stem}, progress=progress,
                               timeout=timeout)
