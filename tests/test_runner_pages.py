"""misgen_lib.runner.pages on the fixture notebooks (executed, not rendered): the re-run box and
its command, cell tags, the figure index and the claims page."""
from __future__ import annotations

import shlex

import nbformat
import pandas as pd
import pytest

from misgen_lib.figures import INDEX_PAGE, chapter_anchor, index_anchor
from misgen_lib.runner import build
from misgen_lib.runner.cli import _parser
from misgen_lib.runner.manifest import load_manifest
from misgen_lib.runner.pages import (CLAIMS_DOC, FIGURE_INDEX_DOC, GENERATED, claims_dir,
                                     rerun_command, write_generated_pages)
from misgen_lib.runner.parameters import parse_cli_value
from misgen_lib.runner.profiles import discover
from misgen_lib.studies import claims
from misgen_lib.vocabulary import CLAIMS_DIR_ENV


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    from conftest import FIXTURE_NOTEBOOKS, copy_book_layout
    from misgen_lib.runner import Project
    project = Project(copy_book_layout(tmp_path_factory.mktemp("pages") / "project", FIXTURE_NOTEBOOKS))
    build(project, profile="ci", render=False, echo=lambda line: None)
    write_generated_pages(project)
    return project


def _cells(project, stem):
    return nbformat.read(project.executed(stem), as_version=4).cells


def test_parameter_cells_are_hidden_and_the_box_replaces_them(executed):
    cells = _cells(executed, "01_prior")
    tagged = {t: [i for i, c in enumerate(cells) if t in c.metadata.get("tags", [])]
              for t in ("parameters", "injected-parameters", "remove-cell", "hide-input")}
    assert tagged["remove-cell"] == tagged["parameters"] + tagged["injected-parameters"]
    boxes = [i for i, c in enumerate(cells) if c.metadata.get(GENERATED) == "rerun-box"]
    assert boxes == [tagged["parameters"][0] - 1]
    box = cells[boxes[0]].source
    assert "| `n_samples` | **`200`** | `500` | int | number of draws |" in box  # ci value, bold
    assert "{download}`source (.md) <../../notebooks/01_prior.md>`" in box
    assert "{download}`executed notebook (.ipynb) <01_prior.ipynb>`" in box
    entry = load_manifest(executed.manifest_path)["01_prior"]
    assert f"took **{entry['duration_s']:.1f} s** on the machine that built this page ({entry['host']};" in box
    figure_cells = [cells[i] for i in tagged["hide-input"]]
    assert figure_cells and all("figures.show(" in c.source for c in figure_cells)
    assert all(c.metadata["mystnb"]["image"]["alt"] for c in figure_cells)


def test_generating_twice_changes_nothing(executed):
    before = {p: p.read_text() for p in executed.executed_dir.glob("*.*") if p.suffix in (".ipynb", ".md")}
    write_generated_pages(executed)
    assert before == {p: p.read_text() for p in before}


def test_the_rerun_command_parses_back_to_this_builds_values(executed):
    spec = next(s for s in discover(executed.notebooks_dir) if s.stem == "01_prior")
    entry = {**load_manifest(executed.manifest_path)["01_prior"]}
    entry["parameters"] = {**entry["parameters"], "seed": 7, "q_lo": 0.5}
    command = rerun_command(spec, entry)
    args = _parser("misgen", "").parse_args(shlex.split(command)[1:])
    assert (args.command, args.notebook, args.profile) == ("run", "01", "ci")
    assert {k: parse_cli_value(v) for k, v in args.parameter} == entry["parameters"]


def test_the_figure_index_links_each_figure_both_ways(executed):
    index = (executed.executed_dir / f"{FIGURE_INDEX_DOC}.md").read_text()
    assert f'id="{index_anchor("01_prior", "prior_histogram")}"' in index
    assert "figures/01_prior/prior_histogram.png" in index
    assert f'href="01_prior.html#{chapter_anchor("prior_histogram")}"' in index
    line = "".join(o["data"].get("text/html", "") for c in _cells(executed, "01_prior")
                   for o in c.get("outputs", []) if "data" in o)
    assert f'href="{INDEX_PAGE}#{index_anchor("01_prior", "prior_histogram")}"' in line


