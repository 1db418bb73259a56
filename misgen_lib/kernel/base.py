"""The data deviation kernel interface.

A deviation kernel ``K(x' | x)`` describes the local errors a model class adds around data:
given clean trajectories ``x`` (n, T, d) it draws deviated trajectories ``x'``. Every kernel
(a priori families, empirical residual bank, fitted Gaussian) implements this one interface, so
the predictor and the validation never need to know which kind they hold.

Gaussian kernels additionally expose ``gaussian(x)``: the deviation ``x' - x`` is
``N(mean(x), cov)`` with ``cov`` over the flattened ``(T*d)`` coordinates in C order (time
major: index ``t*d + i``). The analytic (delta-method) predictor needs exactly this.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks import check_trajectories


def locality_index(x: np.ndarray, x_prime: np.ndarray) -> float:
    """RMS of ``x' - x`` relative to the spread of ``x`` (its standard deviation over
    trajectories, time steps and channels, as ``apriori.scale_from_data``): 0 for no change, about
    1.4 for an independent draw of the data."""
    return float(np.sqrt(np.mean((x_prime - x) ** 2)) / max(float(np.std(x)), 1e-300))


@dataclass
class GaussianForm:
    """``x' - x ~ N(mean, cov)``: ``mean`` (n, T, d) (may depend on ``x``), ``cov`` (T*d, T*d)."""
    mean: np.ndarray
    cov: np.ndarray


def sample_gaussian(cov: np.ndarray, n: int, shape: tuple[int, int],
                    rng: np.random.Generator) -> np.ndarray:
    """``n`` draws of ``N(0, cov)`` reshaped to (n, *shape), through the symmetric square root
    (eigenvalues clipped at 0, so a positive semidefinite ``cov`` of any rank works)."""
    root = covariance_root(cov)
    z = rng.standard_normal((n, root.shape[1]))
    return (z @ root.T).reshape(n, *shape)


def covariance_root(cov: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """``L`` (D, k) with ``L L^T = cov``, keeping only the ``k`` eigen-directions with eigenvalue
    above ``rtol`` times the largest (a zero covariance gives ``k = 0``)."""
    cov = 0.5 * (cov + cov.T)
    w, v = np.linalg.eigh(cov)
    top = max(float(w.max(initial=0.0)), 0.0)
    keep = w > rtol * top if top > 0 else np.zeros_like(w, dtype=bool)
    return v[:, keep] * np.sqrt(w[keep])


class DeviationKernel:
    """Base class: ``apply(x, rng)`` draws ``x' ~ K(. | x)``.

    Subclasses set ``family`` (a short name) and implement ``apply`` and ``to_dict``; Gaussian
    kernels also implement ``gaussian``."""
    family: str = "kernel"

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Deviated trajectories ``x'`` (n, T, d) for clean ``x`` (n, T, d)."""
        raise NotImplementedError

    def residuals(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``x' - x`` for draws of the kernel around ``x``."""
        x = check_trajectories(x)
        return self.apply(x, rng) - x

    @property
    def is_gaussian(self) -> bool:
        return type(self).gaussian is not DeviationKernel.gaussian

    def gaussian(self, x: np.ndarray) -> GaussianForm:
        """The Gaussian form of the deviation around ``x``; only Gaussian kernels have one."""
        raise TypeError(f"the {self.family!r} kernel is not Gaussian: the analytic predictor needs a "
                        f"Gaussian kernel (use method='monte-carlo')")

    def to_dict(self) -> dict:
        """JSON-serialisable description (family and parameters)."""
        raise NotImplementedError

    def describe(self) -> str:
        args = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in self.to_dict().items() if k != "family")
        return f"{self.family}({args})"

    def __repr__(self) -> str:
        return self.describe()
