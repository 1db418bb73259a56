"""Projection of model samples onto a task's clean manifold ``{g(q, xi)}``.

Two stages (the projection-residual estimator; its limits are in the book, chapter 03):

1. **Nearest clean trajectory** in a dense reference set: the training data (when given) plus
   ``n_reference`` fresh clean trajectories of the task (``q`` uniform over its range and fresh
   nuisance for tasks curated from the prior; raw demonstrations for bin-balanced tasks such as
   the maze), by RMS distance (``metrics.nearest_clean``).
2. **Refinement** where the generator is differentiable (``task.generate`` accepts torch tensors:
   sine, cone): per-sample Levenberg-Marquardt fit of ``theta = (q, xi)`` minimising
   ``||x_hat - g(theta)||^2``, started from the nearest reference, with the Jacobian by forward-mode
   autodiff (``torch.func.jvp``). A step is kept only where it lowers that sample's distance, so
   refinement never makes a projection worse. Tasks with a one-step map (``task.step_map``:
   logistic) are fitted instead as orbits under a map-consistency penalty (``fit_orbit``), which
   needs no reference set. Tasks with neither (maze, pendulum) keep the nearest reference; their
   residuals then also contain the reference set's spacing, which ``Projection.rms`` shows.

Fitted ``q`` may leave the task's range (up to ``fit_bounds``): companion's choice, so that mass
a model moves out of the range is reported (``Projection.outside``) instead of being parked on the
range's edge. The nearest-reference stage cannot leave the range (its references are clean draws).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..checks import check_trajectories
from ..metrics import nearest_clean
from ..progress import bar as progress_bar

#: how far (as a share of the range's width, each side) a fitted quantity may leave the range
FIT_MARGIN = 0.5
#: largest map defect |z_{t+1} - f(z_t, q)| for which an orbit fit counts as a clean trajectory
ORBIT_DEFECT = 1e-3


@dataclass
class Projection:
    """Per-sample projection: ``x_proj`` (n, T, d) the clean trajectory nearest to each sample,
    ``q_fit`` (n,) its on-manifold quantity, ``xi_fit`` (n, k) its nuisance (None when the
    reference set has none), ``rms`` (n,) RMS distance per coordinate, ``refined`` (n,) whether
    the gradient or orbit fit improved on the nearest reference, ``q_range`` the task's range."""
    x_hat: np.ndarray
    x_proj: np.ndarray
    q_fit: np.ndarray
    xi_fit: np.ndarray | None
    rms: np.ndarray
    refined: np.ndarray
    q_range: tuple[float, float]

    @property
    def outside(self) -> float:
        """Share of samples whose fitted quantity lies outside the task's range."""
        lo, hi = self.q_range
        return float(np.mean((self.q_fit < lo) | (self.q_fit > hi)))

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


def fit_bounds(task) -> tuple[float, float]:
    """Where a fitted ``q`` may go: the task's range widened by ``FIT_MARGIN`` of its width on each
    side (not across zero when the range is positive), so that mass leaving the range shows as
    fitted quantities outside it instead of being parked on its edge."""
    lo, hi = task.q_range
    pad = FIT_MARGIN * (hi - lo)
    return (max(lo - pad, 0.0) if lo > 0 else lo - pad), hi + pad


def levenberg_marquardt(residual, jacobian, theta: torch.Tensor, steps: int, bounds=None
                        ) -> torch.Tensor:
    """Per-row Levenberg-Marquardt on ``||residual(theta)||^2`` (rows independent): ``residual``
    maps (n, p) to (n, m), ``jacobian`` to (n, m, p). Marquardt's diagonal damping per row; a step
    is kept only where it lowers that row's loss; ``bounds`` clamps the first parameter."""
    def loss_of(th):
        with torch.no_grad():
            return (residual(th) ** 2).sum(1)
    damping = torch.full((len(theta),), 1e-3, dtype=theta.dtype)
    loss = loss_of(theta)
    eye = torch.eye(theta.shape[1], dtype=theta.dtype)
    for _ in range(steps):
        r, J = residual(theta), jacobian(theta)
        JtJ = J.transpose(1, 2) @ J
        A = JtJ + damping[:, None, None] * (torch.diagonal(JtJ, dim1=1, dim2=2).unsqueeze(2) * eye + 1e-12 * eye)
        candidate = theta - torch.nan_to_num(torch.linalg.solve(A, J.transpose(1, 2) @ r.unsqueeze(2)).squeeze(2))
        if bounds is not None:
            candidate[:, 0] = candidate[:, 0].clamp(*bounds)
        new_loss = loss_of(candidate)
        better = torch.isfinite(new_loss) & (new_loss < loss)
        theta = torch.where(better[:, None], candidate, theta)
        loss = torch.where(better, new_loss, loss)
        damping = torch.where(better, damping / 3, damping * 4).clamp(1e-9, 1e9)
    return theta


