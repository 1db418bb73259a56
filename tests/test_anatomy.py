"""Where the drift is made, on a case whose answer is known: a toy model class whose probe at
depth ``d`` scales a trajectory by ``1 + A d / D`` (``D``: its deepest depth) and whose samples
are clean trajectories scaled by ``1 + A``, on a task whose quantity is the trajectory's RMS. The
whole-process probe then is the model's sampler: it must explain the drift up to the noise
ceiling, the shallow probe must explain little, the locality must be ``A d / D`` and the declared
rule must pick the deepest depth within its budget."""
import numpy as np
import pytest
import torch

import misgen_lib as mg
from kernel_toy_task import scaled_entries
from misgen_lib.cache import ArtifactStore
from misgen_lib.kernel.predict import clean_draws
from misgen_lib.models.base import ModelClass
from misgen_lib.studies import anatomy, kernel_study

A, DEEPEST = 0.4, 8


class ToyScale(ModelClass):
    """Probe: ``z * (1 + A depth / DEEPEST)``; no training (the test builds the model)."""
    name = "toy-scale-anatomy"
    probe_modes = ("scale",)

    def build(self, cfg, horizon, dim, conditional):
        return torch.nn.Identity()

    def max_probe_depth(self, cfg, horizon):
        return DEEPEST

    def perturb(self, net, z, depth, q, cfg, generator, mode):
        return z * (1 + A * depth / DEEPEST)

    def probe_is_sampler(self, cfg):
        return True     # at the deepest depth the probe scales by 1 + A, as the samples are


@pytest.fixture(scope="module")
def entries():
    mg.models.register(ToyScale)
    try:
        yield scaled_entries(ToyScale.name, A, seeds=(0, 1), n_train=500, n_samples=1500, n_null=100)
    finally:        # the registry as it was: other tests list the built-in classes
        mg.models.base._REGISTRY.pop(ToyScale.name)


def test_the_whole_process_explains_the_drift_and_the_shallow_probe_little(entries):
    (curve,) = anatomy.depth_curves(entries, n_predict=2000, n_boot=20, workers=1, progress=False)
    rows = {r["depth"]: r for r in curve.rows}
    assert list(rows) == [1, 2, 4, 8]
    for depth, r in rows.items():    # the locality of a scaling by 1 + A d / D is A d / D
        assert r["locality"] == pytest.approx(A * depth / DEEPEST, rel=0.02)
    assert rows[8]["share / ceiling"] > 0.85 and rows[8]["correlation"] > 0.9
    assert rows[1]["share / ceiling"] < 0.5 < rows[8]["share / ceiling"]
    # the declared rule: the deepest depth whose locality is within the budget (0.25: depth 4)
    assert curve.budget == mg.kernel.LOCALITY_BUDGET and curve.chosen == 4
    assert curve.locality_at(0.5) < curve.locality_at(0.8) <= rows[8]["locality"]
    assert np.isnan(curve.locality_at(2.0))
    table = anatomy.curve_table([curve])
    assert table.loc[0, "chosen depth"] == 4 and table.loc[0, "seeds"] == 2


def test_the_sampler_as_probe_reaches_the_calibrated_ceiling(entries):
    """The positive control: the deepest probe is the sampler, a perfect predictor up to its own
    draw noise, so share / ceiling reaches 1 within its interval."""
    (curve,) = anatomy.depth_curves(entries, n_predict=2000, n_boot=200, workers=1, progress=False)
    assert curve.sampler
    (row,) = anatomy.positive_control([curve]).to_dict("records")
    lo, hi = row["95% CI"]
    assert row["depth"] == DEEPEST and row["control"] == anatomy.REACHES and row["short by"] == 0
    assert lo < 1 <= hi and 0.8 < row["share / ceiling"] < 1.2
    assert row["share explained"] == pytest.approx(curve.rows[-1]["share explained"], abs=0.01)


