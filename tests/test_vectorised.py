"""Vectorised multi-seed training (``models.vectorised``): each seed's model equals the one the
sequential path (``models.fit``) trains, it is a usual cached ``TrainedModel`` under a key of its
own, bad input is named, and the suite's ``vectorise_seeds`` groups the seeds.

Why not bit-identical: each seed starts from the same weights, walks the same mini-batches and
draws the same noise as ``models.fit`` (the first step's losses agree to float32 rounding), but
under ``vmap`` every linear layer is a batched matrix product over the seeds (forward and weight
gradient in another memory layout), so BLAS sums the same products in another order; the
clipping norm is reduced per seed in another order and AdamW runs as one fused kernel. Each
differs from the sequential result in the last bit of float32 (~1e-7 relative) and training
carries that along. Measured after 30 steps: weights within 3e-7, samples within 1e-6; the
tolerances below (1e-5 on weights and losses, 1e-4 on samples in data units) leave a wide margin
for other BLAS builds while a wrong seed, batch or noise stream moves weights by ~1e-3.
"""
import copy

import numpy as np
import pytest
import torch

torch.set_num_threads(1)  # tiny models; two OpenMP threads stall on a shared CPU

import misgen_lib as mg
from misgen_lib.cache import ArtifactStore
from misgen_lib.models import MissingArtifact, TrainedModel, TrainingDiverged
from misgen_lib.models import fit_seeds
from misgen_lib.studies import SuiteConfig, run_suite
from misgen_lib.studies.suite import Unit, seed_groups
from test_models import sine_dataset

SEEDS = [3, 5, 11]
CONFIG = {"train_steps": 30, "batch_size": 16, "width": 8, "warmup_steps": 5}
CLASS_CONFIG = {"diffusion-mlp": {"diffusion_steps": 8}}
WEIGHTS, SAMPLES = 1e-5, 1e-4   # atol on weights/losses and on samples (data units); see the docstring


def config(name):
    return {**CONFIG, **CLASS_CONFIG.get(name, {})}


@pytest.fixture
def store(tmp_path):
    return ArtifactStore(tmp_path / "cache")


def assert_close_to_sequential(vectorised, sequential):
    assert type(vectorised) is TrainedModel and vectorised.seed == sequential.seed
    assert vectorised.key != sequential.key and vectorised.meta["vectorised_seeds"]
    np.testing.assert_allclose(vectorised.history["loss"], sequential.history["loss"], atol=WEIGHTS, rtol=0)
    first, first_sequential = vectorised.history["loss"][0], sequential.history["loss"][0]
    assert abs(first - first_sequential) <= 1e-6 * abs(first_sequential)   # same weights, batch, noise
    for (name, a), b in zip(vectorised.net.state_dict().items(), sequential.net.state_dict().values()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=WEIGHTS, rtol=0, err_msg=name)
    q = np.linspace(1.2, 2.8, 20) if sequential.conditional else None
    np.testing.assert_allclose(vectorised.sample(20, seed=7, q=q), sequential.sample(20, seed=7, q=q),
                               atol=SAMPLES, rtol=0)


@pytest.mark.parametrize("name", ["diffusion-mlp", "vae"])
def test_vectorised_seeds_equal_the_sequential_ones(name, store):
    data = sine_dataset()
    models = fit_seeds(name, data, SEEDS, config(name), store=store, progress=False)
    for model, seed in zip(models, SEEDS):
        assert_close_to_sequential(model, mg.models.fit(name, data, config(name), seed=seed, store=store,
                                                        progress=False))
    # cached: loaded again, bit for bit, also where training is not allowed
    again = fit_seeds(name, data, SEEDS, config(name), store=store, require_cached=True)
    for a, b in zip(models, again):
        assert a.key == b.key
        np.testing.assert_array_equal(a.sample(10, seed=1), b.sample(10, seed=1))


@pytest.mark.parametrize("name", ["diffusion-mlp", "vae"])
def test_per_seed_datasets_weights_and_conditioning(name, store):
    """The suite's case: each seed its own dataset (and importance weights), conditional."""
    datasets = [sine_dataset(seed=s) for s in range(2)]
    weights = [np.random.default_rng(s).uniform(0, 1, len(d)) for s, d in enumerate(datasets)]
    models = fit_seeds(name, datasets, SEEDS[:2], config(name), conditional=True, store=store,
                       progress=False, weights=weights)
    for model, data, seed, w in zip(models, datasets, SEEDS, weights):
        assert_close_to_sequential(model, mg.models.fit(name, data, config(name), seed=seed, conditional=True,
                                                        store=store, progress=False, weights=w))


