"""The empirical estimator recovers a known kernel from "samples" that are clean data plus noise."""
import numpy as np
import pytest
import torch

import misgen_lib as mg
from kernel_toy_task import RMSAmplitude

# What the estimator can recover: the projection moves each sample along the manifold, so the
# part of the noise tangent to the manifold (the k = dim(q, xi) directions of g) is attributed to
# the fitted (q, xi), not to the kernel. The kernel recovered is the noise's off-manifold part:
# for white noise of standard deviation sigma on D = T*d coordinates, sigma^2 (1 - k/D) per
# coordinate. Stated tolerances of the recovery:
WHITE_STD_RTOL = 0.04      # marginal std against sigma sqrt(1 - k/D)
OFF_MANIFOLD_RTOL = 0.10   # per-sample residual against the noise's exact off-manifold part
CORR_ATOL = 0.03           # lag autocorrelations against those of the exact off-manifold part


def smooth_tasks():
    tasks = [RMSAmplitude()]
    tasks += [mg.tasks.get(name) for name in ("sine", "cone")]   # an unregistered one is an error
    return tasks


def noisy_samples(task, truth, n=600, seed=1):
    """Clean data plus kernel noise, "passed off as samples" of a model."""
    data = task.curate(n, seed=seed)
    x = np.asarray(data.x, dtype=float)
    return data, x, truth.apply(x, np.random.default_rng(seed + 100))


def fit_kernel(task, x_hat):
    train = task.curate(300, seed=2)
    return mg.kernel.estimate(task, train, x_hat, form="gaussian", n_reference=5000, seed=3,
                              progress=False)


def off_manifold_part(task, data, noise):
    """The exact off-manifold part of ``noise`` at the clean points: ``(I - J J^+) noise``."""
    theta = torch.as_tensor(np.column_stack([data.q, data.xi]), dtype=torch.float64)
    _, J = mg.kernel.projection.generator_jacobian(task, theta)
    J = J.numpy()
    flat = noise.reshape(len(noise), -1)
    coef = np.linalg.solve(np.einsum("ndp,ndq->npq", J, J), np.einsum("ndp,nd->np", J, flat)[..., None])[..., 0]
    return (flat - np.einsum("ndp,np->nd", J, coef)).reshape(noise.shape)


@pytest.mark.parametrize("task", smooth_tasks(), ids=lambda t: t.name)
def test_known_white_noise_is_recovered(task):
    sigma = 0.03
    data, x, x_hat = noisy_samples(task, mg.kernel.family("white", scale=sigma))
    fit = fit_kernel(task, x_hat)
    k, D = 1 + data.xi.shape[1], task.horizon * task.dim
    want = sigma * np.sqrt(1 - k / D)
    assert fit.marginal_std == pytest.approx(np.full(task.dim, want), rel=WHITE_STD_RTOL)
    lag_corr = [np.trace(fit.autocovariance[lag]) / np.trace(fit.autocovariance[0]) for lag in (1, 2, 3)]
    assert np.max(np.abs(lag_corr)) < 2 * k / D + CORR_ATOL  # white, up to the removed tangent
    assert np.sqrt(np.mean(fit.mean ** 2)) < 0.2 * sigma     # zero-mean noise: no bias
    assert fit.projection.refined.mean() > 0.9               # the gradient fit did its job


@pytest.mark.parametrize("task", smooth_tasks(), ids=lambda t: t.name)
def test_known_correlated_noise_is_recovered_as_its_off_manifold_part(task):
    truth = mg.kernel.family("correlated", scale=0.03, length=2.0)
    data, x, x_hat = noisy_samples(task, truth)
    fit = fit_kernel(task, x_hat)
    expected = off_manifold_part(task, data, x_hat - x)
    err = np.sqrt(np.mean((fit.projection.residuals - expected) ** 2))
    assert err < OFF_MANIFOLD_RTOL * truth.scale
    want = mg.kernel.StationaryGaussian.fit(expected)
    assert fit.marginal_std == pytest.approx(want.marginal_std, rel=OFF_MANIFOLD_RTOL)
    assert autocorrelation(fit, [1, 2, 4]) == pytest.approx(autocorrelation(want, [1, 2, 4]), abs=CORR_ATOL)
    # and the off-manifold part is most of the noise: the recovered scale is near the truth
    assert fit.marginal_std == pytest.approx(np.full(task.dim, truth.scale), rel=0.25)
    # the fitted on-manifold quantity is the clean one, up to the noise's share along q
    assert np.median(np.abs(fit.projection.q_fit - data.q)) < 0.02 * np.ptp(task.q_range)


def autocorrelation(kernel, lags):
    acov = kernel.autocovariance
    return np.array([np.trace(acov[lag]) / np.trace(acov[0]) for lag in lags])


