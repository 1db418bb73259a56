"""``misgen verify``: regenerate built chapters and check that they state the same results.

Each chapter the run manifest records as executed is executed again from its stored output
(``book/executed/<stem>.ipynb``, its injected parameters included) by nbval (``pytest
--nbval-lax``), in a temporary folder, on the same artifact cache, with the kernel environment
the build gave it. It passes when

* no cell raises;
* every cell tagged ``nbval-check-output`` shows the same outputs as the stored chapter: the
  chapters tag the cell that glues the numbers their prose quotes (verdicts included) and their
  result tables, never a cell whose output holds wall-clock seconds or a figure (figures are
  compared pixel by pixel between two independent builds in the tests). Numbers are compared
  to :data:`DECIMALS` decimal places (a float's last bits may differ when torch splits a sum
  over another number of threads; the book shows three);
* the claim verdicts it records (outcome, counts, items) equal the book's.

The models come from the cache, so this checks that the analysis regenerates the book's
results; that training regenerates the models is the cache key's promise, checked by the
tests' two independent builds of the ci book.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .build import cell_timeout, kernel_environment
from .manifest import load_manifest
from .pages import base_profile, claims_dir
from .profiles import NotebookSpecError, discover, find
from .project import Project

CHECK_TAG = "nbval-check-output"
#: decimal places to which numbers in checked outputs are compared
DECIMALS = 9
CLAIM_FIELDS = ("outcome", "passed", "total", "items")


@dataclass
class Verdict:
    """One chapter's re-execution: ``same`` when it ran and stated the same results."""
    stem: str
    checked_cells: int
    same: bool
    report: str   # nbval's report, and the claims that differ


def checked_cells(ipynb: Path) -> int:
    nb = nbformat.read(ipynb, as_version=4)
    return sum(CHECK_TAG in c.metadata.get("tags", []) for c in nb.cells if c.cell_type == "code")


def claim_outcomes(folder: Path) -> dict[str, dict]:
    """File name -> the deterministic fields of each verdict ``claims.record`` wrote to ``folder``."""
    return {p.name: {k: v for k, v in json.loads(p.read_text()).items() if k in CLAIM_FIELDS}
            for p in sorted(Path(folder).glob("*.json"))}


def _sanitizer(folder: Path) -> Path:
    path = folder / "sanitize.cfg"
    path.write_text(f"[decimals]\nregex: (\\.\\d{{{DECIMALS}}})\\d+\nreplace: \\1\n")
    return path


def verify_one(project: Project, stem: str, entry: dict) -> Verdict:
    """Re-execute chapter ``stem`` (its manifest ``entry`` must be ``ok``) and compare."""
    stored = project.executed(stem)
    with tempfile.TemporaryDirectory(prefix=f"misgen-verify-{stem}-") as tmp:
        tmp = Path(tmp)
        ipynb = tmp / stored.name
        ipynb.write_bytes(stored.read_bytes())
        (tmp / "pytest.ini").write_text("[pytest]\n")   # not the repository's test settings
        label = entry.get("profile", "default")
        env = kernel_environment(tmp, stem, label, tmp / "figures")
        timeout = cell_timeout(base_profile(entry)) or 1e7   # no limit: nbval needs a number
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "--color=no", "-p", "no:cacheprovider", "-c", str(tmp / "pytest.ini"),
             "--rootdir", str(tmp), "--nbval-lax", "--nbval-current-env", f"--nbval-cell-timeout={timeout}",
             "--nbval-sanitize-with", str(_sanitizer(tmp)), str(ipynb)],
            cwd=tmp, env={**os.environ, **env}, capture_output=True, text=True)
        report = run.stdout + run.stderr
        book, again = claim_outcomes(claims_dir(project.executed_dir, stem)), claim_outcomes(claims_dir(tmp, stem))
        if again != book:
            report += "\nclaim verdicts differ:\n" + "\n".join(
                f"  {name}: book {book.get(name)} / again {again.get(name)}"
                for name in sorted(set(book) | set(again)) if book.get(name) != again.get(name))
        return Verdict(stem, checked_cells(stored), run.returncode == 0 and again == book, report)


def verify(project: Project | None = None, names: list[str] | None = None, echo=print) -> list[Verdict]:
    """Re-execute the chapters ``names`` (stems, numbers or paths; default: every chapter the
    manifest records as ``ok``) and compare them with the book (module doc). A named chapter
    that was not executed, or no executed chapter at all, is a :class:`NotebookSpecError`."""
    project = project or Project()
    manifest = load_manifest(project.manifest_path)
    specs = discover(project.notebooks_dir)
    stems = [find(specs, n).stem for n in names] if names else [
        s.stem for s in specs if manifest.get(s.stem, {}).get("status") == "ok"]
    if not stems:
        raise NotebookSpecError(f"no executed chapter to verify in {project.executed_dir}; build the book "
                                "first: misgen build")
    for stem in stems:
        if manifest.get(stem, {}).get("status") != "ok" or not project.executed(stem).exists():
            raise NotebookSpecError(f"{stem} has no executed output to verify (status "
                                    f"{manifest.get(stem, {}).get('status', 'never executed')!r}); "
                                    "build it first: misgen build")
    verdicts = []
    for stem in stems:
        echo(f"> {stem}  re-executing ({manifest[stem]['profile']}) ...")
        v = verify_one(project, stem, manifest[stem])
        verdicts.append(v)
        echo(f"{'+' if v.same else 'x'} {stem}  {'same results' if v.same else 'DIFFERENT'} (checked cells: "
             f"{v.checked_cells}; claim verdicts)" + ("" if v.same else "\n" + v.report))
    return verdicts
