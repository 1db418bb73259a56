"""Kernel-informed coordinate transforms: train a model in coordinates ``y = phi(x)`` in which the
task's measurement is linear, so the curvature term of the kernel (the bias ``1/2 tr(H Sigma)``
that zero-mean local errors add through a curved measurement) vanishes; decode before measuring.

* ``cone``: polar coordinates ``y = (r_t, theta_t)`` with the angle unwrapped along time. The
  opening rate is the least-squares slope of the radius against time, linear in ``r``. (Companion's
  choice: the issue suggests log-radius; in ``log r`` a zero-mean error multiplies the radius and
  biases the slope by ``exp(sigma^2 / 2)``, in ``r`` it does not.)
* ``maze``: steps ``y_t = (L_t, cos h_t, sin h_t)`` for ``t >= 1`` (length and heading of the step
  into ``x_t``) and ``y_0 = (0, x_0, y_0)`` (the start point); travel distance is ``sum_t L_t``,
  linear in ``y``. Decoding clips negative lengths to 0 and normalises the heading vector.

* ``pendulum``: ``y_t = (E_t, theta1, theta2, u1, u2)``, the energy at step ``t`` as a channel,
  the angles, and the direction ``u = omega / |omega|`` of the angular velocities. Energy is the
  potential of the angles plus a kinetic energy quadratic in ``omega``, so the speed along ``u``
  follows in closed form, ``|omega| = sqrt((E - V(theta)) / K(theta, u))``; the measured energy (the
  mean over time of ``E_t``) is linear in ``y``. Decoding clips ``E - V`` at 0 (a sample whose
  energy channel lies below its potential is decoded at rest; its measured energy is then
  ``V > E_t``), and a zero velocity is encoded with direction ``(1, 0)``.
"""
from __future__ import annotations

import numpy as np

from .. import metrics
from ..checks import check_trajectories
from ..seeds import stream
from ..tasks import Dataset
from ..tasks.pendulum import energy, kinetic, potential


def unit_or_x_axis(v: np.ndarray) -> np.ndarray:
    """2-vectors (..., 2) scaled to length 1; a zero vector becomes ``(1, 0)``."""
    length = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.where(length > 0, v / np.maximum(length, 1e-12), [1.0, 0.0])


class Transform:
    """``encode(x) -> y`` and its inverse ``decode(y) -> x`` for trajectories (n, T, d)."""
    name = "transform"
    task = ""

    def encode(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def decode(self, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class ConePolar(Transform):
    name, task = "polar (r, unwrapped angle)", "cone"

    def encode(self, x):
        x = check_trajectories(x, "cone trajectories", 2)
        r = np.hypot(x[..., 0], x[..., 1])
        theta = np.unwrap(np.arctan2(x[..., 1], x[..., 0]), axis=1)
        return np.stack([r, theta], axis=-1).astype(np.float32)

    def decode(self, y):
        y = check_trajectories(y, "cone polar coordinates", 2)
        return np.stack([y[..., 0] * np.cos(y[..., 1]), y[..., 0] * np.sin(y[..., 1])], axis=-1).astype(np.float32)


class MazeSteps(Transform):
    name, task = "steps (length, heading)", "maze"

    def encode(self, x):
        x = check_trajectories(x, "maze trajectories", 2, min_steps=2)
        step = np.diff(x, axis=1)
        length = np.linalg.norm(step, axis=-1)
        safe = unit_or_x_axis(step)
        head = np.concatenate([np.zeros((len(x), 1)), x[:, :1, 0], x[:, :1, 1]], axis=1)[:, None, :]
        return np.concatenate([head, np.concatenate([length[..., None], safe], axis=-1)], axis=1).astype(np.float32)

    def decode(self, y):
        y = check_trajectories(y, "maze step coordinates", 3, min_steps=2)
        direction = y[:, 1:, 1:]
        direction = direction / np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), 1e-12)
        steps = np.maximum(y[:, 1:, :1], 0.0) * direction
        start = y[:, :1, 1:]
        return np.concatenate([start, start + np.cumsum(steps, axis=1)], axis=1).astype(np.float32)


class PendulumEnergy(Transform):
    name, task = "energy, angles, velocity direction", "pendulum"

    def encode(self, x):
        x = check_trajectories(x, "pendulum trajectories", 4)
        x = x.astype(float)
        u = unit_or_x_axis(x[..., 2:])
        return np.concatenate([energy(x)[..., None], x[..., :2], u], axis=-1).astype(np.float32)

    def decode(self, y):
        y = check_trajectories(y, "pendulum energy coordinates", 5)
        e, th, u = y[..., 0].astype(float), y[..., 1:3].astype(float), y[..., 3:].astype(float)
        u = u / np.maximum(np.linalg.norm(u, axis=-1, keepdims=True), 1e-12)
        rest = np.maximum(e - potential(th[..., 0], th[..., 1]), 0.0)
        speed = np.sqrt(rest / kinetic(th[..., 0], th[..., 1], u[..., 0], u[..., 1]))
        return np.concatenate([th, speed[..., None] * u], axis=-1).astype(np.float32)


TRANSFORMS: dict[str, Transform] = {t.task: t for t in (ConePolar(), MazeSteps(), PendulumEnergy())}


def for_task(name: str) -> Transform:
    if name not in TRANSFORMS:
        raise ValueError(f"no coordinate transform for task {name!r}; available for: {sorted(TRANSFORMS)}")
    return TRANSFORMS[name]


def transformed(data: Dataset, transform: Transform) -> Dataset:
    """``data`` with its trajectories in the transform's coordinates (quantities unchanged)."""
    return Dataset(task=data.task, x=transform.encode(data.x), q=data.q, prior=data.prior, seed=data.seed,
                   mode=data.mode, xi=data.xi, info={**data.info, "coordinates": transform.name})


def predicted_masses(task, prior, transform: Transform, data: Dataset, relative: float, clean: np.ndarray,
                     edges: np.ndarray, seed: int) -> np.ndarray:
    """The recovered bin masses a kernel predicts when it acts in the transform's coordinates:
    white noise whose size relative to each channel's spread in ``data`` is ``relative`` (a probe
    kernel's locality index), added to the ``clean`` draws (drawn uniform over a range that
    contains the task's; those inside it are reweighted to ``prior``)."""
    inside = clean[(task.measure(clean) >= task.q_range[0]) & (task.measure(clean) <= task.q_range[1])]
    y = transform.encode(inside)
    scale = relative * transformed(data, transform).x.reshape(-1, y.shape[-1]).std(0)
    noisy = y + scale * stream(seed, "noise").standard_normal(y.shape)
    q = task.measure(transform.decode(noisy))
    # reweight the clean draws to the intended prior (they were drawn uniform over the range)
    q0 = task.measure(inside)
    w = prior.pdf(q0) / max(float(np.mean(prior.pdf(q0))), 1e-300)
    return np.bincount(metrics.bin_index(q, edges), weights=w, minlength=len(edges) + 1) / w.sum()
