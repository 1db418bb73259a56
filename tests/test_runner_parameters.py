"""The parameters cell and profile files: parsing and validation before anything runs."""
from __future__ import annotations

import pytest

from misgen_lib.runner.parameters import (Choices, ParameterError, parse_cli_value, parse_parameters,
                                          check_values)
from misgen_lib.runner.profiles import NotebookSpecError, discover, load_notebook

CELL = """seed = 0          # random seed
n_train = 2000    # training trajectories
lr = 1e-3         # learning rate
device = "cpu"    # torch device
verbose = False   # print more
"""


def test_parse_gives_names_defaults_types_and_comments():
    params = parse_parameters(CELL, "nb")
    assert [(p.name, p.default, p.type_name, p.comment) for p in params] == [
        ("seed", 0, "int", "random seed"), ("n_train", 2000, "int", "training trajectories"),
        ("lr", 1e-3, "float", "learning rate"), ("device", "cpu", "str", "torch device"),
        ("verbose", False, "bool", "print more")]


@pytest.mark.parametrize("source, needle", [
    ("n = 2 * 3  # derived\n", "literal scalar"),
    ("n = 3\n", "inline '# comment'"),
    ("import numpy  # no\n", "flat 'name = value"),
    ("x = [1, 2]  # a list\n", "bool, int, float, str or None"),
    ("a = 1  # one\na = 2  # two\n", "assigned twice"),
])
def test_malformed_cells_are_rejected(source, needle):
    with pytest.raises(ParameterError) as err:
        parse_parameters(source, "nb.md")
    assert needle in str(err.value) and "nb.md" in str(err.value)


def test_unknown_name_is_named_and_valid_parameters_listed():
    params = parse_parameters(CELL, "nb")
    with pytest.raises(ParameterError) as err:
        check_values({"n_trian": 5, "seeed": 1}, params, "02_x")
    message = str(err.value)
    assert "unknown parameters n_trian, seeed" in message
    assert "n_train: int = 2000  # training trajectories" in message
    assert "lr: float = 0.001" in message


@pytest.mark.parametrize("name, value", [("n_train", "many"), ("n_train", 2.5), ("n_train", True),
                                         ("verbose", 1), ("device", 3), ("lr", "fast")])
def test_wrong_type_is_rejected_with_expected_type(name, value):
    params = parse_parameters(CELL, "nb")
    with pytest.raises(ParameterError) as err:
        check_values({name: value}, params, "nb")
    assert f"{name} expects" in str(err.value) and repr(value) in str(err.value)


def test_int_is_accepted_for_float_and_converted():
    checked = check_values({"lr": 1, "seed": 3}, parse_parameters(CELL, "nb"), "nb")
    assert checked == {"lr": 1.0, "seed": 3} and type(checked["lr"]) is float


@pytest.mark.parametrize("text, value", [("3", 3), ("0.5", 0.5), ("1e-3", 1e-3), ("True", True),
                                         ("false", False), ("None", None), ("cpu", "cpu"),
                                         ("'3'", "3"), ("[1,2]", "[1,2]")])
def test_cli_values_are_parsed_as_literals(text, value):
    assert parse_cli_value(text) == value and type(parse_cli_value(text)) is type(value)


def _write(tmp_path, name, body, profile):
    nb = tmp_path / f"{name}.md"
    nb.write_text("---\njupytext:\n  text_representation:\n    format_name: myst\nkernelspec:\n"
                  "  name: python3\n  display_name: Python 3\n  language: python\n---\n\n# T\n\n"
                  "```{code-cell} ipython3\n:tags: [parameters]\n\n" + body + "```\n")
    (tmp_path / "profiles").mkdir(exist_ok=True)
    if profile is not None:
        (tmp_path / "profiles" / f"{name}.yaml").write_text(profile)
    return nb


def test_profile_with_unknown_parameter_is_rejected(tmp_path):
    nb = _write(tmp_path, "01_a", "n = 3  # size\n", "ci: {m: 1}\ndefault: {}\npaper: {}\n")
    with pytest.raises(NotebookSpecError) as err:
        load_notebook(nb)
    assert "01_a.yaml profile 'ci'" in str(err.value) and "unknown parameter m" in str(err.value)


