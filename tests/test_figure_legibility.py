"""Every figure builder of the chapters (``misgen_lib.plots``) draws text a reader can read at the
book's page width: once the PNG ``figures.save`` writes is scaled to the content column
(``plots.COLUMN_PX``), no title, label, tick label or legend reads below ``plots.MIN_PT``.

The builders are fed small stand-ins for the studies' results (real tasks, priors, drifts and
location shifts; namespaces for the rest), so nothing is trained.
"""
from __future__ import annotations

from types import SimpleNamespace as NS

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import misgen_lib as mg  # noqa: E402
from misgen_lib import plots  # noqa: E402

RNG = np.random.default_rng(0)
MODELS = ("diffusion-unet", "diffusion-mlp", "transformer", "vae")


def entry(task_name: str, model: str, n: int = 60):
    task = mg.tasks.get(task_name, horizon=32)
    prior = mg.priors.named("uniform", *task.q_range)
    data_q = RNG.uniform(*task.q_range, n)
    x = task.sample(data_q, RNG)
    q_hat = data_q + 0.1 * (task.q_range[1] - task.q_range[0]) * RNG.normal(size=n)
    drift = mg.metrics.drift(q_hat, prior, bins=20, n_null=20, n_reference=500)
    crossings = RNG.integers(0, 3, n).astype(float)
    return NS(task=task, model=NS(name=model), seed=0, prior=prior, q_hat=q_hat, drift=drift, samples=x,
              data=NS(q=data_q, x=x), plausibility={"wall_crossings": crossings},
              reference_plausibility={"wall_crossings": np.zeros(n)})


class Suite:
    def __init__(self, tasks, models):
        self.config = NS(tasks=tuple(tasks), models=tuple(models), seeds=(0,), bins=20)
        self._entries = {(t, m): entry(t, m) for t in tasks for m in models}

    def get(self, task, model, seed=None):
        return self._entries[task, model]


def validation():
    return NS(correlation=0.42, correlation_null95=0.31, share_explained=0.12, ceiling=NS(share=0.55),
              correlation_in_range=0.3, share_in_range=0.05)


def probe(e):
    d = e.drift
    prediction = NS(p_tilde=d.p_hat, delta=d.delta * 0.5)
    view = NS(centers=d.centers, shift=RNG.normal(size=len(d.centers)), spread=np.ones(len(d.centers)),
              monte_carlo_delta=d.delta, continuity_delta=d.delta * 0.8, edges=d.edges, agreement=0.7)
    own = (NS(name="linear response", prediction=NS(delta=d.delta * 0.7), validation=validation())
           if e.model.name == "transformer" else None)
    return NS(entry=e, task=e.task, model=e.model.name, drift=d, prediction=prediction, validation=validation(),
              view=view, class_blind=(NS(p_tilde=d.p_star, delta=d.delta * 0.2), validation()), own=own)


def curve(task, model):
    rows = [{"depth": d, "locality": 0.02 * d, "share / ceiling": 0.1 * k, "correlation": 0.1 * k, "corr ceiling": 0.95}
            for k, d in enumerate((1, 2, 4, 8, 16, 32, 64))]
    return NS(task=task, model=model, rows=rows, budget=0.25, chosen=8)


@pytest.fixture(scope="module")
def synthetic():
    return Suite(("sine", "cone", "logistic"), MODELS)


@pytest.fixture(scope="module")
def applied():
    return Suite(("maze", "pendulum"), MODELS[::2])


def mitigation_results():
    out = []
    for t in ("cone", "maze", "pendulum"):
        e = entry(t, "diffusion-unet")
        p = e.drift.p_star
        out.append(NS(base=e, training_masses={"precompensate": p}, predicted={"precompensate": p},
                      treated={"precompensate": e, "condition": NS(**vars(e), q_condition=e.data.q)}))
    return out


