"""A task defined outside the package, registered by a user, runs through the whole stack: the
suite, the kernel estimate, the prediction and the claim verdicts, unchanged."""
import numpy as np
import torch

import misgen_lib as mg
from kernel_toy_task import RMSAmplitude
from misgen_lib.cache import ArtifactStore
from misgen_lib.tasks import base

torch.set_num_threads(1)


def test_a_registered_outside_task_runs_through_suite_kernel_and_claims(tmp_path, monkeypatch):
    monkeypatch.setitem(base._REGISTRY, RMSAmplitude.name, RMSAmplitude)
    cfg = mg.studies.SuiteConfig(tasks=RMSAmplitude.name, models="diffusion-mlp,vae", n_train=128,
                                 train_steps=20, batch_size=32, width=8, n_samples=100, n_null=20,
                                 bins=8, seeds=(0, 1))
    result = mg.studies.run_suite(cfg, store=ArtifactStore(tmp_path), progress=False)
    assert len(result) == 4 and {e.task.name for e in result} == {RMSAmplitude.name}
    results = mg.studies.empirical_study(result, n_predict=300, n_reference=300, refine_steps=3,
                                         n_boot=20, progress=False)
    for r in results:
        assert set(r.predictions) == {"bank (Monte Carlo)", "Gaussian (analytic)"}
        assert np.isclose(r.predictions["bank (Monte Carlo)"].delta.sum(), 0.0, atol=1e-12)
        assert len(r.predictions["bank (Monte Carlo)"].delta) == len(r.entry.drift.delta)
    probes = mg.studies.kernel_study.probe_study(result, n_predict=200, n_depth=50, n_boot=20, progress=False)
    for verdict in (mg.studies.claim_c1(result), mg.studies.claim_c2(probes), mg.studies.claim_c4(probes)):
        assert verdict.outcome in ("supports", "partly supports", "does not support", "undecided", "not tested")
        assert len(verdict.items) == 2                     # one unit per task x model pair
    assert [(p.task.name, p.model) for p in probes] == [(RMSAmplitude.name, "diffusion-mlp"), (RMSAmplitude.name, "vae")]
    for p in probes:
        assert len(p.depths) == 2 and p.agreement is not None and p.prediction.n == 400
        assert 0 < p.locality and np.isfinite(p.validation.ceiling.share)
        # the class-blind control: a white kernel of each seed's probe locality, on the same clean draws
        for own, blind in zip(p.per_seed, p.blind_per_seed):
            np.testing.assert_array_equal(own.q_clean, blind.q_clean)
            assert blind.kernel.startswith("white") and np.isclose(blind.locality, own.locality, rtol=0.15)
    assert len(mg.studies.kernel_study.probe_table(probes)) == 2
    store = ArtifactStore(tmp_path)
    before = mg.studies.before_training_study(result, probe_steps=5, n_calibrate=50, n_predict=200, n_boot=20,
                                              store=store, progress=False)
    assert {r.family for r in before} == {"white", "blur"}
    # the cost counts the short run's training as it was trained, also when loaded from the cache
    fit = mg.studies.kernel_study.models.fit
    def loaded(*args, **kwargs):
        model = fit(*args, **kwargs)
        model.meta["train_seconds"] = 1000.0
        return model
    monkeypatch.setattr(mg.studies.kernel_study.models, "fit", loaded)
    again = mg.studies.before_training_study(result, probe_steps=5, n_calibrate=50, n_predict=200, n_boot=20,
                                             store=store, workers=1, progress=False)   # in this process
    assert all(1000 < r.seconds < 1000 + 60 for r in again) and all(r.seconds < 60 for r in before)
    for a, b in zip(before, again):   # worker processes or this one: the same numbers
        np.testing.assert_array_equal(a.prediction.p_tilde, b.prediction.p_tilde)
        np.testing.assert_equal((a.validation.correlation, a.validation.share_explained),
                                (b.validation.correlation, b.validation.share_explained))
    c6 = mg.studies.claim_c6(before)
    assert len(c6.items) == 2 and [t.name for t in c6.baselines] == [
        "sign test against white, same locality", "sign test against data-Gaussian"]
    # the ladder's first rung is the before-training prediction; its later rungs were read after it
    ladder = mg.studies.kernel_study.before_training_ladder(before)
    rungs = mg.studies.kernel_study.LADDER
    assert list(ladder.columns) == ["task", "model", *rungs, "data-Gaussian"] and len(ladder) == 2
    for r, (_, row) in zip(before, ladder.iterrows()):
        assert list(r.after_training) == list(rungs[1:])
        assert np.isclose(row[rungs[0]], r.validation.share_normalised, equal_nan=True)
        assert np.isclose(row[rungs[2]], r.after_training[rungs[2]].share_normalised, equal_nan=True)
