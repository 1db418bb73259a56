"""The executors of independent units: local processes and a Dask cluster give the same results
as one process, in the order of the items; a failing unit's error reaches the caller."""
import numpy as np
import pytest

from misgen_lib import jobs
from misgen_lib.cache import ArtifactStore
from misgen_lib.studies import SuiteConfig, run_suite

TINY = dict(tasks="sine", models="vae,transformer", n_train=64, train_steps=5, batch_size=16, width=8,
            n_samples=40, n_null=20, bins=10, seeds=(0, 1))


def square(x):
    if x < 0:
        raise ValueError(f"negative item {x}")
    return x * x


def test_results_keep_the_order_of_the_items_and_errors_reach_the_caller():
    assert jobs.run(square, [3, 1, 2], workers=2, progress=False) == [9, 1, 4]
    assert jobs.run(square, [3, 1, 2], workers=1, progress=False) == [9, 1, 4]
    with pytest.raises(ValueError, match="negative item -1"):
        jobs.run(square, [1, -1, 2], workers=2, progress=False)
    with pytest.raises(ValueError, match="workers must be an integer >= 0, got -2"):
        jobs.run(square, [1], workers=-2, progress=False)


def test_a_dask_cluster_trains_the_same_models_as_one_process(tmp_path, monkeypatch):
    distributed = pytest.importorskip("dask.distributed")
    one = run_suite(SuiteConfig(**TINY, workers=1), store=ArtifactStore(tmp_path / "one"), progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        monkeypatch.setenv(jobs.SCHEDULER_ENV, cluster.scheduler_address)
        remote = run_suite(SuiteConfig(**TINY), store=ArtifactStore(tmp_path / "dask"), progress=False)
    for a, b in zip(one, remote):
        assert (a.task.name, a.model.name, a.seed) == (b.task.name, b.model.name, b.seed)
        assert a.model.key == b.model.key
        np.testing.assert_array_equal(a.samples, b.samples)
    # the results came back to this process's cache: a second run loads them, trains nothing
    again = run_suite(SuiteConfig(**TINY), require_cached=True, store=ArtifactStore(tmp_path / "dask"),
                      progress=False)
    assert [e.model.key for e in again] == [e.model.key for e in remote]


def record_pid_and_wait(folder):
    import os
    import time
    from pathlib import Path
    Path(folder, str(os.getpid())).touch()
    time.sleep(120)


def test_workers_exit_when_the_process_that_started_them_is_killed(tmp_path):
    """A killed build must not leave workers training in the background."""
    import os
    import signal
    import subprocess
    import sys
    import time
    code = ("import sys; from misgen_lib import jobs; sys.path.insert(0, 'tests'); import test_jobs; "
            f"jobs.run(test_jobs.record_pid_and_wait, [{str(tmp_path)!r}] * 2, workers=2, progress=False)")
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=os.path.dirname(os.path.dirname(__file__)))
    deadline = time.time() + 60
    while len(list(tmp_path.iterdir())) < 2 and time.time() < deadline:
        time.sleep(0.2)
    pids = [int(p.name) for p in tmp_path.iterdir()]
    assert len(pids) == 2, "the workers did not start"
    parent.send_signal(signal.SIGKILL)
    parent.wait()

    def alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    deadline = time.time() + 10
    while any(alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in pids)