def scaling_result():
    """A ``scaling.ScalingResult`` of two tasks and two classes whose TV falls with the steps."""
    from misgen_lib.studies import scaling
    steps, fits, evals = (375, 750, 1500, 3000, 6000), [], []
    for t in ("cone", "maze"):
        for m in ("diffusion-unet", "transformer"):
            curves = []
            for s in (0, 1):
                e = entry(t, m, 200)
                run = scaling.Run(t, m, s, 32, 2000, steps)
                curves.append([scaling.CheckpointEval(run, c, c / 1500, e.drift, RNG.uniform(1, 3, 50),
                                                      RNG.uniform(1, 2, 50), 1 / c, 1.2 / c) for c in steps])
            fits.append(scaling.law_fit(curves, n_boot=20))
            evals += [e for c in curves for e in c]
    return scaling.ScalingResult(NS(), evals, fits)


def drift_origin(e):
    """A stand-in of ``studies.autoregressive.DriftOrigin`` for one task."""
    prefixes, horizon = (0, 1, 2, 4, 8, 16, 31), 32
    rows = [{"prefix": p, **{f"{part}{name}": v for part in ("", "window ") for name, v in
                             (("TV", 0.3 - 0.01 * i), ("TV lo", 0.25), ("TV hi", 0.35), ("TV null 95%", 0.09))}}
            for i, p in enumerate(prefixes)]
    err = np.abs(RNG.normal(size=(3, horizon))) + 0.01
    prediction = NS(delta=e.drift.delta * 0.5)
    response = NS(validation=validation(), per_seed=[prediction] * 3, controls=[prediction] * 3,
                  resampled={"correlation": (0.5, (0.4, 0.6))})
    return NS(name=e.task.name, task=e.task, prefixes=prefixes, rows=rows, drifts={p: e.drift for p in prefixes},
              one_step_error=err, rollout_error=err * (10 + RNG.uniform(size=err.shape)), independent_error=err + 1, observed=e.drift,
              responses={1: response}, growth={t: np.exp(RNG.normal(size=(3, horizon))) for t in (1, 8, 16)},
              rounding={"median |dx| per step": np.abs(RNG.normal(size=(3, horizon))) * 1e-6,
                        "perturbation": np.full(3, 1e-6)})


def round_trip_result(e):
    """A stand-in of ``studies.round_trip.RoundTripResult``."""
    kinds = ("posterior draw", "posterior mean", "shuffled residuals", "white, same locality")
    return NS(task=e.task, drift=e.drift, binned_shift={k: RNG.normal(size=len(e.drift.centers)) for k in kinds},
              per_seed={k: [NS(delta=e.drift.delta * 0.5)] * 2 for k in kinds})


