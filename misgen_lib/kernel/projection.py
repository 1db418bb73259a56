"""Projection of model samples onto a task's clean manifold ``{g(q, xi)}``.

Two stages (the projection-residual estimator; its limits are in the book, chapter 03):

1. **Nearest clean trajectory** in a dense reference set: the training data (when given) plus
   ``n_reference`` fresh clean trajectories of the task (``q`` uniform over its range and fresh
   nuisance for tasks curated from the prior; raw demonstrations for bin-balanced tasks such as
   the maze), by RMS distance (``metrics.nearest_clean``).
2. **Refinement** where the generator is differentiable (``task.generate`` accepts torch tensors:
   sine, cone): per-sample Levenberg-Marquardt fit of ``theta = (q, xi)`` minimising
   ``||x_hat - g(theta)||^2``, started from the nearest reference, with the Jacobian by forward-mode
   autodiff (``torch.func.jvp``) and ``q`` kept inside the task's range. A step is kept only where it
   lowers that sample's distance, so refinement never makes a projection worse. Tasks whose
   generator is not differentiable (logistic, maze, pendulum) keep the nearest reference; their
   residuals then also contain the reference set's spacing, which ``Projection.rms`` shows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..checks import check_trajectories
from ..metrics import nearest_clean


@dataclass
class Projection:
    """Per-sample projection: ``x_proj`` (n, T, d) the clean trajectory nearest to each sample,
    ``q_fit`` (n,) its on-manifold quantity, ``xi_fit`` (n, k) its nuisance (None when the
    reference set has none), ``rms`` (n,) RMS distance per coordinate, ``refined`` (n,) whether
    the gradient refinement improved on the nearest reference."""
    x_hat: np.ndarray
    x_proj: np.ndarray
    q_fit: np.ndarray
    xi_fit: np.ndarray | None
    rms: np.ndarray
    refined: np.ndarray

    @property
    def residuals(self) -> np.ndarray:
        return self.x_hat - self.x_proj


def reference_set(task, data=None, n: int = 20000, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Dense clean references ``(x, q, xi)``: ``data`` (a Dataset, optional) plus ``n`` fresh ones."""
    rng = np.random.default_rng(seed)
    if getattr(task, "default_mode", "prior") == "balanced":
        x, xi = task.raw_demonstrations(n, rng)
        q = np.asarray(task.measure(np.asarray(x)), dtype=float)
    else:
        q = rng.uniform(*task.q_range, size=n)
        xi = task.nuisance(n, rng)
        x = task.generate(q, xi)
    x = np.asarray(x, dtype=float)
    xi = None if xi is None else np.asarray(xi, dtype=float).reshape(n, -1)
    if data is not None:
        x = np.concatenate([np.asarray(data.x, dtype=float), x])
        q = np.concatenate([np.asarray(data.q, dtype=float), q])
        xi = None if (xi is None or data.xi is None) else np.concatenate(
            [np.asarray(data.xi, dtype=float).reshape(len(data.x), -1), xi])
    return x, q, xi


def _generate_flat(task, theta: torch.Tensor) -> torch.Tensor:
    return task.generate(theta[:, 0], theta[:, 1:]).reshape(theta.shape[0], -1)


def generator_is_differentiable(task, q: np.ndarray, xi: np.ndarray) -> bool:
    """Whether ``task.generate`` maps torch tensors to torch tensors with forward-mode gradients."""
    theta = torch.as_tensor(np.column_stack([q[:2], xi[:2]]), dtype=torch.float64)
    try:
        out, tangent = torch.func.jvp(lambda th: _generate_flat(task, th), (theta,),
                                      (torch.ones_like(theta),))
    except Exception:  # noqa: BLE001 -- any failure means "not differentiable through torch"
        return False
    return isinstance(tangent, torch.Tensor) and bool(torch.isfinite(tangent).all())