def refine(task, x_hat: np.ndarray, q0: np.ndarray, xi0: np.ndarray, steps: int = 30
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Levenberg-Marquardt fit of ``(q, xi)`` per sample from ``(q0, xi0)``, ``q`` within
    ``fit_bounds``: returns ``(q, xi, x_fit)``."""
    target = torch.as_tensor(x_hat.reshape(len(x_hat), -1), dtype=torch.float64)
    theta = levenberg_marquardt(lambda th: _generate_flat(task, th) - target,
                                lambda th: generator_jacobian(task, th)[1],
                                torch.as_tensor(np.column_stack([q0, xi0]), dtype=torch.float64),
                                steps, fit_bounds(task))
    with torch.no_grad():
        x_fit = task.generate(theta[:, 0], theta[:, 1:])
    return theta[:, 0].numpy(), theta[:, 1:].numpy(), np.asarray(x_fit.detach(), dtype=float).reshape(x_hat.shape)


def fit_orbit(task, x_hat: np.ndarray, q0: np.ndarray, penalties=(1.0, 1e2, 1e4), steps: int = 8
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map-consistency projection for tasks with a one-step map ``x_{t+1} = task.step_map(x_t, q)``:
    per sample, ``(q, z_0..z_{T-1})`` minimising ``||x_hat - z||^2 + lam * sum_t ||z_{t+1} -
    f(z_t, q)||^2``, by Levenberg-Marquardt from ``(q0, x_hat)`` with ``lam`` raised through
    ``penalties`` (continuation). At the last penalty ``z`` is an orbit up to defects of about
    ``1 / sqrt(lam)`` of the residual: no reference set, so no reference spacing in the residuals.
    Returns ``(q, z, defect)`` with ``defect`` the largest ``|z_{t+1} - f(z_t, q)|`` per sample."""
    target = torch.as_tensor(x_hat, dtype=torch.float64)
    n, horizon, dim = target.shape

    def one(th, x, weight):                       # residuals of one sample
        q, z = th[0], th[1:].reshape(horizon, dim)
        return torch.cat([(x - z).reshape(-1), weight * (z[1:] - task.step_map(z[:-1], q)).reshape(-1)])
    theta = torch.cat([torch.as_tensor(q0, dtype=torch.float64)[:, None], target.reshape(n, -1)], 1)
    for lam in penalties:
        weight = torch.tensor(float(np.sqrt(lam)), dtype=torch.float64)
        theta = levenberg_marquardt(
            lambda th: torch.func.vmap(one, in_dims=(0, 0, None))(th, target, weight),
            lambda th: torch.func.vmap(torch.func.jacfwd(one), in_dims=(0, 0, None))(th, target, weight),
            theta, steps, fit_bounds(task))
    q, z = theta[:, 0], theta[:, 1:].reshape(n, horizon, dim)
    with torch.no_grad():
        defect = (z[:, 1:] - torch.func.vmap(task.step_map)(z[:, :-1], q)).abs().amax(dim=(1, 2))
    return q.numpy(), z.numpy(), defect.numpy()


def project(task, x_hat, data=None, n_reference: int = 20000, refine_steps: int = 30,
            seed: int = 0, chunk: int = 1024, progress: bool = True) -> Projection:
    """Project model samples ``x_hat`` (n, T, d) onto the clean manifold of ``task`` (see module
    docstring); ``refine_steps=0`` keeps the nearest reference only (``refine_steps`` counts the
    gradient fit's steps; the orbit fit has its own schedule, ``fit_orbit``)."""
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
    orbit = getattr(task, "step_map", None) is not None
    gradient = not orbit and xi_fit is not None and generator_is_differentiable(task, q_fit, xi_fit)
    if refine_steps > 0 and (orbit or gradient):
        starts = range(0, len(x_hat), chunk)
        for s in progress_bar(starts, desc=f"refining projections ({task.name})", progress=progress, leave=False):
            rows = np.arange(s, min(s + chunk, len(x_hat)))
            if orbit:
                q, x_fit, defect = fit_orbit(task, x_hat[rows], q_fit[rows])
                xi = x_fit[:, 0].reshape(len(rows), -1)
                ok = defect < ORBIT_DEFECT
            else:
                q, xi, x_fit = refine(task, x_hat[rows], q_fit[rows], xi_fit[rows], refine_steps)
                ok = np.ones(len(rows), dtype=bool)
            closer = ok & (((x_fit - x_hat[rows]) ** 2).sum(axis=(1, 2))
                           < ((x_proj[rows] - x_hat[rows]) ** 2).sum(axis=(1, 2)))
            better = rows[closer]
            x_proj[better], q_fit[better] = x_fit[closer], q[closer]
            if xi_fit is not None:
                xi_fit[better] = xi[closer]
            refined[better] = True
    rms = np.sqrt(np.mean((x_hat - x_proj) ** 2, axis=(1, 2)))
    return Projection(x_hat=x_hat, x_proj=x_proj, q_fit=q_fit, xi_fit=xi_fit, rms=rms, refined=refined,
                      q_range=tuple(task.q_range))
