"""A small task with a closed-form kernel response, used by the kernel tests.

``RMSAmplitude``: ``x_t = q sqrt(2) sin(2 pi f t / T + phi)`` with ``f = 3`` whole cycles per
window, so the RMS of ``x`` over time is exactly ``q``; the measurement is that RMS,
``m(x) = |x| / sqrt(D)``. Under white noise of standard deviation ``sigma`` the delta method
gives, with ``D = T d``: ``b = sigma^2 (D - 1) / (2 D q)`` and ``s = sigma / sqrt(D)``.
"""
from __future__ import annotations

import numpy as np
import torch

from misgen_lib.priors import Uniform
from misgen_lib.tasks.base import Dataset, Task


class RMSAmplitude(Task):
    name = "toy-rms"
    quantity = "rms amplitude"
    q_range = (1.0, 2.0)
    horizon = 32
    dim = 1
    cycles = 3

    def nuisance(self, n, rng):
        return rng.uniform(0, 2 * np.pi, size=(n, 1))

    def generate(self, q, xi):
        lib = torch if isinstance(q, torch.Tensor) else np
        t = np.arange(self.horizon) / self.horizon
        if lib is torch:
            t = torch.as_tensor(t, dtype=q.dtype)
        phase = 2 * np.pi * self.cycles * t[None, :] + xi[:, :1]
        return (q[:, None] * np.sqrt(2.0) * lib.sin(phase))[..., None]

    def measure(self, x):
        if isinstance(x, torch.Tensor):
            return torch.sqrt((x ** 2).mean(dim=(1, 2)))
        return np.sqrt((np.asarray(x, dtype=float) ** 2).mean(axis=(1, 2)))

    def curate(self, n, prior=None, seed=0, mode=None, bins=20, max_raw=None):
        prior = prior or Uniform(*self.q_range)
        rng = np.random.default_rng(seed)
        q = prior.sample(n, rng)
        xi = self.nuisance(n, rng)
        return Dataset(task=self.name, x=self.generate(q, xi).astype(np.float32), q=q,
                       prior=prior.to_dict(), seed=seed, mode="prior", xi=xi)


def scaled_entries(model_name: str, scale: float, seeds, n_train: int, n_samples: int, n_null: int) -> list:
    """Suite entries of a stand-in model ``model_name`` (an identity network) whose samples are
    clean ``RMSAmplitude`` trajectories times ``1 + scale`` (its drift is known), one per seed."""
    import misgen_lib as mg
    from misgen_lib.models.base import ModelConfig, Normaliser, TrainedModel
    from misgen_lib.studies.suite import SuiteEntry
    task = RMSAmplitude()
    prior = mg.priors.Uniform(*task.q_range)
    out = []
    for seed in seeds:
        data = task.curate(n_train, prior=prior, seed=seed)
        model = TrainedModel(model_name, ModelConfig(), torch.nn.Identity(), Normaliser([0.0], [1.0]),
                             task.horizon, task.dim, False, seed, {}, {"key": f"toy-{seed}"})
        samples = task.curate(n_samples, prior=prior, seed=100 + seed).x * (1 + scale)
        q_hat = task.measure(samples)
        drift = mg.metrics.drift(q_hat, prior, bins=10, n_null=n_null, seed=seed)
        out.append(SuiteEntry(task, prior, data, model, seed, samples, q_hat, drift, {}, {}))
    return out