def test_bad_input_is_named(store):
    data = sine_dataset()
    with pytest.raises(ValueError, match=r"model class 'transformer' has no vectorised multi-seed "
                                         r"training; vectorised classes: \['diffusion-mlp', 'vae'\]"):
        fit_seeds("transformer", data, SEEDS, store=store)
    with pytest.raises(ValueError, match=r"model class 'gan' has no vectorised"):
        fit_seeds("gan", data, SEEDS, store=store)
    for seeds in ([], [1, 1], [-1], [True, 2], 3):
        with pytest.raises(ValueError, match=r"seeds must be a non-empty list of distinct integers >= 0, got"):
            fit_seeds("vae", data, seeds, store=store)
    with pytest.raises(ValueError, match=r"data must be one Dataset for all seeds or a list of 3 \(one per "
                                         r"seed \[3, 5, 11\]\), got list of length 2"):
        fit_seeds("vae", [data, data], SEEDS, store=store)
    other = sine_dataset(horizon=8)
    with pytest.raises(ValueError, match=r"must share the trajectory shape \(T, d\); got \{3: \(16, 2\), "
                                         r"5: \(8, 2\)\}"):
        fit_seeds("vae", [data, other], SEEDS[:2], store=store)
    with pytest.raises(ValueError, match=r"weights must be 32 finite values"):
        fit_seeds("vae", data, SEEDS[:2], store=store, weights=[np.ones(32), np.ones(3)])
    with pytest.raises(ValueError, match="weights must be given for every seed or for none"):
        fit_seeds("vae", data, SEEDS[:2], store=store, weights=[np.ones(32), None])
    with pytest.raises(MissingArtifact, match=r"no cached vectorised 'vae' model for seed\(s\) \[3, 5, 11\]"):
        fit_seeds("vae", data, SEEDS, config("vae"), store=store, require_cached=True)


def test_nan_loss_stops_with_the_step_and_the_seeds(store, vae_loss_nan_at_step_2):
    with pytest.raises(TrainingDiverged, match=r"vae: training loss became non-finite at step 2 of 30 for "
                                               r"seed\(s\) \[3, 5\]"):
        fit_seeds("vae", sine_dataset(), SEEDS[:2], config("vae"), store=store, progress=False)


def test_suite_vectorise_seeds_groups_seeds_under_their_own_keys(tmp_path):
    """Off (the default) the suite is unchanged; on, the seeds of each vectorised class train
    together (the transformer alone), under other keys, with samples equal to rounding."""
    tiny = dict(tasks="sine", models="vae,transformer", n_train=48, train_steps=6, seeds=(0, 1), batch_size=16,
                width=8, n_samples=30, n_null=10, bins=8, workers=1)
    store = ArtifactStore(tmp_path / "cache")
    plain = run_suite(SuiteConfig(**tiny), store=store, progress=False)
    cfg = SuiteConfig(**tiny, vectorise_seeds=True)
    together = run_suite(cfg, store=store, progress=False)
    for a, b in zip(plain, together):
        assert (a.task.name, a.model.name, a.seed) == (b.task.name, b.model.name, b.seed)
        assert (a.model.key == b.model.key) == (a.model.name == "transformer")
        np.testing.assert_allclose(a.samples, b.samples, atol=SAMPLES, rtol=0)
    again = run_suite(cfg, store=store, require_cached=True, progress=False)
    assert [e.model.key for e in again] == [e.model.key for e in together]
    units = [Unit(cfg, e.task, e.prior, e.data, {}, e.model.name, e.seed) for e in together]
    names = [["vae", "vae"], ["transformer"], ["transformer"]]
    assert [[u.model_name for u in g] for g in seed_groups(units)] == names
    assert [[u.model_name for u in g] for g in seed_groups(units + [copy.copy(u) for u in units])] == names + names, \
        "a seed met again starts another group"
    with pytest.raises(ValueError, match="SuiteConfig.vectorise_seeds must be True or False, got 1"):
        SuiteConfig(vectorise_seeds=1)
