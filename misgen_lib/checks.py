"""Argument checks shared by every layer (tasks, models, kernel, studies): each returns the
checked value or raises ``ValueError`` naming the bad value and what would be valid."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    """``value`` as an ``int`` >= ``minimum`` (bools are not integers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_trajectories(x, name: str = "x", dim: int | None = None, min_steps: int = 1):
    """Trajectories of shape (n, T >= ``min_steps``, ``dim``): numpy input as float64, torch
    input unchanged (so a differentiable measurement stays differentiable)."""
    is_torch = type(x).__module__.startswith("torch")
    x = x if is_torch else np.asarray(x, dtype=np.float64)
    shape = tuple(x.shape)
    if len(shape) != 3 or shape[1] < min_steps or (dim is not None and shape[2] != dim):
        want = f"(n, T>={min_steps}, {dim if dim is not None else 'd'})"
        raise ValueError(f"{name} must have shape {want}, got shape {shape}")
    return x


def check_names(value, kind: str, valid: Sequence[str]) -> tuple[str, ...]:
    """Names from a sequence or a comma-separated string, each one of ``valid``."""
    names = tuple(v.strip() for v in value.split(",") if v.strip()) if isinstance(value, str) else tuple(value)
    bad = [n for n in names if n not in valid]
    if not names or bad:
        raise ValueError(f"unknown {kind} {bad or list(names)!r}; valid: {list(valid)}")
    return names