def test_profile_with_wrong_type_is_rejected(tmp_path):
    nb = _write(tmp_path, "01_a", "n = 3  # size\n", "ci: {n: 0.5}\ndefault: {}\npaper: {}\n")
    with pytest.raises(NotebookSpecError, match="n expects int"):
        load_notebook(nb)


def test_default_profile_must_equal_the_cell(tmp_path):
    nb = _write(tmp_path, "01_a", "n = 3  # size\n", "ci: {}\ndefault: {n: 4}\npaper: {}\n")
    with pytest.raises(NotebookSpecError, match=r"n=4 \(cell: 3\)"):
        load_notebook(nb)


def test_missing_profile_file_and_missing_profile_are_reported(tmp_path):
    nb = _write(tmp_path, "01_a", "n = 3  # size\n", None)
    with pytest.raises(NotebookSpecError, match="profile file .*01_a.yaml is missing"):
        load_notebook(nb)
    (tmp_path / "profiles" / "01_a.yaml").write_text("ci: {}\ndefault: {}\n")
    with pytest.raises(NotebookSpecError, match=r"missing profiles \['paper'\]"):
        load_notebook(nb)


def test_first_code_cell_must_be_tagged_parameters(tmp_path):
    nb = tmp_path / "01_a.md"
    nb.write_text("# T\n\n```{code-cell} ipython3\nn = 3  # size\n```\n")
    with pytest.raises(NotebookSpecError, match="tagged 'parameters'"):
        load_notebook(nb)


def test_depends_must_name_an_earlier_notebook(tmp_path):
    _write(tmp_path, "01_a", "n = 3  # size\n", "depends: [02_b]\nci: {}\ndefault: {}\npaper: {}\n")
    _write(tmp_path, "02_b", "n = 3  # size\n", "ci: {}\ndefault: {}\npaper: {}\n")
    with pytest.raises(NotebookSpecError, match=r"01_a: depends on \['02_b'\]"):
        discover(tmp_path)


def test_merged_parameters_layer_cell_profile_and_overrides(tmp_path):
    nb = _write(tmp_path, "01_a", "n = 3  # size\nx = 1.0  # scale\n",
                "ci: {n: 1}\ndefault: {}\npaper: {n: 100}\n")
    spec = load_notebook(nb)
    assert spec.merged_parameters("default") == {"n": 3, "x": 1.0}
    assert spec.merged_parameters("ci") == {"n": 1, "x": 1.0}
    assert spec.merged_parameters("paper", {"x": 2}) == {"n": 100, "x": 2.0}
    with pytest.raises(NotebookSpecError, match="unknown profile 'fast'"):
        spec.merged_parameters("fast")


def test_a_profile_parameter_receives_the_build_profile(tmp_path):
    nb = _write(tmp_path, "01_a", "profile = 'default'  # suite sizes\nn = 3  # size\n",
                "ci: {n: 1}\ndefault: {}\npaper: {}\n")
    spec = load_notebook(nb)
    assert spec.merged_parameters("ci") == {"profile": "ci", "n": 1}
    assert spec.merged_parameters("paper")["profile"] == "paper"
    assert spec.merged_parameters("paper", {"profile": "ci"})["profile"] == "ci"   # explicit wins
    bad = _write(tmp_path, "02_b", "profile = 'ci'  # suite sizes\n", "ci: {}\ndefault: {}\npaper: {}\n")
    with pytest.raises(NotebookSpecError, match="cell default must be 'default', got 'ci'"):
        load_notebook(bad)


