"""Where an autoregressive model makes its drift (``misgen_lib.studies.autoregressive``): the
prefix grid and the window rule on clean data, the perturbation machinery on a linear model
whose propagation is known exactly, the half-drift prefix and the target verdicts on
constructed results, and the whole study on a tiny transformer (its shapes and glued values)."""
from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np
import pytest
import torch

import misgen_lib as mg
from misgen_lib.studies import autoregressive as ar
from misgen_lib.studies import chapters
from test_linear_response import D, T, LinearGaussianAR


def test_prefix_grid_is_a_log_grid_from_free_samples_to_the_last_step():
    assert ar.prefix_grid(64) == (0, 1, 2, 4, 8, 16, 32, 63)
    assert ar.prefix_grid(16) == (0, 1, 2, 4, 8, 15)
    with pytest.raises(ValueError, match="horizon"):
        ar.prefix_grid(1)


def test_windows_are_measured_only_where_clean_windows_recover_their_quantity():
    rng = np.random.default_rng(0)
    for name, measurable in (("sine", True), ("logistic", True), ("cone", False)):
        task = mg.tasks.get(name)
        clean = task.curate(200, prior=mg.priors.Uniform(*task.q_range), seed=1).x
        assert ar.window_measurable(task, clean, 8) is measurable, name
    sine = mg.tasks.get("sine")
    clean = sine.curate(50, prior=mg.priors.Uniform(*sine.q_range), seed=rng.integers(100)).x
    assert not ar.window_measurable(sine, clean, sine.horizon - 2)   # two steps: no recurrence


def test_an_injected_perturbation_follows_the_linear_models_propagator():
    """On a linear model the rollouts with and without a perturbation at step t0, on the same
    noise, differ by exactly the propagator's column: ``(I - A)^{-1}`` applied to it."""
    net = LinearGaussianAR()
    z = torch.as_tensor(np.random.default_rng(2).normal(size=(3, T, D)))
    t0, delta = 4, torch.as_tensor(np.random.default_rng(3).normal(size=(3, D))) * 1e-6
    base = ar._split_rollout(net, z[:, :1], t0, T, seed=7)
    moved = ar._split_rollout(net, z[:, :1], t0, T, seed=7, delta=delta)
    injected = torch.zeros(3, T * D, dtype=torch.float64)
    injected[:, t0 * D:(t0 + 1) * D] = delta
    expected = torch.linalg.solve(torch.eye(T * D, dtype=torch.float64) - net.A, injected.T).T
    np.testing.assert_allclose((moved - base).reshape(3, -1).numpy(), expected.numpy(), atol=1e-15, rtol=1e-8)
    assert torch.equal(base[:, :t0], moved[:, :t0])


def rows(excess, null95=0.05):
    return [{"prefix": p, "TV": e + 0.03, "TV null 95%": null95, "excess": e} for p, e in zip((0, 1, 2, 4, 8), excess)]


def test_half_prefix_names_the_shortest_clean_start_that_halves_the_drift():
    assert ar.half_prefix(NS(rows=rows([0.4, 0.3, 0.25, 0.2, 0.1]), name="t")) == 4
    assert ar.half_prefix(NS(rows=rows([0.4, 0.1, 0.1, 0.1, 0.1]), name="t")) == 1
    assert ar.half_prefix(NS(rows=rows([0.4, 0.4, 0.4, 0.4, 0.3]), name="t")) == 9     # none: beyond the grid
    assert np.isnan(ar.half_prefix(NS(rows=rows([0.01, 0.0, 0.0, 0.0, 0.0]), name="t")))   # within the null
    with pytest.raises(ValueError, match="prefix 0"):
        ar.half_prefix(NS(rows=rows([0.4, 0.1])[1:], name="t"))


def response(corr_ci, share_ci, ceiling=0.5):
    return NS(name="toy", responses={1: NS(resampled={"correlation": (np.mean(corr_ci), corr_ci),
                                                        "share_explained": (np.mean(share_ci), share_ci)},
                                           validation=NS(ceiling=NS(share=ceiling)))})


