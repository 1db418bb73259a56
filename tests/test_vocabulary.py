"""``misgen_lib.vocabulary``: the profile names, claim ids and environment variables that the runner
and the library share are spelled once, both sides use them, and an unknown one is an error on
each side."""
import ast
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from misgen_lib import vocabulary
from misgen_lib.runner import pages, profiles
from misgen_lib.runner.build import CELL_TIMEOUT_S
from misgen_lib.runner.cli import _parser
from misgen_lib.runner.profiles import NotebookSpec, NotebookSpecError
from misgen_lib.studies import claims, config

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "misgen_lib"
ENV_NAME = re.compile(r"MISGEN_[A-Z][A-Z_]*")


def test_claims_declare_a_statement_and_a_rule_for_exactly_the_vocabulary_claims():
    assert tuple(claims.CLAIMS) == tuple(claims.RULES) == vocabulary.CLAIM_IDS


def test_studies_runner_and_vocabulary_have_the_same_profiles():
    assert tuple(config.PROFILES) == profiles.PROFILES == vocabulary.PROFILES
    assert tuple(CELL_TIMEOUT_S) == vocabulary.PROFILES


def test_an_unknown_claim_is_an_error_in_the_library():
    with pytest.raises(ValueError, match=r"unknown claim id 'C9'; valid claim ids: C1, C2, .*C5a.*C6"):
        claims.Verdict("C9", pd.DataFrame({"counts": [True]}))
    verdict = claims.Verdict("C1", pd.DataFrame({"counts": [True]}))
    verdict.claim = "C8"
    with pytest.raises(ValueError, match="unknown claim id 'C8'"):
        claims.record(verdict)


def test_an_unknown_claim_recorded_by_a_chapter_fails_the_claims_page(tmp_path):
    folder = pages.claims_dir(tmp_path, "01_prior")
    folder.mkdir(parents=True)
    (folder / "C9.json").write_text(json.dumps({"claim": "C9", "outcome": "supports"}))
    specs, manifest = [SimpleNamespace(stem="01_prior")], {"01_prior": {"status": "ok"}}
    with pytest.raises(NotebookSpecError, match=r"C9\.json: 01_prior .*unknown claim id 'C9'; valid claim ids: C1"):
        pages.claims_page(tmp_path, specs, manifest)


def test_an_unknown_profile_is_an_error_in_the_library_and_the_runner(capsys):
    with pytest.raises(ValueError, match="unknown profile 'huge'; valid profiles: ci, default, paper"):
        config.suite_config("synthetic", profile="huge")
    spec = NotebookSpec("01_prior", Path("01_prior.md"), "", None, [], {})
    with pytest.raises(NotebookSpecError, match="unknown profile 'huge'; valid profiles: ci, default, paper"):
        spec.merged_parameters("huge")
    with pytest.raises(SystemExit):
        _parser("misgen", "").parse_args(["build", "--profile", "huge"])
    assert "invalid choice: 'huge'" in capsys.readouterr().err


def _docstrings(tree) -> set[int]:
    """ids of the docstring nodes of a module, its classes and functions."""
    nodes = [tree] + [n for n in ast.walk(tree)
                      if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
    return {id(n.body[0].value) for n in nodes if n.body and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)}


def test_environment_variables_are_spelled_only_in_the_vocabulary():
    """No string of the library's code (its docstrings aside) spells a ``MISGEN_`` name: code
    uses the vocabulary's constants."""
    spelled = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "vocabulary.py" and path.parent == PACKAGE:
            continue
        tree = ast.parse(path.read_text())
        docs = _docstrings(tree)
        spelled += [f"{path.relative_to(REPO)}:{n.lineno}: {n.value!r}" for n in ast.walk(tree)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str) and "MISGEN_" in n.value
                    and id(n) not in docs]
    assert not spelled, "use the constants of misgen_lib/vocabulary.py:\n" + "\n".join(spelled)


def test_every_environment_variable_mentioned_anywhere_is_in_the_vocabulary():
    """Docstrings, tests, the README, the book and CI name only variables the vocabulary has, and
    each vocabulary variable is named once there, in a constant."""
    files = [*PACKAGE.rglob("*.py"), *(REPO / "tests").glob("*.py"), REPO / "README.md",
             *(REPO / "book").glob("*.md"), REPO / ".ci" / "run"]
    mentioned = {name: p for p in files if p.exists() for name in ENV_NAME.findall(p.read_text())}
    assert len(mentioned) >= 10, mentioned      # the scan sees the files
    unknown = {name: str(p.relative_to(REPO)) for name, p in mentioned.items() if name not in vocabulary.ENVIRONMENT}
    assert not unknown, f"not in misgen_lib/vocabulary.py: {unknown}"
    constants = [v for k, v in vars(vocabulary).items() if k.endswith("_ENV")]
    assert sorted(constants) == sorted(vocabulary.ENVIRONMENT) == sorted(set(constants))
