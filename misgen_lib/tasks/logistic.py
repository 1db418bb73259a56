"""Logistic-map task: ``x_{n+1} = r x_n (1 - x_n)``, d = 1.

Quantity: the growth rate ``r``, range [3.0, 4.0] by default (a parameter): from the period-2
regime through the period-doubling cascade (r ~ 3.57) into chaos. Nuisance: the initial value
``x_0`` ~ U[0.05, 0.95].

Measurement: ``r`` by least squares through the origin on consecutive pairs,
``r = sum x_{n+1} u_n / sum u_n^2`` with ``u_n = x_n (1 - x_n)``; exact on clean data (to
rounding). It is an errors-in-variables regression: noise in ``x_n`` enters ``u_n``, is squared
in the denominator and biases ``r`` down; pairs near 0 and 1 carry little ``u_n`` and make it
ill-conditioned.

Companion's choice: ``burn_in`` iterations are discarded before recording (default 0: the
transient from ``x_0`` stays in the window, so trajectories of the periodic regime show their
approach to the cycle, not only its two to sixteen values).
"""
from __future__ import annotations

import numpy as np

from .backend import quiet
from ..checks import check_positive_int, check_trajectories
from .base import Task, register


def logistic_orbits(r: np.ndarray, x0: np.ndarray, steps: int, burn_in: int = 0) -> np.ndarray:
    """Orbits (n, steps) of the logistic map, vectorised over the batch."""
    x = np.asarray(x0, dtype=float).copy()
    out = np.empty((len(x), steps))
    for _ in range(burn_in):
        x = r * x * (1 - x)
    for n in range(steps):
        out[:, n] = x
        x = r * x * (1 - x)
    return out


def pair_residual_fit(s):
    """(r_hat, u, y) of the least-squares fit ``s_{n+1} ~ r s_n (1 - s_n)`` per row of ``s``."""
    u = s[:, :-1] * (1 - s[:, :-1])
    y = s[:, 1:]
    return (y * u).sum(1) / (u * u).sum(1), u, y


@register
class Logistic(Task):
    name = "logistic"
    quantity = "r"
    unit = ""
    dim = 1
    default_mode = "prior"
    smooth = False          # chaotic over much of the range
    measure_tolerance = 1e-9

    def __init__(self, horizon: int = 64, q_range=(3.0, 4.0), burn_in: int = 0,
                 x0_range=(0.05, 0.95)):
        self.horizon = check_positive_int("horizon", horizon, minimum=3)
        self.burn_in = check_positive_int("burn_in", burn_in, minimum=0)
        self.q_range = tuple(float(v) for v in q_range)
        self.x0_range = tuple(float(v) for v in x0_range)
        if not 0 < self.q_range[0] < self.q_range[1] <= 4:
            raise ValueError(f"logistic: q_range must satisfy 0 < lo < hi <= 4 (orbits stay in "
                             f"[0, 1]), got {self.q_range}")
        if not 0 < self.x0_range[0] < self.x0_range[1] < 1:
            raise ValueError(f"logistic: x0_range must lie inside (0, 1), got {self.x0_range}")

    def params(self):
        return {"horizon": self.horizon, "q_range": list(self.q_range), "burn_in": self.burn_in,
                "x0_range": list(self.x0_range)}

    def nuisance(self, n, rng):
        return rng.uniform(*self.x0_range, size=(n, 1))

    def generate(self, q, xi):
        q = self.check_q(q)
        return logistic_orbits(q, np.asarray(xi, float)[:, 0], self.horizon, self.burn_in)[..., None]

    def step_map(self, x, q):
        """One step of the map, ``x_{t+1} = q x_t (1 - x_t)`` (numpy or torch; used by the
        orbit projection, ``kernel.projection.fit_orbit``)."""
        return q * x * (1 - x)

    def measure(self, x):
        x = check_trajectories(x, f"{self.name} trajectories", self.dim, min_steps=2)
        with quiet():
            return pair_residual_fit(x[..., 0])[0]

    def plausibility(self, x):
        """``map_residual``: RMS of ``x_{n+1} - r_hat x_n (1 - x_n)`` (0 on a clean orbit), and
        ``outside_unit``: share of values outside [0, 1]."""
        x = check_trajectories(np.asarray(x), f"{self.name} trajectories", self.dim, min_steps=2)
        with quiet():
            r, u, y = pair_residual_fit(x[..., 0])
            res = np.sqrt(((y - r[:, None] * u) ** 2).mean(1))
            return {"map_residual": res, "outside_unit": ((x < 0) | (x > 1)).mean((1, 2))}
