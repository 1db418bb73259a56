"""Contract of every built-in task: exact measurement on clean data, numpy/torch measurement,
robustness to garbage, determinism, clear errors for bad input, and the registry."""
import numpy as np
import pytest
import torch

import misgen_lib as mg

TASKS = [("sine", {}), ("sine", {"quantity": "amplitude"}), ("cone", {}), ("logistic", {}),
         ("pendulum", {}), ("maze", {"layout": "umaze"}), ("maze", {"layout": "medium"}),
         ("maze", {"layout": "large"})]
IDS = [f"{n}-{'-'.join(map(str, kw.values()))}" if kw else n for n, kw in TASKS]


@pytest.fixture(params=TASKS, ids=IDS)
def task(request):
    name, kw = request.param
    return mg.tasks.get(name, **kw)


def clean(task, n=41, seed=0):
    q = np.linspace(*task.q_range, n)   # the whole range, both ends included
    return q, task.sample(q, np.random.default_rng(seed))


def test_registry_lists_the_five_tasks():
    assert set(mg.tasks.available()) >= {"sine", "cone", "logistic", "maze", "pendulum"}


def test_measure_recovers_q_across_the_range(task):
    q, x = clean(task)
    assert x.shape == (len(q), task.horizon, task.dim)
    err = np.abs(task.measure(x) - q)
    assert err.max() <= task.measure_tolerance, (task, err.max())


def test_measure_on_torch_is_differentiable_and_matches_numpy(task):
    q, x = clean(task, n=8)
    xt = torch.tensor(x, requires_grad=True)
    m = task.measure(xt)
    assert isinstance(m, torch.Tensor) and m.shape == (8,)
    np.testing.assert_allclose(m.detach().numpy(), task.measure(x), rtol=1e-10, atol=1e-12)
    m.sum().backward()
    assert torch.isfinite(xt.grad).all() and xt.grad.abs().sum() > 0
    # one row's measurement depends on that row only
    xt2 = torch.tensor(x, requires_grad=True)
    task.measure(xt2)[0].backward()
    assert xt2.grad[1:].abs().max() == 0


def test_measure_on_float32_torch_stays_float32(task):
    _, x = clean(task, n=4)
    m = task.measure(torch.tensor(x, dtype=torch.float32))
    assert m.dtype == torch.float32


def test_garbage_input_gives_finite_or_nan_never_raises(task):
    rng = np.random.default_rng(3)
    x = rng.normal(0, 10, size=(16, task.horizon, task.dim))
    x[0] = 0.0
    x[1, 5] = np.nan
    x[2] = 1e30
    for arr in (x, torch.tensor(x)):
        m = np.asarray(task.measure(arr), dtype=float) if isinstance(arr, np.ndarray) \
            else task.measure(arr).numpy()
        assert m.shape == (16,)
        assert not np.isinf(m).any()
    for name, values in task.plausibility(x).items():
        assert values.shape == (16,), name


def test_plausibility_is_near_zero_on_clean_data_and_flags_noisy_data(task):
    q, x = clean(task, n=20)
    rng = np.random.default_rng(1)
    noisy = x + rng.normal(0, 0.3, size=x.shape)
    p_clean, p_noisy = task.plausibility(x), task.plausibility(noisy)
    assert p_clean, "every built-in task reports a plausibility measure"
    for name in p_clean:
        assert np.all(p_clean[name] <= 1e-5), (name, p_clean[name].max())
    assert any(np.mean(p_noisy[k]) > 10 * np.mean(p_clean[k]) + 1e-3 for k in p_noisy)


def test_wrong_shape_is_a_clear_error(task):
    with pytest.raises(ValueError, match=r"shape \(n, T>=2, %d\)" % task.dim):
        task.measure(np.zeros((3, task.horizon, task.dim + 1)))