def test_kernel_studies_give_the_same_numbers_in_parallel_as_in_one_process(tmp_path):
    from misgen_lib.studies import empirical_study, probe_study
    suite = run_suite(SuiteConfig(**TINY, workers=1), store=ArtifactStore(tmp_path), progress=False)
    kw = dict(n_predict=60, n_depth=20, n_boot=10, progress=False)
    one, two = (probe_study(suite, workers=w, **kw) for w in (1, 2))
    assert [r.seed_label for r in two] == [r.seed_label for r in one] == ["0+1", "0+1"]
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a.prediction.q_pred, b.prediction.q_pred)
        assert a.validation.correlation == b.validation.correlation
    given = {(r.task.name, r.model): 1 for r in one}     # the rule applied beforehand: no depth probed twice
    for r in probe_study(suite, workers=1, depths=given, **kw):
        assert [d.depth for d in r.depths] == [1, 1] and r.locality == r.prediction.locality > 0
    kw = dict(n_predict=60, n_reference=60, refine_steps=2, n_boot=10, progress=False)
    one, two = (empirical_study(suite.first_seed(), workers=w, **kw) for w in (1, 2))
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a.predictions["bank (Monte Carlo)"].q_pred, b.predictions["bank (Monte Carlo)"].q_pred)
        np.testing.assert_array_equal(a.bank.projection.q_fit, b.bank.projection.q_fit)


LEDGER_HOLDER = """
import sys, time
from misgen_lib import jobs
with jobs.occupying(2):
    print("holding", flush=True)
    time.sleep(60)
"""


def test_cores_held_by_a_pool_elsewhere_are_not_free_here_and_a_dead_holder_frees_them(tmp_path, monkeypatch):
    import subprocess
    import sys
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(jobs.tempfile, "tempdir", str(tmp_path))
    assert jobs.busy_cores() == 0 and jobs.free_cores() == jobs.cores()
    holder = subprocess.Popen([sys.executable, "-c", LEDGER_HOLDER], stdout=subprocess.PIPE, text=True,
                              env={**__import__("os").environ, "TMPDIR": str(tmp_path)})
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert jobs.busy_cores() == 2 and jobs.free_cores() == max(1, jobs.cores() - 2)
        assert jobs.worker_count(0, 10) == jobs.free_cores() and jobs.worker_count(3, 10) == 3
        with jobs.occupying(5):        # this process's own claims do not count against it
            assert jobs.busy_cores() == 2
    finally:
        holder.kill()
        holder.wait()
    # killed without cleaning up: its claim is stale, ignored and removed
    assert list(jobs.ledger_dir().iterdir()) and jobs.busy_cores() == 0
    assert not list(jobs.ledger_dir().iterdir())


def test_the_probe_study_scores_a_class_s_own_estimator_on_the_probe_s_clean_draws(tmp_path):
    """``own=True``: the transformer's registered estimator (its linear response) beside its probe,
    on the same clean draws, as computed directly; none for a class without one, none unasked."""
    from misgen_lib.kernel import linear_response as lr
    from misgen_lib.studies import kernel_study
    suite = run_suite(SuiteConfig(**TINY, workers=1), store=ArtifactStore(tmp_path), progress=False)
    kw = dict(n_predict=60, n_depth=20, n_boot=10, workers=1, progress=False)
    by_model = {r.model: r for r in kernel_study.probe_study(suite, own=True, **kw)}
    assert by_model["vae"].own is None
    own = by_model["transformer"].own
    assert own.name == kernel_study.OWN_ESTIMATORS["transformer"][0] == "linear response"
    for e, probe_pred, own_pred in zip(by_model["transformer"].entries, by_model["transformer"].per_seed, own.per_seed):
        np.testing.assert_array_equal(own_pred.q_clean, probe_pred.q_clean)   # the probe's clean draws
        clean = kernel_study.clean_draws(e.task, e.prior, 60, kernel_study.derive(e.seed, "kernel-clean", e.task.name))
        direct = lr.response_prediction(lr.model_response(e.model, clean, e.task, start=1), e.prior, e.drift.edges,
                                        q_clean=np.asarray(e.task.measure(clean), float))
        np.testing.assert_allclose(own_pred.delta, direct.delta, atol=1e-12)
    norm, (lo, hi) = own.share_normalised()
    assert lo <= norm <= hi and norm == own.resampled["share_explained"][0] / own.validation.ceiling.share
    assert all(r.own is None for r in kernel_study.probe_study(suite, **kw))
