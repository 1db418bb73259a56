"""A curated dataset: trajectories, their measured quantities and how they were curated."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Dataset:
    """A curated dataset: ``x`` (N, T, d) float32 trajectories, ``q`` (N,) their quantities
    as measured by ``task.measure``; ``xi`` the nuisance draws (N, k) when known (None for
    bin-balanced demonstrations whose nuisance is implicit)."""
    task: str
    x: np.ndarray
    q: np.ndarray
    prior: dict
    seed: int
    mode: str
    xi: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.x)

    def fingerprint(self) -> str:
        """sha256 of the trajectories: models cached on this dataset key on it."""
        return hashlib.sha256(np.ascontiguousarray(self.x, dtype=np.float32).tobytes()).hexdigest()
