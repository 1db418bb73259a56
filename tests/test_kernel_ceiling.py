"""Noise ceilings of the validation, the seed-mean comparison and the q-space view on cases with
known answers."""
import numpy as np
import pytest

import misgen_lib as mg
from misgen_lib.kernel.predict import Prediction
from misgen_lib.kernel.qspace import continuity_change

PRIOR = mg.priors.Uniform(0.0, 1.0)
BINS = 20


def true_masses(amplitude: float) -> np.ndarray:
    """A drifted distribution on the binning (overflow first/last): a sine wave of gains and
    losses over the range plus a little mass leaving above."""
    p_star = mg.metrics.prior_masses(PRIOR, mg.metrics.bin_edges((0, 1), BINS))
    inner = 1 / BINS * (1 + amplitude * np.sin(np.linspace(0, 2 * np.pi, BINS, endpoint=False)))
    p = np.concatenate([[0.0], inner, [amplitude / 10]])
    return p / p.sum(), p_star


def observed_q(p: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` quantities whose histogram on the binning is a multinomial draw of ``p``."""
    rng = np.random.default_rng(seed)
    edges = mg.metrics.bin_edges((0, 1), BINS)
    lo = np.concatenate([[-1.0], edges])
    width = np.concatenate([[0.5], np.diff(edges), [0.5]])
    idx = rng.choice(len(p), size=n, p=p)
    return lo[idx] + width[idx] * rng.uniform(0.05, 0.95, n)


def drift_of(q: np.ndarray, n_null: int = 20, seed: int = 0, bins: int = BINS):
    """The drift of ``q`` against the uniform prior (a small W1 reference: W1 is not used here)."""
    return mg.metrics.drift(q, PRIOR, bins=bins, n_null=n_null, n_reference=500, seed=seed)


def fixed_prediction(p_tilde: np.ndarray, p_star: np.ndarray, n: int = 1000) -> Prediction:
    delta = p_tilde - p_star
    return Prediction(edges=mg.metrics.bin_edges((0, 1), BINS), p_star=p_star, p_tilde=p_tilde,
                      delta=delta, contributions=np.tile(delta, (n, 1)), q_clean=np.zeros(n),
                      q_pred=np.zeros(n), spread=None, method="monte-carlo", kernel="fixed")


def test_a_perfect_prediction_scores_at_its_ceiling_and_a_zero_prediction_at_zero():
    p_true, p_star = true_masses(0.6)
    shares, ceilings, inside = [], [], []
    for seed in range(30):
        drift = drift_of(observed_q(p_true, 1000, seed), seed=seed)
        v = mg.kernel.validate(fixed_prediction(p_true, p_star), drift, n_boot=1, n_ceiling=300, seed=seed)
        shares.append(v.share_explained)
        ceilings.append(v.ceiling.share)
        inside.append(v.ceiling.share_band[0] <= v.share_explained <= v.ceiling.share_band[1])
        zero = mg.kernel.validate(fixed_prediction(p_star, p_star), drift, n_boot=1, n_ceiling=50, seed=seed)
        assert zero.share_explained == pytest.approx(0.0, abs=1e-12)
        assert zero.share_normalised == pytest.approx(0.0, abs=1e-12)
        assert set(zero.summary()) >= {"share_ceiling", "correlation_ceiling", "share_normalised"}
    # measured: perfect 0.62 (median over seeds) against the ceiling's median 0.61
    assert np.median(shares) == pytest.approx(np.median(ceilings), abs=0.05)
    assert np.mean(inside) >= 0.75        # the 5%-95% band covers a perfect prediction's score
    assert np.median(shares) / np.median(ceilings) == pytest.approx(1.0, abs=0.1)


def test_the_ceiling_rises_with_the_sample_size():
    p_true, p_star = true_masses(0.6)
    ceilings = [mg.kernel.noise_ceiling(p_true, p_star, n, n_draws=300, seed=0)
                for n in (250, 1000, 4000, 16000)]
    assert np.all(np.diff([c.share for c in ceilings]) > 0)
    assert np.all(np.diff([c.correlation for c in ceilings]) > 0)
    assert ceilings[-1].share > 0.85 and ceilings[0].share < 0.6   # measured 0.93 and 0.53
    for c in ceilings:
        assert c.share_band[0] <= c.share <= c.share_band[1]
    with pytest.raises(ValueError, match="same bins"):
        mg.kernel.noise_ceiling(p_true[:-1], p_star, 100)
    with pytest.raises(ValueError, match="n=0"):
        mg.kernel.noise_ceiling(p_true, p_star, 0)


def test_truth_estimate_removes_the_sampling_noise_from_the_observed_change():
    p_true, p_star = true_masses(0.6)
    q = observed_q(p_true, 500, seed=0)
    p_hat = mg.metrics.histogram(q, mg.metrics.bin_edges((0, 1), BINS))
    truth = mg.kernel.truth_estimate(p_hat, p_star, 500)
    assert truth.min() >= 0 and truth.sum() == pytest.approx(1.0)
    assert np.sum((truth - p_star) ** 2) < np.sum((p_hat - p_star) ** 2)
    # the squared change of the estimate is close to the true one (the raw one is inflated)
    assert np.sum((truth - p_star) ** 2) == pytest.approx(np.sum((p_true - p_star) ** 2), rel=0.35)
    # pure noise: shrunk (nearly) all the way to the prior
    noise_hat = mg.metrics.histogram(observed_q(p_star, 500, seed=1), mg.metrics.bin_edges((0, 1), BINS))
    assert np.abs(mg.kernel.truth_estimate(noise_hat, p_star, 500) - p_star).sum() < \
        0.5 * np.abs(noise_hat - p_star).sum()


def test_seed_mean_drift_is_the_pooled_drift_and_seed_agreement_is_the_reliability():
    p_true, p_star = true_masses(0.6)
    qs = [observed_q(p_true, n, seed) for seed, n in enumerate((800, 1000, 1200))]
    drifts = [drift_of(q, n_null=50) for q in qs]
    mean = mg.kernel.seed_mean_drift(drifts, n_null=400)
    pooled = drift_of(np.concatenate(qs), n_null=400)
    assert mean.n == 3000 and np.allclose(mean.p_hat, pooled.p_hat) and mean.tv == pytest.approx(pooled.tv)
    assert np.allclose(mean.null_band, pooled.null_band, atol=0.004)
    assert np.isnan(mean.w1)
    agree = mg.kernel.seed_agreement(drifts)
    r = agree.mean_pairwise
    assert r > 0.6 and agree.reliability == pytest.approx(3 * r / (1 + 2 * r))
    assert agree.correlation_ceiling == pytest.approx(np.sqrt(agree.reliability))
    # pure noise: the seeds do not agree
    null_drifts = [drift_of(observed_q(p_star, 1000, s)) for s in range(4)]
    assert abs(mg.kernel.seed_agreement(null_drifts).mean_pairwise) < 0.3
    v = mg.kernel.validate_seed_mean(fixed_prediction(p_true, p_star), drifts, n_boot=20)
    assert v.ceiling.n == 3000 and v.correlation > 0.9
    with pytest.raises(ValueError, match="at least two Drifts"):
        mg.kernel.seed_mean_drift(drifts[:1])
    other = drift_of(qs[0], n_null=5, bins=BINS + 1)
    with pytest.raises(ValueError, match="different binning"):
        mg.kernel.seed_agreement([drifts[0], other])


def test_continuity_equation_of_a_constant_shift_on_a_uniform_prior():
    """The drift term alone (M2 = 0): a shift b > 0 moves f*b out of the top bin into the overflow
    and drains the bottom bin by f*b (nothing flows in from below); interior bins stay; mass is
    conserved. (With M2 = b^2 the diffusion term adds f b^2 / (2h) at the edges.)"""
    edges = mg.metrics.bin_edges((0, 1), 10)
    p_inner, b = np.full(10, 0.1), 0.01
    change = continuity_change(p_inner, np.full(10, b), np.zeros(10), edges)
    f = 1.0
    assert change.sum() == pytest.approx(0.0, abs=1e-15)
    assert change[1] == pytest.approx(-f * b) and change[-1] == pytest.approx(f * b)
    assert np.allclose(change[2:-2], 0.0) and change[0] == 0.0
    with_spread = continuity_change(p_inner, np.full(10, b), np.full(10, b ** 2), edges)
    assert with_spread[0] == pytest.approx(f * b ** 2 / (2 * 0.1))
    assert with_spread.sum() == pytest.approx(0.0, abs=1e-15)
    # converging shift (b > 0 below the middle, < 0 above): mass piles up in the middle
    centers = 0.5 * (edges[1:] + edges[:-1])
    change = continuity_change(p_inner, 0.02 * (0.5 - centers), np.zeros(10), edges)
    assert change[5] + change[6] > 0 and change[1] < 0 and change[10] < 0


def test_qspace_view_of_a_prediction_recovers_the_kernel_shift():
    """A kernel that adds a fixed offset to q: b(q) is that offset in every bin, s(q) is 0."""
    class Offset(mg.kernel.DeviationKernel):
        family = "offset"

        def apply(self, x, rng):
            return x + 0.02

        def to_dict(self):
            return {"family": self.family}

    class Mean:
        name = "toy-mean"

        @staticmethod
        def measure(x):
            return np.asarray(x).mean(axis=(1, 2))

    x = np.random.default_rng(0).uniform(0, 1, (4000, 1, 1))
    pred = mg.kernel.predict(Mean(), Offset(), PRIOR, clean=x, bins=10, progress=False)
    view = mg.kernel.qspace_view(pred)
    assert np.allclose(view.shift, 0.02) and np.allclose(view.spread, 0.0, atol=1e-9)
    assert view.count.sum() == 4000 and view.n_nonfinite == 0
    assert view.agreement > 0.95
    with pytest.raises(ValueError, match="Monte Carlo prediction"):
        mg.kernel.qspace_view(Prediction(**{**pred.__dict__, "method": "analytic"}))


def test_a_perfect_monte_carlo_predictor_reaches_the_calibrated_ceiling():
    """A prediction whose deviated draws come from the true distribution, with fewer draws than
    the observation has samples, scores share / ceiling about 1 once the ceiling carries the
    prediction's own draw noise; the ceiling without it (the exact truth as the perfect
    prediction) leaves it far below 1."""
    from misgen_lib.kernel.predict import monte_carlo_prediction
    from misgen_lib.kernel.validate import noise_ceiling, truth_estimate
    p, p_star = true_masses(0.5)
    edges = mg.metrics.bin_edges((0, 1), BINS)
    calibrated, uncalibrated, in_band = [], [], 0
    for r in range(12):
        d = drift_of(observed_q(p, 2000, r), seed=r)
        rng = np.random.default_rng(100 + r)
        pred = monte_carlo_prediction(PRIOR, edges, rng.uniform(0, 1, 1000), observed_q(p, 1000, 200 + r),
                                      "perfect", np.nan)
        v = mg.kernel.validate(pred, d, n_boot=20, seed=r)
        calibrated.append(v.share_normalised)
        in_band += v.ceiling.share_band[0] <= v.share_explained <= v.ceiling.share_band[1]
        exact = noise_ceiling(truth_estimate(d.p_hat, p_star, d.n), p_star, d.n, 500, seed=r)
        uncalibrated.append(v.share_explained / exact.share)
    assert in_band >= 11
    assert 0.9 < np.median(calibrated) < 1.1
    assert np.median(uncalibrated) < 0.8


def test_noise_ceiling_checks_the_contributions_shape():
    from misgen_lib.kernel.validate import noise_ceiling
    p, p_star = true_masses(0.5)
    with pytest.raises(ValueError, match="contributions must have shape"):
        noise_ceiling(p, p_star, 100, contributions=np.zeros((5, 3)))


def mc_prediction(p_true: np.ndarray, p_star: np.ndarray, n: int, seed: int) -> Prediction:
    """A Monte Carlo prediction of ``p_true``: ``n`` clean draws from the prior's bins, each moved
    to a bin drawn from ``p_true`` (contributions: new minus old bin)."""
    rng = np.random.default_rng(seed)
    rows = np.arange(n)
    contributions = np.zeros((n, len(p_star)))
    contributions[rows, rng.choice(len(p_star), n, p=p_true)] += 1
    contributions[rows, rng.choice(len(p_star), n, p=p_star)] -= 1
    delta = contributions.mean(axis=0)
    return Prediction(edges=mg.metrics.bin_edges((0, 1), BINS), p_star=p_star, p_tilde=p_star + delta, delta=delta,
                      contributions=contributions, q_clean=np.zeros(n), q_pred=np.zeros(n), spread=None,
                      method="monte-carlo", kernel="test")


def test_seed_resampled_scores_a_control_in_the_same_rounds():
    """A control changes none of the own kernel's numbers; the paired difference of the shares
    is exactly 0 against itself and lies above 0 for the truth against a zero control; the scores
    in range leave the overflow bins out."""
    from misgen_lib.kernel.validate import IN_RANGE, seed_resampled
    p_true, p_star = true_masses(0.6)
    drifts = [drift_of(observed_q(p_true, 1000, s), seed=s) for s in range(3)]
    own = [mc_prediction(p_true, p_star, 2000, s) for s in range(3)]
    alone = seed_resampled(own, drifts, 200, seed=1)
    same = seed_resampled(own, drifts, 200, seed=1, controls=own)
    zero = seed_resampled(own, drifts, 200, seed=1, controls=[mc_prediction(p_star, p_star, 2000, s) for s in range(3)])
    assert all(same[k] == v for k, v in alone.items())
    assert same["share_over_control"] == (0.0, (0.0, 0.0))
    assert same["control_share_explained"] == alone["share_explained"]
    assert zero["share_over_control"][1][0] > 0
    d = drifts[0]
    leaves_only = fixed_prediction(np.where(np.arange(len(p_star)) == len(p_star) - 1, p_true, p_star), p_star)
    v = mg.kernel.validate(leaves_only, d, n_boot=1, n_ceiling=10)
    in_range = 1 - np.abs(leaves_only.p_tilde - d.p_hat)[IN_RANGE].sum() / np.abs(d.delta)[IN_RANGE].sum()
    assert v.share_in_range == pytest.approx(in_range) and v.share_in_range < 0.01 < v.share_explained
