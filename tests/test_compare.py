"""``misgen reference`` and ``misgen compare``: the comparison rules on small synthetic records
(equal, within an interval or a tolerance, beyond, a changed claim, wall-clock values, chapters
missing on either side), the reference file's errors, and the commands on a hand-made build of
the fixture notebooks (nothing is executed)."""
from __future__ import annotations

import copy
import json

import pytest

from misgen_lib.cli import main
from misgen_lib.runner.compare import book_record, compare, compare_build, judge, write_reference
from misgen_lib.runner.manifest import save_manifest
from misgen_lib.runner.pages import claims_dir, claims_page
from misgen_lib.runner.profiles import NotebookSpecError, discover
from misgen_lib.runner.reference import FORMAT, ReferenceFileError, load_reference, reference_path
from misgen_lib.runner.verify import CHECK_TAG


def chapter(**sections) -> dict:
    return {"built": {"revision": "abc1234", "host": "CPU X", "finished": "2026-01-01 00:00:00"},
            "values": {}, "reported": {}, "intervals": {}, "claims": {}, **sections}


def record(**chapters) -> dict:
    return {"format": FORMAT, "profile": "default", "revision": "abc1234", "built": "2026-01-01 00:00:00",
            "host": {"model": "CPU X", "bf16_units": [], "description": "CPU X (bfloat16 units: none)"},
            "chapters": chapters}


REFERENCE = record(
    a=chapter(values={"n_pairs": 36, "median_tv": 0.40, "worst_pair": "logistic / transformer",
                      "per_class": "vae: correlation +0.85, share +0.40"},
              reported={"cost_ratio": 12.0},
              intervals={"TV sine / vae / 0": [0.30, 0.25, 0.45]},
              claims={"C1": {"outcome": "partly supports", "passed": 24, "total": 36,
                             "units": {"sine / vae / 0": True, "sine / vae / 1": False}}}),
    b=chapter(values={"median_corr": 0.5}))


def build_of(edit) -> dict:
    build = copy.deepcopy(REFERENCE)
    edit(build["chapters"])
    return build


def statuses(comparison) -> dict[str, str]:
    return {r.name: r.status for r in comparison.values}


def test_a_build_equal_to_the_reference_matches_it():
    comparison = compare(REFERENCE, copy.deepcopy(REFERENCE))
    assert set(statuses(comparison).values()) == {"equal"}
    assert [c.status for c in comparison.claims] == ["same"] and not comparison.failed
    assert comparison.compared == ["a", "b"] and "result: matches the reference" in comparison.report()


def test_values_move_within_their_tolerance_or_interval():
    def edit(chapters):
        chapters["a"]["values"].update(n_pairs=35, median_tv=0.45,   # a count by one, a float by 12%
                                       per_class="vae: correlation +0.80, share +0.43")
        chapters["a"]["intervals"]["TV sine / vae / 0"][0] = 0.44
        chapters["a"]["claims"]["C1"]["passed"] = 25
    comparison = compare(REFERENCE, build_of(edit))
    moved = {k: v for k, v in statuses(comparison).items() if v != "equal"}
    assert moved == {"n_pairs": "within", "median_tv": "within", "per_class": "within",
                     "TV sine / vae / 0": "within", "C1 passed": "within"}
    assert not comparison.failed
    assert "TV sine / vae / 0: 0.44 against 0.3 (interval [0.25, 0.45])" in comparison.report()


def test_values_beyond_their_tolerance_or_interval_fail():
    def edit(chapters):
        chapters["a"]["values"].update(median_tv=0.55, worst_pair="cone / vae",
                                       per_class="vae: correlation +0.20, share +0.40")
        chapters["a"]["intervals"]["TV sine / vae / 0"][0] = 0.46
    comparison = compare(REFERENCE, build_of(edit))
    moved = {k: v for k, v in statuses(comparison).items() if v != "equal"}
    assert moved == dict.fromkeys(["median_tv", "worst_pair", "per_class", "TV sine / vae / 0"], "beyond")
    assert comparison.failed and "result: differs from the reference" in comparison.report()


@pytest.mark.parametrize("reference, build, expected", [
    (0.0, 0.04, "within"), (0.0, 0.06, "beyond"),           # the absolute floor near zero
    (100.0, 119.0, "within"), (100.0, 121.0, "beyond"),     # 20% of a float
    (0, 1, "within"), (30, 33, "within"), (30, 34, "beyond"),  # a count: 10%, at least one
    (None, None, "equal"), (None, 0.1, "beyond"),           # NaN (null in the record)
    ("supports", "does not support", "beyond"),
])
def test_the_declared_tolerances(reference, build, expected):
    assert judge(reference, build)[0] == expected


