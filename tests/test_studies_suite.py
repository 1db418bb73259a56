"""The task x model suite at a tiny size: entries, drift against the null, caching between runs,
and the opened-up configuration (priors, task parameters, conditional training, seeds)."""
import dataclasses
import time

import numpy as np
import pytest
import torch

import misgen_lib as mg
from misgen_lib.cache import ArtifactStore
from misgen_lib.models import MissingArtifact
from misgen_lib.seeds import derive
from misgen_lib.studies import SuiteConfig, run_suite, suite_config, summary_table

torch.set_num_threads(1)  # tiny models; two OpenMP threads stall on a shared CPU

TINY = dict(tasks="sine,logistic", models=("vae", "transformer"), n_train=64, train_steps=3, seeds=(0,),
            batch_size=16, width=8, n_samples=40, n_null=20, bins=10)


def test_config_validation_names_the_bad_value():
    with pytest.raises(ValueError, match=r"unknown task \['wave'\]; valid: .*'sine'"):
        SuiteConfig(tasks=("sine", "wave"))
    with pytest.raises(ValueError, match="unknown model.*'gan'"):
        SuiteConfig(models="vae,gan")
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1, got 0"):
        SuiteConfig(n_samples=0)
    with pytest.raises(ValueError, match=r"overrides names \['transformer'\], which are not in the suite"):
        SuiteConfig(models="vae", overrides={"transformer": {"layers": 1}})
    with pytest.raises(ValueError, match="heads"):   # checked before anything trains
        SuiteConfig(models="transformer", width=10)
    with pytest.raises(ValueError, match=r"seeds must be distinct integers >= 0, got \(1, 1\)"):
        SuiteConfig(seeds=(1, 1))
    with pytest.raises(ValueError, match=r"priors names \['cone'\]"):
        SuiteConfig(tasks="sine", priors={"cone": mg.priors.Uniform(0.5, 2.0)})
    with pytest.raises(ValueError, match=r"prior support \[0.1, 2.0\] leaves"):
        SuiteConfig(tasks="cone", priors={"cone": mg.priors.Uniform(0.1, 2.0)})
    assert SuiteConfig(tasks=" sine , cone").tasks == ("sine", "cone")
    assert SuiteConfig(seeds=3).seeds == (3,)


def test_named_configurations_compose_base_suite_and_profile():
    base = SuiteConfig()
    applied_ci = suite_config("applied", "ci")
    assert applied_ci.tasks == ("maze", "pendulum") and applied_ci.train_steps == 20   # profile last
    applied = suite_config("applied")
    assert applied.model_config("diffusion-unet", "maze").train_steps == 1000 and applied.width == base.width
    assert suite_config("synthetic") == base
    assert suite_config("synthetic", "ci", seeds=(0, 1)).seeds == (0, 1)           # overrides last
    with pytest.raises(ValueError, match=r"unknown suite 'toy'; valid: \['applied', 'mitigations', 'synthetic'\]"):
        suite_config("toy")
    with pytest.raises(ValueError, match=r"unknown profile 'fast'; valid profiles: ci, default, paper"):
        suite_config("synthetic", "fast")


def test_run_suite_entries_and_cache(tmp_path, monkeypatch):
    store = ArtifactStore(tmp_path)
    cfg = SuiteConfig(**TINY)
    with pytest.raises(MissingArtifact, match="missing artifact"):
        run_suite(cfg, require_cached=True, store=store, progress=False)
    result = run_suite(cfg, store=store, progress=False)
    assert [(e.task.name, e.model.name, e.seed) for e in result] == [
        ("sine", "vae", 0), ("sine", "transformer", 0), ("logistic", "vae", 0), ("logistic", "transformer", 0)]
    for e in result:
        assert e.samples.shape == (40, e.task.horizon, e.task.dim)
        np.testing.assert_array_equal(e.q_hat, e.task.measure(e.samples))
        assert len(e.data) == 64 and e.drift.n == 40 and len(e.drift.delta) == 12
        assert e.model.config.width == 8 and e.model.config.train_steps == 3 * cfg.step_factors.get(e.model.name, 1)
        assert set(e.plausibility) == set(e.reference_plausibility) and "nearest_clean_rms" in e.plausibility
        assert all(v.shape == (40,) for v in e.plausibility.values())
        assert e.reference_plausibility["nearest_clean_rms"].shape == (40,)
    assert result.get("logistic", "vae") is result.entries[2]
    with pytest.raises(KeyError, match="no suite entry for task 'cone'"):
        result.get("cone", "vae")
    table = summary_table(result)
    assert len(table) == 4 and list(table["seed"]) == [0] * 4
    assert list(table["TV above null"]) == [e.drift.tv > e.drift.null_q95("tv") for e in result]

    # second run: everything from the cache, nothing retrained or resampled
    def no_training(*args, **kwargs):
        raise AssertionError("retrained a cached model")
    monkeypatch.setattr(mg.models.training, "train", no_training)
    again = run_suite(cfg, require_cached=True, store=store, progress=False)
    for a, b in zip(result, again):
        np.testing.assert_array_equal(a.samples, b.samples)
        assert a.drift.tv == b.drift.tv


