"""Cone task: a 2D spiral whose radius grows linearly in time, d = 2.

``x_t = a tau_t (cos(2 pi k tau_t + phi), sin(2 pi k tau_t + phi))`` with ``tau_t = (t + 1) / T``,
``t = 0..T-1``. Quantity: the opening rate ``a`` (radius gained per window; range [0.5, 2]).
Nuisance: the phase ``phi`` ~ U[0, 2 pi) and the number of turns ``k`` ~ U[1.5, 2.5].

Companion's choices: time starts one step after the apex (``tau_0 = 1/T``), so no recorded point
sits exactly on the apex where the norm is not differentiable; the measurement is the
least-squares slope (with intercept) of the radius ``|x_t|`` against ``tau_t``, exact on clean
data. Near the apex the norm of a noisy point is biased up (``E|r + e| > |r|``), which lifts the
early radii and flattens the fitted slope: the fragility named in the design.

``generate`` accepts torch tensors and returns a differentiable tensor.
"""
from __future__ import annotations

import numpy as np

from .backend import common, namespace, quiet, safe_norm, time_grid
from ..checks import check_positive_int, check_trajectories
from .base import Task, register


def least_squares_slope(tau, y):
    """Slope of the least-squares line ``y ~ c + s tau`` for each row of ``y`` (n, T)."""
    tc = tau - tau.mean()
    return (y * tc).sum(-1) / (tc * tc).sum()


@register
class Cone(Task):
    name = "cone"
    quantity = "opening rate"
    unit = "radius per window"
    dim = 2
    default_mode = "prior"
    measure_tolerance = 1e-6

    def __init__(self, horizon: int = 64, q_range=(0.5, 2.0), turns=(1.5, 2.5)):
        self.horizon = check_positive_int("horizon", horizon, minimum=4)
        self.q_range = tuple(float(v) for v in q_range)
        self.turns = tuple(float(v) for v in turns)
        if not 0 < self.q_range[0] < self.q_range[1]:
            raise ValueError(f"cone: q_range must satisfy 0 < lo < hi, got {self.q_range}")
        if not 0 <= self.turns[0] <= self.turns[1] < self.horizon / 8:
            raise ValueError(f"cone: turns must satisfy 0 <= lo <= hi < T/8 = {self.horizon / 8}, "
                             f"got {self.turns}")

    def params(self):
        return {"horizon": self.horizon, "q_range": list(self.q_range), "turns": list(self.turns)}

    def nuisance(self, n, rng):
        return np.stack([rng.uniform(0, 2 * np.pi, size=n), rng.uniform(*self.turns, size=n)], axis=1)

    def generate(self, q, xi):
        if namespace(q) is np:
            q = self.check_q(q)
        xp, q, xi = common(q, xi)
        tau = time_grid(self.horizon, q, start=1.0)
        angle = 2 * np.pi * xi[:, 1:2] * tau + xi[:, :1]
        radius = q[:, None] * tau
        return xp.stack([radius * xp.cos(angle), radius * xp.sin(angle)], axis=-1)

    def measure(self, x):
        x = check_trajectories(x, f"{self.name} trajectories", self.dim, min_steps=2)
        with quiet():
            return least_squares_slope(time_grid(x.shape[1], x, start=1.0), safe_norm(x))

    def plausibility(self, x):
        """``radius_residual``: RMS deviation of ``|x_t|`` from its fitted line, relative to
        the fitted final radius (0 for a clean cone)."""
        x = check_trajectories(np.asarray(x), f"{self.name} trajectories", self.dim, min_steps=2)
        with quiet():
            tau = time_grid(x.shape[1], start=1.0)
            r = np.linalg.norm(x, axis=-1)
            slope = least_squares_slope(tau, r)
            fit = r.mean(1, keepdims=True) + slope[:, None] * (tau - tau.mean())
            return {"radius_residual": np.sqrt(((r - fit) ** 2).mean(1)) / np.abs(slope)}