def test_a_changed_claim_fails_and_names_the_units_that_moved():
    def edit(chapters):
        chapters["a"]["claims"]["C1"].update(outcome="supports",
                                             units={"sine / vae / 0": None, "sine / vae / 1": False})
    comparison = compare(REFERENCE, build_of(edit))
    (claim,) = comparison.claims
    assert claim.status == "changed" and claim.moved == ["sine / vae / 0"] and comparison.failed
    assert ("C1   changed  supports, 24 of 36 (reference: partly supports, 24 of 36; a); units whose "
            "verdict moved: sine / vae / 0") in comparison.report()


def test_a_claim_that_moves_only_to_or_from_undecided_is_reported_and_does_not_fail():
    """Another CPU's rounding may move a claim to or from undecided, no further (design, section 7)."""
    comparison = compare(REFERENCE, build_of(lambda c: c["a"]["claims"]["C1"].update(outcome="undecided")))
    (claim,) = comparison.claims
    assert claim.status == "undecided" and not comparison.failed


def test_wall_clock_values_are_reported_and_never_fail():
    comparison = compare(REFERENCE, build_of(lambda c: c["a"]["reported"].update(cost_ratio=40.0)))
    assert statuses(comparison)["cost_ratio"] == "reported" and not comparison.failed


def test_a_value_the_build_lacks_fails_and_a_new_one_does_not():
    def edit(chapters):
        del chapters["b"]["values"]["median_corr"]
        chapters["a"]["values"]["new_value"] = 1.0
    comparison = compare(REFERENCE, build_of(edit))
    assert statuses(comparison)["median_corr"] == "absent" and statuses(comparison)["new_value"] == "new"
    assert comparison.failed


def test_chapters_missing_on_either_side_are_skipped_and_said_so():
    build = build_of(lambda chapters: chapters.pop("b"))
    build["chapters"]["c"] = chapter()
    comparison = compare(REFERENCE, build)
    assert comparison.compared == ["a"] and not comparison.failed
    assert comparison.skipped == {"b": "not in this build", "c": "not in the reference"}
    assert "skipped (not in this build): b" in comparison.report()
    nothing = compare(REFERENCE, record())
    assert nothing.compared == [] and nothing.failed        # a comparison of nothing is no match


def test_a_missing_or_corrupt_reference_file_is_a_clear_error(tmp_path):
    path = tmp_path / "reference.json"
    with pytest.raises(ReferenceFileError, match=r"no reference file .*reference\.json; write one .*misgen reference"):
        load_reference(path)
    path.write_text("{not json")
    with pytest.raises(ReferenceFileError, match=r"reference\.json is not JSON"):
        load_reference(path)
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ReferenceFileError, match=r"has format 'something else'; expected 'misgen reference 1'"):
        load_reference(path)
    broken = record(a={"values": {}})
    path.write_text(json.dumps(broken))
    with pytest.raises(ReferenceFileError, match=r"chapter a lacks built, reported, intervals, claims"):
        load_reference(path)


# --- the commands on a hand-made build of the fixture notebooks ------------------------------------

def glue_output(name: str, value) -> dict:
    return {"output_type": "display_data", "metadata": {"scrapbook": {"name": name}},
            "data": {"application/papermill.record/text/plain": repr(value)}}


def write_chapter(project, stem: str, checked: dict, reported: dict) -> None:
    cells = [{"cell_type": "code", "metadata": {"tags": tags}, "source": "", "execution_count": 1,
              "outputs": [glue_output(k, v) for k, v in values.items()]}
             for tags, values in (([CHECK_TAG], checked), ([], reported))]
    project.executed(stem).write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                                  "nbformat_minor": 5}))