def test_claims_page_shows_recorded_verdicts_and_untested_claims(executed, monkeypatch):
    page = executed.executed_dir / f"{CLAIMS_DOC}.md"
    assert "| C5a | not tested |" in page.read_text()
    monkeypatch.setenv(CLAIMS_DIR_ENV, str(claims_dir(executed.executed_dir, "01_prior")))
    monkeypatch.setenv("MISGEN_NOTEBOOK", "01_prior")
    monkeypatch.setenv("MISGEN_PROFILE", "ci")
    def unit(task, interval):
        return claims.UnitResult({"task": task}, [claims.Condition("TV excess", 0.31, interval, 0.0)])
    units = [unit("sine", (0.2, 0.4)), unit("cone", (-0.2, -0.1)), unit("logistic", (-0.1, 0.1)),
             claims.UnitResult({"task": "maze"}, [], tested=False, note="implausible samples")]
    assert claims.record(claims.Verdict("C1", units)).name == "C1.json"
    blind = claims.baseline_test("a blind kernel", units, units)     # right wherever the units are: not beaten
    claims.record(claims.Verdict("C6", units, [blind]))
    write_generated_pages(executed)
    text = page.read_text()
    assert ("| [C1](#claim-c1) | **partly supports** | 33% to 67% | 1 / 1 / 1 (1 not tested) | `ci` | "
            "{doc}`01_prior` |") in text
    assert "| sine | 0.31 | [0.2, 0.4] | > 0 | counts |" in text and "| C5a | not tested |" in text
    assert f"**Control or baseline**: {claims.CONTROLS['C1']}." in text
    assert "| [C6](#claim-c6) | **does not support** |" in text and f"* {blind.describe()}" in text
    assert "a blind kernel: not beaten" in blind.describe()
    revision, date, reason = claims.RULE_HISTORY["C1"][0]
    assert f"* `{revision}` ({date}): {reason}" in text
    assert "declared before any result" not in text


def test_record_writes_nothing_outside_the_runner(monkeypatch):
    monkeypatch.delenv(CLAIMS_DIR_ENV, raising=False)
    assert claims.record(claims.Verdict("C2", [])) is None


def test_the_run_table_sums_the_chapters_into_the_whole_book_time():
    from types import SimpleNamespace
    from misgen_lib.runner.manifest import run_table
    specs = [SimpleNamespace(stem=s) for s in ("01_a", "02_b", "03_c")]
    manifest = {"01_a": {"status": "ok", "duration_s": 30.0, "host": "CPU X (bfloat16 units: none)"},
                "02_b": {"status": "ok", "duration_s": 90.0, "host": "CPU X (bfloat16 units: none)"}}
    table = run_table(manifest, specs)
    assert "| **whole book** | 2 of 3 chapters timed | **2.0 min** |" in table
    assert table.endswith("Executed on: CPU X (bfloat16 units: none).")   # each host once


def test_the_run_table_gives_the_wall_clock_span_when_chapters_ran_side_by_side():
    from types import SimpleNamespace
    from misgen_lib.runner.manifest import run_table
    specs = [SimpleNamespace(stem=s) for s in ("01_a", "02_b", "03_c")]
    manifest = {"01_a": {"status": "ok", "duration_s": 600.0, "finished": "2026-12-03 10:10:00"},
                "02_b": {"status": "ok", "duration_s": 900.0, "finished": "2026-12-03 10:15:00"},
                "03_c": {"status": "ok", "duration_s": 300.0, "finished": "2026-12-03 10:20:00"}}
    table = run_table(manifest, specs)
    assert "**30.0 min** |" in table   # the sum
    assert "took **20.0 min** of wall-clock time" in table   # 10:00 to 10:20
    one_after_another = {**manifest, "03_c": {**manifest["03_c"], "finished": "2026-12-03 10:40:00"}}
    assert "side by side" not in run_table(one_after_another, specs)
    reused = {**manifest, "02_b": {**manifest["02_b"], "reused": True}}
    assert "side by side" not in run_table(reused, specs)