def test_the_positive_control_falls_short_by_the_distance_of_its_interval_from_1():
    def curve(share, interval, ceiling=0.8, sampler=True):
        return anatomy.DepthCurve("t", "m", 3, [{"depth": 64, "locality": 1.4, "share ceiling": ceiling}], 0.25,
                                  (share, interval), sampler)
    table = anatomy.positive_control([curve(0.6, (0.56, 0.72)), curve(0.78, (0.7, 0.86)), curve(0.9, (0.85, 0.95)),
                                      curve(0.1, (0.0, 0.2), ceiling=-0.1), curve(0.8, (0.7, 0.9), sampler=False)])
    assert list(table.control) == [anatomy.FALLS_SHORT, anatomy.REACHES, anatomy.REACHES, anatomy.NO_CEILING]
    assert table["short by"].tolist() == pytest.approx([0.1, 0, 0, 0])
    assert table["95% CI"][0] == pytest.approx([0.7, 0.9])


def test_deepest_local_picks_by_locality_alone(entries):
    e = entries[0]
    clean = clean_draws(e.task, e.prior, 300, 5)
    choice = mg.kernel.deepest_local(e.model, clean, budget=0.15)
    assert choice.depths == [1, 2, 4, 8] and choice.depth == 2
    assert mg.kernel.deepest_local(e.model, clean, budget=0.01).depth == 1     # none within: the shallowest
    with pytest.raises(ValueError, match="budget must be a locality index > 0, got -1"):
        mg.kernel.deepest_local(e.model, clean, budget=-1)


def test_process_depths_span_each_class_from_local_to_whole():
    for name, expected in {"diffusion-unet": (1, 2, 4, 8, 16, 32, 64), "transformer": (1, 2, 4, 8, 16, 32, 48, 56, 60, 62, 63),
                           "vae": (1, 2, 4, 8, 16)}.items():
        assert mg.models.get_class(name).process_depths(mg.models.make_config(name), 64) == expected


def test_the_rule_stops_at_the_first_depth_beyond_the_budget():
    assert mg.kernel.within_budget([1, 2, 4, 8], [0.1, 0.2, 0.3, 0.2], 0.25) == 2   # not 8: it stops at 4
    assert mg.kernel.within_budget([1, 2], [0.5, 0.1], 0.25) == 1                   # none within: the shallowest
    assert mg.kernel.within_budget([1, 2, 4], [0.1, np.nan, 0.1], 0.25) == 1        # NaN is not within


def test_the_process_grid_spans_every_class_from_one_step(entries):
    task = mg.tasks.get("sine")
    data = task.curate(100, seed=0)
    for name, last in (("transformer", task.horizon - 1), ("vae", 16), ("diffusion-mlp", 64)):
        model = mg.models.fit(name, data, config={"train_steps": 1, "width": 8}, seed=0, progress=False)
        depths = mg.kernel.process_depths(model)
        assert depths[0] == 1 and depths[-1] == last and list(depths) == sorted(set(depths))
        assert {2, 4, 8, 16} <= set(depths)
    assert mg.kernel.process_depths(entries[0].model) == (1, 2, 4, 8)


def test_a_probe_prediction_is_cached_and_rebuilt_to_the_same_numbers(entries, tmp_path, monkeypatch):
    e, store = entries[0], ArtifactStore(tmp_path)
    clean = clean_draws(e.task, e.prior, 300, seed=5)
    first = kernel_study.probe_prediction(e, 4, clean, seed=3, store=store)
    direct = mg.kernel.predict(e.task, mg.kernel.probe(e.model, 4, task=e.task), e.prior, clean=clean, seed=3,
                               bins=len(e.drift.edges) - 1, progress=False)

    def unused(*args, **kwargs):
        raise AssertionError("a cached prediction pushed trajectories through the model")
    monkeypatch.setattr(ToyScale, "perturb", unused)
    again = kernel_study.probe_prediction(e, 4, clean, seed=3, store=store)
    for p in (first, again):
        for field in ("edges", "p_star", "delta", "contributions", "q_clean", "q_pred"):
            np.testing.assert_array_equal(getattr(p, field), getattr(direct, field))
        assert p.locality == direct.locality and p.kernel == direct.kernel and p.method == "monte-carlo"
    for other in ({"depth": 2, "clean": clean, "seed": 3}, {"depth": 4, "clean": clean[:200], "seed": 3},
                  {"depth": 4, "clean": clean, "seed": 4}):   # another depth, draws or seed: not a cache hit
        with pytest.raises(AssertionError, match="pushed trajectories"):
            kernel_study.probe_prediction(e, store=store, **other)