def test_clean_samples_project_onto_themselves():
    task = RMSAmplitude()
    data = task.curate(200, seed=5)
    proj = mg.kernel.project(task, data.x, n_reference=2000, seed=0, progress=False)
    assert np.max(proj.rms) < 1e-4
    assert np.max(np.abs(proj.q_fit - data.q)) < 1e-4


def test_without_refinement_the_nearest_reference_is_kept():
    task = RMSAmplitude()
    data = task.curate(50, seed=5)
    proj = mg.kernel.project(task, data.x, n_reference=500, refine_steps=0, seed=0, progress=False)
    assert not proj.refined.any()
    ref_x, _, _ = mg.kernel.projection.reference_set(task, None, 500, seed=0)
    dist = ((data.x[:, None].astype(float) - ref_x[None]) ** 2).sum(axis=(2, 3))
    assert np.allclose(proj.x_proj, ref_x[dist.argmin(1)])


def test_residual_bank_adds_its_residuals():
    residuals = np.arange(2 * 4 * 1, dtype=float).reshape(2, 4, 1)
    bank = mg.kernel.ResidualBank(residuals)
    out = bank.apply(np.zeros((50, 4, 1)), np.random.default_rng(0))
    assert all(any(np.array_equal(o, r) for r in residuals) for o in out)
    with pytest.raises(ValueError, match=r"shape \(T, d\) = \(4, 1\), got \(5, 1\)"):
        bank.apply(np.zeros((3, 5, 1)), np.random.default_rng(0))


def test_stationary_gaussian_fit_is_positive_semidefinite_and_samples_its_covariance():
    truth = mg.kernel.family("random-walk", scale=1.0)  # not stationary: the fit is its stationary part
    r = truth.residuals(np.zeros((300, 16, 2)), np.random.default_rng(0))
    fit = mg.kernel.StationaryGaussian.fit(r)
    assert np.linalg.eigvalsh(fit.covariance).min() > -1e-10
    draws = fit.residuals(np.zeros((20000, 16, 2)), np.random.default_rng(1)).reshape(20000, -1)
    assert np.allclose(np.cov(draws.T), fit.covariance, atol=0.05)


def test_estimate_rejects_bad_form_and_nan_samples():
    task = RMSAmplitude()
    data = task.curate(20, seed=0)
    with pytest.raises(ValueError, match=r"unknown kernel form 'histogram'; valid: \['bank', 'gaussian'\]"):
        mg.kernel.estimate(task, data, data.x, form="histogram")
    bad = np.array(data.x, dtype=float)
    bad[3, 2, 0] = np.nan
    with pytest.raises(ValueError, match="1 of 20 samples contain NaN"):
        mg.kernel.estimate(task, data, bad, progress=False)


def test_fitted_quantity_may_leave_the_range_instead_of_sitting_on_its_edge():
    """Clean cones just beyond the range: the fit finds their q outside it (the references, clean
    draws inside the range, cannot), and ``outside`` reports the share."""
    task = mg.tasks.get("cone")
    lo, hi = task.q_range
    rng = np.random.default_rng(0)
    q = hi + rng.uniform(0.05, 0.2, size=100) * (hi - lo)
    x = np.asarray(task.generate(torch.as_tensor(q), torch.as_tensor(task.nuisance(100, rng))))
    proj = mg.kernel.project(task, x, n_reference=2000, seed=0, progress=False)
    assert proj.outside == 1.0
    assert np.max(np.abs(proj.q_fit - q)) < 1e-3 * (hi - lo)
    bounds = mg.kernel.projection.fit_bounds(task)
    assert bounds[0] >= 0 and bounds[1] == hi + mg.kernel.projection.FIT_MARGIN * (hi - lo)


def test_logistic_projection_does_not_measure_reference_spacing():
    """Clean logistic orbits plus small white noise move no mass along the manifold: the drift of
    the fitted r stays inside its finite-sample null. The nearest of 20 000 references does not
    (chaotic orbits are far apart): its drift is that of the reference set's spacing."""
    task = mg.tasks.get("logistic")
    rng = np.random.default_rng(0)
    n = 1500
    q = rng.uniform(*task.q_range, size=n)
    x = task.generate(q, task.nuisance(n, rng)) + 0.01 * rng.standard_normal((n, task.horizon, 1))
    prior = mg.priors.Uniform(*task.q_range)
    fitted = mg.kernel.project(task, x, n_reference=20000, seed=0, progress=False)
    nearest = mg.kernel.project(task, x, n_reference=20000, refine_steps=0, seed=0, progress=False)
    on = mg.metrics.drift(fitted.q_fit, prior, bins=20, n_null=200, seed=1)
    assert fitted.refined.mean() > 0.95
    assert on.tv <= on.null_q95("tv")
    assert np.median(np.abs(fitted.q_fit - q)) < 0.005
    assert np.median(fitted.rms) == pytest.approx(0.01, rel=0.1)     # the residual is the noise
    off = mg.metrics.drift(nearest.q_fit, prior, bins=20, n_null=200, seed=1)
    assert off.tv > on.null_q95("tv")
