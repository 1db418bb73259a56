"""``misgen predict``: a table and a plot for a valid task and kernel (registered, or a class in a
file), clear errors otherwise."""
import re
from pathlib import Path

import pytest

import misgen_lib as mg
from kernel_toy_task import RMSAmplitude
from misgen_lib.predict_command import main
from misgen_lib.tasks import base


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(base._REGISTRY, RMSAmplitude.name, RMSAmplitude)
    return RMSAmplitude.name


def test_unknown_task_is_rejected_listing_valid_tasks(capsys):
    assert main(["--task", "tokamak", "--kernel", "white"]) == 2
    err = capsys.readouterr().err
    assert "unknown task 'tokamak'" in err
    for name in mg.tasks.available():
        assert name in err


def test_unknown_kernel_is_rejected_listing_valid_kernels(capsys, toy_registered):
    assert main(["predict", "--task", toy_registered, "--kernel", "pink"]) == 2
    err = capsys.readouterr().err
    assert "unknown kernel 'pink'" in err
    for name in mg.kernel.families():
        assert name in err


def test_bad_scale_is_rejected(capsys, toy_registered):
    assert main(["--task", toy_registered, "--kernel", "white", "--scale", "-1"]) == 2
    assert "scale must be a finite number >= 0, got -1.0" in capsys.readouterr().err


def test_prediction_prints_a_table_and_saves_a_plot(capsys, tmp_path, toy_registered):
    out = tmp_path / "pred.png"
    assert main(["--task", toy_registered, "--kernel", "white", "--scale", "0.3", "--n", "2000",
                 "--bins", "8", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    rows = [line for line in text.splitlines() if line.strip().startswith("[")]
    assert len(rows) == 8 + 2                          # bins plus the two overflow bins
    assert rows[-1].endswith("gain")                   # the RMS is biased up: mass leaves the top
    assert out.exists() and out.stat().st_size > 1000


def test_probe_and_calibrated_families_from_a_short_run(capsys):
    assert main(["--task", "sine", "--kernel", "probe"]) == 2
    assert "needs --model" in capsys.readouterr().err
    assert main(["--task", "sine", "--kernel", "white", "--model", "gan"]) == 2
    assert "unknown model class 'gan'" in capsys.readouterr().err
    assert main(["--task", "sine", "--kernel", "white", "--model", "vae", "--scale", "0.1"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["--task", "sine", "--kernel", "probe", "--model", "vae", "--calibrate-steps", "5",
                 "--n", "200", "--bins", "5"]) == 0
    assert "kernel probe(model=vae" in capsys.readouterr().out
    assert main(["--task", "sine", "--kernel", "correlated", "--model", "diffusion-mlp",
                 "--calibrate-steps", "5", "--n", "200", "--bins", "5"]) == 0
    out = capsys.readouterr().out
    assert "kernel correlated(scale=" in out and "predicted total variation" in out


#: the worked example of book/extending.md: the file ``ramp.py`` and what the command prints
BOOK = (Path(__file__).resolve().parents[1] / "book" / "extending.md").read_text()
RAMP = re.search(r"Save the class as `ramp.py`.*?```python\n(.*?)```", BOOK, re.S).group(1)
BOOK_RUN = re.search(r"\$ misgen predict (--task ramp.py:Ramp .*?)\n(.*?)```", BOOK, re.S)


@pytest.fixture
def ramp_file(tmp_path):
    path = tmp_path / "ramp.py"
    path.write_text(RAMP)
    return path


def test_a_task_from_a_file_is_predicted_as_the_book_shows(capsys, ramp_file, monkeypatch):
    monkeypatch.chdir(ramp_file.parent)
    assert main(BOOK_RUN.group(1).split()) == 0
    shown, printed = BOOK_RUN.group(2).splitlines(), capsys.readouterr().out.splitlines()
    assert printed[0].startswith("task ramp: slope over [0.5, 2.0]; kernel white(scale=0.05); monte-carlo")
    assert printed[1:] == shown[1:]                    # all but the first line's seconds
    assert "ramp" not in mg.tasks.available()          # a file's task needs no registration


def _error(capsys, value: str) -> str:
    assert main(["--task", value, "--kernel", "white"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err


def test_a_missing_file_or_class_is_an_error(capsys, tmp_path, ramp_file):
    err = _error(capsys, f"{tmp_path}/nowhere.py:Ramp")
    assert f"--task '{tmp_path}/nowhere.py:Ramp': no file {tmp_path}/nowhere.py" in err
    assert f"name the class too, as {ramp_file}:ClassName" in _error(capsys, str(ramp_file))


def test_a_file_that_fails_to_import_says_why(capsys, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import numpy as np\nraise RuntimeError('no slope today')\n")
    assert "importing" in (err := _error(capsys, f"{broken}:Ramp"))
    assert "failed: RuntimeError: no slope today" in err
    broken.write_text("class Ramp(:\n")
    assert "SyntaxError" in _error(capsys, f"{broken}:Ramp")


def test_a_class_not_in_the_file_lists_the_tasks_it_has(capsys, ramp_file):
    err = _error(capsys, f"{ramp_file}:Slope")
    assert f"{ramp_file} has no class 'Slope'; Task subclasses in {ramp_file}: Ramp" in err


def test_a_class_that_is_not_a_task_is_an_error(capsys, ramp_file):
    ramp_file.write_text(RAMP + "\n\nclass Helper:\n    pass\n")
    err = _error(capsys, f"{ramp_file}:Helper")
    assert "Helper is not a subclass of misgen_lib.tasks.Task" in err and f"{ramp_file}: Ramp" in err


def test_a_wrong_measurement_is_an_error(capsys, ramp_file):
    ramp_file.write_text(RAMP.replace("((t - t.mean()) ** 2).sum()", "((t - t.mean()) ** 2).sum() * 1.01"))
    err = _error(capsys, f"{ramp_file}:Ramp")
    assert "measure(generate(q, xi)) does not give back q within measure_tolerance 1e-06 on 16 of 16 draws" in err
    assert "worst: q = 2 is measured as 2.02 (error 0.02)" in err
