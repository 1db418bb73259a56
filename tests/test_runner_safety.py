"""The pipeline never shows a stale or foreign result as current: one build at a time, Ctrl-C,
a killed build, a cell past its timeout, a dead kernel, ``misgen run`` and the chapters that
depend on it, a cleared cache, no network. On the fixture notebooks; ``02_downstream``'s
``misbehave`` parameter makes its first cell hang, kill its kernel or reach for the network."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import nbformat
import pytest

from conftest import OFFLINE, build_quietly, executed_stems

from misgen_lib.cli import main
from misgen_lib.runner import ParameterError, cell_timeout, run_one
from misgen_lib.runner.lock import build_lock



def _manifest(project):
    return json.loads(project.manifest_path.read_text())


def _misgen(project, *args):
    """``misgen --root <project> ARGS`` in a new process group, as a terminal runs it: with the
    default action of SIGINT even where the tests run with it ignored (a background job)."""
    return subprocess.Popen([sys.executable, "-m", "misgen_lib.cli", "--root", str(project.root), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_until_hanging(project, proc):
    """Until 02_downstream's hanging cell runs (it creates notebooks/hanging)."""
    marker = project.notebooks_dir / "hanging"
    for _ in range(6000):
        if marker.exists():
            return
        if proc.poll() is not None:
            pytest.fail(f"the build ended before the hanging cell: {proc.communicate()}")
        time.sleep(0.1)
    pytest.fail("the hanging cell did not start within 10 minutes")


def _only_cell(project, stem):
    nb = nbformat.read(project.executed(stem), as_version=4)
    assert len(nb.cells) == 1, f"{stem} is not a notice page"
    return nb.cells[0].source


def test_a_second_build_is_refused_while_one_runs_and_ctrl_c_stops_it_cleanly(fixture_project, capsys):
    project = fixture_project
    holder = _misgen(project, "run", "02", "-p", "misbehave", "hang", "--profile", "ci", "--no-render")
    try:
        _wait_until_hanging(project, holder)
        before = project.manifest_path.read_text()
        assert main(["--root", str(project.root), "build", "--profile", "ci", "--no-render"]) == 1
        err = capsys.readouterr().err
        assert f"another misgen build is running on this checkout: pid {holder.pid}" in err
        assert "misgen run 02_downstream" in err and str(project.lock_path) in err
        assert project.manifest_path.read_text() == before   # the refused build wrote nothing
        assert not project.executed("01_prior").exists()
        os.killpg(holder.pid, signal.SIGINT)                  # Ctrl-C in the holder's terminal
        out, err = holder.communicate(timeout=300)
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
    assert holder.returncode == 130, err
    assert err.startswith("misgen: interrupted: notebook 02_downstream failed in cell In [")
    assert "time.sleep(3600)" in err and "Traceback" not in err   # the kernel's own log aside
    kept = nbformat.read(project.failed_dir / "02_downstream.ipynb", as_version=4)
    assert any("time.sleep(3600)" in c.source for c in kept.cells)   # partial output kept
    assert "failed to execute" in _only_cell(project, "02_downstream")
    assert _manifest(project)["02_downstream"]["status"] == "failed"
    with build_lock(project.lock_path, "test"):   # the lock was released
        pass


def test_a_killed_build_resumes_without_rerunning_finished_notebooks(fixture_project):
    project = fixture_project
    profile = project.notebooks_dir / "profiles" / "02_downstream.yaml"
    original = profile.read_text()
    profile.write_text(original.replace("ci: {n_samples: 200}", "ci: {n_samples: 200, misbehave: hang}"))
    proc = _misgen(project, "build", "--profile", "ci", "--no-render")
    try:
        _wait_until_hanging(project, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)   # no clean-up of any kind runs
        proc.communicate()
    manifest = _manifest(project)
    assert manifest["01_prior"]["status"] == "ok" and manifest["02_downstream"]["status"] == "running"
    assert not project.executed("02_downstream").exists()   # no partial output is shown
    assert list(project.partial_dir.iterdir())               # what the killed build left
    profile.write_text(original)
    manifest, lines = build_quietly(project, profile="ci")
    assert executed_stems(lines) == ["02_downstream"]             # 01_prior had finished
    assert manifest["02_downstream"]["status"] == "ok"
    assert not list(project.partial_dir.glob("*"))           # temporary files cleaned