@pytest.mark.parametrize("profile, needle", [
    ("ci: 0\ndefault: {}\npaper: {}\n", "profile 'ci' must be a mapping of parameter overrides (may be {}), got 0"),
    ("ci: []\ndefault: {}\npaper: {}\n", "profile 'ci' must be a mapping of parameter overrides (may be {}), got []"),
    ("depends: 0\nci: {}\ndefault: {}\npaper: {}\n", "'depends' must be a list of notebook stems, got 0"),
    ("ci: {n: 1}\nci: {n: 2}\ndefault: {}\npaper: {}\n", "duplicate key 'ci'"),
    ("ci: {n: 1, n: 2}\ndefault: {}\npaper: {}\n", "duplicate key 'n'"),
    ("ci: {1: 2}\ndefault: {}\npaper: {}\n", "key 1 (int) is not a name; keys must be strings"),
    ("1: {}\nci: {}\ndefault: {}\npaper: {}\n", "key 1 (int) is not a name; keys must be strings"),
    ("- ci\n", "expected a mapping with keys ci, default, paper, depends, got ['ci']"),
])
def test_malformed_profile_files_are_named(tmp_path, profile, needle):
    nb = _write(tmp_path, "01_a", "n = 3  # size\n", profile)
    with pytest.raises(NotebookSpecError) as err:
        load_notebook(nb)
    assert needle in str(err.value) and "01_a.yaml" in str(err.value)


def test_an_empty_profile_entry_means_no_overrides(tmp_path):
    spec = load_notebook(_write(tmp_path, "01_a", "n = 3  # size\n", "ci:\ndefault: {}\npaper: {}\n"))
    assert spec.profiles["ci"] == {} and spec.depends == []


@pytest.mark.parametrize("text, value", [("1e-3", 1e-3), ("-2.5E+2", -250.0), ("3", 3), ("1.5", 1.5)])
def test_profile_numbers_are_read_as_yaml_1_2(tmp_path, text, value):
    nb = _write(tmp_path, "01_a", "lr = 0.1  # learning rate\nn = 3  # size\n",
                f"ci: {{{'n' if isinstance(value, int) else 'lr'}: {text}}}\ndefault: {{}}\npaper: {{}}\n")
    (got,) = load_notebook(nb).profiles["ci"].values()
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("where", ["notebook", "profile"])
def test_a_file_that_is_not_utf8_is_named(tmp_path, where):
    nb = _write(tmp_path, "01_a", "n = 3  # size\n", "ci: {}\ndefault: {}\npaper: {}\n")
    path = nb if where == "notebook" else tmp_path / "profiles" / "01_a.yaml"
    path.write_bytes(path.read_bytes() + "\n# caf\u00e9\n".encode("latin-1"))
    with pytest.raises(NotebookSpecError, match=rf"{path.name}: not UTF-8 text \(byte 0xe9 at offset"):
        load_notebook(nb)


def test_a_parameter_name_that_is_not_a_string_is_named():
    with pytest.raises(ParameterError, match=r"parameter names must be strings, got 1 \(int\)"):
        check_values({1: 2, "seed": 0}, parse_parameters(CELL, "nb"), "nb")


@pytest.mark.parametrize("value", ["gpu", "ci,paper", ""])
def test_a_profile_parameter_outside_the_profiles_is_refused_naming_them(tmp_path, value):
    spec = load_notebook(_write(tmp_path, "01_a", "profile = 'default'  # suite sizes\n",
                                "ci: {}\ndefault: {}\npaper: {}\n"))
    with pytest.raises(ParameterError, match=f"profile must be one of ci, default, paper; got '{value}'"):
        spec.merged_parameters("ci", {"profile": value})


def test_choices_refuse_values_outside_them_and_every_bad_item_of_a_list():
    params = parse_parameters("tasks = 'sine'  # tasks\nlayout = 'umaze'  # maze layout\n", "nb")
    choices = {"tasks": Choices(("sine", "cone"), many=True), "layout": Choices(("umaze", "large"))}
    assert check_values({"tasks": "cone, sine", "layout": "large"}, params, "nb", choices) == {
        "tasks": "cone, sine", "layout": "large"}
    with pytest.raises(ParameterError) as err:
        check_values({"tasks": "sine,maze", "layout": "umaze,large"}, params, "nb", choices)
    assert ("tasks must be a comma-separated list of sine, cone; got 'sine,maze'" in str(err.value)
            and "layout must be one of umaze, large; got 'umaze,large'" in str(err.value))
