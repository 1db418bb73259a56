"""Probe kernels of trained models: deterministic for a seed, local at small depth and less local
with depth, q-free (the depth choice looks at no quantity), and the per-class probe semantics
(transformer prefix kept, one-step control, VAE modes)."""
import numpy as np
import pytest
import torch

torch.set_num_threads(1)  # tiny models; two OpenMP threads stall on a shared CPU

import misgen_lib as mg
from misgen_lib.cache import ArtifactStore
from misgen_lib.tasks.base import Dataset

HORIZON = 16
# briefly but properly trained on an easy family (measured: samples within ~5-9% of the data's
# spread from the nearest training curve for the diffusion and transformer models)
TRAINED = {"train_steps": 300, "batch_size": 32, "width": 16, "warmup_steps": 10, "lr": 3e-3}
CLASS = {"diffusion-mlp": {"diffusion_steps": 16}, "transformer": {"heads": 2, "layers": 1}, "vae": {},
         "diffusion-unet": {"mults": [1, 2], "diffusion_steps": 8, "train_steps": 4, "width": 8}}


def sine_dataset(n, seed):
    rng = np.random.default_rng(seed)
    f = rng.uniform(1, 3, n)
    t = np.arange(HORIZON) / HORIZON
    x = np.stack([np.sin(2 * np.pi * f[:, None] * t), np.cos(2 * np.pi * f[:, None] * t)], -1)
    return Dataset("toy-sine", x.astype(np.float32), f, {"type": "Uniform", "lo": 1, "hi": 3}, seed, "prior")


@pytest.fixture(scope="module")
def data():
    return sine_dataset(256, seed=0)


@pytest.fixture(scope="module")
def clean():
    return sine_dataset(64, seed=1).x      # fresh clean trajectories, not in the training set


@pytest.fixture(scope="module")
def models(data, tmp_path_factory):
    store = ArtifactStore(tmp_path_factory.mktemp("cache"))
    return {name: mg.models.fit(name, data, {**TRAINED, **cfg}, seed=0, store=store, progress=False)
            for name, cfg in CLASS.items()}


@pytest.mark.parametrize("name", list(CLASS))
def test_probe_is_deterministic_for_a_seed(models, clean, name):
    model = models[name]
    for mode in mg.models.get_class(name).probe_modes:
        a = model.perturb(clean, 2, seed=3, mode=mode)
        assert a.shape == clean.shape and np.isfinite(a).all()
        assert np.array_equal(a, model.perturb(clean, 2, seed=3, mode=mode))
        kernel = mg.kernel.probe(model, 2, mode=mode)
        first = kernel.apply(clean, np.random.default_rng(5))
        assert np.array_equal(first, kernel.apply(clean, np.random.default_rng(5)))
        if not (name == "vae" and mode == "mean"):  # the posterior mean is deterministic
            assert not np.array_equal(a, model.perturb(clean, 2, seed=4, mode=mode))


@pytest.mark.parametrize("name, mode", [("diffusion-mlp", "sdedit"), ("transformer", "rollout"),
                                        ("transformer", "one-step"), ("vae", "mean")])
def test_probe_is_local_at_small_depth_and_less_local_with_depth(models, clean, name, mode):
    model = models[name]
    depths = mg.kernel.process_depths(model)
    loc = [mg.kernel.probe(model, d, mode).locality(clean, seed=0) for d in depths]
    # measured: diffusion-mlp 0.058 at 1 of 16 steps; transformer rollout 0.13 / one-step 0.06
    # when regenerating the last 8 of 16 steps; VAE posterior mean 0.05 after one round trip
    assert loc[0] < 0.2, f"{name}/{mode}: locality {loc[0]:.3f} at depth {depths[0]} is not local"
    assert loc[-1] > loc[0], f"{name}/{mode}: locality does not grow with depth: {dict(zip(depths, loc))}"
    if name != "transformer":   # one draw per depth: the rollout's growth is monotone in expectation
        assert np.all(np.diff(loc) > 0), dict(zip(depths, loc))


