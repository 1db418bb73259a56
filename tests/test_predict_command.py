"""``misgen predict``: a table and a plot for a valid task and kernel, clear errors otherwise."""
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
