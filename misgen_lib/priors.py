"""Intended priors p*(q) over a task's quantity range.

Every prior is a distribution on a closed interval ``[lo, hi]`` with ``sample``, ``pdf`` and
``bin_masses`` (the probability of each bin of a binning, used by the drift metrics)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats


class Prior:
    lo: float
    hi: float

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def cdf(self, q: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def pdf(self, q: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def bin_masses(self, edges: np.ndarray) -> np.ndarray:
        """Probability of each interval ``[edges[i], edges[i+1])``."""
        return np.diff(self.cdf(np.asarray(edges, dtype=float)))

    def to_dict(self) -> dict:
        return {"type": type(self).__name__, **{k: v for k, v in vars(self).items()
                                                 if not k.startswith("_")}}


def _check_interval(lo: float, hi: float) -> None:
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"prior interval must satisfy lo < hi (finite), got lo={lo!r}, hi={hi!r}")


@dataclass
class Uniform(Prior):
    lo: float
    hi: float

    def __post_init__(self):
        _check_interval(self.lo, self.hi)

    def sample(self, n, rng):
        return rng.uniform(self.lo, self.hi, size=n)

    def cdf(self, q):
        return np.clip((np.asarray(q, float) - self.lo) / (self.hi - self.lo), 0.0, 1.0)

    def pdf(self, q):
        q = np.asarray(q, float)
        return np.where((q >= self.lo) & (q <= self.hi), 1.0 / (self.hi - self.lo), 0.0)


class _ScipyPrior(Prior):
    """A prior backed by a frozen scipy distribution ``self._dist`` set in ``__post_init__``."""

    def sample(self, n, rng):
        return self._dist.rvs(size=n, random_state=rng)

    def cdf(self, q):
        return self._dist.cdf(q)

    def pdf(self, q):
        return self._dist.pdf(q)


@dataclass
class Beta(_ScipyPrior):
    """Beta(a, b) rescaled to ``[lo, hi]``; ``Beta(lo, hi, 2, 5)`` is a skewed prior."""
    lo: float
    hi: float
    a: float = 2.0
    b: float = 2.0

    def __post_init__(self):
        _check_interval(self.lo, self.hi)
        if self.a <= 0 or self.b <= 0:
            raise ValueError(f"Beta shape parameters must be > 0, got a={self.a!r}, b={self.b!r}")
        self._dist = stats.beta(self.a, self.b, loc=self.lo, scale=self.hi - self.lo)


@dataclass
class TruncatedNormal(_ScipyPrior):
    lo: float
    hi: float
    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self):
        _check_interval(self.lo, self.hi)
        if self.std <= 0:
            raise ValueError(f"std must be > 0, got {self.std!r}")
        a, b = (self.lo - self.mean) / self.std, (self.hi - self.mean) / self.std
        self._dist = stats.truncnorm(a, b, loc=self.mean, scale=self.std)


@dataclass
class Histogram(Prior):
    """Piecewise-constant prior: ``weights[i]`` is the mass of ``[edges[i], edges[i+1])``."""
    edges: np.ndarray = field(default_factory=lambda: np.array([0.0, 1.0]))
    weights: np.ndarray = field(default_factory=lambda: np.array([1.0]))

    def __post_init__(self):
        self.edges = np.asarray(self.edges, float)
        self.weights = np.asarray(self.weights, float)
        if self.edges.ndim != 1 or len(self.edges) != len(self.weights) + 1 or np.any(np.diff(self.edges) <= 0):
            raise ValueError("Histogram needs increasing edges and len(edges) == len(weights) + 1")
        if np.any(self.weights < 0) or self.weights.sum() <= 0:
            raise ValueError(f"Histogram weights must be >= 0 with a positive sum, got {self.weights!r}")
        self.weights = self.weights / self.weights.sum()
        self.lo, self.hi = float(self.edges[0]), float(self.edges[-1])

    def sample(self, n, rng):
        b = rng.choice(len(self.weights), size=n, p=self.weights)
        return rng.uniform(self.edges[b], self.edges[b + 1])

    def cdf(self, q):
        cum = np.concatenate([[0.0], np.cumsum(self.weights)])
        return np.interp(np.asarray(q, float), self.edges, cum)

    def pdf(self, q):
        q = np.asarray(q, float)
        idx = np.clip(np.searchsorted(self.edges, q, side="right") - 1, 0, len(self.weights) - 1)
        inside = (q >= self.lo) & (q <= self.hi)
        return np.where(inside, self.weights[idx] / np.diff(self.edges)[idx], 0.0)

    def to_dict(self):
        return {"type": "Histogram", "edges": self.edges.tolist(), "weights": self.weights.tolist()}


_TYPES = {"Uniform": Uniform, "Beta": Beta, "TruncatedNormal": TruncatedNormal, "Histogram": Histogram}


def from_dict(d: dict) -> Prior:
    """Inverse of ``Prior.to_dict`` (JSON round trip)."""
    d = dict(d)
    kind = d.pop("type", None)
    if kind not in _TYPES:
        raise ValueError(f"unknown prior type {kind!r}; valid: {sorted(_TYPES)}")
    return _TYPES[kind](**d)


#: priors by the name a notebook parameter or a config can give
NAMED = {"uniform": Uniform, "beta": Beta, "truncated-normal": TruncatedNormal}


def named(kind: str, lo: float, hi: float, **shape) -> Prior:
    """The prior ``kind`` (``uniform``, ``beta``, ``truncated-normal``) on ``[lo, hi]``; ``shape``:
    its further parameters (``a``, ``b`` for beta; ``mean``, ``std`` for truncated-normal)."""
    if kind not in NAMED:
        raise ValueError(f"unknown prior {kind!r}; valid: {sorted(NAMED)}")
    return NAMED[kind](lo, hi, **shape)