@pytest.fixture
def built(fixture_project):
    """The fixture notebooks as if built at the default profile: two executed chapters that glue
    values, one of which records C1 with two units (TV per seed beside its null)."""
    project = fixture_project
    project.executed_dir.mkdir(parents=True)
    write_chapter(project, "01_prior", {"mean_q": 0.512345678, "verdict": "supports (2 of 2)"}, {"seconds": 3.2})
    write_chapter(project, "02_downstream", {"n_pairs": 2}, {})
    folder = claims_dir(project.executed_dir, "01_prior")
    folder.mkdir(parents=True)
    (folder / "C1.json").write_text(json.dumps({
        "claim": "C1", "statement": "s", "rule": "r", "sentence": "t", "notebook": "01_prior",
        "profile": "default", "revision": "abc1234", "outcome": "supports", "passed": 2, "total": 2,
        "statistic": "share of the tested units that count", "interval": [1.0, 1.0],
        "thresholds": {"supports": 0.75, "does not support": 0.25},
        "counted": 2, "failed": 0, "undecided": 0, "not_tested": 0, "history": [["abc1234", "2026-01-01", "declared"]],
        "items": {"columns": ["task", "model", "seed", "TV", "TV null 95%", "counts"],
                  "rows": [["sine", "vae", 0, 0.3, 0.1, True], ["sine", "vae", 1, 0.4, 0.12, True]]}}))
    entry = {"status": "ok", "profile": "default", "revision": "abc1234", "host": "CPU X",
             "finished": "2026-01-01 00:00:00"}
    save_manifest(project.manifest_path, {"01_prior": entry, "02_downstream": entry})
    return project


def test_a_build_recorded_as_the_reference_compares_equal_with_it(built, capsys):
    path = write_reference(built, "default")
    assert path == reference_path(built.book_dir, "default") == built.book_dir / "reference.json"
    reference = load_reference(path)
    chapter_01 = reference["chapters"]["01_prior"]
    assert chapter_01["values"] == {"mean_q": 0.512346, "verdict": "supports (2 of 2)"}   # six digits
    assert chapter_01["reported"] == {"seconds": 3.2}
    assert chapter_01["intervals"] == {"TV sine / vae / 0": [0.3, 0.19, 0.51], "TV sine / vae / 1": [0.4, 0.19, 0.51]}
    assert chapter_01["claims"]["C1"] == {"outcome": "supports", "passed": 2, "total": 2, "counted": 2, "failed": 0,
                                          "undecided": 0, "not_tested": 0,
                                          "units": {"sine / vae / 0": True, "sine / vae / 1": True}}
    assert main(["--root", str(built.root), "compare"]) == 0
    assert "result: matches the reference" in capsys.readouterr().out


def test_misgen_compare_fails_beyond_the_reference_and_skips_what_is_not_asked_for(built, capsys):
    write_reference(built, "default")
    write_chapter(built, "02_downstream", {"n_pairs": 5}, {})
    assert main(["--root", str(built.root), "compare"]) == 1
    assert "beyond   02_downstream n_pairs: 5 against 2 (tolerance ±1)" in capsys.readouterr().out
    assert main(["--root", str(built.root), "compare", "--chapters", "01"]) == 0
    assert "skipped (not asked for): 02_downstream" in capsys.readouterr().out
    assert main(["--root", str(built.root), "compare", "--profile", "ci"]) == 2
    assert "no reference file" in capsys.readouterr().err


def test_a_reference_is_written_of_a_whole_book_only(built):
    save_manifest(built.manifest_path, {"01_prior": {"status": "ok", "profile": "default"},
                                        "02_downstream": {"status": "ok", "profile": "default+overrides"}})
    with pytest.raises(NotebookSpecError, match=r"02_downstream \(executed at profile default\+overrides, "
                                                r"not default\); build them first"):
        write_reference(built, "default")
    assert book_record(built, "default")["skipped"] == {
        "02_downstream": "executed at profile default+overrides, not default"}


def test_the_claims_page_shows_the_reference_verdict_beside_the_build(built):
    specs = discover(built.notebooks_dir)
    manifest = json.loads(built.manifest_path.read_text())
    assert "| claim | verdict in this build | share of units that count | counted / failed / undecided | profile |" in claims_page(
        built.executed_dir, specs, manifest)                  # no reference: no column
    reference = json.loads(write_reference(built, "default").read_text())
    reference["chapters"]["01_prior"]["claims"]["C1"].update(outcome="partly supports", passed=1)
    reference_path(built.book_dir, "default").write_text(json.dumps(reference))
    page = claims_page(built.executed_dir, specs, manifest)
    assert "| [C1](#claim-c1) | **supports** | 100% | 2 / 0 / 0 | partly supports, 1 of 2 | `default` |" in page
    assert "`book/reference.json`: profile `default`, revision `abc1234`" in page
    assert compare_build(built, "default").failed


def test_a_text_with_the_same_words_says_whether_its_numbers_are_within():
    """Words kept, a number moved: the status and its reason agree."""
    assert judge("share +0.40", "share +0.41") == ("within", "same words, each number within its tolerance")
    assert judge("share +0.40", "share +0.90") == ("beyond", "same words, a number beyond its tolerance")
