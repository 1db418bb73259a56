"""Empirical deviation kernels, estimated from a trained model's samples.

Each sample is projected onto its task's clean manifold (``projection.project``); the residuals
``r = x_hat - proj(x_hat)`` are the model's local errors. Two forms:

* ``ResidualBank``: the residuals themselves; ``apply`` adds a randomly drawn residual to each
  clean trajectory (the kernel is taken as additive and independent of where on the manifold it
  acts -- a simplification: errors that depend on ``q`` are averaged over the samples' ``q``).
* ``StationaryGaussian``: a Gaussian fitted to the residuals with a mean per time step and channel
  and a **time-stationary** covariance ``Cov(r_t, r_s) = C(t - s)`` (``C`` a d x d matrix per
  lag), estimated by averaging lagged products over time (unbiased per lag, ``/(T - lag)``) and
  then clipped to the nearest positive semidefinite matrix (negative eigenvalues set to 0).

``estimate(task, data, x_hat)`` projects and returns either form; both carry the ``Projection``
so a notebook can compare the samples' fitted on-manifold quantity with their measured quantity.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..checks import check_trajectories
from .base import DeviationKernel, GaussianForm, covariance_root
from .projection import Projection, project

FORMS = ("bank", "gaussian")


def _check_shape(x: np.ndarray, shape: tuple[int, ...], family: str) -> None:
    if x.shape[1:] != shape:
        raise ValueError(f"the {family} kernel was estimated on trajectories of shape (T, d) = "
                         f"{shape}, got {x.shape[1:]}")


@dataclass(repr=False)
class ResidualBank(DeviationKernel):
    residuals: np.ndarray
    projection: Projection | None = field(default=None, compare=False)
    family = "empirical-bank"

    def __post_init__(self):
        self.residuals = check_trajectories(self.residuals, "residuals")
        if len(self.residuals) == 0:
            raise ValueError("a residual bank needs at least one residual")

    def apply(self, x, rng):
        x = check_trajectories(x)
        _check_shape(x, self.residuals.shape[1:], self.family)
        return x + self.residuals[rng.integers(len(self.residuals), size=len(x))]

    def to_gaussian(self) -> "StationaryGaussian":
        return StationaryGaussian.fit(self.residuals, projection=self.projection)

    def to_dict(self):
        return {"family": self.family, "n": len(self.residuals),
                "rms": float(np.sqrt(np.mean(self.residuals ** 2)))}


@dataclass(repr=False)
class StationaryGaussian(DeviationKernel):
    """``r ~ N(mean, Sigma)`` with ``mean`` (T, d) and ``Sigma`` block-Toeplitz from the lag
    covariances ``autocovariance`` (T, d, d), ``autocovariance[l] = Cov(r_{t+l}, r_t)``."""
    mean: np.ndarray
    autocovariance: np.ndarray
    projection: Projection | None = field(default=None, compare=False)
    family = "empirical-gaussian"

    def __post_init__(self):
        self.mean = np.asarray(self.mean, dtype=float)
        self.autocovariance = np.asarray(self.autocovariance, dtype=float)
        T, d = self.mean.shape
        if self.autocovariance.shape != (T, d, d):
            raise ValueError(f"autocovariance must have shape (T, d, d) = {(T, d, d)}, "
                             f"got {self.autocovariance.shape}")
        self.covariance = _nearest_psd(_block_toeplitz(self.autocovariance))
        self._root = covariance_root(self.covariance)

    @classmethod
    def fit(cls, residuals, projection: Projection | None = None) -> "StationaryGaussian":
        r = check_trajectories(residuals, "residuals")
        M, T, d = r.shape
        if M < 2:
            raise ValueError(f"fitting a Gaussian needs at least 2 residuals, got {M}")
        mean = r.mean(axis=0)
        c = r - mean
        acov = np.stack([np.einsum("mti,mtj->ij", c[:, lag:], c[:, :T - lag]) / (M * (T - lag))
                         for lag in range(T)])
        return cls(mean=mean, autocovariance=acov, projection=projection)

    @property
    def marginal_std(self) -> np.ndarray:
        """Standard deviation of each channel at any time step (d,)."""
        return np.sqrt(np.diag(self.autocovariance[0]))

    def apply(self, x, rng):
        x = check_trajectories(x)
        _check_shape(x, self.mean.shape, self.family)
        z = rng.standard_normal((len(x), self._root.shape[1]))
        return x + self.mean + (z @ self._root.T).reshape(x.shape)

    def gaussian(self, x):
        x = check_trajectories(x)
        _check_shape(x, self.mean.shape, self.family)
        return GaussianForm(mean=np.broadcast_to(self.mean, x.shape).copy(), cov=self.covariance)

    def to_dict(self):
        c0 = self.autocovariance[0]
        lag1 = np.trace(self.autocovariance[1]) / max(np.trace(c0), 1e-300) if len(self.mean) > 1 else np.nan
        return {"family": self.family, "rms": float(np.sqrt(np.trace(c0) / len(c0))),
                "lag1_correlation": float(lag1), "mean_rms": float(np.sqrt(np.mean(self.mean ** 2)))}


def _block_toeplitz(acov: np.ndarray) -> np.ndarray:
    T, d, _ = acov.shape
    lag = np.arange(T)[:, None] - np.arange(T)[None, :]
    blocks = np.where((lag >= 0)[:, :, None, None], acov[np.abs(lag)],
                      acov[np.abs(lag)].transpose(0, 1, 3, 2))          # C(-l) = C(l)^T
    return blocks.transpose(0, 2, 1, 3).reshape(T * d, T * d)


def _nearest_psd(cov: np.ndarray) -> np.ndarray:
    cov = 0.5 * (cov + cov.T)
    w, v = np.linalg.eigh(cov)
    return (v * np.clip(w, 0.0, None)) @ v.T


def estimate(task, data, x_hat, form: str = "bank", n_reference: int = 20000,
             refine_steps: int = 30, seed: int = 0, progress: bool = True) -> DeviationKernel:
    """The empirical kernel of a trained model from its samples ``x_hat`` (n, T, d).

    ``data``: the model's training Dataset (its trajectories join the reference set; may be
    None). ``form``: ``"bank"`` (ResidualBank) or ``"gaussian"`` (StationaryGaussian). Samples
    containing NaN or inf are an error (drop them first: their count is itself a finding)."""
    if form not in FORMS:
        raise ValueError(f"unknown kernel form {form!r}; valid: {list(FORMS)}")
    proj = project(task, x_hat, data=data, n_reference=n_reference, refine_steps=refine_steps,
                   seed=seed, progress=progress)
    bank = ResidualBank(proj.residuals, projection=proj)
    return bank if form == "bank" else bank.to_gaussian()
