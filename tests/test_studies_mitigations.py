"""Interventions' building blocks on cases with a known answer, and the mitigation study."""
import numpy as np
import pytest

import misgen_lib as mg
from misgen_lib.tasks.pendulum import potential
from misgen_lib import interventions as mit

EDGES = np.linspace(0.0, 1.0, 11)
PRIOR = mg.priors.Uniform(0.0, 1.0)


def test_transition_matrix_of_a_shift_moves_every_bin_up_by_one():
    q = np.random.default_rng(0).uniform(0, 1, 20000)
    P = mit.transition_matrix(q, q + 0.1, EDGES)
    assert P.shape == (12, 12) and np.allclose(P.sum(0), 1)
    for i in range(1, 11):
        assert P[i + 1, i] > 0.999 if i < 10 else P[11, 10] == 1.0
    assert P[0, 0] == 1.0                                     # no clean draw below: identity column


@pytest.mark.parametrize("method", mit.PRECOMPENSATION_METHODS)
def test_precompensation_undoes_a_shift(method):
    q = np.random.default_rng(1).uniform(-0.1, 1.0, 50000)   # the generator is defined just below the range
    P = mit.transition_matrix(q, q + 0.1, EDGES)
    target = mg.metrics.prior_masses(PRIOR, EDGES)
    support = np.zeros(12, bool)
    support[:11] = True                                       # the underflow bin and bins 1..10
    pi = mit.precompensate(P, target, support=support, method=method)
    expected = np.r_[0.1 * np.ones(10), 0.0, 0.0]             # the target shifted down one bin
    np.testing.assert_allclose(pi, expected, atol=0.01)
    np.testing.assert_allclose(mit.predicted_outcome(P, pi), target, atol=0.01)


def test_precompensation_of_a_gaussian_kernel_on_a_linear_measurement_has_the_closed_form():
    """Target N(0.5, 0.15^2), kernel q' = q + b + N(0, s^2): the training prior is N(0.5 - b, 0.15^2 - s^2)."""
    edges = np.linspace(0.0, 1.0, 41)
    rng = np.random.default_rng(2)
    b, s, mu, sd = 0.05, 0.08, 0.5, 0.15
    q = rng.uniform(0, 1, 400000)
    P = mit.transition_matrix(q, q + b + s * rng.standard_normal(q.size), edges)
    target = mg.metrics.prior_masses(mg.priors.TruncatedNormal(0.0, 1.0, mu, sd), edges)
    pi = mit.precompensate(P, target, support=np.r_[False, np.ones(40, bool), False], method="richardson-lucy",
                           iterations=300)
    centers = 0.5 * (edges[1:] + edges[:-1])
    mean = float(pi[1:-1] @ centers)
    var = float(pi[1:-1] @ (centers - mean) ** 2)
    assert abs(mean - (mu - b)) < 0.01
    assert abs(np.sqrt(var) - np.sqrt(sd ** 2 - s ** 2)) < 0.02
    # and the uncorrected prior is predicted to come out shifted and widened
    naive = mit.predicted_outcome(P, target)
    assert naive[1:-1] @ centers > mu + 0.8 * b


def test_reweighting_weights_undo_model_a_and_respect_the_clip():
    rng = np.random.default_rng(3)
    q_train = rng.uniform(0, 1, 5000)
    q_hat_a = np.r_[rng.uniform(0, 0.5, 1000), rng.uniform(0.5, 1.0, 3000)]   # A: 3x too much mass above 0.5
    w = mit.reweighting_weights(q_train, q_hat_a, PRIOR, EDGES, clip=10)
    assert np.isclose(w.mean(), 1.0)
    low, high = w[q_train < 0.5].mean(), w[q_train >= 0.5].mean()
    assert np.isclose(low / high, 3.0, rtol=0.15)
    w_clip = mit.reweighting_weights(q_train, np.full(100, 0.95), PRIOR, EDGES, clip=4)
    assert w_clip.max() / w_clip.min() <= 16 + 1e-9
    with pytest.raises(ValueError, match="clip must be >= 1, got 0.5"):
        mit.reweighting_weights(q_train, q_hat_a, PRIOR, EDGES, clip=0.5)