def generator_jacobian(task, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``g(theta)`` flattened (n, D) and its Jacobian (n, D, p) w.r.t. ``theta = (q, xi)`` (n, p),
    by one forward-mode pass per parameter (samples are independent, so each pass serves all)."""
    cols = []
    for j in range(theta.shape[1]):
        e = torch.zeros_like(theta)
        e[:, j] = 1.0
        x, dx = torch.func.jvp(lambda th: _generate_flat(task, th), (theta,), (e,))
        cols.append(dx)
    return x, torch.stack(cols, dim=2)


def _sq_distance(task, theta, target):
    with torch.no_grad():
        return ((_generate_flat(task, theta) - target) ** 2).sum(1)


def refine(task, x_hat: np.ndarray, q0: np.ndarray, xi0: np.ndarray, steps: int = 30
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Levenberg-Marquardt fit of ``(q, xi)`` per sample from ``(q0, xi0)``: returns
    ``(q, xi, x_fit)``. Per-sample damping; steps that do not lower the distance are rejected."""
    lo, hi = task.q_range
    target = torch.as_tensor(x_hat.reshape(len(x_hat), -1), dtype=torch.float64)
    theta = torch.as_tensor(np.column_stack([q0, xi0]), dtype=torch.float64)
    p = theta.shape[1]
    damping = torch.full((len(theta),), 1e-3, dtype=torch.float64)
    loss = _sq_distance(task, theta, target)
    eye = torch.eye(p, dtype=torch.float64)
    for _ in range(steps):
        x, J = generator_jacobian(task, theta)
        r = (target - x).unsqueeze(2)                      # (n, D, 1)
        JtJ = J.transpose(1, 2) @ J
        A = JtJ + damping[:, None, None] * (torch.diagonal(JtJ, dim1=1, dim2=2).unsqueeze(2) * eye + 1e-12 * eye)
        step = torch.linalg.solve(A, J.transpose(1, 2) @ r).squeeze(2)
        candidate = theta + torch.nan_to_num(step)
        candidate[:, 0] = candidate[:, 0].clamp(lo, hi)
        new_loss = _sq_distance(task, candidate, target)
        better = torch.isfinite(new_loss) & (new_loss < loss)
        theta = torch.where(better[:, None], candidate, theta)
        loss = torch.where(better, new_loss, loss)
        damping = torch.where(better, damping / 3, damping * 4).clamp(1e-9, 1e9)
    with torch.no_grad():
        x_fit = task.generate(theta[:, 0], theta[:, 1:])
    return theta[:, 0].numpy(), theta[:, 1:].numpy(), np.asarray(x_fit.detach(), dtype=float).reshape(x_hat.shape)


def project(task, x_hat, data=None, n_reference: int = 20000, refine_steps: int = 30,
            seed: int = 0, chunk: int = 1024, progress: bool = True) -> Projection:
    """Project model samples ``x_hat`` (n, T, d) onto the clean manifold of ``task`` (see module
    docstring); ``refine_steps=0`` keeps the nearest reference only."""
    x_hat = check_trajectories(x_hat, "x_hat")
    ref_x, ref_q, ref_xi = reference_set(task, data, n_reference, seed)
    if ref_x.shape[1:] != x_hat.shape[1:]:
        raise ValueError(f"samples have shape (T, d) = {x_hat.shape[1:]} but task {task.name!r} "
                         f"generates {ref_x.shape[1:]}")
    finite = np.isfinite(x_hat).all(axis=(1, 2))
    if not finite.all():
        raise ValueError(f"{int((~finite).sum())} of {len(x_hat)} samples contain NaN or inf; "
                         f"drop them before projecting")
    idx, _ = nearest_clean(x_hat, ref_x)
    x_proj, q_fit = ref_x[idx].copy(), ref_q[idx].copy()
    xi_fit = None if ref_xi is None else ref_xi[idx].copy()
    refined = np.zeros(len(x_hat), dtype=bool)
    if refine_steps > 0 and xi_fit is not None and generator_is_differentiable(task, q_fit, xi_fit):
        starts = range(0, len(x_hat), chunk)
        for s in tqdm(starts, desc=f"refining projections ({task.name})", disable=not progress,
                      leave=False):
            rows = np.arange(s, min(s + chunk, len(x_hat)))
            q, xi, x_fit = refine(task, x_hat[rows], q_fit[rows], xi_fit[rows], refine_steps)
            closer = (((x_fit - x_hat[rows]) ** 2).sum(axis=(1, 2))
                      < ((x_proj[rows] - x_hat[rows]) ** 2).sum(axis=(1, 2)))
            better = rows[closer]
            x_proj[better], q_fit[better], xi_fit[better] = x_fit[closer], q[closer], xi[closer]
            refined[better] = True
    rms = np.sqrt(np.mean((x_hat - x_proj) ** 2, axis=(1, 2)))
    return Projection(x_hat=x_hat, x_proj=x_proj, q_fit=q_fit, xi_fit=xi_fit, rms=rms, refined=refined)
