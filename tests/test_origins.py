"""Where a drift comes from, on cases whose answer is known: a toy model whose samples are clean
trajectories scaled by ``1 + A`` and two variants, one that removes the scaling (it must account
for the whole drift, within the noise) and one that keeps it (nothing); the VAE's mixture
recovers a known mixture; the built-in variants draw deterministic samples of the right shape."""
import numpy as np
import pytest

import misgen_lib as mg
from kernel_toy_task import RMSAmplitude, scaled_entries
from misgen_lib.studies import origins

A, NAME = 0.3, "toy-origin"


@pytest.fixture
def toy_variants(monkeypatch):
    monkeypatch.setattr(origins, "VARIANTS", {})
    task = RMSAmplitude()
    prior = mg.priors.Uniform(*task.q_range)
    origins.variant(NAME, "source removed", "clean draws")(
        lambda model, data, n, seed: task.curate(n, prior=prior, seed=seed).x)
    origins.variant(NAME, "source kept", "scaled draws")(
        lambda model, data, n, seed: task.curate(n, prior=prior, seed=seed).x * (1 + A))
    return scaled_entries(NAME, A, seeds=(0, 1, 2), n_train=300, n_samples=2000, n_null=200)


def test_removing_the_source_accounts_for_the_drift_and_keeping_it_for_nothing(toy_variants):
    results = origins.origin_study(toy_variants, workers=1, progress=False)
    by_name = {r.variant: r for r in results}
    assert sorted(by_name) == ["source kept", "source removed"]
    removed, kept = by_name["source removed"], by_name["source kept"]
    for r in removed.rows:      # a clean sample: only noise is left, its TV within the null
        assert r["TV"] > r["TV null 95%"] and r["TV variant"] < r["TV null 95%"]
    # 1 up to the null's spread over the drift above it
    assert removed.accounted == pytest.approx(1.0, abs=0.1)
    assert kept.accounted == pytest.approx(0.0, abs=0.15)
    table = origins.origin_table(results)
    assert list(table["seeds"]) == [3, 3] and table["accounted"].notna().all()


def test_accounted_is_nan_where_the_drift_is_not_real():
    null = np.linspace(0.01, 0.05, 100)
    assert np.isnan(origins.accounted(0.04, 0.01, null))
    assert origins.accounted(0.3, 0.03, null) == pytest.approx((0.3 - 0.03) / (0.3 - np.median(null)))


def test_the_mixture_recovers_a_known_mixture():
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(-3, 0.5, (600, 2)), rng.normal(4, 1.0, (1400, 2))])
    weights, means, var = origins.fit_mixture(z, 2, np.random.default_rng(1))
    order = np.argsort(means[:, 0])
    np.testing.assert_allclose(weights[order], [0.3, 0.7], atol=0.02)
    np.testing.assert_allclose(means[order], [[-3, -3], [4, 4]], atol=0.15)
    np.testing.assert_allclose(var[order], [[0.25, 0.25], [1.0, 1.0]], rtol=0.2)
    draws = origins.sample_mixture((weights, means, var), 4000, np.random.default_rng(2))
    assert draws.shape == (4000, 2) and np.mean(draws[:, 0] < 0) == pytest.approx(0.3, abs=0.03)
    with pytest.raises(ValueError, match="components must be in"):
        origins.fit_mixture(z[:3], 5, rng)


@pytest.mark.parametrize("model_name", ["vae", "transformer"])
def test_the_built_in_variants_are_deterministic_samples(model_name):
    task = mg.tasks.get("sine")
    data = task.curate(200, seed=0)
    model = mg.models.fit(model_name, data, config={"train_steps": 5, "width": 8}, seed=0, progress=False)
    for name, (description, sample) in origins.VARIANTS[model_name].items():
        x = sample(model, data.x, 50, 7)
        assert x.shape == (50, task.horizon, task.dim) and np.isfinite(x).all() and description
        np.testing.assert_array_equal(x, sample(model, data.x, 50, 7))
    if model_name == "transformer":    # the first step is a curated trajectory's, in both variants
        for sample in (origins.first_step_from_data, origins.errors_not_carried):
            first = sample(model, data.x, 50, 7)[:, 0]
            assert all(np.isclose(data.x[:, 0], f, atol=1e-5).all(axis=1).any() for f in first)
        # teacher forcing: each step is the head's draw given the clean past of the picked trajectory
        picks = origins._picks(data.x, 50, 7)
        np.testing.assert_array_equal(origins.errors_not_carried(model, data.x, 50, 7),
                                      model.perturb(picks, depth=task.horizon - 1, mode="one-step", seed=7))