def test_resample_keeps_the_size_follows_the_weights_and_is_seeded():
    task = mg.tasks.get("sine")
    data = task.curate(2000, seed=0)
    w = np.where(data.q > np.median(data.q), 3.0, 1.0)
    a, b = mit.resample(data, w, seed=1), mit.resample(data, w, seed=1)
    assert len(a) == len(data) and np.array_equal(a.x, b.x)
    assert np.mean(a.q > np.median(data.q)) == pytest.approx(0.75, abs=0.03)
    with pytest.raises(ValueError, match="weights must be 2000 finite values"):
        mit.resample(data, w[:10], seed=1)


def test_fidelity_reports_mean_error_and_spread_per_requested_bin():
    rng = np.random.default_rng(4)
    q_c = rng.uniform(0, 1, 20000)
    q_hat = q_c + 0.1 * q_c + 0.05 * rng.standard_normal(q_c.size)   # error grows with q_c
    table = mit.fidelity(q_c, q_hat, EDGES)
    np.testing.assert_allclose(table["mean error"], 0.1 * table["q_c"], atol=0.005)
    np.testing.assert_allclose(table["sd"], np.sqrt(0.05 ** 2 + (1.1 * 0.1) ** 2 / 12), rtol=0.1)


def test_histogram_prior_places_overflow_mass_just_outside_the_range():
    pi = np.r_[0.2, np.full(10, 0.08)]
    pi = np.r_[pi, 0.0]
    prior = mit.histogram_prior(pi, EDGES)
    assert prior.lo == pytest.approx(-0.1) and prior.hi == pytest.approx(1.0)
    assert prior.bin_masses(np.array([-0.1, 0.0]))[0] == pytest.approx(0.2)


@pytest.mark.parametrize("name", ["cone", "maze"])
def test_coordinate_transforms_round_trip_and_make_the_measurement_linear(name):
    from misgen_lib.interventions import transforms
    task = mg.tasks.get(name)
    data = task.curate(300, seed=0)
    t = transforms.for_task(name)
    y = t.encode(data.x)
    np.testing.assert_allclose(t.decode(y), data.x, atol=1e-4)
    # the same relative zero-mean noise biases the measurement in x (the curvature term), and
    # hardly at all in y, where the measurement is linear (up to |r| at the cone's apex)
    rng = np.random.default_rng(0)
    sy = 0.05 * y.reshape(-1, y.shape[-1]).std(0)
    sx = 0.05 * data.x.reshape(-1, data.x.shape[-1]).std(0)
    ys = (y[:50, None] + sy * rng.standard_normal((50, 400) + y.shape[1:])).reshape(-1, *y.shape[1:])
    xs = (data.x[:50, None] + sx * rng.standard_normal((50, 400) + data.x.shape[1:])).reshape(-1, *data.x.shape[1:])
    q0 = np.repeat(data.q[:50], 400)
    bias_x, bias_y = np.mean(task.measure(xs) - q0), np.mean(task.measure(t.decode(ys)) - q0)
    assert abs(bias_x) > 10 * np.std(task.measure(xs) - q0) / np.sqrt(q0.size)
    assert abs(bias_y) < abs(bias_x) / 5


def test_pendulum_energy_coordinates_round_trip_and_the_energy_is_a_channel():
    """In the pendulum's coordinates the measured energy is the mean of the energy channel, exactly
    wherever the channel lies above the potential (the decoder's clip at 0 kinetic energy is the
    only nonlinearity left), so noise in y leaves no curvature bias; in x the quadratic kinetic
    energy turns zero-mean velocity noise into a positive bias."""
    from misgen_lib.interventions import transforms
    task = mg.tasks.get("pendulum")
    data = task.curate(200, seed=0)
    t = transforms.for_task("pendulum")
    y = t.encode(data.x)
    np.testing.assert_allclose(t.decode(y), data.x, atol=1e-3)
    rng = np.random.default_rng(0)
    ys = y + 0.05 * y.reshape(-1, 5).std(0) * rng.standard_normal(y.shape)
    ys[..., 0] = np.maximum(ys[..., 0], potential(ys[..., 1], ys[..., 2]))   # no clipping
    np.testing.assert_allclose(task.measure(t.decode(ys)), ys[..., 0].mean(1), rtol=1e-5)
    x = np.repeat(data.x[:50], 100, axis=0)
    xs = x + 0.05 * x.reshape(-1, 4).std(0) * rng.standard_normal(x.shape)
    error = task.measure(xs) - np.repeat(data.q[:50], 100)
    assert error.mean() > 10 * error.std() / np.sqrt(error.size)


def test_no_transform_for_a_task_is_named():
    from misgen_lib.interventions import transforms
    with pytest.raises(ValueError, match=r"no coordinate transform for task 'sine'; available for: \['cone', 'maze', 'pendulum'\]"):
        transforms.for_task("sine")