def test_transformer_keeps_the_clean_prefix_and_one_step_errs_less_than_rollout(models, clean):
    model, depth = models["transformer"], HORIZON - 2
    for mode in ("rollout", "one-step"):
        out = model.perturb(clean, depth, seed=0, mode=mode)
        assert np.allclose(out[:, :HORIZON - depth], clean[:, :HORIZON - depth], atol=1e-5)
        assert not np.allclose(out[:, HORIZON - depth:], clean[:, HORIZON - depth:], atol=1e-3)
    rollout = mg.kernel.probe(model, depth, "rollout").locality(clean)
    one_step = mg.kernel.probe(model, depth, "one-step").locality(clean)
    assert one_step < rollout   # teacher forcing: the errors do not accumulate


def test_the_declared_rule_probes_from_the_shallowest_and_never_sees_q(models, data, clean):
    model = models["diffusion-mlp"]
    choice = mg.kernel.deepest_local(model, clean, seed=0)
    assert choice.depths == list(mg.kernel.process_depths(model)) and choice.mode == "sdedit"
    probed = [loc for loc in choice.locality if np.isfinite(loc)]
    assert choice.depth == mg.kernel.within_budget(choice.depths[:len(probed)], probed, mg.kernel.LOCALITY_BUDGET)
    assert all(np.isnan(choice.locality[len(probed):]))     # it stops at the first depth beyond the budget
    assert [row["depth"] for row in choice.table() if row["chosen"]] == [choice.depth]
    # deeper probes move clean trajectories further: a larger budget never picks a shallower depth
    wide = mg.kernel.deepest_local(model, clean, budget=10.0, seed=0)
    assert wide.depth == choice.depths[-1] and wide.locality[-1] > wide.locality[0]
    # the same draws per depth whatever the budget
    assert wide.locality[:len(probed)] == probed


def test_probe_kernel_describes_itself_and_rejects_bad_settings(models, clean):
    model = models["diffusion-mlp"]
    kernel = mg.kernel.probe(model, 2)
    assert kernel.to_dict() == {"family": "probe", "model": "diffusion-mlp", "model_key": model.key,
                                "inference": "eager", "depth": 2, "mode": "sdedit"}
    assert mg.kernel.probe(models["vae"], 1).mode == "sample"     # the class's first mode
    with pytest.raises(ValueError, match=r"must be an integer in \[1, 16\], got None.*deepest_local"):
        mg.kernel.probe(model, None)                              # no default depth: the declared rule's
    with pytest.raises(ValueError, match=r"number of reverse diffusion steps.*\[1, 16\], got 17"):
        mg.kernel.probe(model, depth=17)
    with pytest.raises(ValueError, match=r"clean prefix.*\[1, 15\], got 16"):
        mg.kernel.probe(models["transformer"], depth=HORIZON)
    with pytest.raises(ValueError, match=r"unknown probe mode 'rollout' for diffusion-mlp; valid: \['sdedit'\]"):
        mg.kernel.probe(model, 2, mode="rollout")
    with pytest.raises(ValueError, match="trained unconditionally; q must be None"):
        model.perturb(clean, 2, seed=0, q=2.0)
    with pytest.raises(ValueError, match=r"shape \(n, 16, 2\)"):
        model.perturb(clean[:, :8], 2)
    with pytest.raises(TypeError, match="TrainedModel"):
        mg.kernel.probe("diffusion-mlp", 2)


def test_probe_prediction_runs_through_the_predictor(models, clean):
    """A probe kernel is an ordinary kernel: the Monte Carlo predictor and the q-space view take it."""
    class RMS:
        name = "toy-rms"

        @staticmethod
        def measure(x):
            return np.sqrt((np.asarray(x) ** 2).mean(axis=(1, 2)))

    prior = mg.priors.Uniform(0.5, 1.0)
    pred = mg.kernel.predict(RMS(), mg.kernel.probe(models["diffusion-mlp"], 4), prior, clean=clean,
                             bins=5, seed=0, progress=False)
    assert pred.n == len(clean) and np.isclose(pred.delta.sum(), 0.0)
    assert np.isfinite(mg.kernel.qspace_view(pred).continuity_delta).all()
