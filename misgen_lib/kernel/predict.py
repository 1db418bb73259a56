"""Predicting the recovered distribution from a deviation kernel, without a trained model.

Clean trajectories ``x`` are drawn with the intended prior (``task.curate``); the kernel deviates
them; the task's measurement maps them to quantities. The predicted recovered distribution is

    p_tilde_b = p*_b + mean_i [ P(m(x_i') in b) - 1{m(x_i) in b} ],

i.e. the prior's bin masses plus the mass the kernel *moves* between bins, estimated on the same
clean draws (a paired, control-variate estimate: the finite-sample noise of the clean draws
cancels, so a zero kernel predicts exactly zero change). Two ways to get ``P(m(x_i') in b)``:

* ``method="monte-carlo"``: one kernel draw per clean trajectory, ``x_i' ~ K(. | x_i)``;
* ``method="analytic"`` (Gaussian kernels, ``x' - x ~ N(mu(x), Sigma)``): second-order delta
  method around ``x0 = x + mu`` with autograd on the torch measurement,
  ``m(x') ~ N(m(x0) + b, s^2)``, ``b = 1/2 tr(H_m Sigma)``, ``s^2 = grad_m^T Sigma grad_m``,
  integrated over each bin with the normal CDF. ``tr(H Sigma)`` is exact: a sum of
  Hessian-vector products along the columns of a square root of ``Sigma``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import norm

from .. import metrics
from ..checks import check_trajectories
from ..progress import bar as progress_bar
from .base import DeviationKernel, covariance_root, locality_index

METHODS = ("monte-carlo", "analytic")


@dataclass
class Prediction:
    """A predicted recovered distribution on the binning of ``metrics.drift`` (overflow bins
    first and last). ``contributions`` (n, bins+2): per clean draw, the mass it moves (new minus
    old bin); their mean is ``delta``. ``q_pred``: per draw, the deviated quantity (Monte Carlo)
    or its predicted mean (analytic); ``spread``: the analytic standard deviation (else None);
    ``locality``: the kernel's ``locality_index`` on these draws (Monte Carlo; NaN analytic)."""
    edges: np.ndarray
    p_star: np.ndarray
    p_tilde: np.ndarray
    delta: np.ndarray
    contributions: np.ndarray
    q_clean: np.ndarray
    q_pred: np.ndarray
    spread: np.ndarray | None
    method: str
    kernel: str
    locality: float = float("nan")

    @property
    def centers(self) -> np.ndarray:
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    @property
    def n(self) -> int:
        return len(self.q_clean)

    @property
    def tv(self) -> float:
        """Predicted total variation between the recovered distribution and the prior."""
        return float(0.5 * np.abs(self.delta).sum())

    def table(self) -> list[dict]:
        """One row per bin (overflow bins included): range, prior mass, predicted mass, change."""
        lo = np.concatenate([[-np.inf], self.edges])
        hi = np.concatenate([self.edges, [np.inf]])
        return [{"from": float(a), "to": float(b), "p_star": float(p), "p_tilde": float(pt),
                 "delta": float(dl)} for a, b, p, pt, dl in zip(lo, hi, self.p_star, self.p_tilde, self.delta)]


def _onehot(idx: np.ndarray, nbins: int) -> np.ndarray:
    out = np.zeros((len(idx), nbins))
    out[np.arange(len(idx)), idx] = 1.0
    return out


def _measure_numpy(task, x: np.ndarray) -> np.ndarray:
    return np.asarray(task.measure(x), dtype=float).reshape(len(x))