def test_mitigation_study_runs_every_intervention_on_the_same_footing(tmp_path):
    import torch
    from misgen_lib.cache import ArtifactStore
    from misgen_lib.studies import SuiteConfig
    from misgen_lib.studies.mitigation_study import mitigation_study, outcome_table
    torch.set_num_threads(1)
    cfg = SuiteConfig(tasks="cone", models="diffusion-mlp", n_train=128, train_steps=20, batch_size=32, width=8,
                      n_samples=100, n_null=20, bins=8, seeds=(0,), workers=1)
    store = ArtifactStore(tmp_path)
    (r,) = mitigation_study(cfg, n_predict=300, n_depth=40, store=store, progress=False)
    (kernel,) = [inputs["kernel"] for kind, _, _, inputs in store.entries() if kind == "probe-predictions"]
    (depth,) = [inputs for kind, _, _, inputs in store.entries() if kind == "probe-depths"]
    assert kernel["model_key"] == depth["model_key"] == r.base.model.key   # cached: a rebuild only plans
    assert_probe_depth_is_the_rule_cached(r.base, store)
    names = [n for n in mg.interventions.available() if n not in ("first-step", "latent-mixture")]  # other classes'
    assert list(r.treated) == [n for n in names if n != "resample-2"] + ["resample-2"]   # the second round last
    assert set(r.notes["first-step"].split()) >= {"not", "run:"} and "latent-mixture" not in r.treated
    assert list(r.predicted) == ["none", *r.treated]
    for name, e in r.treated.items():
        assert e.intervention == name and e.samples.shape == r.base.samples.shape
        assert np.array_equal(e.drift.p_star, r.base.drift.p_star)       # always measured against p*
    assert np.allclose(r.transition.sum(0), 1)
    assert np.isclose(r.training_masses["precompensate"].sum(), 1) and (r.training_masses["precompensate"] >= 0).all()
    assert_plan_is_the_direct_computation(cfg, r, store)
    table = outcome_table([r])
    assert list(table["intervention"]) == ["none", *r.treated] and table.loc[0, "TV reduction"] == 0
    null_median = np.median(r.base.drift.null["tv"])
    assert table.loc[0, "reduction ceiling"] == pytest.approx(1 - null_median / r.base.drift.tv)
    assert len(mg.studies.claims.claim_c5([r])) == 3


def assert_probe_depth_is_the_rule_cached(entry, store):
    """``probe_depth`` gives what the declared rule computes directly, and a second call loads it."""
    from misgen_lib.kernel import deepest_local
    from misgen_lib.studies.kernel_study import probe_depth
    clean = entry.data.x[:40]
    direct = deepest_local(entry.model, clean, task=entry.task, seed=5)
    n = len(store.entries())
    first, again = probe_depth(entry, clean, 5, store=store), probe_depth(entry, clean, 5, store=store)
    assert len(store.entries()) == n + 1
    np.testing.assert_equal(vars(first), vars(direct))
    np.testing.assert_equal(vars(again), vars(direct))


def assert_plan_is_the_direct_computation(cfg, r, store, clip=10.0):
    """The registered interventions plan exactly what the building blocks compute directly: the
    predicted masses are model A's transition matrix applied to the training masses (the
    transform's are its own), and each treated model is the one trained on the treated unit
    built here by hand (same training set, weights, coordinates and conditioning, hence the same
    cache key), with the same named seed streams."""
    from dataclasses import replace
    from misgen_lib.cache import key_of
    from misgen_lib.models import make_config
    from misgen_lib.models.training import cache_inputs
    from misgen_lib.seeds import derive
    from misgen_lib.studies.mitigation_study import extended_task
    from misgen_lib.studies.suite import Unit, clean_sets
    task, prior, seed, model = r.base.task, r.base.prior, r.base.seed, r.base.model.name
    edges = r.base.drift.edges
    for name in ("reweight", "resample", "resample-2", "condition", "precompensate"):
        assert np.array_equal(r.predicted[name], r.transition @ r.training_masses[name]), name
    assert np.array_equal(r.predicted["condition"], r.predicted["none"])
    data, reference = clean_sets(cfg, task, prior, seed, store)
    a = Unit(cfg, task, prior, data, reference, model, seed)
    w = mit.reweighting_weights(data.q, r.base.q_hat, prior, edges, clip)
    w2 = w * mit.reweighting_weights(data.q, r.treated["resample"].q_hat, prior, edges, clip)
    w2 = np.clip(w2 / w2.mean(), 1 / clip, clip)
    np.testing.assert_array_equal(r.training_masses["reweight"], mit.weighted_masses(data.q, w, edges))
    np.testing.assert_array_equal(r.training_masses["resample-2"], mit.weighted_masses(data.q, w2, edges))
    wide, _ = extended_task(task, float(np.diff(edges).mean()))
    units = {"reweight": replace(a, weights=w),
             "resample": replace(a, train_data=mit.resample(data, w, derive(seed, "resample", task.name))),
             "resample-2": replace(a, train_data=mit.resample(data, w2, derive(seed, "resample-2", task.name))),
             "condition": replace(a, conditional=True),
             "precompensate": replace(a, train_data=wide.curate(
                 cfg.n_train, prior=mit.histogram_prior(r.training_masses["precompensate"], edges),
                 seed=derive(seed, "data-precompensated", task.name, model))),
             "transform": replace(a, transform=mit.for_task(task.name))}
    for name, u in units.items():
        inputs = cache_inputs(model, make_config(model, cfg.model_config(model, task.name)), u.training_set(),
                              u.training_seed(), u.is_conditional, u.weights)
        assert r.treated[name].model.key == key_of(inputs), name


