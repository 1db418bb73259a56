"""The claim verdicts: each rule applied to synthetic units whose truth is known, with a case
that counts, one that fails and one that is undecided per claim, and the claim-level rule."""
from itertools import product
from types import SimpleNamespace as NS

import numpy as np
import pytest

import misgen_lib as mg
from misgen_lib.kernel.predict import monte_carlo_prediction
from misgen_lib.studies import claim_c1, claim_c2, claim_c3, claim_c4, claim_c6
from misgen_lib.studies import claims, scaling
from misgen_lib.studies.claims import (ALPHA, CLAIMS, CONTROLS, FEW, MOST, NOT_TESTED, RULE_HISTORY, RULES, UNDECIDED,
                                       Condition, claim_c5, claim_c7, claim_outcome, sign_test, with_baselines)
from misgen_lib.vocabulary import CLAIM_IDS

PRIOR = mg.priors.Uniform(0.0, 1.0)
BINS, N = 10, 2000
EDGES = mg.metrics.bin_edges((0, 1), BINS)
SEEDS = (0, 1, 2)


def grid(quantile, n=N):
    """``n`` quantities placed at the quantiles ``(i + 1/2) / n`` of a distribution (its inverse
    CDF ``quantile``): a sample without sampling noise, so the truth is known exactly."""
    return quantile((np.arange(n) + 0.5) / n)


