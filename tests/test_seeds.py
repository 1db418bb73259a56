"""Named seed streams: reproducible, and independent across purposes of one seed."""
import numpy as np
import pytest
from scipy import stats

import misgen_lib as mg
from misgen_lib.seeds import derive, stream


def test_same_seed_and_purpose_give_the_same_numbers():
    np.testing.assert_array_equal(stream(3, "samples", "sine").random(5), stream(3, "samples", "sine").random(5))
    assert derive(3, "train", "sine", "vae") == derive(3, "train", "sine", "vae")
    assert 0 <= derive(3, "train") < 2 ** 62


def test_purposes_and_seeds_give_different_streams():
    draws = {stream(s, *p).random() for s in (0, 1) for p in (("a",), ("b",), ("a", "x"), ("a", 1))}
    assert len(draws) == 8
    assert len({derive(0, p) for p in ("data", "train", "samples", "null", "reference")}) == 5


def test_two_streams_of_one_seed_are_independent():
    """The reference-set bug: quantities and nuisance drawn from two generators of one seed were
    perfectly correlated. Two named streams of one seed must not be."""
    task = mg.tasks.get("sine")
    prior = task.default_prior()
    n = 4000
    q = prior.sample(n, stream(0, "reference-q", "sine"))
    xi = task.nuisance(n, stream(0, "reference-nuisance", "sine"))
    buggy_q = prior.sample(n, np.random.default_rng(3))
    buggy_xi = task.nuisance(n, np.random.default_rng(3))
    u = (q - prior.lo) / (prior.hi - prior.lo)
    for column in range(xi.shape[1]):
        r, p = stats.pearsonr(u, stats.rankdata(xi[:, column]))
        assert abs(r) < 4 / np.sqrt(n), f"streams correlated: r={r:.3f} on nuisance column {column}"
    worst = max(abs(stats.spearmanr(buggy_q, buggy_xi[:, c])[0]) for c in range(buggy_xi.shape[1]))
    assert worst > 0.99   # what the test guards against: the same seed twice


def test_bad_seed_or_purpose_is_named():
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        stream(-1, "x")
    with pytest.raises(ValueError, match="needs a purpose"):
        derive(0)
    with pytest.raises(TypeError, match=r"str and int parts, got 1.5"):
        stream(0, 1.5)
