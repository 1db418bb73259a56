"""The scaling study's pieces where the truth is known: the checkpointed runs' schedule does not
depend on the run's length, the memorisation index of copies, fresh draws and noisy samples, the
saturating law's fit, the temperature wrapper and the study's grid."""
import numpy as np
import pytest
import torch

import misgen_lib as mg
from misgen_lib.cache import ArtifactStore
from misgen_lib.models import checkpoints, training
from misgen_lib.models.base import Normaliser, get_class, make_config
from misgen_lib.studies import scaling


def test_the_schedule_is_warm_up_then_constant_whatever_the_length():
    cfg = make_config("transformer", {"train_steps": 50, "warmup_steps": 10, "lr": 1e-3})
    flat = checkpoints.constant_rate(cfg)
    rates = [training.learning_rate(s, flat) for s in (*range(10), 10, 49, 50, 10 ** 4, 10 ** 6)]
    assert rates[:10] == pytest.approx([1e-3 * (s + 1) / 10 for s in range(10)])
    assert all(r == 1e-3 for r in rates[10:])
    assert training.learning_rate(49, cfg) < 0.2e-3   # the book's schedule decays over its length


@pytest.fixture(scope="module")
def tiny():
    task = mg.tasks.get("sine", horizon=24)
    prior = mg.priors.Uniform(*task.q_range)
    data, heldout = task.curate(40, prior=prior, seed=0), task.curate(20, prior=prior, seed=1)
    cfg = make_config("transformer", {"width": 8, "batch_size": 8, "warmup_steps": 2})
    norm = Normaliser.fit(data.x, None)
    return cfg, norm.encode_x(data.x), norm.encode_x(heldout.x), data, heldout


def test_a_checkpoint_is_the_model_a_shorter_run_gives(tiny):
    cfg, x, h, _, _ = tiny
    mc = get_class("transformer")
    long, long_losses = checkpoints.train_checkpoints(mc, cfg, x, h, seed=3, steps=(4, 9), n_eval=10, progress=False)
    short, short_losses = checkpoints.train_checkpoints(mc, cfg, x, h, seed=3, steps=(4,), n_eval=10, progress=False)
    assert all(torch.equal(long[4][k], short[4][k]) for k in short[4])
    assert not all(torch.equal(long[4][k], long[9][k]) for k in short[4])
    assert long_losses["train"][:4] == short_losses["train"]
    assert long_losses["eval_heldout"][0] == short_losses["eval_heldout"][0]


def test_fit_checkpoints_caches_one_run_and_samples_each_checkpoint(tiny, tmp_path):
    cfg, _, _, data, heldout = tiny
    store = ArtifactStore(tmp_path)
    models = checkpoints.fit_checkpoints("transformer", data, heldout, cfg, seed=0, steps=(2, 5), n_eval=10,
                                         store=store, progress=False)
    again = checkpoints.fit_checkpoints("transformer", data, heldout, cfg, seed=0, steps=(2, 5), n_eval=10,
                                        store=store, progress=False)
    assert sorted(models) == [2, 5] and models[5].config.train_steps == 5
    assert len(models[5].history["loss"]) == 5 and len(models[2].history["loss"]) == 2
    assert models[2].key != models[5].key
    np.testing.assert_array_equal(models[5].sample(4, seed=1), again[5].sample(4, seed=1))
    assert len(list((tmp_path / checkpoints.ARTIFACT_KIND).iterdir())) == 1


def test_the_memorisation_index_of_copies_fresh_draws_and_noisy_samples():
    task = mg.tasks.get("cone")
    prior = mg.priors.Uniform(*task.q_range)
    train = task.curate(300, prior=prior, seed=0).x
    reference = mg.metrics.nearest_clean(task.curate(300, prior=prior, seed=1).x, train)[1]

    def index(samples):
        return scaling.memorisation_scores(mg.metrics.nearest_clean(samples, train)[1], reference).mean()
    fresh = task.curate(300, prior=prior, seed=2).x
    assert index(train) == 1.0
    assert index(fresh) == pytest.approx(0.5, abs=0.08)
    assert index(fresh + 0.2 * np.random.default_rng(0).normal(size=fresh.shape)) < 0.1
    half = np.concatenate([train[:150], fresh[:150]])
    assert index(half) == pytest.approx(0.75, abs=0.08)   # 0.5 + c / 2 with c = 1/2 copied


