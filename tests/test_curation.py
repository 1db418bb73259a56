"""Curated datasets follow their prior (goodness of fit), are seeded, and reject bad input."""
import numpy as np
import pytest
from scipy import stats

import misgen_lib as mg
from misgen_lib.tasks.curation import quotas

#: level of the goodness-of-fit tests: a correct curation fails one with probability 1%
LEVEL = 0.01


def chi_square_p(q, prior, bins=7):
    """Chi-square p-value of the measured quantities against the prior, on ``bins`` equal bins
    that do not line up with the curation's 20 bins (so within-bin shape matters too)."""
    edges = np.linspace(prior.lo, prior.hi, bins + 1)
    observed, _ = np.histogram(np.clip(q, prior.lo, prior.hi), edges)
    expected = len(q) * prior.bin_masses(edges)
    return stats.chisquare(observed, expected).pvalue


def priors_for(task):
    lo, hi = task.q_range
    return [mg.priors.Uniform(lo, hi), mg.priors.Beta(lo, hi, 2.0, 5.0)]


@pytest.mark.parametrize("name,kw,mode", [("sine", {}, "prior"), ("pendulum", {}, "prior"),
                                          ("logistic", {}, "balanced"),
                                          ("maze", {"layout": "umaze"}, "balanced"),
                                          ("maze", {"layout": "medium"}, "prior")])
def test_curated_quantities_fit_the_prior(name, kw, mode):
    task = mg.tasks.get(name, **kw)
    n = 600 if name == "pendulum" else 2000
    for prior in priors_for(task):
        data = task.curate(n, prior=prior, seed=0, mode=mode)
        assert data.x.shape == (n, task.horizon, task.dim) and data.x.dtype == np.float32
        assert data.q.shape == (n,) and data.mode == mode
        np.testing.assert_allclose(data.q, task.measure(data.x), rtol=0, atol=1e-12)
        p = chi_square_p(data.q, prior)
        assert p > LEVEL, (name, prior, p)


def test_goodness_of_fit_rejects_a_dataset_curated_to_another_prior():
    task = mg.tasks.get("sine")
    uniform, skewed = priors_for(task)
    data = task.curate(2000, prior=skewed, seed=0)
    assert chi_square_p(data.q, uniform) < LEVEL


def test_balanced_curation_reports_raw_demonstrations():
    task = mg.tasks.get("maze", layout="medium")
    data = task.curate(500, seed=0)
    assert data.mode == "balanced"
    info = data.info
    assert 500 <= info["n_raw"] <= info["n_generated"]
    assert info["acceptance"] == pytest.approx(500 / info["n_raw"])
    edges = np.linspace(*task.q_range, info["bins"] + 1)
    counts, _ = np.histogram(data.q, edges)
    assert counts.tolist() == info["quota"]


def test_prior_on_rare_long_paths_needs_more_raw_demonstrations():
    """Long U-maze paths are rare among random start/goal pairs: a prior that puts its mass
    there must discard more raw demonstrations than the uniform one."""
    task = mg.tasks.get("maze", layout="umaze")
    uniform = mg.priors.Uniform(*task.q_range)
    long_paths = mg.priors.Beta(*task.q_range, 6.0, 1.0)
    n_uniform = task.curate(400, prior=uniform, seed=0).info["n_raw"]
    n_long = task.curate(400, prior=long_paths, seed=0).info["n_raw"]
    assert n_long > 2 * n_uniform


@pytest.mark.parametrize("name,kw", [("cone", {}), ("maze", {"layout": "umaze"})])
def test_same_seed_same_dataset_other_seed_other_dataset(name, kw):
    task = mg.tasks.get(name, **kw)
    a, b, c = (task.curate(200, seed=s) for s in (3, 3, 4))
    assert a.fingerprint() == b.fingerprint()
    np.testing.assert_array_equal(a.q, b.q)
    assert a.fingerprint() != c.fingerprint()


def test_dataset_records_prior_and_task():
    task = mg.tasks.get("logistic")
    prior = mg.priors.Beta(3.0, 4.0, 2.0, 5.0)
    data = task.curate(50, prior=prior, seed=1)
    assert mg.priors.from_dict(data.prior) == prior
    assert data.info["task"] == task.describe() and data.xi.shape == (50, 1)


@pytest.mark.parametrize("n", [0, -1, 2.0])
def test_bad_n_is_rejected(n):
    with pytest.raises(ValueError, match=rf"n must be an integer >= 1, got {n}"):
        mg.tasks.get("sine").curate(n)


def test_bad_mode_prior_and_max_raw_are_clear_errors():
    task = mg.tasks.get("maze", layout="umaze")
    with pytest.raises(ValueError, match=r"unknown curation mode 'best'; valid: \['prior', 'balanced'\]"):
        task.curate(10, mode="best")
    with pytest.raises(ValueError, match=r"prior support \[0.0, 5.0\] leaves .* range \[1.0, 5.0\]"):
        task.curate(10, prior=mg.priors.Uniform(0.0, 5.0))
    with pytest.raises(TypeError, match="prior must be a misgen_lib.priors.Prior"):
        task.curate(10, prior=(1.0, 5.0))
    with pytest.raises(RuntimeError, match=r"more than max_raw=50 raw demonstrations; bins still short"):
        task.curate(100, max_raw=50)


def test_quotas_sum_to_n_and_follow_masses():
    q = quotas(10, np.array([0.5, 0.25, 0.25]))
    assert q.tolist() == [5, 3, 2] or q.tolist() == [5, 2, 3]
    assert quotas(7, np.full(20, 0.05)).sum() == 7
