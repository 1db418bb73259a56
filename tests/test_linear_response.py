"""The linear-response kernel of autoregressive models (``misgen_lib.kernel.linear_response``),
first where the truth is known: a linear autoregressive model with known Gaussian noise and a
linear measurement, for which the predicted mean and spread of the quantity are exact, checked
against Monte Carlo rollouts and against the closed form ``J = w^T (I - A)^{-1}``; a wrong
prediction (the same errors without the learned dynamics) fails the same check. Then the
transformer's cached stepping against the generic full-prefix one."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from misgen_lib import metrics, priors
from misgen_lib.kernel import linear_response as lr
from misgen_lib.models.transformer import CausalGaussianTransformer

T, D = 12, 2


class LinearGaussianAR(nn.Module):
    """``x_s = b_s + sum_{t<s} A[s, t] x_t + exp(log_std_s) eps_s`` (flattened over steps and
    channels, strictly lower block-triangular ``A``): the ``ARHead`` protocol and a rollout."""

    def __init__(self, seed: int = 0, gain: float = 0.35):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        a = gain * torch.randn(T * D, T * D, generator=g, dtype=torch.float64) / np.sqrt(D)
        step = torch.arange(T * D) // D
        self.register_buffer("A", torch.where(step[:, None] > step[None, :], a, torch.zeros(())))
        self.register_buffer("b", 0.3 * torch.randn(T, D, generator=g, dtype=torch.float64))
        self.register_buffer("log_std", -1.0 + 0.3 * torch.randn(T, D, generator=g, dtype=torch.float64))
        self.dummy = nn.Parameter(torch.zeros((), dtype=torch.float64))   # gives the network a dtype

    def forward(self, prefix, q):
        n, length, _ = prefix.shape
        flat = torch.zeros(n, T * D, dtype=prefix.dtype)
        flat[:, :length * D] = prefix.reshape(n, -1)
        mean = (flat @ self.A.T).reshape(n, T, D) + self.b
        return mean[:, :length + 1], self.log_std[:length + 1].expand(n, -1, -1)

    def rollout(self, prefix, horizon, q, generator):
        x = prefix
        while x.shape[1] < horizon:
            mean, log_std = self(x, q)
            eps = torch.randn(mean[:, -1].shape, generator=generator, dtype=torch.float32).to(x.dtype)
            x = torch.cat([x, (mean[:, -1] + log_std[:, -1].exp() * eps)[:, None]], dim=1)
        return x


W = torch.as_tensor(np.random.default_rng(5).normal(size=(T, D)))


def linear_measure(x):
    return (x * W).sum(dim=(1, 2)) + 0.5


def clean_inputs(n=4, seed=1):
    return np.random.default_rng(seed).normal(size=(n, T, D))


@pytest.mark.parametrize("start", [0, 1, 5])
def test_linear_model_prediction_is_exact_against_rollouts(start):
    net, x = LinearGaussianAR(), clean_inputs()
    response = lr.linear_response(net, x, linear_measure, start=start)
    sampled = lr.rollout_quantities(net, x, start, 4000, linear_measure, seed=3)
    check = lr.check_response(response, sampled)
    assert check.exact(), (check.mean_z, check.sd_ratio)


def test_linear_model_response_is_the_closed_form():
    net, x = LinearGaussianAR(), clean_inputs()
    response = lr.linear_response(net, x, linear_measure, start=0)
    closed = torch.linalg.solve((torch.eye(T * D, dtype=torch.float64) - net.A).T, W.reshape(-1))
    assert np.allclose(response.response, closed.reshape(1, T, D).numpy(), atol=1e-10)
    mean, log_std = net(torch.as_tensor(x[:, :-1]), None)
    assert np.allclose(response.mean_error, (mean - torch.as_tensor(x)).numpy())
    assert np.allclose(response.sd, log_std.exp().numpy())
    assert np.allclose(response.q_clean, linear_measure(torch.as_tensor(x)).numpy())


def test_a_wrong_prediction_fails_the_check():
    """The same one-step errors pushed through the measurement without the learned dynamics
    (``J = grad q``) predict a different mean and spread, and the exactness check rejects them."""
    net, x = LinearGaussianAR(), clean_inputs()
    right = lr.linear_response(net, x, linear_measure, start=1)
    wrong = lr.LinearResponse(right.q_clean, np.broadcast_to(W.numpy(), right.response.shape).copy(),
                              right.mean_error, right.sd, start=1)
    sampled = lr.rollout_quantities(net, x, 1, 4000, linear_measure, seed=3)
    assert lr.check_response(right, sampled).exact()
    assert not lr.check_response(wrong, sampled).exact()


def test_the_binned_prediction_matches_the_rollouts_distribution():
    """Per input the predicted bin masses (Gaussian in q) match the rollouts' histogram."""
    net, x = LinearGaussianAR(), clean_inputs(n=1)
    response = lr.linear_response(net, x, linear_measure, start=1)
    sampled = lr.rollout_quantities(net, x, 1, 20000, linear_measure, seed=4)[0]
    centre, sd = response.shift[0] + response.q_clean[0], response.spread[0]
    prior = priors.Uniform(centre - 3 * sd, centre + 3 * sd)
    edges = metrics.bin_edges((prior.lo, prior.hi), 12)
    pred = lr.response_prediction(response, prior, edges)
    before = np.eye(len(edges) + 1)[metrics.bin_index(response.q_clean, edges)[0]]
    observed = metrics.histogram(sampled, edges)
    assert np.abs(pred.contributions[0] + before - observed).max() < 0.015


def test_from_start_and_per_step_parts_add_up():
    net, x = LinearGaussianAR(), clean_inputs()
    response = lr.linear_response(net, x, linear_measure, start=0)
    later = response.from_start(3)
    assert np.allclose(later.shift, response.shift - (response.response * response.mean_error)[:, :3].sum((1, 2)))
    assert np.isclose(response.per_step_shift().sum(), response.shift.mean())
    assert np.isclose(response.per_step_variance().sum(), (response.spread ** 2).mean())
    with pytest.raises(ValueError, match="start must be"):
        response.from_start(T)


def test_transformer_cached_stepping_equals_the_full_prefix_path():
    torch.manual_seed(0)
    net = CausalGaussianTransformer(T, D, 16, 2, 2, conditional=False).double().eval()
    x = clean_inputs(n=3)

    def measure(z):
        return (z[..., 0] ** 2).mean(1) + z[..., 1].sum(1)

    cached = lr.linear_response(net, x, measure, start=1)

    class Plain(nn.Module):   # the same network without its cache: the generic path
        def __init__(self):
            super().__init__()
            self.inner = net

        def forward(self, prefix, q):
            return self.inner(prefix, q)

    plain = lr.linear_response(Plain(), x, measure, start=1)
    for field in ("response", "mean_error", "sd", "q_clean"):
        assert np.allclose(getattr(cached, field), getattr(plain, field), atol=1e-9), field
    assert np.abs(cached.response).max() > 0
