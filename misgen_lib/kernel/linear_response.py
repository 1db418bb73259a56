"""The linear-response kernel of an autoregressive model with a Gaussian head: the model's local
one-step errors around a clean trajectory, propagated by its own learned dynamics and pushed
through the measurement to first order.

An autoregressive model draws ``x_s = m_s(x_<s) + sigma_s(x_<s) eps_s``. Around a clean
trajectory ``x`` (data) write the rollout as ``x + delta``; to first order

    delta_s = mu_s + sigma_s eps_s + sum_{t<s} A_st delta_t,   mu_s = m_s(x_<s) - x_s,
    A_st = d m_s / d x_t (teacher forced, at the clean past),

so ``delta = (I - A)^{-1} e`` with the local errors ``e_s = mu_s + sigma_s eps_s``, and the
quantity moves by ``q(x + delta) - q(x) = sum_t J_t . e_t`` with the **response**
``J = grad q^T (I - A)^{-1}``: the derivative of the quantity with respect to an error injected
at step ``t`` and carried through the rest of the rollout. Per clean input the quantity is then
``N(q(x) + sum_t J_t . mu_t, sum_t J_t^2 . sigma_t^2)`` (``LinearResponse.shift``, ``.spread``).
For a linear model and a linear measurement this is exact (``tests/test_linear_response.py``).

``J`` comes from one reverse-mode pass through a rollout that reproduces the clean trajectory:
``x_s = x_s + e_s + (m_s(x_<s) - stop_gradient(m_s(x_<s)))`` at ``e = 0`` has the clean values
and the rollout's derivatives (the step means are recomputed from the rollout's own past, so
``d x_s / d e_t`` is the rollout's). ``start``: the steps before it are taken from the data (a
clean prefix: their errors are not counted).

The network protocol (``ARHead``): ``net(prefix (B, L, d), q)`` returns the Gaussian head's mean
and log standard deviation of ``x_0 .. x_L``, each (B, L + 1, d), as
``models.transformer.CausalGaussianTransformer`` does; a network that also has its key-value
cache (``_embed``, ``_extend``, ``_gaussian``, as that transformer) is stepped one token at a time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .predict import Prediction, _normal_bin_masses, _prediction


@dataclass
class LinearResponse:
    """Per clean input (n of them): ``q_clean``; per step ``response`` ``J`` (n, T, d),
    ``mean_error`` ``mu`` and ``sd`` ``sigma`` (n, T, d) of the head on the clean past (in the
    network's normalised units; ``J`` per normalised unit, so the products are in q's units);
    ``start``: the first step whose errors count."""
    q_clean: np.ndarray
    response: np.ndarray
    mean_error: np.ndarray
    sd: np.ndarray
    start: int

    def _counted(self, a: np.ndarray) -> np.ndarray:
        return a[:, self.start:].sum(axis=(1, 2))

    @property
    def shift(self) -> np.ndarray:
        """Predicted mean change of q per input: ``sum_{t >= start} J_t . mu_t``."""
        return self._counted(self.response * self.mean_error)

    @property
    def spread(self) -> np.ndarray:
        """Predicted standard deviation of q per input: ``sqrt(sum_{t >= start} J_t^2 . sigma_t^2)``."""
        return np.sqrt(self._counted((self.response * self.sd) ** 2))

    def from_start(self, start: int) -> "LinearResponse":
        """The same response with the errors counted from step ``start`` on."""
        if not 0 <= start < self.response.shape[1]:
            raise ValueError(f"start must be in [0, {self.response.shape[1] - 1}], got {start!r}")
        return LinearResponse(self.q_clean, self.response, self.mean_error, self.sd, int(start))

    def per_step_shift(self) -> np.ndarray:
        """Mean over inputs of ``J_t . mu_t`` per step (T,): where the shift is made."""
        return (self.response * self.mean_error).sum(-1).mean(0)

    def per_step_variance(self) -> np.ndarray:
        """Mean over inputs of ``J_t^2 . sigma_t^2`` per step (T,): where the spread is made."""
        return ((self.response * self.sd) ** 2).sum(-1).mean(0)


def _stepper(net, q):
    """``(first, push)``: ``first(prefix)`` gives the head's mean and log-std at the step after
    ``prefix`` (B, L, d); ``push(x_t)`` appends one step and gives the next. Cached for a network
    with a key-value cache, else the whole prefix is re-read at every step."""
    if all(hasattr(net, a) for a in ("_embed", "_extend", "_gaussian")) and getattr(net, "cond", None) is None:
        kv = [None] * len(net.body.layers)
        state = {"length": 0}

        def first(prefix):
            state["length"] = prefix.shape[1]
            return net._gaussian(net._extend(net._embed(prefix, None), kv)[:, -1])

        def push(step):
            state["length"] += 1
            return net._gaussian(net._extend(net._embed(step[:, None], None, position=state["length"]), kv)[:, -1])
        return first, push
    seq = {}

    def first(prefix):
        seq["x"] = prefix
        return tuple(t[:, -1] for t in net(prefix, q))

    def push(step):
        seq["x"] = torch.cat([seq["x"], step[:, None]], dim=1)
        return tuple(t[:, -1] for t in net(seq["x"], q))
    return first, push


def linear_response(net, z: np.ndarray, measure, start: int = 1, q=None) -> LinearResponse:
    """The linear response of autoregressive network ``net`` (module docstring) around the clean
    normalised trajectories ``z`` (n, T, d). ``measure``: torch-differentiable function of a
    (n, T, d) tensor of *normalised* trajectories to the quantity (n,). ``q``: the normalised
    conditioning quantities of a conditional network (None otherwise). Runs in ``net``'s dtype."""
    dtype = next(net.parameters()).dtype
    z = torch.as_tensor(np.asarray(z), dtype=dtype)
    n, horizon, dim = z.shape
    if not 0 <= start < horizon:
        raise ValueError(f"start must be in [0, {horizon - 1}] for a horizon of {horizon}, got {start!r}")
    qt = None if q is None else torch.as_tensor(np.asarray(q), dtype=dtype)
    e = torch.zeros_like(z, requires_grad=True)
    first, push = _stepper(net, qt)
    steps, means, log_stds = [], [], []
    with torch.enable_grad():
        mean, log_std = first(z[:, :0])
        for s in range(horizon):
            means.append(mean.detach())
            log_stds.append(log_std.detach())
            steps.append(z[:, s] + e[:, s] + (mean - mean.detach()))
            if s + 1 < horizon:
                mean, log_std = push(steps[-1])
        x = torch.stack(steps, dim=1)
        quantity = measure(x).reshape(n)
        (response,) = torch.autograd.grad(quantity.sum(), e)
    mean_error = torch.stack(means, dim=1) - z
    return LinearResponse(q_clean=quantity.detach().double().numpy(), response=response.double().numpy(),
                          mean_error=mean_error.double().numpy(),
                          sd=torch.stack(log_stds, dim=1).exp().double().numpy(), start=int(start))


