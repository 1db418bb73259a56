"""The claim verdicts: each rule applied to hand-made inputs where the answer is known, including
the cases where the verdict must come out negative."""
from types import SimpleNamespace as NS

import numpy as np
import pytest

import misgen_lib as mg
from misgen_lib.studies import claim_c1, claim_c2, claim_c3, claim_c4, claim_c6
from misgen_lib.studies.claims import CLAIMS, RULES

PRIOR = mg.priors.Uniform(0.0, 1.0)
RNG = np.random.default_rng(0)
CLEAN = mg.metrics.drift(RNG.uniform(0, 1, 2000), PRIOR, bins=10, n_null=100, seed=1)
DRIFTED = mg.metrics.drift(RNG.beta(4, 1, 2000), PRIOR, bins=10, n_null=100, seed=1)


def entry(drift, ratio, model="m", task="t", seed=0):
    return NS(task=NS(name=task), model=NS(name=model), seed=seed, drift=drift, distance_ratio=ratio)


def validation(corr, null95=0.4, sign=0.9):
    return NS(correlation=corr, correlation_null95=null95, sign_agreement=sign, n_beyond_null=5,
              share_explained=0.5)


def test_every_claim_has_its_rule_declared():
    assert set(CLAIMS) == set(RULES)


def test_c1_needs_both_drift_above_the_null_and_plausible_samples():
    assert claim_c1([entry(DRIFTED, 1.2), entry(DRIFTED, 1.5, model="n")]).outcome == "supports"
    partly = claim_c1([entry(DRIFTED, 1.2), entry(DRIFTED, 3.0, model="n")], plausible_factor=2.0)
    assert partly.outcome == "partly supports" and (partly.passed, partly.total) == (1, 2)
    assert claim_c1([entry(CLEAN, 1.0)]).outcome == "does not support"      # no drift
    assert claim_c1([entry(DRIFTED, 5.0)]).outcome == "does not support"    # implausible samples
    assert "1 of 2" in partly.sentence()


def test_c2_counts_only_plausible_pairs_and_needs_correlation_and_sign():
    def result(corr, sign, ratio):
        return NS(entry=entry(DRIFTED, ratio), validations={"k": validation(corr, sign=sign)},
                  distance_ratio=ratio, seed_label=0)
    assert claim_c2([result(0.9, 0.9, 1.0)], "k").outcome == "supports"
    assert claim_c2([result(0.3, 0.9, 1.0)], "k").outcome == "does not support"   # within noise
    assert claim_c2([result(0.9, 0.4, 1.0)], "k").outcome == "does not support"   # wrong signs
    v = claim_c2([result(0.9, 0.9, 1.0), result(0.1, 0.1, 9.0)], "k")
    assert (v.passed, v.total) == (1, 1)                                           # implausible left out
    assert claim_c2([result(0.9, 0.9, 9.0)], "k").outcome == "not tested"
    assert claim_c4([result(0.9, 0.9, 9.0)], "k").outcome == "supports"           # C4: no plausibility filter


def test_c3_needs_both_statistics_above_their_null():
    up = mg.metrics.location_shift(RNG.beta(3, 1, 2000), PRIOR, n_boot=200, seed=0)
    down = mg.metrics.location_shift(RNG.beta(1, 3, 2000), PRIOR, n_boot=200, seed=0)
    none = mg.metrics.location_shift(RNG.uniform(0, 1, 2000), PRIOR, n_boot=200, seed=0)
    assert claim_c3({"a": up}).outcome == "supports"
    v = claim_c3({"a": up, "b": down, "c": none})
    assert v.outcome == "partly supports" and list(v.items["direction"]) == ["upward", "downward",
                                                                             "no clear shift"]
    assert claim_c3({"b": down, "c": none}).outcome == "does not support"


def test_c6_compares_the_directions_the_observation_shows():
    def result(obs, pred):
        return NS(entry=entry(DRIFTED, 1.0), seed_label="0+1", family="white", observed_direction=obs,
                  predicted_direction=pred)
    up, down = {"location": 1, "outside": 1}, {"location": -1, "outside": -1}
    assert claim_c6([result(up, up)]).outcome == "supports"
    assert claim_c6([result(up, down)]).outcome == "does not support"
    # only the components beyond the null count; a pair with none is not tested
    partial = claim_c6([result({"location": 1, "outside": 0}, {"location": 1, "outside": -1}),
                        result({"location": 0, "outside": 0}, down)])
    assert (partial.passed, partial.total) == (1, 1)
    assert claim_c6([result({"location": 0, "outside": 0}, up)]).outcome == "not tested"


def test_c5_rules_on_an_outcome_table():
    import pandas as pd
    from misgen_lib.studies.claims import claim_c5

    def rows(task, reductions, null=0.02, tv_a=0.2):
        return [{"task": task, "model": "m", "seed": 0, "intervention": k, "TV": tv_a * (1 - red),
                 "TV null 95%": null, "TV reduction": red} for k, red in reductions.items()]
    fails = pd.DataFrame(rows("sine", {"none": 0.0, "resample": 0.1, "condition": 0.5, "precompensate": 0.7})
                         + rows("maze", {"none": 0.0, "resample": 0.05, "condition": 0.1, "precompensate": 0.6}))
    a, b, c = claim_c5(fails)
    assert [v.outcome for v in (a, b, c)] == ["supports", "supports", "supports"]
    works = pd.DataFrame(rows("sine", {"none": 0.0, "resample": 0.95, "condition": 0.05, "precompensate": 0.2}))
    a, b, c = claim_c5(works)
    assert [v.outcome for v in (a, b, c)] == ["does not support"] * 3
    applied_fixed = pd.DataFrame(rows("maze", {"none": 0.0, "condition": 0.95}))
    assert claim_c5(applied_fixed)[1].outcome == "does not support"   # conditioning removed it on an applied task
    # C5c takes each entry's own informed fix; two for one entry is an error
    by_class = pd.DataFrame(rows("cone", {"none": 0.0, "precompensate": 0.6})
                            + [{**r, "model": "vae"} for r in rows("cone", {"none": 0.0, "latent-mixture": 0.3})])
    c = claim_c5(by_class)[2]
    assert list(c.items["fix"]) == ["precompensate", "latent-mixture"] and (c.passed, c.total) == (1, 2)
    with pytest.raises(ValueError, match="one informed fix per entry"):
        claim_c5(pd.DataFrame(rows("cone", {"none": 0.0, "precompensate": 0.6, "first-step": 0.1})))
