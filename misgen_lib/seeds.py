"""Named seed streams: every stochastic step draws from its own generator, derived from the
experiment's seed and a *purpose* (``stream(seed, "samples", "sine", "vae")``), never from a seed
offset assigned by hand. Streams of one seed with different purposes are statistically
independent (``numpy.random.SeedSequence`` with the purpose as its spawn key), and the same
(seed, purpose) always gives the same numbers.

    rng = seeds.stream(0, "reference", "sine")     # a numpy Generator
    s = seeds.derive(0, "train", "sine", "vae")    # an int, for APIs that take a seed
"""
from __future__ import annotations

import hashlib

import numpy as np

from .checks import check_positive_int


def _word(part) -> int:
    """A 32-bit word naming one part of a purpose (a str or an int), stable across runs."""
    if isinstance(part, bool) or not isinstance(part, (str, int, np.integer)):
        raise TypeError(f"a seed purpose is made of str and int parts, got {part!r}")
    return int.from_bytes(hashlib.sha256(str(part).encode()).digest()[:4], "little")


def sequence(seed: int, *purpose) -> np.random.SeedSequence:
    """The ``SeedSequence`` of ``purpose`` under ``seed``."""
    seed = check_positive_int("seed", seed, minimum=0)
    if not purpose:
        raise ValueError("a seed stream needs a purpose, e.g. stream(seed, 'samples')")
    return np.random.SeedSequence(entropy=seed, spawn_key=tuple(_word(p) for p in purpose))


def stream(seed: int, *purpose) -> np.random.Generator:
    """A numpy Generator for ``purpose`` under ``seed``."""
    return np.random.default_rng(sequence(seed, *purpose))


def derive(seed: int, *purpose) -> int:
    """A non-negative 62-bit integer seed for ``purpose`` under ``seed`` (for functions that take
    an integer seed: curation, training, sampling, bootstrap nulls)."""
    hi, lo = (int(w) for w in sequence(seed, *purpose).generate_state(2, np.uint32))
    return (hi << 30) | (lo >> 2)