def test_a_cell_past_the_timeout_is_stopped_with_a_clear_error(fixture_project):
    proc = _misgen(fixture_project, "run", "02", "-p", "misbehave", "hang", "--cell-timeout", "5",
                   "--profile", "ci", "--no-render")
    out, err = proc.communicate(timeout=300)   # a hung build fails here instead of hanging CI
    assert proc.returncode == 1, err
    assert "notebook 02_downstream failed in cell In [" in err and "time.sleep(3600)" in err
    assert "CellTimeout: the cell ran longer than the cell timeout of 5 s" in err
    assert "Traceback" not in err
    assert "CellTimeout" in _only_cell(fixture_project, "02_downstream")
    assert (fixture_project.failed_dir / "02_downstream.ipynb").exists()


def test_a_dead_kernel_is_reported_with_its_cell(fixture_project):
    proc = _misgen(fixture_project, "run", "02", "-p", "misbehave", "exit", "--profile", "ci", "--no-render")
    out, err = proc.communicate(timeout=300)   # before the fix this hung for ever
    assert proc.returncode == 1, err
    assert "notebook 02_downstream failed in cell In [" in err and "os._exit(1)" in err
    assert "DeadKernel: the kernel died while the cell ran" in err
    assert "DeadKernel" in _only_cell(fixture_project, "02_downstream")
    kept = nbformat.read(fixture_project.failed_dir / "02_downstream.ipynb", as_version=4)
    assert any("os._exit(1)" in c.source for c in kept.cells)


@pytest.mark.parametrize("value", ["abc", "-1", "nan"])
def test_a_bad_cell_timeout_is_named(value, monkeypatch):
    with pytest.raises(ParameterError, match=f"--cell-timeout must be a number of seconds >= 0.*got '{value}'"):
        cell_timeout("ci", value)
    monkeypatch.setenv("MISGEN_CELL_TIMEOUT", value)
    with pytest.raises(ParameterError, match=f"MISGEN_CELL_TIMEOUT must be a number.*got '{value}'"):
        cell_timeout("ci")


def test_cell_timeout_comes_from_flag_then_environment_then_profile(monkeypatch):
    monkeypatch.delenv("MISGEN_CELL_TIMEOUT", raising=False)
    assert (cell_timeout("ci"), cell_timeout("paper")) == (600, 12 * 3600)
    monkeypatch.setenv("MISGEN_CELL_TIMEOUT", "30")
    assert cell_timeout("ci") == 30 and cell_timeout("ci", "7") == 7 and cell_timeout("ci", 0) is None


def test_run_marks_the_chapters_that_depend_on_it_stale(fixture_project):
    build_quietly(fixture_project, profile="ci")
    lines = []
    run_one("01", {"n_samples": 30}, fixture_project, profile="ci", render=False, echo=lines.append)
    assert "! 02_downstream depend on 01_prior (depends: in their profile files)" in "\n".join(lines)
    entry = _manifest(fixture_project)["02_downstream"]
    assert entry["status"] == "stale"
    assert "01_prior was re-run with overrides {'n_samples': 30}" in entry["stale_reason"]
    cells = nbformat.read(fixture_project.executed("02_downstream"), as_version=4).cells
    assert cells[1].source.startswith("```{warning}\nOut of date: 01_prior was re-run")
    _, lines = build_quietly(fixture_project, profile="ci")
    assert executed_stems(lines) == ["01_prior", "02_downstream"]
    assert "last status 'stale'" in [line for line in lines if "02_downstream" in line][0]


def test_a_cleared_cache_reruns_the_notebooks_that_made_or_used_it(fixture_project, monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    monkeypatch.setenv("MISGEN_CACHE_DIR", str(cache))
    manifest, _ = build_quietly(fixture_project, profile="ci")
    for stem in ("01_prior", "02_downstream"):
        assert [a["kind"] for a in manifest[stem]["artifacts"]] == ["draws"]
    shutil.rmtree(cache)
    downstream = fixture_project.notebooks_dir / "02_downstream.md"
    downstream.write_text(downstream.read_text() + "\nAn added sentence.\n")
    manifest, lines = build_quietly(fixture_project, profile="ci")   # 02 alone would miss its artifact
    assert executed_stems(lines) == ["01_prior", "02_downstream"]
    assert "cache entries it made or used are gone: draws/" in lines[1]
    shutil.rmtree(cache)
    lines = []
    run_one("01", None, fixture_project, profile="ci", render=False, echo=lines.append)
    assert executed_stems(lines) == ["01_prior"]                    # not skipped as unchanged


def test_notebooks_run_without_network(fixture_project, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(OFFLINE), prepend=os.pathsep)   # inherited by the kernels
    build_quietly(fixture_project, profile="ci")
    run_one("02", {"misbehave": "network"}, fixture_project, profile="ci", render=False,
            echo=lambda line: None)
    nb = nbformat.read(fixture_project.executed("02_downstream"), as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "network: [Errno -2] misgen tests: networking is disabled in this build" in text