def test_q_outside_range_names_value_and_range(task):
    lo, hi = task.q_range
    with pytest.raises(ValueError, match=rf"{hi + 1.0}.*outside the valid range \[{lo}, {hi}\]"):
        task.sample([hi + 1.0], np.random.default_rng(0))


@pytest.mark.parametrize("horizon", [0, -3, 2.5])
def test_non_positive_horizon_is_rejected(horizon):
    for name in ("sine", "cone", "logistic", "pendulum", "maze"):
        with pytest.raises(ValueError, match=rf"horizon must be an integer >= \d+, got {horizon}"):
            mg.tasks.get(name, horizon=horizon)


def test_unknown_layout_and_task_are_clear_errors():
    with pytest.raises(ValueError, match=r"unknown maze layout 'spiral'; valid: \['large', 'medium', 'umaze'\]"):
        mg.tasks.get("maze", layout="spiral")
    with pytest.raises(ValueError, match="unknown task 'snake'"):
        mg.tasks.get("snake")


@pytest.mark.parametrize("name,kw", [("sine", {"horizon": 32}), ("cone", {"horizon": 32}),
                                     ("logistic", {"horizon": 20, "burn_in": 10}),
                                     ("pendulum", {"horizon": 10}),
                                     ("maze", {"layout": "medium", "horizon": 48})])
def test_other_horizons_keep_the_measurement_exact(name, kw):
    task = mg.tasks.get(name, **kw)
    q, x = clean(task, n=9)
    assert x.shape[1] == kw["horizon"]
    assert np.abs(task.measure(x) - q).max() <= task.measure_tolerance


@pytest.mark.parametrize("name,kw", [("sine", {}), ("sine", {"quantity": "amplitude"}), ("cone", {})])
def test_smooth_generators_accept_torch_and_are_differentiable(name, kw):
    task = mg.tasks.get(name, **kw)
    rng = np.random.default_rng(0)
    q = np.linspace(*task.q_range, 5)
    xi = task.nuisance(5, rng)
    qt, xit = torch.tensor(q, requires_grad=True), torch.tensor(xi, requires_grad=True)
    xt = task.generate(qt, xit)
    np.testing.assert_allclose(xt.detach().numpy(), task.generate(q, xi), atol=1e-12)
    task.measure(xt).sum().backward()
    # d m(g(q, xi)) / dq = 1 and d m / d xi = 0 for an exact measurement
    np.testing.assert_allclose(qt.grad.numpy(), 1.0, atol=1e-6)
    np.testing.assert_allclose(xit.grad.numpy(), 0.0, atol=1e-6)


def test_sine_frequency_estimate_is_biased_up_by_jitter():
    """The fragility the design names: white jitter raises the measured frequency."""
    task = mg.tasks.get("sine")
    q, x = clean(task, n=200)
    noisy = x + np.random.default_rng(0).normal(0, 0.1, size=x.shape)
    assert np.mean(task.measure(noisy) - q) > 0


def test_maze_travel_distance_is_lengthened_by_jitter():
    task = mg.tasks.get("maze", layout="umaze")
    q, x = clean(task, n=50)
    noisy = x + np.random.default_rng(0).normal(0, 0.02, size=x.shape)
    assert np.all(task.measure(noisy) > q)


def test_user_task_registers_and_curates():
    @mg.tasks.register
    class Ramp(mg.tasks.Task):
        name = "ramp-test"
        q_range = (0.0, 2.0)
        horizon, dim = 8, 1

        def nuisance(self, n, rng):
            return rng.normal(size=(n, 1))

        def generate(self, q, xi):
            return q[:, None, None] * np.linspace(0, 1, self.horizon)[None, :, None] + xi[:, None, :]

        def measure(self, x):
            return x[:, -1, 0] - x[:, 0, 0]

    task = mg.tasks.get("ramp-test")
    data = task.curate(200, seed=1)
    assert data.x.shape == (200, 8, 1) and np.all((data.q >= -1e-6) & (data.q <= 2 + 1e-6))
    mg.tasks.base._REGISTRY.pop("ramp-test")