def builders(synthetic, applied):
    """Each chapter figure, built from the stand-ins: ``{name: () -> figure}``."""
    probes = [probe(synthetic.get(t, m)) for t in synthetic.config.tasks for m in MODELS]
    shift = mg.metrics.location_shift(applied.get("maze", MODELS[0]).q_hat, applied.get("maze", MODELS[0]).prior,
                                      n_boot=20)
    task_objs = {t: synthetic.get(t, MODELS[0]).task for t in synthetic.config.tasks}
    datasets = {t: synthetic.get(t, MODELS[0]).data for t in task_objs}
    drifts = {t: synthetic.get(t, MODELS[0]).drift for t in task_objs}
    priors = {t: synthetic.get(t, MODELS[0]).prior for t in task_objs}
    table = pd.DataFrame([{"task": t, "model": "diffusion-unet", "intervention": i, "TV": 0.2, "predicted TV": 0.15,
                           "TV null 95%": 0.05}
                          for t in ("cone", "maze", "pendulum") for i in ("none", "resample", "precompensate")])
    fid = pd.DataFrame({"q_c": np.linspace(0, 1, 10), "mean error": np.zeros(10), "sd": np.ones(10)})
    results = mitigation_results()
    origins_ar = [drift_origin(synthetic.get(t, "transformer")) for t in synthetic.config.tasks]
    origins = pd.DataFrame([{"task": t, "model": m, "variant": v, "TV": 0.3, "TV variant": 0.1, "TV null 95%": 0.05}
                            for t in synthetic.config.tasks for m, v in (("transformer", "first step from the data"),
                                                                         ("vae", "aggregate posterior"),
                                                                         ("vae", "latent mixture"))])
    return {
        "task_samples": lambda: plots.task_samples_figure(task_objs, datasets, 6),
        "maze_layouts": lambda: plots.maze_layouts_figure(64, 3, 0),
        "curated_histograms": lambda: plots.curated_density_figure(task_objs, datasets, drifts, priors),
        "density_grid": lambda: plots.density_grid(synthetic),
        "change_grid": lambda: plots.change_grid(synthetic),
        "sample_grid": lambda: plots.sample_grid(synthetic, 2),
        "observed_vs_predicted": lambda: plots.observed_vs_predicted_task(probes, "sine"),
        "qspace": lambda: plots.qspace_task_figure(probes, synthetic, "cone"),
        "depth_curves": lambda: plots.depth_curve_figure([curve(t, m) for t in synthetic.config.tasks for m in MODELS],
                                                         synthetic.config.tasks),
        "origins": lambda: plots.origin_figure(origins, synthetic.config.tasks),
        "applied_density_grid": lambda: plots.density_grid(applied),
        "maze_samples": lambda: plots.maze_samples_figure(applied, 3),
        "pendulum_samples": lambda: plots.pendulum_samples_figure(applied, 3),
        "location_shift": lambda: plots.location_shift_figure({m: shift for m in MODELS[::2]},
                                                              {m: shift for m in MODELS[::2]}),
        "mitigations_tv": lambda: plots.mitigation_tv_figure(table, ("cone", "maze", "pendulum"), ("diffusion-unet",),
                                                              ("reweight", "resample", "precompensate")),
        "fidelity": lambda: plots.fidelity_figure({t: (fid, r.base.task) for t, r in
                                                   zip(("cone", "maze", "pendulum"), results)}),
        "precompensation": lambda: plots.precompensation_figure(results, 0),
        "scaling": lambda: plots.scaling_figure(scaling_result(), 2.0),
        "fit_quality": lambda: plots.fit_quality_figure(scaling_result().summary(), 2.0, 0.6),
        "temperature": lambda: plots.temperature_figure(pd.DataFrame(
            [{"task": t, "seed": s, "scale": k, "TV": 0.1 + k, "distance ratio": 1 + k}
             for t in ("cone", "maze") for s in (0, 1) for k in (0.0, 0.5, 1.0)])),
        "transformer_prefix_curve": lambda: plots.prefix_curve_figure(origins_ar),
        "transformer_prefix_change": lambda: plots.prefix_change_figure(origins_ar),
        "transformer_amplification": lambda: plots.amplification_figure(origins_ar),
        "transformer_linear_response": lambda: plots.response_figure(origins_ar, start=1),
        "transformer_perturbation": lambda: plots.perturbation_figure(origins_ar),
        "vae_round_trip": lambda: plots.round_trip_figure(round_trip_result(synthetic.get("logistic", "vae"))),
    }


NAMES = ["task_samples", "maze_layouts", "curated_histograms", "density_grid", "change_grid", "sample_grid",
         "observed_vs_predicted", "qspace", "depth_curves", "origins", "applied_density_grid", "maze_samples",
         "pendulum_samples", "location_shift", "mitigations_tv", "fidelity", "precompensation", "scaling",
         "fit_quality", "temperature", "transformer_prefix_curve", "transformer_prefix_change", "transformer_amplification",
         "transformer_linear_response", "transformer_perturbation", "vae_round_trip"]


@pytest.mark.parametrize("name", NAMES)
def test_chapter_figures_are_legible_in_the_column(synthetic, applied, name):
    fig = builders(synthetic, applied)[name]()
    try:
        assert fig.get_figwidth() <= plots.PAGE_WIDTH_IN + 1e-9
        small = plots.small_texts(fig)
        assert not small, f"{name}: text below {plots.MIN_PT} pt in the book's column: {small[:8]}"
    finally:
        plt.close(fig)


def test_the_check_finds_small_text_in_a_wide_figure():
    fig, ax = plt.subplots(figsize=(14, 3))
    ax.set_title("a wide figure", fontsize=10)
    small = plots.small_texts(fig)
    plt.close(fig)
    assert [pt for text, pt in small if text == "a wide figure"][0] < plots.MIN_PT
