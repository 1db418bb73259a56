"""A-priori deviation kernels: parametric families typical of model classes, usable before training.

Families (``scale`` is always in the data's units, ``length`` in time steps):

* ``white``: independent Gaussian deviation of standard deviation ``scale`` at every time step
  and channel (a denoiser's residual error at its last steps).
* ``correlated``: time-correlated Gaussian, covariance ``scale^2 exp(-(t-t')^2 / (2 length^2))``
  per channel, channels independent (smooth, wavy local errors of convolutional models).
* ``random-walk``: accumulating Gaussian errors ``r_t = sum_{k<=t} e_k`` of autoregressive
  rollouts; increments have standard deviation ``scale / sqrt(T)`` so that the deviation at the
  last step has standard deviation ``scale`` (comparable with the other families).
* ``blur``: deterministic Gaussian smoothing along time with standard deviation ``scale`` time
  steps, edges held ("nearest"): regression to the mean of VAEs and MLPs. A Gaussian kernel with
  an ``x``-dependent mean and zero covariance.
* ``zero``: no deviation (a perfect model), the control.

``white_of_locality`` gives the class-blind control kernel of a given locality: the white
kernel whose locality index (``base.locality_index``) on the given clean trajectories equals
that of the kernel it controls (the control of chapters 03-05's probe kernels and chapter 04's
declared families).

Setting the scale cheaply (companion's choice, documented in ``scale_from_data``): without any
training, the noise families default to a fixed fraction of the data's per-coordinate standard
deviation and ``blur`` to one time step. At small scales the predicted per-bin change of the
noise families is proportional to ``scale^2`` (delta method), so its *shape*, and with it the
correlation and sign agreement with an observed drift, does not depend on the scale; only the
magnitude does. ``calibrate`` sets the scale (and length) from a cheap probe's residuals instead.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..checks import check_trajectories
from .base import DeviationKernel, GaussianForm, sample_gaussian

#: default fraction of the data's standard deviation used as the scale of the noise families
DEFAULT_RELATIVE_SCALE = 0.05
#: default blur width in time steps
DEFAULT_BLUR_STEPS = 1.0
#: default correlation length of ``correlated`` in time steps
DEFAULT_LENGTH = 3.0


def _check_nonnegative(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _time_covariance_to_full(time_cov: np.ndarray, d: int) -> np.ndarray:
    """(T, T) covariance of one channel -> (T*d, T*d) with independent identical channels."""
    return np.kron(time_cov, np.eye(d))


class _AdditiveGaussian(DeviationKernel):
    """Zero-mean additive Gaussian deviation with covariance ``time_covariance(T)`` per channel."""

    def time_covariance(self, T: int) -> np.ndarray:
        raise NotImplementedError

    def gaussian(self, x):
        x = check_trajectories(x)
        _, T, d = x.shape
        return GaussianForm(mean=np.zeros_like(x), cov=_time_covariance_to_full(self.time_covariance(T), d))

    def apply(self, x, rng):
        x = check_trajectories(x)
        n, T, d = x.shape
        r = sample_gaussian(self.time_covariance(T), n * d, (T,), rng)  # channels independent
        return x + r.reshape(n, d, T).transpose(0, 2, 1)

    def to_dict(self):
        return {"family": self.family, **asdict(self)}


@dataclass(repr=False)
class _ScaledGaussian(_AdditiveGaussian):
    scale: float = 0.0

    def __post_init__(self):
        self.scale = _check_nonnegative("scale", self.scale)


class White(_ScaledGaussian):
    family = "white"

    def time_covariance(self, T):
        return self.scale ** 2 * np.eye(T)


@dataclass(repr=False)
class Correlated(_ScaledGaussian):
    length: float = DEFAULT_LENGTH
    family = "correlated"

    def __post_init__(self):
        super().__post_init__()
        self.length = _check_nonnegative("length", self.length)
        if self.length == 0:
            raise ValueError("length must be > 0 time steps (use the 'white' family for length 0)")

    def time_covariance(self, T):
        t = np.arange(T, dtype=float)
        return self.scale ** 2 * np.exp(-0.5 * ((t[:, None] - t[None, :]) / self.length) ** 2)


class RandomWalk(_ScaledGaussian):
    family = "random-walk"

    def time_covariance(self, T):
        t = np.arange(1, T + 1, dtype=float)
        return self.scale ** 2 * np.minimum(t[:, None], t[None, :]) / T


@dataclass(repr=False)
class Blur(DeviationKernel):
    scale: float = DEFAULT_BLUR_STEPS
    family = "blur"

    def __post_init__(self):
        self.scale = _check_nonnegative("scale", self.scale)

    def _blurred(self, x):
        if self.scale == 0:
            return x.copy()
        return gaussian_filter1d(x, self.scale, axis=1, mode="nearest")

    def apply(self, x, rng):
        return self._blurred(check_trajectories(x))

    def gaussian(self, x):
        x = check_trajectories(x)
        D = x.shape[1] * x.shape[2]
        return GaussianForm(mean=self._blurred(x) - x, cov=np.zeros((D, D)))

    def to_dict(self):
        return {"family": self.family, "scale": self.scale}


@dataclass(repr=False)
class Zero(_AdditiveGaussian):
    family = "zero"

    def time_covariance(self, T):
        return np.zeros((T, T))

    def apply(self, x, rng):
        return check_trajectories(x).copy()


class DataGaussian(DeviationKernel):
    """The underfit regime, with no training at all: every trajectory is replaced by a draw of the
    Gaussian fitted to the training data (mean and full covariance over the flattened (T, d)
    coordinates). Not local: the reference a model that learned only the data's first two moments
    would give (``family("data-gaussian", data=...)``)."""
    family = "data-gaussian"

    def __init__(self, data):
        x = check_trajectories(getattr(data, "x", data), "data")
        self.shape = x.shape[1:]
        flat = x.reshape(len(x), -1)
        self.mean = flat.mean(0)
        self.cov = np.cov(flat, rowvar=False)

    def apply(self, x, rng):
        x = check_trajectories(x)
        draws = sample_gaussian(self.cov, len(x), self.shape, rng)
        return draws + self.mean.reshape(self.shape)

    def to_dict(self):
        return {"family": self.family, "dims": int(np.prod(self.shape))}


FAMILIES: dict[str, type[DeviationKernel]] = {
    "white": White, "correlated": Correlated, "random-walk": RandomWalk, "blur": Blur, "zero": Zero,
    "data-gaussian": DataGaussian,
}


def families() -> list[str]:
    """Names of the a-priori kernel families."""
    return list(FAMILIES)


def scale_from_data(x, relative: float = DEFAULT_RELATIVE_SCALE) -> float:
    """The cheap, training-free scale of the noise families: ``relative`` times the standard
    deviation of the data over samples, time steps and channels (data units). The default 5% is a
    guess at a small model's relative error, not a measurement: it fixes the magnitude of the
    prediction only, never the shape of its per-bin change at small scales."""
    x = check_trajectories(x, "data")
    relative = _check_nonnegative("relative", relative)
    return relative * float(x.std())


def white_of_locality(locality: float, x) -> White:
    """The class-blind control kernel of ``locality``: the white kernel whose locality index on
    the clean trajectories ``x`` equals ``locality`` in expectation (its RMS deviation is its
    scale, so the scale is ``locality`` times the spread of ``x`` that ``locality_index`` divides
    by)."""
    x = check_trajectories(getattr(x, "x", x), "clean")
    return White(_check_nonnegative("locality", locality) * float(np.std(x)))


def family(name: str, scale: float | None = None, length: float | None = None,
           data=None, relative: float = DEFAULT_RELATIVE_SCALE) -> DeviationKernel:
    """The a-priori kernel family ``name`` (see ``families()``), before any training.

    ``scale=None`` sets it cheaply: ``relative`` x the data's standard deviation for the noise
    families (needs ``data``: a Dataset or an (n, T, d) array), one time step for ``blur``.
    ``length`` only applies to ``correlated`` (time steps, default 3)."""
    if name not in FAMILIES:
        raise ValueError(f"unknown kernel family {name!r}; available: {families()}")
    if length is not None and name != "correlated":
        raise ValueError(f"length applies to the 'correlated' family only, not {name!r}")
    if name == "zero":
        return Zero()
    if name == "data-gaussian":
        if data is None:
            raise ValueError("the 'data-gaussian' kernel needs data (a Dataset or an (n, T, d) array) to fit")
        return DataGaussian(data)
    if scale is None:
        if name == "blur":
            scale = DEFAULT_BLUR_STEPS
        elif data is None:
            raise ValueError(f"the {name!r} kernel needs a scale, or data to set it from "
                             f"(scale = {relative} x data std)")
        else:
            scale = scale_from_data(getattr(data, "x", data), relative)
    kwargs = {"scale": scale}
    if name == "correlated" and length is not None:
        kwargs["length"] = length
    return FAMILIES[name](**kwargs)


def calibrate(family: str, residuals, clean=None) -> DeviationKernel:
    """Fit the scale (and the length of ``correlated``) of ``family`` to residuals ``x' - x`` of a
    cheap probe (e.g. a model trained a few hundred steps, probed with ``kernel.probe``), by moments:

    * ``white``: RMS of the residuals;
    * ``correlated``: RMS, and the length from the lag-1 autocorrelation ``rho``:
      ``length = 1 / sqrt(-2 log rho)`` (the RBF's own relation);
    * ``random-walk``: RMS of the residuals at the last time step;
    * ``blur``: the width whose change ``blur(x) - x`` of the ``clean`` trajectories (the probe's
      inputs) has the residuals' RMS (bisection over 0.05 to 20 time steps).
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown kernel family {family!r}; available: {families()}")
    if family == "blur":
        if clean is None:
            raise ValueError("calibrating 'blur' needs the probe's clean inputs (clean=...)")
        return _calibrate_blur(check_trajectories(residuals, "residuals"), check_trajectories(clean, "clean"))
    r = check_trajectories(residuals, "residuals")
    r = r - r.mean(axis=0, keepdims=True)
    rms = float(np.sqrt(np.mean(r ** 2)))
    if family == "white":
        return White(rms)
    if family == "random-walk":
        return RandomWalk(float(np.sqrt(np.mean(r[:, -1] ** 2))))
    if family == "correlated":
        rho = float(np.sum(r[:, 1:] * r[:, :-1]) / max(np.sum(r[:, :-1] ** 2), 1e-300))
        rho = min(max(rho, 1e-6), 1 - 1e-9)
        return Correlated(rms, length=1.0 / np.sqrt(-2.0 * np.log(rho)))
    if family == "zero":
        return Zero()
    raise ValueError(f"calibrate cannot fit the {family!r} family from residuals; valid: "
                     f"['white', 'correlated', 'random-walk', 'blur', 'zero']")


def _calibrate_blur(residuals: np.ndarray, clean: np.ndarray) -> Blur:
    target = float(np.sqrt(np.mean(residuals ** 2)))
    lo, hi = 0.05, 20.0
    for _ in range(40):
        mid = np.sqrt(lo * hi)
        change = float(np.sqrt(np.mean((Blur(mid).apply(clean, None) - clean) ** 2)))
        lo, hi = (mid, hi) if change < target else (lo, mid)
    return Blur(float(np.sqrt(lo * hi)))
