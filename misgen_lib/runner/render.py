"""Render the book with Jupyter Book 1, all or nothing.

``jupyter-book build`` runs strict (``-W -n``, stopping at the first warning) into a fresh
folder, ``book/_build/.render-*``; only when it succeeds is its HTML swapped in as
``book/_build/html``. A failed render leaves no mix of old and new pages, and since every render
starts empty, pages of deleted chapters do not linger.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from .manifest import load_manifest, write_reproduce_tables
from .pages import write_generated_pages
from .profiles import discover
from .project import Project
from .records import write_records_page

STAGING_PREFIX = ".render-"


class BookRenderFailed(RuntimeError):
    """``jupyter-book build`` exited non-zero (warnings are errors)."""


def _swap_in(new: Path, current: Path) -> None:
    """Replace the folder ``current`` by ``new`` (two renames; the old one is then deleted)."""
    old = current.with_name(current.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if current.exists():
        os.rename(current, old)
    os.rename(new, current)
    shutil.rmtree(old, ignore_errors=True)


def remove_leftovers(project: Project) -> None:
    """Staging folders of renders that were killed before cleaning up."""
    for path in project.build_dir.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(project.html_dir.with_name(project.html_dir.name + ".old"), ignore_errors=True)


def render_book(project: Project, echo: Callable[[str], None] = print) -> Path:
    """``jupyter-book build`` strict (``-W -n``), with the root ``_config.yml``, into a fresh
    folder swapped in on success; returns the path of the rendered ``index.html``."""
    if not project.reproduce_tables.exists():
        write_reproduce_tables(project.reproduce_tables, load_manifest(project.manifest_path),
                               discover(project.notebooks_dir))
    write_generated_pages(project)  # re-run boxes, parameter tables, figure index, claims page
    write_records_page(project)
    project.build_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=project.build_dir))
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build",
           str(project.book_dir), "--config", str(project.config), "--toc", str(project.toc),
           "--path-output", str(staging), "-W", "-n"]
    echo("> rendering the book (jupyter-book, strict) ...")
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=project.root, capture_output=True, text=True)
        if done.returncode != 0:
            raise BookRenderFailed("jupyter-book build failed (warnings are errors):\n"
                                   + "\n".join((done.stdout + done.stderr).splitlines()[-60:]))
        _swap_in(staging / "_build" / "html", project.html_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    index = project.html_dir / "index.html"
    echo(f"+ book rendered in {time.perf_counter() - start:.1f} s: {index}")
    return index
