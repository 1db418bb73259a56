"""The ``misgen`` command on the book's own chapters: its help, ``params`` with the suite sizes,
and parameter values refused before any kernel starts."""
from __future__ import annotations

import importlib

import pytest

from misgen_lib import chapter_parameters
from misgen_lib.cli import main
from misgen_lib.runner import Project, discover
from misgen_lib.studies.config import suite_config
from misgen_lib.vocabulary import PROFILES

build_module = importlib.import_module("misgen_lib.runner.build")  # the module, not the function
ROOT = str(Project().root)


def test_help_is_a_short_usage_text(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    text = capsys.readouterr().out
    assert done.value.code == 0 and "misgen run 01 -p n 500" in text
    assert "``" not in text and len(text.splitlines()) < 40


@pytest.mark.parametrize("chapter, name, value, needle", [
    ("02", "profile", "gpu", "profile must be one of ci, default, paper; got 'gpu'"),
    ("01", "tasks", "sine,tokamak", "tasks must be a comma-separated list of"),
    ("01", "maze_layout", "huge", "maze_layout must be one of large, medium, umaze"),
    ("06", "interventions", "resample,pray", "interventions must be a comma-separated list of"),
])
def test_a_bad_value_is_refused_before_a_kernel_starts(monkeypatch, capsys, chapter, name, value, needle):
    def must_not_run(*args, **kwargs):
        raise AssertionError("a notebook was executed")
    monkeypatch.setattr(build_module, "_execute_and_render", must_not_run)
    assert main(["--root", ROOT, "run", chapter, "-p", name, value, "--no-render"]) == 2
    assert needle in capsys.readouterr().err


def test_the_chapters_own_values_are_valid_choices():
    choices = chapter_parameters.choices()
    for spec in discover(Project().notebooks_dir):
        for profile in PROFILES:
            values = spec.merged_parameters(profile)
            spec.merged_parameters(profile, {k: v for k, v in values.items() if k in choices}, choices)


def test_params_shows_the_suite_sizes_of_every_profile(capsys):
    assert main(["--root", ROOT, "params", "05"]) == 0
    text = capsys.readouterr().out
    configs = [suite_config("applied", profile) for profile in PROFILES]
    assert "suite 'applied'" in text
    assert " | ".join(str(c.n_train) for c in configs) in text
    steps = " | ".join(str(c.model_config("diffusion-unet", "maze").train_steps) for c in configs)
    assert "steps maze x diffusion-unet" in text and steps in text