def model_response(model, x: np.ndarray, task, start: int = 1, batch_size: int = 500,
                   float64: bool = False) -> LinearResponse:
    """``linear_response`` of a trained autoregressive model (``models.TrainedModel`` of class
    ``transformer``) around clean trajectories ``x`` (n, T, d) in data units, measured with
    ``task.measure`` (torch) after the model's normalisation is undone; in batches.
    ``float64``: on a float64 copy of the network (rounding-free derivatives)."""
    import copy
    if model.conditional:
        raise ValueError("model_response is for an unconditional model; this one is conditional")
    net = copy.deepcopy(model.net).double() if float64 else model.net
    dtype = next(net.parameters()).dtype
    mean = torch.as_tensor(model.normaliser.x_mean, dtype=dtype)
    std = torch.as_tensor(model.normaliser.x_std, dtype=dtype)

    def measure(zt):
        return task.measure(zt * std + mean)

    z = (np.asarray(x, float) - np.asarray(model.normaliser.x_mean)) / np.asarray(model.normaliser.x_std)
    parts = [linear_response(net, z[s:s + batch_size], measure, start=start)
             for s in range(0, len(z), batch_size)]
    return LinearResponse(*(np.concatenate([getattr(p, f) for p in parts])
                            for f in ("q_clean", "response", "mean_error", "sd")), start=int(start))


