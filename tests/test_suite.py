"""The task x model suite at a tiny size: entries, drift against the null, caching between runs."""
import numpy as np
import pytest
import torch

import misgen_lib as mg
from misgen_lib.cache import ArtifactStore
from misgen_lib.models import MissingArtifact
from misgen_lib.suite import SuiteConfig, run_suite, summary_table

torch.set_num_threads(1)  # tiny models; two OpenMP threads stall on a shared CPU

TINY = dict(tasks="sine,logistic", models=("vae", "transformer"), n_train=64, train_steps=3,
            batch_size=16, width=8, n_samples=40, n_null=20, bins=10)


def test_config_validation_names_the_bad_value():
    with pytest.raises(ValueError, match=r"unknown task \['wave'\]; valid: .*'sine'"):
        SuiteConfig(tasks=("sine", "wave"))
    with pytest.raises(ValueError, match="unknown model.*'gan'"):
        SuiteConfig(models="vae,gan")
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1, got 0"):
        SuiteConfig(n_samples=0)
    with pytest.raises(ValueError, match="overrides for models not in the suite"):
        SuiteConfig(models="vae", overrides={"transformer": {"layers": 1}})
    with pytest.raises(ValueError, match="heads"):   # checked before anything trains
        SuiteConfig(models="transformer", width=10)
    assert SuiteConfig(tasks=" sine , cone").tasks == ("sine", "cone")


def test_run_suite_entries_and_cache(tmp_path, monkeypatch):
    store = ArtifactStore(tmp_path)
    cfg = SuiteConfig(**TINY)
    with pytest.raises(MissingArtifact, match="missing artifact"):
        run_suite(cfg, require_cached=True, store=store, progress=False)
    entries = run_suite(cfg, store=store, progress=False)
    assert [(e.task.name, e.model.name) for e in entries] == [
        ("sine", "vae"), ("sine", "transformer"), ("logistic", "vae"), ("logistic", "transformer")]
    for e in entries:
        assert e.samples.shape == (40, e.task.horizon, e.task.dim)
        np.testing.assert_array_equal(e.q_hat, e.task.measure(e.samples))
        assert len(e.data) == 64 and e.drift.n == 40 and len(e.drift.delta) == 12
        assert e.model.config.width == 8 and e.model.config.train_steps == 3
        assert set(e.plausibility) == set(e.reference_plausibility) and "nearest_clean_rms" in e.plausibility
        assert all(v.shape == (40,) for v in e.plausibility.values())
        # clean reference trajectories sit on the task's manifold
        np.testing.assert_allclose(e.task.measure(e.task.sample(e.data.q[:5], np.random.default_rng(0))),
                                   e.data.q[:5], atol=1e-4)
    table = summary_table(entries)
    assert len(table) == 4
    assert list(table["TV above null"]) == [e.drift.tv > e.drift.null_q95("tv") for e in entries]

    # second run: everything from the cache, nothing retrained or resampled
    def no_training(*args, **kwargs):
        raise AssertionError("retrained a cached model")
    monkeypatch.setattr(mg.models.training, "train", no_training)
    again = run_suite(cfg, require_cached=True, store=store, progress=False)
    for a, b in zip(entries, again):
        np.testing.assert_array_equal(a.samples, b.samples)
        assert a.drift.tv == b.drift.tv


def test_suite_overrides_reach_the_model_config():
    cfg = SuiteConfig(models="transformer,vae", width=16, overrides={"transformer": {"layers": 1}})
    assert cfg.model_config("transformer").layers == 1 and cfg.model_config("transformer").width == 16
    assert cfg.model_config("vae").width == 16
