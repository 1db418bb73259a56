"""Predicting the recovered distribution: zero kernel, closed form, analytic vs Monte Carlo,
and the validation numbers."""
import numpy as np
import pytest

import misgen_lib as mg
from kernel_toy_task import RMSAmplitude
from misgen_lib.kernel.predict import delta_method


def tasks_with_curation():
    """The toy task plus every registered task whose curation works at this size."""
    out = [RMSAmplitude()]
    for name in mg.tasks.available():
        task = mg.tasks.get(name)
        try:
            task.curate(8, seed=0)
        except ImportError:  # curation not written yet
            continue
        out.append(task)
    return out


TASKS = tasks_with_curation()


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
@pytest.mark.parametrize("method", ["monte-carlo", "analytic"])
def test_zero_kernel_predicts_no_drift(task, method):
    pred = mg.kernel.predict(task, mg.kernel.family("zero"), n=300, seed=0, method=method, progress=False)
    assert np.array_equal(pred.delta, np.zeros_like(pred.delta))
    assert np.array_equal(pred.p_tilde, pred.p_star)
    assert np.allclose(pred.q_pred, pred.q_clean)
    if method == "analytic":
        assert not pred.spread.any()


def test_analytic_predictor_matches_closed_form_on_toy_task():
    task, sigma = RMSAmplitude(), 0.05
    data = task.curate(50, seed=0)
    x = np.asarray(data.x, dtype=float)
    form = mg.kernel.family("white", scale=sigma).gaussian(x)
    q0, b, s = delta_method(task, x, form.cov)
    D = task.horizon * task.dim
    assert np.allclose(q0, task.measure(x))
    assert np.allclose(b, sigma ** 2 * (D - 1) / (2 * D * q0), rtol=1e-8)
    assert np.allclose(s, sigma / np.sqrt(D), rtol=1e-8)


# Stated tolerance of analytic vs Monte Carlo at a small kernel (scale = 1% of the data's std):
# the delta method neglects third and higher orders, relatively O(scale) here. "Small" must be
# small against the scale on which the measurement is smooth: the maze's travel distance has
# kinks where the mass rests (recorded steps down to ~1e-3 cells after arrival), so there the
# kernel is 0.1% of the data's std; at 1% its spread is off by up to 6% (a limit of the analytic
# predictor on the maze, not of the test).
SMALL_RELATIVE_SCALE = {"maze": 0.001}
SPREAD_RTOL = 0.05
SHIFT_RTOL = 0.10


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_analytic_predictor_agrees_with_monte_carlo_for_a_small_gaussian_kernel(task):
    data = task.curate(400, seed=0)
    x = np.asarray(data.x, dtype=float)[::50]                      # 8 clean trajectories
    relative = SMALL_RELATIVE_SCALE.get(task.name, 0.01)
    kernel = mg.kernel.family("correlated", data=data, relative=relative, length=2.0)
    q0, b, s = delta_method(task, x, kernel.gaussian(x).cov)
    # antithetic Monte Carlo: (m(x+r) + m(x-r))/2 - m(x) isolates the even (second-order) part
    # with little noise, (m(x+r) - m(x-r))/2 the odd (first-order) part
    rng, M = np.random.default_rng(1), 4000
    for i in range(len(x)):
        xi = np.repeat(x[i:i + 1], M, axis=0)
        r = kernel.residuals(xi, rng)
        up, down = task.measure(xi + r), task.measure(xi - r)
        even, odd = 0.5 * (up + down) - q0[i], 0.5 * (up - down)
        assert np.std(odd) == pytest.approx(s[i], rel=SPREAD_RTOL)
        se = np.std(even) / np.sqrt(M)
        assert abs(np.mean(even) - b[i]) < SHIFT_RTOL * abs(b[i]) + 3 * se + 1e-12


def test_analytic_and_monte_carlo_predict_the_same_distribution():
    task = RMSAmplitude()
    kernel = mg.kernel.family("white", scale=0.3)
    kwargs = dict(n=20000, seed=0, bins=10, progress=False)
    mc = mg.kernel.predict(task, kernel, method="monte-carlo", **kwargs)
    an = mg.kernel.predict(task, kernel, method="analytic", **kwargs)
    # Monte Carlo standard error of a bin change is about sqrt(2 * 0.1 / 20000) ~ 3e-3
    assert np.max(np.abs(mc.delta - an.delta)) < 0.01
    assert mc.delta[-1] > 0.02 and an.delta[-1] > 0.02   # RMS is biased up: mass leaves the top
    assert mc.q_pred.mean() > mc.q_clean.mean()


def observed_drift(task, kernel, n, bins, seed):
    """A drift of "samples" made by the kernel itself, with the metrics of the models chapter."""
    data = task.curate(n, seed=seed)
    x_hat = kernel.apply(np.asarray(data.x, dtype=float), np.random.default_rng(seed))
    return mg.metrics.drift(task.measure(x_hat), task.default_prior(), bins=bins, seed=seed)


def test_validation_of_a_correct_and_of_a_null_prediction():
    task, kernel = RMSAmplitude(), mg.kernel.family("white", scale=0.3)
    drift = observed_drift(task, kernel, n=4000, bins=10, seed=11)
    pred = mg.kernel.predict(task, kernel, n=20000, bins=10, seed=0, progress=False)
    v = mg.kernel.validate(pred, drift, n_boot=200)
    assert v.correlation > 0.9 and v.correlation > v.correlation_null95
    assert v.correlation_ci[0] <= v.correlation <= v.correlation_ci[1]
    assert v.n_beyond_null >= 2 and v.sign_agreement == 1.0
    assert v.share_explained > 0.5
    null = mg.kernel.validate(mg.kernel.predict(task, mg.kernel.family("zero"), n=2000, bins=10,
                                                progress=False), drift, n_boot=50)
    assert null.share_explained == pytest.approx(0.0, abs=1e-12) and np.isnan(null.correlation)
    wrong = mg.kernel.validate(mg.kernel.predict(task, mg.kernel.family("blur", scale=3.0), n=2000,
                                                 bins=10, progress=False), drift, n_boot=50)
    assert wrong.share_explained < 0                                 # blur shrinks, noise inflates


def test_validate_rejects_a_different_binning():
    task = RMSAmplitude()
    drift = observed_drift(task, mg.kernel.family("zero"), n=200, bins=10, seed=0)
    pred = mg.kernel.predict(task, mg.kernel.family("zero"), n=200, bins=20, progress=False)
    with pytest.raises(ValueError, match="different binnings: prediction has 20 bins.*drift 10"):
        mg.kernel.validate(pred, drift)


def test_predict_rejects_bad_method_and_non_gaussian_analytic():
    task = RMSAmplitude()
    with pytest.raises(ValueError, match=r"unknown prediction method 'exact'; valid: \['monte-carlo', 'analytic'\]"):
        mg.kernel.predict(task, mg.kernel.family("zero"), n=10, method="exact")
    bank = mg.kernel.ResidualBank(np.zeros((3, task.horizon, 1)))
    with pytest.raises(ValueError, match="needs a Gaussian kernel"):
        mg.kernel.predict(task, bank, n=10, method="analytic")


def test_prediction_is_deterministic_for_a_seed():
    task, kernel = RMSAmplitude(), mg.kernel.family("white", scale=0.2)
    a = mg.kernel.predict(task, kernel, n=500, seed=4, progress=False)
    b = mg.kernel.predict(task, kernel, n=500, seed=4, progress=False)
    assert np.array_equal(a.delta, b.delta)
