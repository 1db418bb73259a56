"""Sine task: ``x_t = A sin(2 pi f t / T + phi)``, ``t = 0..T-1``, d = 1.

Quantity (``quantity="frequency"``, default): the frequency ``f`` in cycles per window, range
[1, 5] by default; nuisance: the phase ``phi`` ~ U[0, 2 pi). Option ``quantity="amplitude"``:
the amplitude ``A`` in [0.5, 2], with phase and frequency (U over ``frequency_range``) as nuisance.

Measurement (companion's choice): a sampled sinusoid obeys the three-term recurrence
``x_{t+1} + x_{t-1} = 2 cos(w) x_t`` exactly, ``w = 2 pi f / T``. The least-squares estimate
``cos w = sum x_t (x_{t+1} + x_{t-1}) / (2 sum x_t^2)`` therefore recovers ``f`` exactly on clean
data for any phase, amplitude and non-integer frequency (zero-crossing counts and FFT peaks do
not), and it is smooth, so autograd can differentiate it. It is fragile the way the paper's
measurements are: white jitter adds to ``sum x_t^2`` only, pulls ``cos w`` down and the frequency
up, most strongly at low frequency where ``d f / d cos w = -T / (2 pi sin w)`` is large.
The amplitude is then the norm of the least-squares fit of ``(sin wt, cos wt)`` at that ``w``.

``generate`` accepts torch tensors (q and xi) and returns a differentiable tensor.
"""
from __future__ import annotations

import numpy as np

from .backend import common, like, namespace, quiet
from ..checks import check_positive_int, check_trajectories
from .base import Task, register

QUANTITIES = {"frequency": ("cycles per window", (1.0, 5.0)), "amplitude": ("", (0.5, 2.0))}


@register
class Sine(Task):
    name = "sine"
    dim = 1
    default_mode = "prior"

    def __init__(self, horizon: int = 64, quantity: str = "frequency", q_range=None,
                 amplitude: float = 1.0, frequency_range=(1.0, 5.0)):
        if quantity not in QUANTITIES:
            raise ValueError(f"sine: unknown quantity {quantity!r}; valid: {sorted(QUANTITIES)}")
        self.horizon = check_positive_int("horizon", horizon, minimum=8)
        self.quantity = quantity
        self.unit, default_range = QUANTITIES[quantity]
        self.q_range = tuple(float(v) for v in (q_range or default_range))
        self.amplitude = float(amplitude)
        self.frequency_range = tuple(float(v) for v in frequency_range)
        nyquist = self.horizon / 2
        for name, (lo, hi) in (("q_range", self.q_range), ("frequency_range", self.frequency_range)):
            if not (0 < lo < hi):
                raise ValueError(f"sine: {name} must satisfy 0 < lo < hi, got {(lo, hi)}")
        f_hi = self.q_range[1] if quantity == "frequency" else self.frequency_range[1]
        if f_hi >= nyquist / 2:
            raise ValueError(f"sine: frequency {f_hi} too high for horizon {self.horizon}; "
                             f"keep it below T/4 = {nyquist / 2}")
        if not self.amplitude > 0:
            raise ValueError(f"sine: amplitude must be > 0, got {amplitude!r}")
        # |cos w| < 1 - tol keeps the arccos gradient finite inside the range
        self.measure_tolerance = 1e-6

    def params(self):
        return {"horizon": self.horizon, "quantity": self.quantity, "q_range": list(self.q_range),
                "amplitude": self.amplitude, "frequency_range": list(self.frequency_range)}

    def nuisance(self, n, rng):
        phase = rng.uniform(0, 2 * np.pi, size=n)
        if self.quantity == "frequency":
            return phase[:, None]
        return np.stack([phase, rng.uniform(*self.frequency_range, size=n)], axis=1)

    def generate(self, q, xi):
        if namespace(q) is np:
            q = self.check_q(q)
        xp, q, xi = common(q, xi)
        t = like(np.arange(self.horizon, dtype=float), q)
        if self.quantity == "frequency":
            freq, amp = q, self.amplitude
        else:
            freq, amp = xi[:, 1], q[:, None]
        phase = 2 * np.pi * freq[:, None] * t[None, :] / self.horizon + xi[:, :1]
        return (amp * xp.sin(phase))[..., None]

    def angular_frequency(self, x):
        """Per-trajectory ``w`` from the three-term recurrence (NaN where undefined)."""
        xp = namespace(x)
        s = x[..., 0]
        mid = s[:, 1:-1]
        cos_w = (mid * (s[:, 2:] + s[:, :-2])).sum(1) / (2 * (mid * mid).sum(1))
        cos_w = xp.clip(cos_w, -1 + 1e-12, 1 - 1e-12)
        return xp.arccos(cos_w)

    def measure(self, x):
        x = check_trajectories(x, f"{self.name} trajectories", self.dim, min_steps=2)
        with quiet():
            w = self.angular_frequency(x)
            if self.quantity == "frequency":
                return w * self.horizon / (2 * np.pi)
            return self._amplitude(x, w)

    def _amplitude(self, x, w):
        """Norm of the least-squares fit ``x_t ~ a sin(w t) + b cos(w t)``."""
        xp = namespace(x)
        t = like(np.arange(self.horizon, dtype=float), x)
        s_, c_ = xp.sin(w[:, None] * t), xp.cos(w[:, None] * t)
        y = x[..., 0]
        sss, scc, ssc = (s_ * s_).sum(1), (c_ * c_).sum(1), (s_ * c_).sum(1)
        sy, cy = (s_ * y).sum(1), (c_ * y).sum(1)
        det = sss * scc - ssc * ssc
        a = (scc * sy - ssc * cy) / det
        b = (sss * cy - ssc * sy) / det
        return xp.sqrt(a * a + b * b)

    def plausibility(self, x):
        """``recurrence_residual``: RMS of ``x_{t+1} + x_{t-1} - 2 cos(w) x_t`` over RMS of ``x``
        (0 for an exact sinusoid)."""
        x = check_trajectories(np.asarray(x), f"{self.name} trajectories", self.dim, min_steps=2)
        with quiet():
            s = x[..., 0]
            w = self.angular_frequency(x)
            res = s[:, 2:] + s[:, :-2] - 2 * np.cos(w)[:, None] * s[:, 1:-1]
            return {"recurrence_residual": np.sqrt((res ** 2).mean(1) / (s ** 2).mean(1))}
