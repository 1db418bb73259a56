"""Priors (masses, sampling, JSON round trip, bad input) and drift metrics with their nulls."""
import os
import subprocess
import sys

import numpy as np
import pytest

from misgen_lib import metrics, priors

ALL_PRIORS = [priors.Uniform(1.0, 3.0), priors.Beta(1.0, 3.0, 2.0, 5.0),
              priors.TruncatedNormal(1.0, 3.0, 2.5, 0.4),
              priors.Histogram(np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0]))]


@pytest.mark.parametrize("prior", ALL_PRIORS, ids=lambda p: type(p).__name__)
def test_prior_masses_sampling_and_round_trip(prior):
    edges = metrics.bin_edges((prior.lo, prior.hi), 10)
    masses = metrics.prior_masses(prior, edges)
    assert masses.sum() == pytest.approx(1.0)
    assert masses[0] == pytest.approx(0.0) and masses[-1] == pytest.approx(0.0)
    q = prior.sample(40000, np.random.default_rng(0))
    assert q.min() >= prior.lo and q.max() <= prior.hi
    np.testing.assert_allclose(metrics.histogram(q, edges), masses, atol=0.01)
    again = priors.from_dict(prior.to_dict())
    np.testing.assert_allclose(again.cdf(edges), prior.cdf(edges))


@pytest.mark.parametrize("bad, message", [
    (lambda: priors.Uniform(2.0, 1.0), r"lo < hi \(finite\), got lo=2.0, hi=1.0$"),
    (lambda: priors.Beta(0, 1, -1, 2), r"shape parameters must be > 0, got a=-1, b=2$"),
    (lambda: priors.TruncatedNormal(0, 1, 0, 0), r"std must be > 0, got 0$"),
    (lambda: priors.Histogram([0, 1], [1, 2]), r"len\(edges\) == len\(weights\) \+ 1$"),
    (lambda: priors.from_dict({"type": "Cauchy"}), r"unknown prior type 'Cauchy'; valid: \['Beta', "),
])
def test_bad_prior_input_names_the_value(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()


def test_histogram_counts_overflow_and_nan_outside():
    edges = metrics.bin_edges((0.0, 1.0), 4)
    p = metrics.histogram(np.array([-0.5, 0.1, 1.0, 1.5, np.nan]), edges)
    assert p[0] == pytest.approx(0.2) and p[-1] == pytest.approx(0.4)  # below; above + NaN
    assert p[-2] == pytest.approx(0.2)  # the top edge belongs to the last interior bin


def test_clean_sample_sits_inside_its_null_and_a_shift_leaves_it():
    prior = priors.Uniform(0.0, 1.0)
    rng = np.random.default_rng(1)
    clean = metrics.drift(prior.sample(3000, rng), prior, n_null=200, seed=2)
    assert clean.tv <= clean.null_q95("tv") * 1.2
    assert clean.beyond_null().sum() <= 3  # ~5% of 22 bins by chance
    shifted = metrics.drift(np.clip(prior.sample(3000, rng) + 0.1, 0, 1.2), prior, n_null=200, seed=2)
    assert shifted.tv > 2 * shifted.null_q95("tv")
    assert shifted.outside == pytest.approx(0.1, abs=0.02)
    assert shifted.delta[1] < shifted.null_band[0, 1]    # lowest bin loses mass
    assert shifted.delta[-1] > shifted.null_band[1, -1]  # overflow bin gains it
    assert shifted.w1 == pytest.approx(0.1, abs=0.02)


def test_drift_rejects_empty_input():
    with pytest.raises(ValueError, match="empty"):
        metrics.drift(np.array([]), priors.Uniform(0, 1))


@pytest.mark.parametrize("prior", ALL_PRIORS, ids=lambda p: type(p).__name__)
def test_prior_location_matches_a_large_sample(prior):
    mean, median = metrics.prior_location(prior)
    q = prior.sample(200000, np.random.default_rng(3))
    assert mean == pytest.approx(q.mean(), abs=0.01)
    assert median == pytest.approx(np.median(q), abs=0.01)
    assert float(prior.cdf(np.array([median]))[0]) == pytest.approx(0.5, abs=1e-9)


def test_location_shift_null_covers_clean_samples_and_flags_a_shift():
    prior = priors.Uniform(1.0, 5.0)
    rng = np.random.default_rng(4)
    clean = metrics.location_shift(prior.sample(2000, rng), prior, n_boot=300, seed=5)
    assert (clean.prior_mean, clean.prior_median) == (pytest.approx(3.0), pytest.approx(3.0))
    assert clean.beyond_null() == 0 and clean.beyond_null("share_above_median") == 0
    assert clean.mean_shift_null[0] < 0 < clean.mean_shift_null[1]
    assert clean.share_above_median_null[0] < 0.5 < clean.share_above_median_null[1]
    q = np.concatenate([prior.sample(2000, rng) + 0.3, [np.nan, np.inf]])
    up = metrics.location_shift(q, prior, n_boot=300, seed=5)
    assert up.n == 2000 and up.n_nonfinite == 2
    assert up.mean_shift == pytest.approx(0.3, abs=0.1)
    assert up.mean_shift_ci[0] < up.mean_shift < up.mean_shift_ci[1]
    assert up.beyond_null() == 1 and up.beyond_null("share_above_median") == 1
    down = metrics.location_shift(prior.sample(2000, rng) - 0.3, prior, n_boot=300, seed=5)
    assert down.beyond_null() == -1 and down.share_above_median < 0.5


def test_location_shift_rejects_no_finite_values():
    with pytest.raises(ValueError, match="finite"):
        metrics.location_shift(np.array([np.nan]), priors.Uniform(0, 1))


@pytest.mark.parametrize("n, m, decimals", [(200, 20000, None), (2000, 20000, 1), (5, 7, None), (1, 1, None)])
def test_w1_on_sorted_samples_is_scipys(n, m, decimals):
    from scipy.stats import wasserstein_distance
    rng = np.random.default_rng(n)
    u, v = rng.normal(size=n), rng.uniform(size=m)
    if decimals is not None:   # ties within and across the samples
        u, v = np.round(u, decimals), np.round(v, decimals)
    assert metrics.w1_sorted(np.sort(u), np.sort(v)) == pytest.approx(wasserstein_distance(u, v), rel=1e-13, abs=0)


def test_w1_is_the_same_to_the_last_bit_whatever_the_number_of_blas_threads():
    """A drift's W1 compares 20000 reference draws: OpenBLAS's dot product splits that long a
    vector over its threads, and its last bits moved with their number (one in a Dask worker and
    in the kernels of a parallel build, which inherit Dask's setting; one per core in a sequential
    build's kernels). The same computation with one thread and with two gives the same bits."""
    code = ("import numpy as np; from misgen_lib import metrics; rng = np.random.default_rng(0); "
            "v = np.sort(rng.uniform(size=20000)); "
            "print([metrics.w1_sorted(np.sort(rng.normal(size=n)), v).hex() for n in (200, 2000, 20000)])")
    runs = {threads: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                    env={**os.environ, "OPENBLAS_NUM_THREADS": threads}).stdout
            for threads in ("1", "2")}
    assert runs["1"] == runs["2"], runs
