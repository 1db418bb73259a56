"""``misgen verify`` on the fixture chapter: regenerating it states the same result; a changed
checked output or a changed claim verdict in the book is found and named."""
import json

import nbformat
import pytest

from misgen_lib.runner import NotebookSpecError, build
from misgen_lib.runner.pages import claims_dir
from misgen_lib.runner.verify import CHECK_TAG, verify

QUIET = (lambda line: None)


def test_verify_finds_the_same_results_and_then_a_changed_one(fixture_project):
    with pytest.raises(NotebookSpecError, match="no executed chapter to verify.*misgen build"):
        verify(fixture_project, echo=QUIET)
    with pytest.raises(NotebookSpecError, match="01_prior has no executed output.*misgen build"):
        verify(fixture_project, ["01"], echo=QUIET)
    build(fixture_project, profile="ci", render=False, echo=QUIET)
    (v,) = verify(fixture_project, ["01"], echo=QUIET)
    assert v.same and v.checked_cells == 1, v.report

    ipynb = fixture_project.executed("01_prior")
    nb = nbformat.read(ipynb, as_version=4)
    (cell,) = [c for c in nb.cells if CHECK_TAG in c.metadata.get("tags", [])]
    (glued,) = cell.outputs
    (mime,) = [m for m in glued["data"] if m.endswith("text/plain")]
    glued["data"][mime] = "0.5"   # the draws' mean is about 3
    nbformat.write(nb, ipynb)
    (v,) = verify(fixture_project, ["01"], echo=QUIET)
    assert not v.same and "0.5" in v.report

    build(fixture_project, profile="ci", render=False, force=True, echo=QUIET)
    record = claims_dir(fixture_project.executed_dir, "01_prior") / "C1.json"
    record.write_text(json.dumps({"claim": "C1", "outcome": "supports", "passed": 1, "total": 1}))
    (v,) = verify(fixture_project, ["01"], echo=QUIET)
    assert not v.same and "claim verdicts differ" in v.report and "C1.json" in v.report