def test_unknown_intervention_is_named_with_the_valid_ones(tmp_path):
    from misgen_lib.cache import ArtifactStore
    from misgen_lib.studies import SuiteConfig
    from misgen_lib.studies.mitigation_study import mitigation_study
    with pytest.raises(ValueError, match=r"unknown intervention \['dropout'\]; valid: \['reweight', 'resample', "
                                         r"'resample-2', 'condition', 'precompensate', 'transform', 'first-step', "
                                         r"'latent-mixture'\]"):
        mitigation_study(SuiteConfig(tasks="cone"), interventions="resample,dropout", store=ArtifactStore(tmp_path))


def test_an_intervention_brings_the_one_it_comes_after_in_registry_order():
    from misgen_lib.studies.mitigation_study import requested, rounds
    chosen = requested("transform,resample-2")
    assert [i.name for i in chosen] == ["resample", "resample-2", "transform"]
    assert [[i.name for i in r] for r in rounds(chosen)] == [["resample", "transform"], ["resample-2"]]


def test_claim_c5_takes_the_interventions_of_each_role():
    from misgen_lib.studies.claims import c5_interventions
    assert c5_interventions(["none", *mg.interventions.available()]) == {
        "C5a": ["resample", "reweight"], "C5b": ["condition"], "C5c": ["first-step", "latent-mixture", "precompensate", "transform"]}
    assert c5_interventions(["none", "unregistered"]) == {"C5a": [], "C5b": [], "C5c": []}


def test_an_origin_fix_samples_model_a_anew_and_trains_nothing(tmp_path):
    from misgen_lib.cache import ArtifactStore
    from misgen_lib.studies import SuiteConfig, origins
    from misgen_lib.studies.mitigation_study import mitigation_study, outcome_table
    cfg = SuiteConfig(tasks="cone", models="transformer,diffusion-mlp", n_train=128, train_steps=10, batch_size=32,
                      width=8, n_samples=100, n_null=20, bins=8, seeds=(0,), workers=1)
    store = ArtifactStore(tmp_path)
    results = mitigation_study(cfg, interventions="first-step", n_predict=200, n_depth=30, store=store, progress=False)
    transformer, mlp = results
    fixed = transformer.treated["first-step"]
    assert fixed.model.key == transformer.base.model.key          # model A itself: nothing trained
    np.testing.assert_array_equal(fixed.samples, origins.first_step_from_data(
        transformer.base.model, transformer.base.data.x, 100, mg.seeds.derive(0, "samples", "cone", "transformer")))
    assert "first-step" not in transformer.predicted and "first-step" not in mlp.treated
    assert mlp.notes["first-step"].startswith("not run: a fix for 'transformer' models")
    table = outcome_table(results)
    row = table[table.intervention == "first-step"]
    assert len(row) == 1 and np.isnan(row["predicted TV"].iloc[0]) and np.isfinite(row["TV"].iloc[0])
    c5c = mg.studies.claims.claim_c5(results)[2]
    # the companion's alternative, shown beside the paper's intervention (not run here): not counted
    assert (c5c.total, c5c.not_tested) == (0, 1) and "TV reduction (first-step), not counted" in c5c.items