def test_an_entry_and_its_clean_reference_are_evaluated_once_and_loaded_again_bit_for_bit(tmp_path, monkeypatch):
    store = ArtifactStore(tmp_path)
    cfg = SuiteConfig(**{**TINY, "tasks": ("logistic",), "models": ("vae",)})
    first = run_suite(cfg, store=store, progress=False).entries[0]
    direct = mg.metrics.drift(first.task.measure(first.samples), first.prior, bins=cfg.bins, n_null=cfg.n_null,
                              seed=derive(0, "null", "logistic", "vae"))
    plausibility = mg.studies.evaluation.plausibility(first.task, first.samples, first.data)
    reference = first.task.curate(cfg.n_samples, prior=first.prior, seed=derive(0, "reference", "logistic")).x
    reference_plausibility = mg.studies.evaluation.plausibility(first.task, reference, first.data)

    def same(entry):
        for f in dataclasses.fields(mg.metrics.Drift):
            a, b = getattr(entry.drift, f.name), getattr(direct, f.name)
            if isinstance(a, dict):
                assert list(a) == list(b) and all(np.array_equal(a[k], b[k]) for k in a), f.name
            else:
                assert type(a) is type(b) and np.array_equal(a, b), f.name
        assert list(entry.plausibility) == list(plausibility)
        assert all(np.array_equal(entry.plausibility[k], v) for k, v in plausibility.items())
        assert list(entry.reference_plausibility) == list(reference_plausibility)
        assert all(np.array_equal(entry.reference_plausibility[k], v) for k, v in reference_plausibility.items())
        np.testing.assert_array_equal(entry.q_hat, first.task.measure(first.samples))
    same(first)
    other = ArtifactStore(tmp_path / "other")   # evaluated again later: the same bytes
    mg.studies.evaluation.evaluation(first.task, first.prior, first.data, first.samples, cfg.bins, cfg.n_null, 7, other)
    time.sleep(2.1)   # (a zip stamps its entries to 2 s)
    mg.studies.evaluation.evaluation(first.task, first.prior, first.data, first.samples, cfg.bins, cfg.n_null, 7, store)
    assert {k: f for kind, k, f, _ in other.entries()} == {k: f for kind, k, f, _ in store.entries() if k in
                                                           {k for _, k, _, _ in other.entries()}}

    def no_evaluation(*args, **kwargs):
        raise AssertionError("evaluated again")
    monkeypatch.setattr(mg.metrics, "drift", no_evaluation)
    monkeypatch.setattr(mg.studies.evaluation, "plausibility", no_evaluation)
    same(run_suite(cfg, require_cached=True, store=store, progress=False).entries[0])
    with pytest.raises(AssertionError, match="evaluated again"):   # another null: another entry
        run_suite(dataclasses.replace(cfg, n_null=21), require_cached=True, store=store, progress=False)


def test_seeds_are_full_replicates(tmp_path):
    cfg = SuiteConfig(**{**TINY, "tasks": "sine", "models": "vae", "seeds": (0, 5)})
    result = run_suite(cfg, store=ArtifactStore(tmp_path), progress=False)
    a, b = result.get("sine", "vae", 0), result.get("sine", "vae", 5)
    assert not np.array_equal(a.data.x, b.data.x)          # its own curated dataset
    assert a.model.key != b.model.key and not np.array_equal(a.samples, b.samples)


