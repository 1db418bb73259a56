"""The runner on the small fixture notebooks: execution, keys and skipping, manifest,
failure reporting, the ``misgen`` command. Rendering is covered in test_book.py; locks, timeouts,
dead kernels, interrupts, stale dependants and the cache in test_runner_safety.py."""
from __future__ import annotations

import importlib
import json
import shutil
import sys
from types import SimpleNamespace

import nbformat
import pytest

from conftest import build_quietly, executed_stems

from misgen_lib import provenance
from misgen_lib.figures import read_provenance
from misgen_lib.runner import NotebookFailed, run_one
from misgen_lib.cli import main

build_module = importlib.import_module("misgen_lib.runner.build")  # the module, not the function


def _outputs(path, kind):
    nb = nbformat.read(path, as_version=4)
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if kind(o)]


def test_build_executes_in_order_with_profile_and_records_manifest(fixture_project):
    manifest, lines = build_quietly(fixture_project, profile="ci")
    assert executed_stems(lines) == ["01_prior", "02_downstream"]
    for stem in ("01_prior", "02_downstream"):
        entry = manifest[stem]
        assert entry["status"] == "ok" and entry["profile"] == "ci" and entry["duration_s"] > 0
        assert entry["host"] == provenance.host_description()   # the CPU and its bfloat16 units
        assert fixture_project.executed(stem).exists()
    assert manifest["01_prior"]["parameters"]["n_samples"] == 200  # the ci profile's value
    on_disk = json.loads(fixture_project.manifest_path.read_text())
    assert on_disk["01_prior"]["key"] == manifest["01_prior"]["key"]
    assert not list(fixture_project.notebooks_dir.glob("*.ipynb"))  # nothing in the source tree
    injected = [c for c in nbformat.read(fixture_project.executed("01_prior"), as_version=4).cells
                if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected[0].source.startswith("# Parameters of this run (profile ci)")
    assert "n_samples = 200" in injected[0].source


def test_kernel_is_this_interpreter_and_sees_the_run(fixture_project):
    build_quietly(fixture_project, profile="ci")
    text = "".join(o.get("text", "") for o in _outputs(fixture_project.executed("01_prior"),
                                                       lambda o: o.output_type == "stream"))
    assert f"kernel python: {sys.executable}" in text
    assert "notebook env: 01_prior ci" in text


def test_figure_is_saved_with_provenance_and_displayed(fixture_project):
    build_quietly(fixture_project, profile="ci")
    png = fixture_project.figures_dir / "01_prior" / "prior_histogram.png"
    info = read_provenance(png)
    assert (info["notebook"], info["profile"], info["seed"]) == ("01_prior", "ci", "0")
    images = _outputs(fixture_project.executed("01_prior"), lambda o: "image/png" in o.get("data", {}))
    assert len(images) == 1
    captions = _outputs(fixture_project.executed("01_prior"), lambda o: "text/markdown" in o.get("data", {}))
    assert "notebook `01_prior` · profile `ci` · seed `0`" in captions[0]["data"]["text/markdown"]


def test_no_change_rebuild_executes_nothing(fixture_project):
    first, _ = build_quietly(fixture_project, profile="ci")
    mtime = fixture_project.executed("01_prior").stat().st_mtime_ns
    second, lines = build_quietly(fixture_project, profile="ci")
    assert executed_stems(lines) == []
    assert all(second[s]["reused"] and second[s]["key"] == first[s]["key"] for s in second)
    assert fixture_project.executed("01_prior").stat().st_mtime_ns == mtime


def test_a_library_edit_reruns_the_notebooks_that_run_that_code_and_a_runner_edit_none(fixture_project, monkeypatch, tmp_path):
    """A real edit of a library source file, in a copy of the package the keys are taken from:
    ``priors.py`` is in both notebooks' import closure (``mg.priors``), the runner in neither."""
    library = tmp_path / "misgen_lib"
    shutil.copytree(provenance.PACKAGE_DIR, library, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(provenance, "PACKAGE_DIR", library)
    build_quietly(fixture_project, profile="ci")
    (library / "priors.py").write_text((library / "priors.py").read_text() + "\n# an edit\n")
    _, lines = build_quietly(fixture_project, profile="ci")
    assert executed_stems(lines) == ["01_prior", "02_downstream"]
    for unrelated in ("runner/build.py", "cli.py", "kernel/probe.py"):
        (library / unrelated).write_text((library / unrelated).read_text() + "\n# an edit\n")
    (library / "notes.txt").write_text("not code")   # only Python sources are part of the key
    _, lines = build_quietly(fixture_project, profile="ci")
    assert executed_stems(lines) == []


def test_an_upgrade_of_a_numerical_package_reruns_everything(fixture_project, monkeypatch):
    build_quietly(fixture_project, profile="ci")
    upgraded = {**provenance.package_versions(), "scipy": "99.0"}
    monkeypatch.setattr(build_module, "package_versions", lambda: upgraded)
    _, lines = build_quietly(fixture_project, profile="ci")
    assert executed_stems(lines) == ["01_prior", "02_downstream"]


def test_an_upgrade_of_matplotlib_reruns_everything(fixture_project, monkeypatch):
    """Figures' bytes depend on matplotlib, so the notebooks' keys name its version."""
    build_quietly(fixture_project, profile="ci")
    monkeypatch.setattr(build_module, "metadata", SimpleNamespace(version=lambda name: "99.0"))
    _, lines = build_quietly(fixture_project, profile="ci")
    assert executed_stems(lines) == ["01_prior", "02_downstream"]


def test_upstream_edit_reruns_downstream_but_not_the_reverse(fixture_project):
    build_quietly(fixture_project, profile="ci")
    downstream = fixture_project.notebooks_dir / "02_downstream.md"
    downstream.write_text(downstream.read_text() + "\nAn added sentence.\n")
    _, lines = build_quietly(fixture_project, profile="ci")
    assert executed_stems(lines) == ["02_downstream"]
    upstream = fixture_project.notebooks_dir / "01_prior.md"
    upstream.write_text(upstream.read_text() + "\nAn added sentence.\n")
    _, lines = build_quietly(fixture_project, profile="ci")
    assert executed_stems(lines) == ["01_prior", "02_downstream"]


def test_profile_change_reruns_and_force_reruns(fixture_project):
    build_quietly(fixture_project, profile="ci")
    _, lines = build_quietly(fixture_project, profile="default")
    assert executed_stems(lines) == ["01_prior", "02_downstream"]
    _, lines = build_quietly(fixture_project, profile="default", force=True)
    assert executed_stems(lines) == ["01_prior", "02_downstream"]


def test_unreadable_manifest_is_reported_and_everything_reruns(fixture_project):
    build_quietly(fixture_project, profile="ci")
    fixture_project.manifest_path.write_text("{truncated")
    with pytest.warns(UserWarning, match="unreadable"):
        _, lines = build_quietly(fixture_project, profile="ci")
    assert executed_stems(lines) == ["01_prior", "02_downstream"]


def test_deleted_notebook_leaves_no_page(fixture_project):
    build_quietly(fixture_project, profile="ci")
    (fixture_project.notebooks_dir / "02_downstream.md").unlink()
    (fixture_project.notebooks_dir / "profiles" / "02_downstream.yaml").unlink()
    manifest, _ = build_quietly(fixture_project, profile="ci")
    assert not fixture_project.executed("02_downstream").exists() and "02_downstream" not in manifest


def test_failure_names_notebook_and_cell_keeps_partial_output_and_hides_stale_results(fixture_project):
    build_quietly(fixture_project, profile="ci")
    profile = fixture_project.notebooks_dir / "profiles" / "01_prior.yaml"
    profile.write_text(profile.read_text().replace("n_samples: 200", "n_samples: 200, fail: true"))
    with pytest.raises(NotebookFailed) as err:
        build_quietly(fixture_project, profile="ci")
    message = str(err.value)
    assert "notebook 01_prior failed in cell In [" in message
    assert 'raise RuntimeError("failing on purpose")' in message  # the failing cell's source
    assert "RuntimeError: failing on purpose" in message and "----> 2" in message  # the traceback
    partial = fixture_project.failed_dir / "01_prior.ipynb"
    assert err.value.partial_output == partial and partial.exists()
    errors = _outputs(partial, lambda o: o.output_type == "error")
    assert errors and errors[0]["evalue"] == "failing on purpose"
    # stale results are gone: no figure, the page is a notice, the downstream page too
    assert not list((fixture_project.figures_dir / "01_prior").glob("*.png"))
    for stem, words in (("01_prior", "failed to execute"), ("02_downstream", "was not executed")):
        nb = nbformat.read(fixture_project.executed(stem), as_version=4)
        assert len(nb.cells) == 1 and words in nb.cells[0].source
    manifest = json.loads(fixture_project.manifest_path.read_text())
    assert manifest["01_prior"]["status"] == "failed" and manifest["02_downstream"]["status"] == "not run"


def test_cli_run_rejects_bad_parameters_before_executing(fixture_project, capsys):
    root = str(fixture_project.root)
    code = main(["--root", root, "run", "01", "-p", "n_sample", "10", "-p", "seed", "x", "--no-render"])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown parameter n_sample" in err and "seed expects int (default 0), got 'x' (str)" in err
    assert "valid parameters:" in err and "n_samples: int = 500  # number of draws" in err
    assert not fixture_project.manifest_path.exists()  # nothing ran
    assert main(["--root", root, "run", "07", "--no-render"]) == 2
    assert "no notebook '07'; available: 01_prior, 02_downstream" in capsys.readouterr().err


def test_cli_run_executes_one_notebook_with_overrides(fixture_project, capsys):
    root = str(fixture_project.root)
    assert main(["--root", root, "run", "01_prior", "-p", "n_samples", "30", "--profile", "ci",
                 "--no-render"]) == 0
    manifest = json.loads(fixture_project.manifest_path.read_text())
    assert list(manifest) == ["01_prior"]
    assert manifest["01_prior"]["overrides"] == {"n_samples": 30}
    assert manifest["01_prior"]["profile"] == "ci+overrides"
    info = read_provenance(fixture_project.figures_dir / "01_prior" / "prior_histogram.png")
    assert info["profile"] == "ci+overrides"


def test_cli_failure_exits_nonzero_with_the_traceback(fixture_project, capsys):
    code = main(["--root", str(fixture_project.root), "run", "01", "-p", "fail", "True", "--no-render"])
    err = capsys.readouterr().err
    assert code == 1 and "notebook 01_prior failed in cell In [" in err and "failing on purpose" in err


def test_run_one_api_validates_like_the_cli(fixture_project):
    from misgen_lib.runner import ParameterError
    with pytest.raises(ParameterError, match="unknown parameter bogus"):
        run_one("01", {"bogus": 1}, fixture_project, render=False)


def _fake_plan(stem, depends=()):
    from types import SimpleNamespace
    return SimpleNamespace(spec=SimpleNamespace(stem=stem, depends=list(depends)))


def test_notebooks_side_by_side_start_once_what_they_depend_on_is_done():
    import threading
    import time
    events, lock = [], threading.Lock()

    def run(p):
        with lock:
            events.append(("start", p.spec.stem))
        time.sleep(0.3)
        with lock:
            events.append(("end", p.spec.stem))

    plans = [_fake_plan("01"), _fake_plan("02"), _fake_plan("03", ["02"]), _fake_plan("05"), _fake_plan("06")]
    assert build_module._in_dependency_order(plans, run, parallel=3) is None
    order = [e for e in events]
    assert events.index(("start", "03")) > events.index(("end", "02"))          # waits for its upstream
    assert events.index(("start", "02")) < events.index(("end", "01"))          # independent: side by side
    assert max(sum(1 for k, s in events[:i + 1] if k == "start") - sum(1 for k, s in events[:i + 1] if k == "end")
               for i in range(len(events))) == 3                                 # never more than parallel
    assert sorted(s for k, s in order if k == "end") == ["01", "02", "03", "05", "06"]


def test_after_a_failure_side_by_side_no_notebook_starts_and_the_running_ones_finish():
    import time
    started, finished = [], []

    def run(p):
        started.append(p.spec.stem)
        if p.spec.stem == "01":
            raise NotebookFailed("01", 3, 3, "1/0", "ZeroDivisionError", None)
        time.sleep(0.5)
        finished.append(p.spec.stem)

    plans = [_fake_plan("01"), _fake_plan("02"), _fake_plan("03", ["01"]), _fake_plan("04")]
    failure = build_module._in_dependency_order(plans, run, parallel=2)
    assert isinstance(failure, NotebookFailed) and failure.stem == "01"
    assert started == ["01", "02"] and finished == ["02"]     # 02 finished; 03 and 04 never started


def test_a_parallel_build_runs_the_same_notebooks_on_one_shared_pool(fixture_project, monkeypatch):
    pytest.importorskip("dask.distributed")
    from misgen_lib import jobs
    monkeypatch.delenv(jobs.SCHEDULER_ENV, raising=False)
    manifest, lines = build_quietly(fixture_project, profile="ci", parallel=2)
    assert any(line.startswith("one pool of") for line in lines)
    assert sorted(executed_stems(lines)) == ["01_prior", "02_downstream"]
    assert all(manifest[s]["status"] == "ok" for s in ("01_prior", "02_downstream"))
    assert jobs.SCHEDULER_ENV not in __import__("os").environ    # the pool is gone with the build


def test_a_parallel_rebuild_with_nothing_to_run_starts_no_pool(fixture_project, monkeypatch):
    pytest.importorskip("dask.distributed")
    from misgen_lib import jobs
    monkeypatch.delenv(jobs.SCHEDULER_ENV, raising=False)
    build_quietly(fixture_project, profile="ci")
    manifest, lines = build_quietly(fixture_project, profile="ci", parallel=2)
    assert not executed_stems(lines) and not any(line.startswith("one pool of") for line in lines)


def _malloc_trim():
    import os
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def _omp_threads():
    import os
    return os.environ.get("OMP_NUM_THREADS")


def _profiling(dask_worker):
    return sorted(name for name in dask_worker.periodic_callbacks if name.startswith("profile"))


def test_the_shared_pool_workers_keep_glibcs_trimming_and_sample_no_frames(monkeypatch):
    """Dask's default MALLOC_TRIM_THRESHOLD_ of 64 KiB made every training step of a worker map
    and unmap its tensors anew (half the speed); the build's pool leaves it unset. Dask's
    profiler, which holds the running task's frames and so can stop a torch compilation
    (``runner.pool.WORKER_PROFILER``), does not run in them."""
    distributed = pytest.importorskip("dask.distributed")
    from misgen_lib.runner.pool import shared_pool
    from misgen_lib.vocabulary import SCHEDULER_ENV
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with shared_pool(echo=lambda line: None) as address, distributed.Client(address) as client:
        assert set(client.run(_malloc_trim).values()) == {None}
        assert set(client.run(_omp_threads).values()) == {"1"}     # the rest of Dask's environment stays
        assert list(client.run(_profiling).values()) == [[]] * len(client.nthreads())
