"""Array helpers shared by the tasks: one code path for numpy arrays and torch tensors.

Measurements (and the smooth generators) are written once against ``xp = namespace(x)``; with a
torch tensor the result stays a differentiable torch tensor, with a numpy array it is numpy.
"""
from __future__ import annotations

import numpy as np


def is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def namespace(*arrays):
    """``torch`` if any argument is a torch tensor, else ``numpy``."""
    if any(is_torch(a) for a in arrays):
        import torch
        return torch
    return np


def like(value, ref):
    """``value`` (numpy/scalar) as an array of the same kind, dtype and device as ``ref``."""
    if is_torch(ref):
        import torch
        return torch.as_tensor(np.asarray(value), dtype=ref.dtype, device=ref.device)
    ref = np.asarray(ref)
    return np.asarray(value, dtype=ref.dtype if ref.dtype.kind == "f" else np.float64)


def as_float(x):
    """Numpy input as float64 (trajectories are stored float32); torch input unchanged."""
    return x if is_torch(x) else np.asarray(x, dtype=np.float64)


def time_grid(horizon: int, ref=None, start: float = 0.0):
    """``(start + t) / horizon`` for ``t = 0..horizon-1``, shape (horizon,), kind of ``ref``."""
    t = (start + np.arange(horizon, dtype=np.float64)) / horizon
    return t if ref is None else like(t, ref)


def safe_norm(v, axis=-1, eps: float = 1e-24):
    """Euclidean norm with a finite gradient at zero (``sqrt(|v|^2 + eps)``)."""
    xp = namespace(v)
    return xp.sqrt((v * v).sum(axis) + eps)


class quiet:
    """Context manager: no numpy floating-point warnings (garbage input gives NaN, not noise)."""
    def __enter__(self):
        self._old = np.seterr(all="ignore")

    def __exit__(self, *exc):
        np.seterr(**self._old)


def common(*arrays):
    """``(xp, *arrays)`` converted to one kind: all torch (dtype/device of the first tensor) if
    any is a tensor, else all float64 numpy."""
    xp = namespace(*arrays)
    if xp is np:
        return (np, *(np.asarray(a, dtype=np.float64) for a in arrays))
    ref = next(a for a in arrays if is_torch(a))
    return (xp, *(a if is_torch(a) else like(a, ref) for a in arrays))