def test_ties_count_one_half():
    r = np.linspace(1.0, 2.0, 101)
    assert scaling.memorisation_scores(r, r).mean() == pytest.approx(0.5)


@pytest.mark.parametrize("tv_inf, a, b", [(0.1, 0.3, scaling.EXPONENTS[20]), (0.0, 0.2, scaling.EXPONENTS[35]),
                                          (0.25, 0.0, 1.0)])
def test_the_law_recovers_a_known_curve(tv_inf, a, b):
    steps = np.array([375, 750, 1500, 3000, 6000])
    fitted = scaling.fit_law(steps, tv_inf + a * (steps / 375) ** -b)
    assert fitted[0] == pytest.approx(tv_inf, abs=1e-6) and fitted[1] == pytest.approx(a, abs=1e-6)
    if a:
        assert fitted[2] == pytest.approx(b)


def test_a_rising_curve_levels_at_its_mean():
    steps = np.array([1, 2, 4, 8])
    tv_inf, a, _ = scaling.fit_law(steps, np.array([0.1, 0.2, 0.3, 0.4]))
    assert a == 0 and tv_inf == pytest.approx(0.25)


def test_temperature_zero_samples_the_mean_and_one_the_model(tiny, tmp_path):
    cfg, _, _, data, _ = tiny
    model = mg.models.fit("transformer", data, cfg.replace(train_steps=3), seed=0, progress=False,
                          store=ArtifactStore(tmp_path))
    np.testing.assert_array_equal(scaling.tempered(model, 1.0).sample(5, seed=2), model.sample(5, seed=2))
    cold = scaling.tempered(model, 0.0)
    np.testing.assert_array_equal(cold.sample(5, seed=2), cold.sample(5, seed=9))   # deterministic
    assert not np.array_equal(scaling.tempered(model, 0.5).sample(5, seed=2), model.sample(5, seed=2))
    with pytest.raises(ValueError, match="scale >= 0"):
        scaling.tempered(model, -1.0)


def test_the_grid_is_multiples_of_each_pairs_budget():
    cfg = scaling.ScalingConfig("default", factors="0.25,0.5,1,2,4", width_factors="2", n_train_factors="4",
                                size_factor=1, size_seeds=0)
    assert cfg.steps("diffusion-unet", "cone") == (375, 750, 1500, 3000, 6000)
    assert cfg.steps("transformer", "maze") == (250, 500, 1000, 2000, 4000)   # the applied tasks' 2/3
    runs = cfg.runs()
    assert {(r.width, r.n_train) for r in runs} == {(32, 2000), (64, 2000), (32, 8000)}
    assert all(r.steps[-1] == cfg.budget(r.model, r.task) for r in runs if (r.width, r.n_train) != (32, 2000))
    with pytest.raises(ValueError, match="factors"):
        scaling.ScalingConfig("ci", factors="0,1")
    with pytest.raises(ValueError, match="unknown task"):
        scaling.ScalingConfig("ci", size_tasks="sine")


def test_the_study_trains_each_run_once_and_fits_each_pair(tmp_path):
    cfg = scaling.ScalingConfig("ci", tasks="sine", models="transformer", factors="0.5,1", width_factors="2",
                                n_train_factors="", size_tasks="sine", size_factor=0.5, size_seeds=1, n_samples=40, n_eval=20, workers=1)
    store = ArtifactStore(tmp_path)
    result = scaling.run_scaling(cfg, store=store, progress=False)
    runs = list((tmp_path / checkpoints.ARTIFACT_KIND).iterdir())
    assert len(runs) == 3                                       # two seeds, one more width at one seed
    assert [len(f.curves) for f in result.fits] == [2] and list(result.fits[0].steps) == [10, 20]
    assert set(result.table()["width"]) == {8, 16} and len(result.table()) == 2 * 2 + 1
    again = scaling.run_scaling(cfg, store=store, progress=False)
    assert list((tmp_path / checkpoints.ARTIFACT_KIND).iterdir()) == runs
    assert again.table().equals(result.table())
    assert len(result.base_summary()) == 2 and result.laws()["largest step"].tolist() == [20]