def test_suite_takes_any_prior_task_parameters_and_conditional_training(tmp_path):
    prior = mg.priors.Beta(0.5, 2.0, 5.0, 2.0)   # skewed to large opening rates
    cfg = SuiteConfig(tasks="cone", models="diffusion-mlp", n_train=400, train_steps=300, batch_size=64, width=16,
                      n_samples=300, n_null=20, bins=10, conditional=True, priors={"cone": prior},
                      task_params={"cone": {"horizon": 32}}, step_factors={})   # 300 steps, not 1200
    e = run_suite(cfg, store=ArtifactStore(tmp_path), progress=False).get("cone", "diffusion-mlp")
    assert e.task.horizon == 32 and e.samples.shape == (300, 32, 2)
    assert e.prior is prior and e.data.prior["type"] == "Beta"
    assert e.model.conditional and e.q_condition.shape == (300,)
    # the training data follow the skewed prior, and the conditioning quantities are drawn from it
    assert np.mean(e.data.q) > np.mean(e.task.q_range) and np.mean(e.q_condition) > np.mean(e.task.q_range)
    # a conditional model tracks the quantity it was asked for
    assert np.corrcoef(e.q_condition, e.q_hat)[0, 1] > 0.5


def test_suite_overrides_reach_the_model_config():
    cfg = SuiteConfig(models="transformer,vae", width=16, overrides={"transformer": {"layers": 1}})
    assert cfg.model_config("transformer", "sine").layers == 1 and cfg.model_config("transformer", "sine").width == 16
    assert cfg.model_config("vae", "sine").width == 16


def test_one_training_budget_per_task_and_class_across_suites():
    """Chapter 06's untreated models are the models of chapters 02 and 05: every named suite
    trains a task x class for the same steps, so their cache keys agree."""
    from misgen_lib.studies import suite_config
    for profile in ("ci", "default", "paper"):
        budgets = {}
        for name in ("synthetic", "applied", "mitigations"):
            cfg = suite_config(name, profile)
            for t in cfg.tasks:
                for m in cfg.models:
                    budgets.setdefault((t, m), set()).add(cfg.model_config(m, t).train_steps)
        assert all(len(b) == 1 for b in budgets.values()), (profile, budgets)
    default = suite_config("mitigations")
    assert default.model_config("diffusion-unet", "cone").train_steps == 1500
    assert default.model_config("diffusion-unet", "maze").train_steps == 1000
    assert suite_config("applied", "paper").model_config("transformer", "pendulum").train_steps == 20000


def test_the_chapters_glue_the_budgets_as_configured():
    """The training budgets the chapters quote are read from the configuration (no number typed)."""
    from misgen_lib.studies import chapters
    facts = chapters.budget_facts(suite_config("applied", "default", seeds=(0, 1)), "applied")
    assert facts == {"applied_steps": "maze 1000 steps (diffusion-unet, transformer); pendulum 1000 steps "
                                      "(diffusion-unet, transformer)",
                     "applied_base_steps": 1500, "applied_seeds": 2, "applied_samples": 2000,
                     "maze_range": "[1, 5]", "pendulum_range": "[5, 30]"}
    synthetic = chapters.budget_facts(suite_config("synthetic", "ci", tasks="sine"), "s")["s_steps"]
    assert synthetic == "sine 20 steps (diffusion-unet, transformer); sine 80 steps (diffusion-mlp, vae)"


@pytest.mark.parametrize("scale, match", [({"moon": 0.5}, r"names 'moon', which is not a task; valid: \["),
                                          ({"maze": 0}, r"task_step_scale\['maze'\] must be a number in \(0, 1\], got 0"),
                                          ({"maze": "half"}, r"must be a number in \(0, 1\], got 'half'")])
def test_bad_task_step_scale_is_named(scale, match):
    with pytest.raises(ValueError, match=match):
        SuiteConfig(task_step_scale=scale)


def test_parallel_workers_give_the_same_results_as_one(tmp_path):
    """Models trained in two worker processes are bit-identical to those trained in this one."""
    cfg = dict(TINY, tasks="sine", train_steps=5)
    one = run_suite(SuiteConfig(**cfg, workers=1), store=ArtifactStore(tmp_path / "one"), progress=False)
    two = run_suite(SuiteConfig(**cfg, workers=2), store=ArtifactStore(tmp_path / "two"), progress=False)
    for a, b in zip(one, two):
        assert a.model.key == b.model.key
        np.testing.assert_array_equal(a.samples, b.samples)
        for (name, p), q in zip(a.model.net.state_dict().items(), b.model.net.state_dict().values()):
            assert torch.equal(p, q), name
    with pytest.raises(ValueError, match="SuiteConfig.workers must be an integer >= 0, got -1"):
        SuiteConfig(workers=-1)