def delta_method(task, x0: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(m(x0), b, s)`` per trajectory of ``x0`` (n, T, d) for a deviation ``N(0, cov)``:
    ``b = 1/2 tr(H Sigma)``, ``s = sqrt(g^T Sigma g)`` with gradient and Hessian of the torch
    measurement. Non-finite gradients (a measurement at a singular point) give NaN."""
    n, T, d = x0.shape
    root = torch.as_tensor(covariance_root(cov), dtype=torch.float64)      # (D, k)
    x = torch.as_tensor(x0.reshape(n, T * d), dtype=torch.float64).requires_grad_(True)
    m = task.measure(x.view(n, T, d))
    if not isinstance(m, torch.Tensor):
        raise TypeError(f"task {task.name!r}: measure(torch tensor) must return a torch tensor for "
                        f"the analytic predictor, got {type(m).__name__}")
    m = m.reshape(n)
    if root.shape[1] == 0:
        zero = np.zeros(n)
        return m.detach().numpy().astype(float), zero, zero
    (grad,) = torch.autograd.grad(m.sum(), x, create_graph=True, allow_unused=True)
    if grad is None:
        grad = torch.zeros_like(x)
    projected = grad @ root                                                  # (n, k)
    spread = torch.sqrt((projected ** 2).sum(1))
    quad = torch.zeros(n, dtype=torch.float64)
    if grad.requires_grad:
        try:
            quad = _quadratic_forms_vectorised(task, x.detach(), root, (n, T, d))
        except Exception:  # noqa: BLE001 -- a measurement torch.func cannot transform: slow path
            for k in range(root.shape[1]):
                (hv,) = torch.autograd.grad(projected[:, k].sum(), x, retain_graph=True, allow_unused=True)
                if hv is not None:
                    quad = quad + hv @ root[:, k]
    return (m.detach().numpy().astype(float), 0.5 * quad.detach().numpy(), spread.detach().numpy())


def _quadratic_forms_vectorised(task, x: torch.Tensor, root: torch.Tensor, shape) -> torch.Tensor:
    """``sum_k l_k^T H_i l_k`` per trajectory ``i`` (``l_k`` the columns of ``root``): one
    forward-over-reverse Hessian-vector product per column, vectorised over columns with
    ``torch.func.vmap`` (samples are independent, so the Hessian of the summed measurement is
    block diagonal and one product serves all trajectories)."""
    grad_fn = torch.func.grad(lambda flat: task.measure(flat.view(shape)).sum())
    directions = root.T[:, None, :].expand(root.shape[1], *x.shape)        # (k, n, D)
    hv = torch.func.vmap(lambda v: torch.func.jvp(grad_fn, (x,), (v,))[1], chunk_size=16)(directions)
    return (hv * directions).sum(dim=(0, 2))


def _normal_bin_masses(mu: np.ndarray, sd: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(n, len(edges)+1) probability of each bin (overflow first/last) under N(mu, sd^2); sd = 0
    is a point mass; a non-finite mean counts as above the range (as in ``metrics.histogram``)."""
    finite = np.isfinite(mu) & np.isfinite(sd)
    mu_f, sd_f = np.where(finite, mu, 0.0), np.where(finite, sd, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (edges[None, :] - mu_f[:, None]) / sd_f[:, None]
    cdf = np.where(sd_f[:, None] > 0, norm.cdf(z), (edges[None, :] >= mu_f[:, None]).astype(float))
    cdf = np.concatenate([np.zeros((len(mu), 1)), cdf, np.ones((len(mu), 1))], axis=1)
    masses = np.diff(cdf, axis=1)
    point = sd_f == 0  # a point mass exactly on an edge follows metrics.bin_index
    masses[point] = _onehot(metrics.bin_index(mu_f[point], edges), len(edges) + 1)
    masses[~finite] = _onehot(np.full((~finite).sum(), len(edges)), len(edges) + 1)
    return masses


def clean_draws(task, prior, n: int, seed: int) -> np.ndarray:
    """Clean trajectories whose quantity follows ``prior``, the task's own way (``task.curate``)."""
    return np.asarray(task.curate(n, prior=prior, seed=seed).x, dtype=float)


def predict(task, kernel: DeviationKernel, prior=None, n: int = 20000, seed: int = 0,
            bins: int = 20, q_range: tuple[float, float] | None = None,
            method: str = "monte-carlo", clean=None, chunk: int = 2048,
            progress: bool = True) -> Prediction:
    """Predicted recovered distribution and per-bin change of ``task`` under ``kernel``.

    ``prior``: intended prior (default: the task's); ``clean``: clean trajectories to deviate (a
    Dataset or an (n, T, d) array; default: ``n`` fresh ones curated with ``prior`` and ``seed``);
    ``bins``/``q_range`` as in ``metrics.drift`` so the prediction lines up with an observed drift."""
    if method not in METHODS:
        raise ValueError(f"unknown prediction method {method!r}; valid: {list(METHODS)}")
    if not isinstance(kernel, DeviationKernel):
        raise TypeError(f"kernel must be a DeviationKernel, got {type(kernel).__name__}")
    if method == "analytic" and not kernel.is_gaussian:
        raise ValueError(f"the analytic predictor needs a Gaussian kernel; {kernel.describe()} is not "
                         f"(use method='monte-carlo')")
    prior = prior or task.default_prior()
    x = clean_draws(task, prior, n, seed) if clean is None else check_trajectories(getattr(clean, "x", clean), "clean")
    edges = metrics.bin_edges(q_range or (prior.lo, prior.hi), bins)
    rng = np.random.default_rng([seed, 1])
    q_clean, q_pred, spread, moved = [], [], [], []
    for s in progress_bar(range(0, len(x), chunk), desc=f"predicting {task.name} ({method})", progress=progress,
                          leave=False):
        xc = x[s:s + chunk]
        q_clean.append(_measure_numpy(task, xc))
        if method == "monte-carlo":
            moved.append(kernel.apply(xc, rng))
            q_pred.append(_measure_numpy(task, moved[-1]))
        else:
            form = kernel.gaussian(xc)
            q0, b, sd = delta_method(task, xc + form.mean, form.cov)
            q_pred.append(q0 + b)
            spread.append(sd)
    q_clean, q_pred = np.concatenate(q_clean), np.concatenate(q_pred)
    if method == "monte-carlo":
        return monte_carlo_prediction(prior, edges, q_clean, q_pred, kernel.describe(),
                                      locality_index(x, np.concatenate(moved)))
    spread = np.concatenate(spread)
    return _prediction(prior, edges, q_clean, q_pred, _normal_bin_masses(q_pred, spread, edges), method,
                       kernel.describe(), spread=spread)


def monte_carlo_prediction(prior, edges: np.ndarray, q_clean: np.ndarray, q_pred: np.ndarray, kernel: str,
                           locality: float) -> Prediction:
    """The Monte Carlo ``Prediction`` on ``edges`` from the clean draws' quantities ``q_clean``
    and their deviated ones ``q_pred`` (one kernel draw each): all it needs, so a prediction
    whose draws are stored can be rebuilt without the kernel (``kernel``: its description)."""
    after = _onehot(metrics.bin_index(q_pred, edges), len(edges) + 1)
    return _prediction(prior, edges, q_clean, q_pred, after, "monte-carlo", kernel, locality=locality)


def _prediction(prior, edges, q_clean, q_pred, after, method, kernel, spread=None,
                locality=float("nan")) -> Prediction:
    """The prediction whose per-draw bin masses after the kernel are ``after`` (n, bins+2)."""
    contributions = after - _onehot(metrics.bin_index(q_clean, edges), len(edges) + 1)
    p_star = metrics.prior_masses(prior, edges)
    delta = contributions.mean(axis=0)
    return Prediction(edges=edges, p_star=p_star, p_tilde=p_star + delta, delta=delta,
                      contributions=contributions, q_clean=q_clean, q_pred=q_pred, spread=spread,
                      method=method, kernel=kernel, locality=locality)