def shifted_mass(tv, n=N):
    """Quantities whose histogram moves ``tv`` of mass from the lower half of the bins to the
    upper half (TV against the uniform prior: exactly ``tv``)."""
    per_bin = np.full(BINS, 1 / BINS)
    per_bin[: BINS // 2] -= 2 * tv / BINS
    per_bin[BINS // 2:] += 2 * tv / BINS
    counts = np.round(per_bin * n).astype(int)
    return np.concatenate([EDGES[b] + (np.arange(c) + 0.5) / c / BINS for b, c in enumerate(counts)])


def entry(q, model="m", task="t", seed=0, ratio=1.0):
    return NS(task=NS(name=task), model=NS(name=model), seed=seed, prior=PRIOR, q_hat=q, distance_ratio=ratio,
              drift=mg.metrics.drift(q, PRIOR, bins=BINS, n_null=200, n_reference=500, seed=7))


def pair(q, model="m", task="t", ratio=1.0, seeds=SEEDS):
    return [entry(q, model, task, s, ratio) for s in seeds]


NULL_Q95 = entry(grid(lambda u: u)).drift.null_q95("tv")
UP, DOWN, FLAT = grid(np.sqrt), grid(lambda u: 1 - np.sqrt(1 - u)), grid(lambda u: u)


def test_every_claim_has_its_rule_and_history():
    assert set(CLAIMS) == set(RULES) == set(RULE_HISTORY) == set(CONTROLS) == set(CLAIM_IDS)
    for claim, history in RULE_HISTORY.items():
        assert history and all(len(h) == 3 and h[2] for h in history), claim
        assert history[0][2].startswith("declared"), claim
        assert [h[1] for h in history] == sorted(h[1] for h in history), claim


@pytest.mark.parametrize("interval, above, decision", [
    ((0.1, 0.3), True, 1), ((-0.3, -0.1), True, -1), ((-0.1, 0.1), True, 0),
    ((0.1, 0.3), False, -1), ((-0.3, -0.1), False, 1), ((np.nan, 0.3), True, 0)])
def test_a_condition_holds_fails_or_is_undecided(interval, above, decision):
    assert Condition("s", 0.0, interval, 0.0, above).decision == decision


def test_the_claim_level_rule_words():
    assert claim_outcome(0, 0, 0)[0] == "not tested"
    assert claim_outcome(4, 0, 0) == ("supports", (1.0, 1.0))
    assert claim_outcome(3, 1, 0)[0] == "supports"                       # 3 of 4: at MOST
    assert claim_outcome(0, 4, 0)[0] == "does not support"
    assert claim_outcome(1, 5, 0)[0] == "does not support"               # 1 of 6, below FEW
    assert claim_outcome(2, 2, 0) == ("partly supports", (0.5, 0.5))
    assert claim_outcome(2, 1, 1)[0] == "undecided"                      # 50% to 75%: straddles MOST
    assert claim_outcome(0, 0, 3) == ("undecided", (0.0, 1.0))


def test_a_unit_moving_to_or_from_undecided_moves_the_claim_only_to_or_from_undecided():
    """A rounding-level change moves a unit only between counts/fails and undecided; enumerate
    every such move for up to 12 units."""
    for c, f, u in product(range(13), repeat=3):
        if not 0 < c + f + u <= 12:
            continue
        before = claim_outcome(c, f, u)[0]
        moves = [(c - 1, f, u + 1), (c, f - 1, u + 1), (c + 1, f, u - 1), (c, f + 1, u - 1)]
        for after in (claim_outcome(*m)[0] for m in moves if min(m) >= 0):
            assert after == before or "undecided" in (before, after), (c, f, u, before, after)
    assert 0 < FEW < MOST <= 1


def test_c1_counts_fails_and_leaves_undecided_a_drift_at_the_null():
    strong, at_null = shifted_mass(0.15), shifted_mass(NULL_Q95)
    assert claim_c1(pair(strong)).units[0].decision == "counts"
    assert claim_c1(pair(FLAT)).units[0].decision == "fails"
    assert claim_c1(pair(at_null)).units[0].decision == "undecided"
    v = claim_c1(pair(strong, "a") + pair(strong, "b") + pair(FLAT, "c") + pair(FLAT, "d"))
    assert (v.counted, v.failed, v.undecided, v.outcome) == (2, 2, 0, "partly supports")
    assert claim_c1(pair(strong, "a") + pair(strong, "b")).outcome == "supports"
    assert claim_c1(pair(FLAT, "a") + pair(FLAT, "b")).outcome == "does not support"
    assert claim_c1(pair(at_null, "a") + pair(strong, "b")).outcome == "undecided"
    assert "2 count, 2 fail, 0 undecided" in v.sentence()


def test_c1_to_c4_leave_implausible_pairs_untested_alike():
    v = claim_c1(pair(shifted_mass(0.15), "a") + pair(shifted_mass(0.15), "b", ratio=5.0))
    assert (v.counted, v.total, v.not_tested) == (1, 1, 1)
    assert claim_c1(pair(shifted_mass(0.15), ratio=5.0)).outcome == "not tested"
    assert claim_c2([probe(UP, np.sqrt, ratio=5.0)]).outcome == "not tested"
    assert claim_c4([probe(UP, np.sqrt, ratio=5.0)]).outcome == "not tested"
    assert claim_c4([probe(UP, np.sqrt)]).outcome == "supports"
    v = claim_c3(pair(UP, "a", task="maze") + pair(UP, "b", task="maze", ratio=5.0), n_boot=300)
    assert (v.counted, v.total, v.not_tested) == (1, 1, 1) and v.outcome == "supports"
    assert claim_c3(pair(UP, task="maze", ratio=5.0), n_boot=300).outcome == "not tested"


def probe(observed, transport, ratio=1.0, n_pred=3000, control=lambda q: q):
    """A probe result whose kernel moves each clean quantity by ``transport`` (the truth's
    inverse CDF composed with the prior's CDF: a perfect kernel for ``np.sqrt`` and ``UP``), and
    whose class-blind control moves the same clean quantities by ``control`` (default: not at
    all, a control that predicts no drift)."""
    entries = pair(observed, ratio=ratio)
    preds, blinds = [], []
    for s in SEEDS:
        q = np.random.default_rng(s).uniform(0, 1, n_pred)
        preds.append(monte_carlo_prediction(PRIOR, EDGES, q, transport(q), "test", np.nan))
        blinds.append(monte_carlo_prediction(PRIOR, EDGES, q, control(q), "control", np.nan))
    validation = mg.kernel.validate(preds[0], entries[0].drift, n_boot=20)
    return NS(entries=entries, per_seed=preds, blind_per_seed=blinds, validation=validation)


def halves(first, second):
    """A transport that moves the first half of the clean draws by ``first``, the rest by
    ``second`` (the draws are uniform, so each half is a random half of the prior)."""
    def transport(q):
        half = np.arange(len(q)) < len(q) // 2
        return np.where(half, first(q), second(q))
    return transport


HALF_UP = lambda q: (q + np.sqrt(q)) / 2     # noqa: E731 -- half of the true drift's move


@pytest.mark.parametrize("claim", [claim_c2, claim_c4])
def test_c2_and_c4_need_magnitude_and_to_beat_the_class_blind_control(claim):
    def decisions(*args, **kw):
        return [c.decision for c in claim([probe(UP, *args, **kw)]).units[0].conditions]
    assert claim([probe(UP, np.sqrt)]).units[0].decision == "counts"      # the true kernel; the control: no drift
    assert decisions(np.sqrt, control=HALF_UP) == [1, 1]                  # beats a control that gets half
    assert decisions(HALF_UP, control=np.sqrt) == [1, -1]                 # explains, but the control explains more
    assert claim([probe(UP, HALF_UP, control=np.sqrt)]).units[0].decision == "fails"
    assert claim([probe(UP, lambda q: 1 - np.sqrt(1 - q))]).units[0].decision == "fails"   # the opposite drift
    assert claim([probe(UP, lambda q: q)]).units[0].decision == "undecided"     # predicts no drift: share 0
    # own and control each move a different random half of the draws by the truth: equally good
    even = claim([probe(UP, halves(np.sqrt, lambda q: q), control=halves(lambda q: q, np.sqrt))]).units[0]
    assert [c.decision for c in even.conditions] == [1, 0] and even.decision == "undecided"


def test_c2_reports_the_in_range_bins_and_the_control_apart():
    """Mass that leaves the range: a kernel that predicts only the leakage explains the overflow
    bins but nothing in range."""
    leaks = np.concatenate([UP[:-200], np.full(200, 1.5)])
    row = claim_c2([probe(leaks, lambda q: np.where(q > 0.9, 1.5, q))]).items.iloc[0]
    assert row["share explained (in range)"] < 0 < row["share explained"]
    assert row["control share explained"] == 0 and row["share over control"] == row["share explained"]
    lo, hi = row["share explained (in range) 95% CI"]
    assert lo <= row["share explained (in range)"] <= hi


def test_c3_counts_an_upward_shift_and_fails_a_downward_or_null_one():
    def c3(q):
        return claim_c3(pair(q, task="maze"), n_boot=300).units[0].decision
    edge = 1.96 * np.sqrt(1 / 12 / N)        # the null's upper edge of the mean shift
    assert c3(UP) == "counts"
    assert c3(DOWN) == "fails" and c3(FLAT) == "fails"
    assert c3(FLAT + edge) == "undecided"


def before_training(q, location, outside=0, baselines=None, task="t"):
    """A before-training result of observed quantities ``q`` whose declared family predicts
    ``location`` and ``outside``; ``baselines``: name -> (location, outside) of each baseline."""
    def direction(location, outside):
        return {"location": location, "outside": outside}
    return NS(entries=pair(q, task=task), predicted_direction=direction(location, outside), family="white",
              baseline_directions={k: direction(*v) for k, v in (baselines or {}).items()})


def test_c6_compares_the_predicted_direction_with_the_observation():
    def c6(q, location, outside=0):
        return claim_c6([before_training(q, location, outside)], n_boot=300).units[0].decision
    assert c6(UP, 1) == "counts" and c6(UP, -1) == "fails" and c6(DOWN, -1) == "counts"
    assert c6(FLAT, 1) == "undecided"                       # no shift: the prediction cannot be checked
    assert c6(UP, 0) == "not tested"                        # no direction predicted
    leaves_above = np.concatenate([FLAT[:-200], np.full(200, 1.5)])
    assert c6(leaves_above, 0, outside=1) == "counts" and c6(leaves_above, 0, outside=-1) == "fails"


def test_c6_needs_the_declared_families_to_beat_each_class_blind_baseline():
    """Every declared family is right; the sign test against a baseline decides the claim: a
    baseline wrong on five pairs is beaten (p = 1/32), one that is right wherever the declared
    family is cannot be, and four wins with one open pair leave the claim undecided."""
    def c6(blind):
        return claim_c6([before_training(UP, 1, baselines={"blind": b}, task=f"t{i}") for i, b in enumerate(blind)],
                        n_boot=200)
    beaten, tied, open_ = c6([(-1, 0)] * 5), c6([(1, 0)] * 5), c6([(-1, 0)] * 4 + [(0, 1)])
    assert (beaten.counted, beaten.total) == (5, 5)
    assert (beaten.baselines[0].wins, beaten.baselines[0].value) == (5, sign_test(5, 0)) and sign_test(5, 0) < ALPHA
    assert beaten.outcome == "supports" and beaten.baselines[0].decision == 1
    assert tied.baselines[0].decision == -1 and tied.outcome == "does not support"      # no skill beyond it
    t = open_.baselines[0]    # the open pair: UP leaves no mass outside, so the baseline's side is undecided
    assert (t.wins, t.losses, t.open_wins, t.open_losses) == (4, 0, 1, 0)
    assert t.interval == (sign_test(5, 0), sign_test(4, 0)) and t.decision == 0
    assert open_.outcome == "undecided" and "not beaten" in tied.sentence()
    assert c6([(-1, 0)] * 4 + [(0, 0)]).baselines[0].wins == 5     # a baseline that predicts nothing is not right


def test_a_baseline_test_moving_to_or_from_undecided_moves_the_claim_only_to_or_from_undecided():
    words = ["supports", "partly supports", "does not support", UNDECIDED, NOT_TESTED]
    for word, tests in product(words, product((1, 0, -1), repeat=2)):
        before = with_baselines(word, list(tests))
        for i, t in enumerate(tests):
            for moved in ({0} if t else {1, -1}):
                after = with_baselines(word, [moved if j == i else s for j, s in enumerate(tests)])
                assert after == before or UNDECIDED in (before, after), (word, tests, before, after)
    assert with_baselines("supports", [1, 1]) == "supports" and with_baselines("supports", []) == "supports"


def mitigation(task, reductions, model="m", tv_a=0.2):
    """One result per seed: model A with TV ``tv_a``, each intervention with TV reduced by its
    reduction."""
    return [NS(base=entry(shifted_mass(tv_a), model, task, s),
               treated={k: entry(shifted_mass(tv_a * (1 - red)), model, task, s) for k, red in reductions.items()})
            for s in SEEDS]


def c5_decisions(results):
    return [[u.decision for u in v.units] for v in claim_c5(results)]


def test_c5a_counts_a_weak_reweighting_and_fails_a_strong_one():
    assert c5_decisions(mitigation("sine", {"resample": 0.0}))[0] == ["counts"]
    assert c5_decisions(mitigation("sine", {"resample": 0.9}))[0] == ["fails"]
    assert c5_decisions(mitigation("sine", {"resample": 0.2}))[0] == ["undecided"]


def test_c5b_is_tested_on_both_sides():
    assert c5_decisions(mitigation("sine", {"condition": 0.8}))[1] == ["counts"]    # helps on a simple task
    assert c5_decisions(mitigation("sine", {"condition": 0.0}))[1] == ["fails"]
    assert c5_decisions(mitigation("maze", {"condition": 0.0}))[1] == ["counts"]    # not on an applied one
    assert c5_decisions(mitigation("maze", {"condition": 0.9}))[1] == ["fails"]
    assert c5_decisions(mitigation("maze", {"condition": 0.2}))[1] == ["undecided"]


def test_c5c_counts_the_coordinate_transform_and_shows_the_alternatives_beside_it():
    assert claims.PAPERS_INTERVENTION == "transform"
    assert c5_decisions(mitigation("cone", {"transform": 0.8}))[2] == ["counts"]
    assert c5_decisions(mitigation("cone", {"transform": 0.1}))[2] == ["fails"]
    assert c5_decisions(mitigation("cone", {"transform": 0.5}))[2] == ["undecided"]      # at CLEARLY
    # a strong alternative does not rescue a weak transform, nor a weak one sink a strong transform
    assert c5_decisions(mitigation("cone", {"transform": 0.1, "precompensate": 0.9}))[2] == ["fails"]
    assert c5_decisions(mitigation("cone", {"transform": 0.8, "precompensate": 0.0}))[2] == ["counts"]
    c = claim_c5(mitigation("cone", {"transform": 0.8, "precompensate": 0.1}) +
                 mitigation("cone", {"latent-mixture": 0.9}, model="vae"))[2]
    assert [u.decision for u in c.units] == ["counts", "not tested"] and (c.counted, c.total) == (1, 1)
    (beside,) = c.units[0].beside
    assert beside.name == "TV reduction (precompensate)" and beside.value == pytest.approx(0.1, abs=0.02)
    assert beside.interval[0] < 0.1 < beside.interval[1] < claims.CLEARLY
    row = c.items.iloc[0]
    assert row["TV reduction (precompensate), not counted"] == beside.value
    assert row["TV reduction (precompensate), not counted, 95% CI"] == list(beside.interval)
    assert c.units[1].note == "the paper's intervention (transform) not run"
    assert c.units[1].beside[0].value == pytest.approx(0.9, abs=0.02)
    text = claims.unit_details(c, ("task", "model"))
    assert text.startswith("cone / m: TV reduction (transform) +0.8") and ": counts (beside it, not counted: " \
        "TV reduction (precompensate) +0.1" in text
    assert "; cone / vae: not tested (the paper's intervention (transform) not run) (beside it" in text
    assert claim_c5(mitigation("cone", {"precompensate": 0.9}))[2].outcome == "not tested"


def test_a_verdict_shows_each_condition_with_interval_and_threshold():
    v = claim_c1(pair(shifted_mass(0.15)))
    row = v.items.iloc[0]
    lo, hi = row["TV excess over null 95% 95% CI"]
    assert lo <= row["TV excess over null 95%"] <= hi and row["decision"] == "counts"
    assert row["TV excess over null 95% threshold"] == "> 0"


STEPS = (375, 750, 1500, 3000, 6000)
REFERENCE = np.linspace(1.0, 2.0, 400)   # fresh clean trajectories' nearest-training distances


def law(tv_inf, a=0.2, b=float(scaling.EXPONENTS[20]), ratio=1.0, memorised=False, seeds=SEEDS):
    """A ``scaling.LawFit`` of checkpoints whose TV follows ``tv_inf + a (C / C_0)^-b`` exactly
    (noise-free quantities), with samples ``ratio`` times as far from the training set as fresh
    clean trajectories (``memorised``: at distance 0, copies)."""
    nearest = np.zeros_like(REFERENCE) if memorised else ratio * REFERENCE
    curves = []
    for s in seeds:
        run = scaling.Run("t", "m", s, 32, 2000, STEPS)
        curves.append([scaling.CheckpointEval(run, c, c / 1500, entry(shifted_mass(tv_inf + a * (c / STEPS[0]) ** -b),
                                                                      seed=s).drift, nearest, REFERENCE, 0.0, 0.0)
                       for c in STEPS])
    return scaling.law_fit(curves, n_boot=300, seed=1)


def test_c7_counts_a_drift_that_levels_off_and_fails_one_that_vanishes_or_is_copied():
    assert claim_c7([law(0.2)]).units[0].decision == "counts"
    vanishing = law(0.0, a=0.3, b=1.0)
    assert vanishing.tv_inf_interval[1] < NULL_Q95 and claim_c7([vanishing]).units[0].decision == "fails"
    assert claim_c7([law(0.2, memorised=True)]).units[0].decision == "fails"
    at_null = law(NULL_Q95)
    assert at_null.tv_inf_interval[0] < NULL_Q95 < at_null.tv_inf_interval[1]
    assert claim_c7([at_null]).units[0].decision == "undecided"


def test_c7_leaves_a_pair_that_is_still_implausible_untested_as_underfitting():
    unit = claim_c7([law(0.2, ratio=3.0)]).units[0]
    assert unit.decision == "not tested" and "underfitting" in unit.note
    assert unit.details["first plausible step"] == "none"
    assert law(0.2).first_plausible() == STEPS[0]
