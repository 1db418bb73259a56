"""Where a misgen book checkout keeps its sources and outputs.

Layout (all under the repository root)::

    notebooks/NN_name.md              chapter sources (jupytext MyST)
    notebooks/profiles/NN_name.yaml   their profiles
    book/_toc.yml, book/*.md          narrative pages; chapters enter the toc by a glob
    book/executed/NN_name.ipynb       executed chapters (gitignored), what the book renders
    book/executed/figures/NN_name/    PNGs saved by ``misgen_lib.figures.show``
    book/executed/failed/NN_name.ipynb partial output of a failed notebook
    book/executed/partial/            a notebook being executed (and its cache-access log)
    book/executed/manifest.json       the run manifest
    book/executed/run_records.md      the table of run records, on the Reproduce page
    benchmarks/runs/*.json            run records: timed builds and benchmark runs (``records.py``)
    book/executed/.lock               held by the running build
    book/_build/html/                 the rendered book (swapped in whole by each render)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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
    lock_path = property(lambda self: self.executed_dir / ".lock")
    reproduce_tables = property(lambda self: self.executed_dir / "run_manifest.md")
    records_page = property(lambda self: self.executed_dir / "run_records.md")
    records_dir = property(lambda self: self.root / "benchmarks" / "runs")
    build_dir = property(lambda self: self.book_dir / "_build")
    html_dir = property(lambda self: self.build_dir / "html")

    def executed(self, stem: str) -> Path:
        return self.executed_dir / f"{stem}.ipynb"
