"""A-priori kernel families: their draws have the covariance they claim; scale rules and errors."""
import numpy as np
import pytest

import misgen_lib as mg
from misgen_lib.kernel import apriori

T, D = 24, 2


def empirical_time_cov(kernel, n=20000, seed=0):
    x = np.zeros((n, T, D))
    r = kernel.residuals(x, np.random.default_rng(seed))
    return np.einsum("nti,nsi->ts", r, r) / (n * D), r


@pytest.mark.parametrize("family,kwargs", [("white", {"scale": 0.3}),
                                           ("correlated", {"scale": 0.3, "length": 4.0}),
                                           ("random-walk", {"scale": 0.3})])
def test_draws_have_the_stated_covariance(family, kwargs):
    kernel = mg.kernel.family(family, **kwargs)
    emp, r = empirical_time_cov(kernel)
    want = kernel.time_covariance(T)
    # 20000 x 2 draws: standard error of a covariance entry <= 0.09^2 * sqrt(2 / 40000) ~ 6e-4
    assert np.max(np.abs(emp - want)) < 0.01
    # channels are independent
    cross = np.einsum("nt,nt->", r[..., 0], r[..., 1]) / r[..., 0].size
    assert abs(cross) < 0.01
    # the Gaussian form used by the analytic predictor is the same covariance on flattened (T*d)
    form = kernel.gaussian(np.zeros((1, T, D)))
    assert np.allclose(form.cov[::D, ::D], want) and np.allclose(form.cov[::D, 1::D], 0.0)


def test_random_walk_scale_is_the_final_step_std():
    kernel = mg.kernel.family("random-walk", scale=0.5)
    _, r = empirical_time_cov(kernel)
    assert np.std(r[:, -1]) == pytest.approx(0.5, rel=0.03)
    assert np.std(r[:, 0]) == pytest.approx(0.5 / np.sqrt(T), rel=0.03)


def test_blur_keeps_constants_and_damps_oscillation():
    kernel = mg.kernel.family("blur", scale=2.0)
    const = np.full((3, T, 1), 1.7)
    assert np.allclose(kernel.apply(const, None), const)
    t = np.arange(T)
    wiggle = np.cos(np.pi * t)[None, :, None]  # Nyquist oscillation
    interior = slice(8, T - 8)  # edges are held ("nearest"), so only the interior is damped
    assert np.abs(kernel.apply(wiggle, None)[:, interior]).max() < 0.05
    form = kernel.gaussian(wiggle)
    assert np.allclose(form.mean, kernel.apply(wiggle, None) - wiggle) and not form.cov.any()


def test_zero_kernel_changes_nothing():
    x = np.random.default_rng(0).normal(size=(5, T, D))
    assert np.array_equal(mg.kernel.family("zero").apply(x, np.random.default_rng(1)), x)


def test_scale_from_data_is_a_fraction_of_the_data_std():
    x = np.random.default_rng(0).normal(scale=2.0, size=(500, T, 1))
    kernel = mg.kernel.family("white", data=x, relative=0.1)
    assert kernel.scale == pytest.approx(0.1 * x.std())
    assert mg.kernel.family("blur").scale == apriori.DEFAULT_BLUR_STEPS


def test_calibrate_recovers_family_parameters():
    truth = mg.kernel.family("correlated", scale=0.2, length=3.0)
    r = truth.residuals(np.zeros((4000, 64, 1)), np.random.default_rng(3))
    fit = mg.kernel.calibrate("correlated", r)
    assert fit.scale == pytest.approx(0.2, rel=0.05)
    assert fit.length == pytest.approx(3.0, rel=0.05)
    rw = mg.kernel.family("random-walk", scale=0.4).residuals(np.zeros((4000, 64, 1)), np.random.default_rng(4))
    assert mg.kernel.calibrate("random-walk", rw).scale == pytest.approx(0.4, rel=0.05)
    clean = mg.tasks.get("sine").curate(200, seed=0).x
    blurred = mg.kernel.family("blur", scale=1.7).residuals(clean, None)
    assert mg.kernel.calibrate("blur", blurred, clean=clean).scale == pytest.approx(1.7, rel=0.02)


def test_white_of_locality_has_the_locality_it_controls():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(400, 32, 2))
    kernel = apriori.white_of_locality(0.2, x)
    assert kernel.family == "white" and kernel.scale == pytest.approx(0.2 * x.std())
    assert mg.kernel.locality_index(x, kernel.apply(x, rng)) == pytest.approx(0.2, rel=0.01)


def test_data_gaussian_draws_match_the_data_moments_and_ignore_the_input():
    data = mg.tasks.get("cone").curate(3000, seed=0)
    kernel = mg.kernel.family("data-gaussian", data=data)
    draws = kernel.apply(np.zeros((3000, 64, 2)), np.random.default_rng(1))
    np.testing.assert_allclose(draws.mean(0), data.x.mean(0), atol=0.06)
    np.testing.assert_allclose(draws.std(0), data.x.std(0), rtol=0.1, atol=0.02)
    again = kernel.apply(np.ones((3000, 64, 2)), np.random.default_rng(1))
    np.testing.assert_allclose(again, draws)   # the clean input does not matter: not a local kernel


@pytest.mark.parametrize("call,match", [
    (lambda: mg.kernel.family("gaussian-ish", scale=1.0), r"unknown kernel family 'gaussian-ish'.*white"),
    (lambda: mg.kernel.family("white"), "needs a scale, or data"),
    (lambda: mg.kernel.family("white", scale=-1.0), r"scale must be .*>= 0, got -1.0"),
    (lambda: mg.kernel.family("white", scale=0.1, length=2.0), "length applies to the 'correlated'"),
    (lambda: mg.kernel.family("correlated", scale=0.1, length=0.0), "length must be > 0"),
    (lambda: mg.kernel.calibrate("blur", np.zeros((2, 4, 1))), "calibrating 'blur' needs the probe's clean inputs"),
    (lambda: mg.kernel.family("data-gaussian"), "needs data"),
    (lambda: mg.kernel.family("white", scale=0.1).apply(np.zeros((4, 3)), None), r"shape \(n, T>=1, d\)"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
