"""Run records (``benchmarks/runs/*.json``): loading, checking, the table, a record of a build."""
from __future__ import annotations

import json

import pytest

from conftest import build_quietly
from misgen_lib.cli import main
from misgen_lib.provenance import cpu
from misgen_lib.runner import Project
from misgen_lib.runner.records import (RecordError, check_record, load_records, record_from_build,
                                       records_table, write_record)

RECORD = {"date": "2026-12-04", "revision": "bffadd5", "command": "make book", "profile": "default",
          "cache": "cold", "cpu": "AMD EPYC", "bf16_units": ["avx512_bf16"], "wall_s": 4301,
          "chapter_s": {"01": 11, "02": 1203}, "peak_memory_gib": 1.6,
          "claims": {"C1": "partly supports, 24 of 36"}, "note": "fresh clone | idle"}


def test_the_committed_records_load_and_render():
    records = load_records(Project().records_dir)
    assert records and [r["date"] for r in records] == sorted((r["date"] for r in records), reverse=True)
    assert records_table(records).count("\n") == len(records) + 1


def test_the_table_is_newest_first_with_every_measured_field(tmp_path):
    older = {**RECORD, "date": "2026-11-26", "revision": "d30ac1a", "cache": None, "chapter_s": None,
             "peak_memory_gib": None, "claims": None, "note": "older"}
    for name, record in (("a", RECORD), ("b", older)):
        (tmp_path / f"{name}.json").write_text(json.dumps(record))
    header, rule, newest, oldest = records_table(load_records(tmp_path)).splitlines()
    assert "wall time" in header and rule.count("---") == 10
    assert newest.startswith("| 2026-12-04 | `bffadd5` | `make book` | default, cold | AMD EPYC (avx512_bf16) | 72 min")
    assert "01: 11 s; 02: 20 min" in newest and "1.6 GiB" in newest and "C1 partly supports, 24 of 36" in newest
    assert newest.endswith("fresh clone \\| idle |")             # a pipe in a note does not split the row
    assert oldest.startswith("| 2026-11-26 | `d30ac1a` | `make book` | default | ") and "| – | – | – | older |" in oldest
    assert records_table([]) == "No run records yet."


@pytest.mark.parametrize("change, needle", [
    ({"note": ""}, "missing 'note'"), ({"date": "4 Dec"}, "'date' must read YYYY-MM-DD"),
    ({"speed": "fast"}, "unknown field 'speed'"), ({"bf16_units": "none"}, "'bf16_units' must be a list"), ({"cpu": None}, "missing 'cpu'"),
    ({"cache": "lukewarm"}, "'cache' must be one of"), ({"wall_s": "72 min"}, "'wall_s' must be a number"),
])
def test_a_bad_record_is_named_with_what_is_wrong(change, needle):
    with pytest.raises(RecordError, match=needle):
        check_record({**RECORD, **change}, "x.json")


def test_a_record_of_a_build_names_its_chapters_host_and_revision(fixture_project, capsys):
    manifest, _ = build_quietly(fixture_project, profile="ci")
    record = record_from_build(fixture_project, "misgen build", "a test build", cache="cold")
    assert record["chapter_s"] == {stem.split("_")[0]: round(e["duration_s"]) for stem, e in manifest.items()}
    assert record["cpu"] == cpu()["model"] and record["bf16_units"] == cpu()["bf16_units"]
    assert record["profile"] == "ci" and record["revision"] == next(iter(manifest.values()))["revision"]
    assert record["wall_s"] <= sum(e["duration_s"] for e in manifest.values()) + 1
    path = write_record(fixture_project.records_dir, record)
    assert load_records(fixture_project.records_dir) == [record]
    with pytest.raises(RecordError, match="never overwritten"):
        write_record(fixture_project.records_dir, record)
    path.unlink()
    root = str(fixture_project.root)
    assert main(["--root", root, "record", "--as", "make book", "--note", "again"]) == 0
    assert main(["--root", root, "record", "--list"]) == 0
    assert "`make book` | ci |" in capsys.readouterr().out
    assert main(["--root", root, "record"]) == 2                      # no note