def test_the_targets_count_fail_or_stay_undecided_on_their_intervals():
    assert chapters.target_verdict(response((0.85, 0.95), (0.35, 0.45)), 1).count("(met)") == 2
    missed = chapters.target_verdict(response((0.3, 0.5), (0.0, 0.1)), 1)
    assert "missed by 0.30" in missed and "missed by 0.40" in missed
    assert chapters.target_verdict(response((0.7, 0.9), (0.25, 0.35)), 1).count("undecided") == 2
    assert "undefined" in chapters.target_verdict(response((0.7, 0.9), (0.2, 0.3), ceiling=0.0), 1)


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    import os
    old = os.environ.get("MISGEN_CACHE_DIR")
    os.environ["MISGEN_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    try:
        cfg = mg.studies.SuiteConfig(tasks=("sine", "cone"), models=("transformer",), n_train=100, train_steps=5,
                                     width=8, n_samples=100, seeds=(0, 1), n_null=20, workers=1,
                                     task_params={"sine": {"horizon": 24}, "cone": {"horizon": 24}})
        suite = mg.studies.run_suite(cfg, progress=False)
        yield ar.transformer_study(suite, n_curve=60, n_predict=60, n_perturb=10, n_check=4, n_rollouts=8,
                                   n_boot=20, workers=1, progress=False)
    finally:
        if old is None:
            os.environ.pop("MISGEN_CACHE_DIR")
        else:
            os.environ["MISGEN_CACHE_DIR"] = old


def test_the_study_on_a_tiny_transformer(tiny_study):
    sine, cone = tiny_study
    assert sine.prefixes == ar.prefix_grid(24) and [r["prefix"] for r in sine.rows] == list(sine.prefixes)
    assert set(sine.window_drifts) == {0, 1, 2, 4, 8, 16} and set(cone.window_drifts) == {0}
    for r in tiny_study:
        for row in r.rows:
            assert row["TV lo"] <= row["TV"] <= row["TV hi"] and row["TV null 50%"] <= row["TV null 95%"]
        assert r.one_step_error.shape == r.rollout_error.shape == (2, 24)
        assert set(r.responses) == set(ar.STARTS) and set(r.growth) == set(ar.injection_steps(24))
        res = r.responses[1]
        assert len(res.per_seed) == len(res.controls) == 2 and np.isfinite(res.validation.correlation)
        assert np.allclose([p.p_tilde.sum() for p in res.per_seed], 1.0)
        assert r.rounding["median |dx| per step"].shape == (2, 24)
    for table in (ar.prefix_table, ar.amplification_table, ar.response_table, ar.perturbation_table, ar.rounding_table):
        assert len(table(tiny_study)) > 0


def test_the_chapters_glued_values_are_all_there(tiny_study):
    import re
    from conftest import REPO
    facts = {**chapters.transformer_drift_facts(tiny_study), "round_trip_task": "", "round_trip_shift": "", "round_trip_tv": "",
             "round_trip_kernel": "", "round_trip_regimes": "", "onset_of_chaos": ""}   # the round trip's values: test_round_trip_study_on_a_tiny_vae
    names = set(re.findall(r"\{glue:text\}`([a-z_0-9]+)", (REPO / "notebooks" / "08_transformer_drift.md").read_text()))
    assert names <= set(facts), sorted(names - set(facts))
    assert "cone" in facts["window_not_measurable"] and "sine" not in facts["window_not_measurable"]


class NoisyCopy:
    """A stand-in VAE whose round trip adds independent noise of a known size."""
    name, conditional = "vae", False

    def perturb(self, x, depth, mode, seed):
        return x + 0.05 * np.random.default_rng(seed).normal(size=x.shape)


def test_round_trip_kinds_keep_the_errors_size_and_shuffle_them():
    from misgen_lib.kernel import locality_index
    from misgen_lib.studies import round_trip as rt
    task = mg.tasks.get("logistic")
    clean = task.curate(400, prior=mg.priors.Uniform(*task.q_range), seed=0).x.astype(float)
    trips = rt.round_trips(NoisyCopy(), clean, seed=1)
    assert list(trips) == list(rt.KINDS)
    draw = trips["posterior draw"] - clean
    shuffled = trips["shuffled residuals"] - clean
    np.testing.assert_allclose(np.sort(shuffled.ravel()), np.sort(draw.ravel()))
    assert not np.allclose(shuffled, draw)
    loc = locality_index(clean, trips["posterior draw"])
    assert locality_index(clean, trips["white, same locality"]) == pytest.approx(loc, rel=0.05)
    # independent noise of one size moves r the same way, tied to the trajectory or not
    q = {k: np.asarray(task.measure(x), float) - np.asarray(task.measure(clean), float) for k, x in trips.items()}
    assert q["posterior draw"].mean() < 0 and q["shuffled residuals"].mean() == pytest.approx(
        q["posterior draw"].mean(), abs=0.02)


def test_round_trip_study_on_a_tiny_vae(tmp_path, monkeypatch):
    from misgen_lib.studies import round_trip as rt
    monkeypatch.setenv("MISGEN_CACHE_DIR", str(tmp_path))
    cfg = mg.studies.SuiteConfig(tasks=("logistic",), models=("vae",), n_train=100, train_steps=5, width=8,
                                 n_samples=100, seeds=(0, 1), n_null=20, workers=1,
                                 task_params={"logistic": {"horizon": 24}})
    result = rt.round_trip_study(mg.studies.run_suite(cfg, progress=False), n=80, n_boot=20)
    table = rt.round_trip_table(result)
    assert list(table["round trip"]) == list(rt.KINDS) and table["correlation"].notna().all()
    assert all(len(v) == 2 for v in result.per_seed.values())
    assert set(chapters.round_trip_facts(result)) == {"round_trip_task", "round_trip_shift", "round_trip_tv",
                                                "round_trip_kernel", "round_trip_regimes", "onset_of_chaos"}
    with pytest.raises(ValueError, match="VAEs on 'sine'"):
        rt.round_trip_study(mg.studies.run_suite(cfg, progress=False), task="sine")