def response_prediction(response: LinearResponse, prior, edges: np.ndarray, q_clean: np.ndarray | None = None,
                        kernel: str = "linear response") -> Prediction:
    """The predicted recovered distribution of the linear-response kernel on the binning
    ``edges`` (``metrics.bin_edges``): each clean input's quantity moved to
    ``N(q + shift, spread^2)``, integrated over the bins (``kernel.predict``'s analytic form;
    the contributions are the expected mass each input moves). ``q_clean``: the inputs' measured
    quantities in float64 (default: the response's own)."""
    q = response.q_clean if q_clean is None else np.asarray(q_clean, float)
    q_pred = q + response.shift
    after = _normal_bin_masses(q_pred, response.spread, edges)
    return _prediction(prior, edges, q, q_pred, after, "linear-response", f"{kernel} (from step {response.start})",
                       spread=response.spread)


@dataclass
class ResponseCheck:
    """The linear response against Monte Carlo rollouts from each input's clean prefix: per
    input the predicted and the sampled mean and standard deviation of q, and the z-score of
    the mean (``(sampled - predicted) / (predicted sd / sqrt(n_rollouts))``)."""
    predicted_mean: np.ndarray
    predicted_sd: np.ndarray
    sampled_mean: np.ndarray
    sampled_sd: np.ndarray
    n_rollouts: int

    @property
    def mean_z(self) -> np.ndarray:
        return (self.sampled_mean - self.predicted_mean) / (self.predicted_sd / np.sqrt(self.n_rollouts))

    @property
    def sd_ratio(self) -> np.ndarray:
        return self.sampled_sd / self.predicted_sd

    def exact(self, z_max: float = 4.5, sd_tol: float = 0.1) -> bool:
        """Whether every input's sampled mean lies within ``z_max`` standard errors of the
        prediction and its sampled sd within ``sd_tol`` (relative) of the predicted one."""
        return bool(np.all(np.abs(self.mean_z) < z_max) and np.all(np.abs(self.sd_ratio - 1) < sd_tol))

    def shift_correlation(self, q_clean: np.ndarray) -> float:
        """Pearson correlation over inputs of the predicted and the sampled mean change of q."""
        return float(np.corrcoef(self.predicted_mean - q_clean, self.sampled_mean - q_clean)[0, 1])


def rollout_quantities(net, z: np.ndarray, start: int, n_rollouts: int, measure, seed: int = 0) -> np.ndarray:
    """``n_rollouts`` rollouts of ``net`` from the clean prefix ``z[:, :start]`` of each input
    (``net.rollout``), measured: (n, n_rollouts)."""
    dtype = next(net.parameters()).dtype
    z = torch.as_tensor(np.asarray(z), dtype=dtype)
    n, horizon, _ = z.shape
    gen = torch.Generator().manual_seed(int(seed))
    prefix = z[:, :start].repeat_interleave(n_rollouts, dim=0)
    with torch.no_grad():
        out = net.rollout(prefix, horizon, None, gen)
        return measure(out).reshape(n, n_rollouts).double().numpy()


def check_response(response: LinearResponse, sampled: np.ndarray) -> ResponseCheck:
    """``ResponseCheck`` of ``response`` against sampled quantities (n, n_rollouts) of rollouts
    from the same inputs and start (``rollout_quantities``)."""
    sampled = np.asarray(sampled, float)
    if sampled.ndim != 2 or len(sampled) != len(response.q_clean):
        raise ValueError(f"sampled must have shape ({len(response.q_clean)}, n_rollouts), got {sampled.shape}")
    return ResponseCheck(response.q_clean + response.shift, response.spread, sampled.mean(1),
                         sampled.std(1, ddof=1), sampled.shape[1])

