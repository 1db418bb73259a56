"""How each chapter of the book states its studies' results: the values a chapter glues into
its text (``*_facts`` functions returning ``{glue name: value}``; the "at a glance" box's numbers
among them) and the few summary tables it shows, so that a chapter holds only its study calls and
one call per figure and table.

    facts = chapters.misgeneralization_facts(suite, c1)
    chapters.glue_all(facts)          # in a hidden cell; the text reads {glue:text}`c1_verdict`

Nothing here computes: the functions read results that the study modules computed (``suite``,
``tasks_study``, ``kernel_study``, ``anatomy``, ``origins``, ``mitigation_study``, ``scaling``,
``autoregressive``, ``round_trip``, ``claims``) and summarise them. ``tests/test_chapter_glue.py`` checks each chapter's glued names
against what its notebook reads.
"""
from __future__ import annotations

import numpy as np

from . import autoregressive, claims, round_trip
from .kernel_study import ci_text, share_over_ceiling
from .tasks_study import TasksStudy, balanced_tasks


def glue_all(facts: dict) -> None:
    """Glue every value of ``facts`` under its name, without displaying it (myst-nb)."""
    from myst_nb import glue
    for name, value in facts.items():
        glue(name, value, display=False)


def _median(values) -> float:
    """pandas' median (NaN left out; NaN when empty)."""
    import pandas as pd
    return float(pd.Series(values, dtype=float).median())


def _listing(pairs) -> str:
    return "; ".join(pairs) or "none"


def _untested_pairs(*verdicts) -> str:
    """The task x model pairs that ``verdicts`` leave untested (their samples not plausible: the
    models are underfit), listed."""
    return _listing(f"{u.keys['task']} / {u.keys['model']}" for v in verdicts for u in v.units if not u.tested)


# --- chapter 01: tasks and curated datasets ----------------------------------------------------------

def tasks_facts(study: TasksStudy) -> dict:
    """Chapter 01's glued values: the measurement check, the curated datasets against their null,
    the cost of bin-balancing (``<task>_n_raw``, ``<task>_acceptance``) of each task that curates
    by it (``tasks_study.balanced_tasks``: the maze; "n/a" when not shown)."""
    check, fit = study.check, study.fit
    facts = {"all_within_tolerance": "all" if check["within tolerance"].all() else "not all",
             "n_within_tolerance": int(check["within tolerance"].sum()),
             "max_error_ratio": float((check["max |m(g(q, xi)) - q|"] / check["tolerance"]).max()),
             "n_inside_null": int(fit["inside null"].sum()), "n_tasks": len(fit),
             "median_fit_tv": float(fit["TV"].median()), "median_fit_tv_null": float(fit["TV null 95%"].median())}
    for name in balanced_tasks():
        info = study.datasets[name].info if name in study.datasets else None
        facts.update({f"{name}_n_raw": int(info["n_raw"]) if info else "n/a",
                      f"{name}_acceptance": float(100 * info["acceptance"]) if info else float("nan")})
    return facts


# --- chapter 02: the suite and claim C1 -------------------------------------------------------------

def misgeneralization_facts(suite, c1) -> dict:
    """Chapter 02's glued values: how many entries drift beyond their null, how plausible their
    samples are, and C1's verdict."""
    table = suite.table()
    above, plausible = table["TV above null"], table["distance ratio"] <= claims.PLAUSIBLE_FACTOR
    tv_ratio = table["TV"] / table["TV null 95%"]
    beyond_bins = np.array([e.drift.beyond_null().sum() for e in suite])
    worst, least = table.loc[table["TV"].idxmax()], table.loc[table["TV"].idxmin()]
    return {
        **claims.verdict_facts(c1),
        "n_pairs": len(table), "n_tv_above_null": int(above.sum()),
        "n_w1_above_null": int((table["W1"] > table["W1 null 95%"]).sum()),
        "n_plausible": int(plausible.sum()), "n_both": int((above & plausible).sum()),
        "median_tv": float(table["TV"].median()), "median_tv_null": float(table["TV null 95%"].median()),
        "median_tv_ratio": float(tv_ratio.median()), "min_tv_ratio": float(tv_ratio.min()),
        "worst_pair": f"{worst['task']} / {worst['model']}", "worst_tv": float(worst["TV"]),
        "least_pair": f"{least['task']} / {least['model']}", "least_tv": float(least["TV"]),
        "median_beyond_bins": float(np.median(beyond_bins)), "n_bins_total": suite.config.bins + 2,
        "median_rel_distance": float(table["relative distance (samples)"].median()),
        "median_rel_distance_clean": float(table["relative distance (clean)"].median()),
        "plausible_factor": claims.PLAUSIBLE_FACTOR,
        "median_distance_ratio": float(table["distance ratio"].median()),
        "n_model_classes_above": len(set(table.loc[above, "model"])),
        "n_model_classes": len(suite.config.models),
        "underfit_pairs": _untested_pairs(c1),
    }


# --- chapter 03: the probe kernel and claim C2 ------------------------------------------------------

def probe_table_with_plausibility(probes, c2):
    """``kernel_study.probe_table`` with C2's ``plausible`` column (the pairs C2 counts)."""
    from .kernel_study import probe_table
    table = probe_table(probes)
    plausible = {(u.keys["task"], u.keys["model"]): u.tested for u in c2.units}
    table["plausible"] = [plausible[t, m] for t, m in zip(table.task, table.model)]
    return table


def kernel_facts(table, c2) -> dict:
    """Chapter 03's glued values over the plausible pairs (``table``: the probe table with
    ``plausible``): agreement beside its noise quantile and ceiling, in range, beside the
    class-blind control's, per model class, C2's verdict."""
    good = table[table["plausible"]]
    by_class = good.groupby("model")[["correlation", "share / ceiling"]].median()
    implausible = table[~table["plausible"]]
    return {
        **claims.verdict_facts(c2),
        "n_pairs": len(table), "n_plausible": len(good),
        "median_corr": _median(good["correlation"]), "median_share_norm": _median(good["share / ceiling"]),
        "median_corr_ceiling": _median(good["corr ceiling"]),
        "median_corr_null": _median(good["corr null 95%"]),
        **_control_facts(good, ""),
        "per_class": _listing(f"{m}: correlation {row['correlation']:+.2f}, share / ceiling "
                              f"{row['share / ceiling']:+.2f}" for m, row in by_class.iterrows()),
        "implausible_pairs": ", ".join(f"{t} / {m}" for t, m in zip(implausible.task, implausible.model)) or "none",
        "median_continuity": float(table["continuity vs Monte Carlo"].median()),
    }


def own_estimator_facts(probes, table) -> dict:
    """Chapter 03's glued values on the classes' own estimators (``kernel_study.OWN_ESTIMATORS``),
    per pair that has one (``probes``: ``probe_study(..., own=True)``; ``table``: the probe table
    with ``plausible``): the probe's share / ceiling beside the estimator's correlation and
    share / ceiling with their 95% intervals over seeds and samples."""
    plausible = {(t, m): p for t, m, p in zip(table.task, table.model, table.plausible)}
    lines = []
    for r in (r for r in probes if r.own is not None):
        corr, corr_ci = r.own.resampled["correlation"]
        norm, norm_ci = r.own.share_normalised()
        tail = "" if plausible[r.task.name, r.model] else " (samples not plausible)"
        lines.append(f"{r.task.name} / {r.model}{tail}: probe {r.validation.share_normalised:+.2f}, "
                     f"{r.own.name} {norm:+.2f} {ci_text(norm_ci)} (correlation {corr:+.2f} {ci_text(corr_ci)})")
    names = sorted({f"{r.model}: {r.own.name}" for r in probes if r.own is not None})
    return {"own_estimators": _listing(names), "own_estimates": _listing(lines)}


def _control_facts(table, prefix: str) -> dict:
    """Medians over the rows of a probe table: the share explained, in range, and the class-blind
    control kernel's, glued as ``<prefix>median_share``, ``..._share_in_range``, ``..._share_control``,
    ``..._corr_in_range``."""
    return {f"{prefix}median_share": _median(table["share explained"]),
            f"{prefix}median_share_in_range": _median(table["share explained (in range)"]),
            f"{prefix}median_share_control": _median(table["control share explained"]),
            f"{prefix}median_corr_in_range": _median(table["correlation (in range)"])}


def anatomy_facts(curves, origins_table) -> dict:
    """Chapter 03's glued values on where the drift is made (``curves``: ``anatomy.depth_curves``)
    and where it comes from (``origins_table``: ``origins.origin_table``), over every pair: per
    class, the declared rule's depths and agreement, the best agreement anywhere on the curve and
    the locality at which half of the ceiling-normalised share is reached; the positive control
    (``anatomy.positive_control``: the full chain against the calibrated ceiling); each variant's
    share of the drift accounted for."""
    from .anatomy import FALLS_SHORT, REACHES, curve_table, positive_control
    curve, control = curve_table(curves), positive_control(curves)
    smooth_pairs = [(c.task, c.model) for c in curves if c.smooth]     # ``Task.smooth``
    smooth = curve[curve.model.str.startswith("diffusion")
                   & np.array([(t, m) in smooth_pairs for t, m in zip(curve.task, curve.model)], dtype=bool)]
    variants = origins_table.groupby(["model", "variant"], sort=False)["accounted"].median()
    return {
        "locality_budget": curves[0].budget,
        "anatomy_per_class": _listing(
            f"{m}: depths {', '.join(str(d) for d in rows['chosen depth'])}, share / ceiling "
            f"{rows['share / ceiling (chosen)'].median():+.2f} (best anywhere on the curve "
            f"{rows['best share / ceiling'].median():+.2f}), half of the ceiling first reached at locality "
            f"{_locality(rows['locality at 1/2'])}" for m, rows in curve.groupby("model", sort=False)),
        "smooth_diffusion_corr": _median(smooth["correlation (chosen)"]),
        "smooth_diffusion_share_norm": _median(smooth["share / ceiling (chosen)"]),
        "smooth_diffusion_pairs": len(smooth),
        "positive_control_pairs": len(control),
        "positive_control_reached": int((control.control == REACHES).sum()),
        "positive_control": _listing(
            f"{r['task']} / {r['model']}: {r['share / ceiling']:.2f} [{r['95% CI'][0]:.2f}, {r['95% CI'][1]:.2f}], "
            f"{r['control']}" + (f" by {r['short by']:.2f}" if r["control"] == FALLS_SHORT else "")
            for r in control.to_dict("records")),
        "origins_per_variant": _listing(f"{m}, {v}: {a:+.2f}" for (m, v), a in variants.items()),
        "n_origin_pairs": len(set(zip(origins_table.task, origins_table.model))),
    }


def _locality(values) -> str:
    """The median locality of ``values`` (pairs that never reach the share count as beyond every
    probe), or "never" when most pairs never reach it."""
    import pandas as pd
    v = pd.Series(values, dtype=float).fillna(np.inf).median()
    return f"{v:.2f}" if np.isfinite(v) else "never (on most pairs)"


def projection_facts(compare) -> dict:
    """Chapter 03's glued values of its projection diagnostic (``compare``: ``kernel_study.
    projection_comparison``): the median correlation of the projection bank and of the probe."""
    return {"median_corr_projection": float(compare["correlation (projection, seed 0)"].median()),
            "median_corr_probe": float(compare["correlation (probe, pooled)"].median())}


# --- chapter 04: before training and claim C6 -------------------------------------------------------

def before_training_facts(table, ladder, c6, models) -> dict:
    """Chapter 04's glued values: the declared families' agreement beside the data-Gaussian
    reference and the noise ceiling, per class, the cost, C6's verdict; the ladder's medians per
    class (``ladder``: ``kernel_study.before_training_ladder``)."""
    from .kernel_study import FAMILY_OF_CLASS, LADDER
    by_class = table.groupby("model", sort=False)[["correlation", "data-Gaussian correlation"]].median()
    rungs = ladder.groupby("model", sort=False)[list(LADDER)].median()
    return {
        "ladder_per_class": "; ".join(f"{m}: " + " → ".join(f"{row[r]:+.2f}" for r in LADDER)
                                      for m, row in rungs.iterrows()),
        "ladder_loss_per_class": "; ".join(f"{m}: {_largest_loss(row)}" for m, row in rungs.iterrows()),
        "ladder_calibration_gap": float((ladder[LADDER[1]] - ladder[LADDER[0]]).median()),
        "ladder_family_gap": float((ladder[LADDER[2]] - ladder[LADDER[1]]).median()),
        **claims.verdict_facts(c6),
        "median_corr": float(table["correlation"].median()),
        "median_corr_gauss": float(table["data-Gaussian correlation"].median()),
        "median_share": float(table["share explained"].median()),
        "median_ceiling": float(table["share ceiling"].median()),
        "declared_families": ", ".join(f"{m}: {f}" for m, f in FAMILY_OF_CLASS.items() if m in models),
        "per_class": "; ".join(f"{m}: {row['correlation']:+.2f} (data-Gaussian {row['data-Gaussian correlation']:+.2f})"
                               for m, row in by_class.iterrows()),
    }


def before_training_cost(table) -> dict:
    """Chapter 04's wall-clock values, glued apart from :func:`before_training_facts` (they differ
    from run to run, so ``misgen verify`` does not compare them): how many times longer training
    the evaluated models took than their before-training predictions, all pairs' seconds summed,
    and per class. Summed, not a median of per-pair ratios: the small classes' predictions take a
    second or two, mostly a job's fixed costs, and a median over pairs fell among them (7 in one
    cold build, 15 in another on the same code)."""
    seconds = table.groupby("model", sort=False)[["training seconds", "prediction seconds"]].sum()
    ratio = seconds["training seconds"] / seconds["prediction seconds"]
    total = seconds.sum()
    return {"cost_ratio": float(total["training seconds"] / total["prediction seconds"]),
            "cost_ratio_per_class": ", ".join(f"{m} {r:.0f}" for m, r in ratio.items())}


def _largest_loss(medians) -> str:
    """Where a class's before-training prediction loses most of the ceiling (``medians``: its
    median share / ceiling per rung of ``kernel_study.LADDER``): the short run, the family's
    shape, or the part beyond any local kernel."""
    from .kernel_study import LADDER
    r = [medians[rung] for rung in LADDER]
    losses = {"the short run": r[1] - r[0], "the family's shape": r[2] - r[1], "beyond local errors": 1 - r[2]}
    name = max(losses, key=losses.get)
    return f"{name} ({losses[name]:.2f} of the ceiling)"


# --- chapter 05: the applied tasks, claims C3 and C4 -------------------------------------------------

def plausibility_table(suite):
    """Chapter 05's plausibility of single samples per task of ``suite`` that has measures of its
    own (``Task.plausibility``: the maze's wall crossings, the pendulum's energy variation),
    beside the samples' drift and their distance to the clean set (from ``suite.table()``)."""
    import pandas as pd
    summary, cfg = suite.table(), suite.config
    own = {t: [c for c in suite.get(t, cfg.models[0]).plausibility if c != "nearest_clean_rms"] for t in cfg.tasks}
    return pd.concat([summary[summary.task == t][["task", "model", "TV", "TV null 95%", "outside"]
                                                 + [f"{c} ({w})" for c in cols for w in ("samples", "clean")]
                                                 + ["relative distance (samples)", "relative distance (clean)"]]
                      for t, cols in own.items() if cols])


def applied_facts(suite, shifts: dict, on_manifold_shifts: dict, c3, c4, table, decomposition) -> dict:
    """Chapter 05's glued values: the maze's location shifts (C3), the pendulum's agreement (C4),
    plausibility and the projection diagnostic."""
    models = list(suite.config.models)
    summary = suite.table()
    pend = table[table.task == "pendulum"].set_index("model")
    pendulum = suite.get("pendulum", models[0])
    pend_dec = decomposition[decomposition.task == "pendulum"]
    overflow_share = {m: float(np.abs(suite.get("pendulum", m).drift.delta[[0, -1]]).sum()
                               / max(np.abs(suite.get("pendulum", m).drift.delta).sum(), 1e-12)) for m in models}
    crossing_share = {m: float(np.mean(suite.get("maze", m).plausibility["wall_crossings"] > 0)) for m in models}
    return {
        **claims.verdict_facts(c3), **claims.verdict_facts(c4),
        "underfit_pairs": _untested_pairs(c3, c4),
        "c3_details": claims.unit_details(c3),
        "c3_glance": _listing(f"{m}: {s.mean_shift:+.2f} cells (null {s.mean_shift_null[0]:+.2f} to "
                              f"{s.mean_shift_null[1]:+.2f})" for m, s in shifts.items()),
        "c3_on_manifold": "; ".join(
            f"{m}: {s.mean_shift:+.2f} cells, CI [{s.mean_shift_ci[0]:+.2f}, {s.mean_shift_ci[1]:+.2f}], "
            f"{claims.direction(s)}" for m, s in on_manifold_shifts.items()),
        "c3_local": "; ".join(f"{m}: {shifts[m].mean_shift - on_manifold_shifts[m].mean_shift:+.2f} cells"
                              for m in models),
        "maze_prior_mean": float(shifts[models[0]].prior_mean),
        "maze_prior_median": float(shifts[models[0]].prior_median),
        "maze_crossings": "; ".join(f"{m}: {v:.0%}" for m, v in crossing_share.items()),
        "c4_details": claims.unit_details(c4),
        "c4_median_corr": _median(pend["correlation"]),
        "c4_median_corr_null": _median(pend["corr null 95%"]),
        **_control_facts(pend, "c4_"),
        "c4_median_corr_ceiling": _median(pend["corr ceiling"]),
        "c4_overflow": "; ".join(f"{m}: {v:.0%}" for m, v in overflow_share.items()),
        "pend_energy_var": "; ".join(
            f"{m}: {np.median(suite.get('pendulum', m).plausibility['energy_variation']):.2f} J" for m in models),
        "pend_energy_var_clean": float(np.median(pendulum.reference_plausibility["energy_variation"])),
        "pend_clean_spacing": float(summary[summary.task == "pendulum"]["nearest_clean_rms (clean)"].iloc[0]),
        "pend_projection_rms": "; ".join(f"{m}: {v:.2f}" for m, v in
                                         zip(pend_dec.model, pend_dec["projection RMS (median)"])),
        "pend_on_manifold": "; ".join(f"{m}: TV on-manifold {a:.2f}, measured {b:.2f}" for m, a, b in
                                      zip(pend_dec.model, pend_dec["TV on-manifold"], pend_dec["TV measured"])),
    }


# --- chapter 06: mitigations, claims C5a-c -----------------------------------------------------------

def mitigation_summary(table):
    """Chapter 06's table: medians over seeds per task x model x intervention."""
    return (table.groupby(["task", "model", "intervention"], sort=False)
            [["TV", "TV null 95%", "TV reduction", "reduction ceiling", "predicted TV", "predicted reduction",
              "distance ratio"]]
            .median())


def origin_fix_facts(table) -> dict:
    """Chapter 06's glued values on the origin-informed fixes (``table``: the outcome table of the
    transformer and the VAE): per class and intervention, the median TV reduction beside its
    ceiling; the latent mixture's components."""
    from .origins import MIXTURE_COMPONENTS
    treated = table[table.intervention != "none"]
    per = treated.groupby(["model", "intervention"], sort=False)[["TV reduction", "reduction ceiling"]].median()
    return {"origin_fixes": _listing(f"{m}, {k}: {row['TV reduction']:+.0%} (ceiling {row['reduction ceiling']:+.0%})"
                                     for (m, k), row in per.iterrows()),
            "origin_fix_tasks": ", ".join(dict.fromkeys(table.task)), "mixture_components": MIXTURE_COMPONENTS}


def budget_facts(cfg, prefix: str) -> dict:
    """What a chapter glues of suite ``cfg``'s sizes, read from the configuration, under
    ``<prefix>_*``: ``steps``, the training steps per task and class (``SuiteConfig.
    model_config``); ``base_steps``, the suite's base budget; ``seeds``; ``samples`` per model;
    and each task's range, ``<task>_range``."""
    steps: dict = {}
    for t in cfg.tasks:
        for m in cfg.models:
            steps.setdefault((t, cfg.model_config(m, t).train_steps), []).append(m)
    return {f"{prefix}_steps": _listing(f"{t} {n} steps ({', '.join(ms)})" for (t, n), ms in steps.items()),
            f"{prefix}_base_steps": cfg.train_steps, f"{prefix}_seeds": len(cfg.seeds),
            f"{prefix}_samples": cfg.n_samples,
            **{f"{t}_range": "[{:g}, {:g}]".format(*cfg.task(t).q_range) for t in cfg.tasks}}


def mitigation_facts(table, results, verdicts) -> dict:
    """Chapter 06's glued values: per intervention the median TV reduction beside the kernel's
    prediction and the reduction ceiling, how well the predictions track the outcomes, the
    verdicts of C5a-c and the kernels' notes."""
    treated = table[table.intervention != "none"]
    per = treated.groupby("intervention", sort=False)[["TV reduction", "predicted reduction",
                                                        "reduction ceiling"]].median()
    known = treated.dropna(subset=["predicted reduction"])
    facts = {
        "per_intervention": "; ".join(f"{k}: median TV reduction {row['TV reduction']:+.0%} (predicted "
                                      f"{row['predicted reduction']:+.0%})" for k, row in per.iterrows()),
        "reductions": _listing(f"{k}: {row['TV reduction']:+.0%} (ceiling {row['reduction ceiling']:+.0%})"
                               for k, row in per.iterrows()),
        "prediction_corr": float(np.corrcoef(known["TV reduction"], known["predicted reduction"])[0, 1])
        if len(known) > 2 else float("nan"),
        "n_units": len(known), "helps": claims.HELPS, "clearly": claims.CLEARLY,
        "tv_a": _median(table[table.intervention == "none"]["TV"]),
        "tv_a_predicted": _median(table[table.intervention == "none"]["predicted TV"]),
        "notes": "; ".join(f"{r.base.task.name} seed {r.base.seed}: kernel {r.notes['kernel']}; pre-compensation "
                           f"{r.notes.get('precompensate', 'not run')}" for r in results),
    }
    for v in verdicts:
        facts.update(claims.verdict_facts(v))
        if v.claim == "C5c":
            facts["c5c_units"] = claims.unit_details(v, ("task", "model"))
    facts["papers_intervention"] = claims.PAPERS_INTERVENTION
    return facts


# --- chapter 07: does the drift survive training? ----------------------------------------------------

def training_facts(result, verdict, agreement, temperature) -> dict:
    """The chapter's glued values: the verdict, each task x class's ``TV_inf`` beside its null and
    where its samples first become plausible, the agreement with the book's models, the
    temperature sweep's medians (the training time: ``training_cost``)."""
    from .scaling import TEMPERATURES
    laws = result.laws()
    cfg = result.config

    units = {(u.keys["task"], u.keys["model"]): u for u in verdict.units}
    temp = temperature.groupby("scale")[["TV", "distance ratio", "memorisation"]].median() if len(temperature) else None
    facts = {
        **claims.verdict_facts(verdict),
        "laws": _listing(f"{r['task']} / {r['model']}: TV_inf {r['TV_inf']:.3f} [{r['TV_inf 95% CI'][0]:.3f}, "
                         f"{r['TV_inf 95% CI'][1]:.3f}] against a null 95% quantile of {r['null 95%']:.3f} "
                         f"({units[(r['task'], r['model'])].decision})" for r in laws.to_dict("records")),
        "first_plausible": _listing(f"{f.task} / {f.model} " + (f"at {f.first_plausible()} steps" if f.first_plausible()
                                                                else "not within the grid") for f in result.fits),
        "underfitting": _listing(f"{u.keys['task']} / {u.keys['model']}" for u in verdict.units if not u.tested),
        "largest_factor": max(cfg.factors), "smallest_factor": min(cfg.factors), "n_checkpoints": len(cfg.factors),
        "n_runs": len(cfg.runs()), "n_seeds": len(cfg.suite.seeds), "n_samples": cfg.n_samples,
        "memorised": claims.MEMORISED, "plausible_factor": claims.PLAUSIBLE_FACTOR,
        "max_memorisation": float(laws["memorisation (largest)"].max()),
        "n_agree": int(agreement["agree"].sum()), "n_agreement": len(agreement),
        "temperatures": ", ".join(f"{t:g}" for t in TEMPERATURES[:-1]) + f" and {TEMPERATURES[-1]:g}",
    }
    for scale in TEMPERATURES:
        key = f"{scale:g}".replace(".", "_")
        facts[f"temp_{key}_tv"] = float(temp.loc[scale, "TV"]) if temp is not None else float("nan")
        facts[f"temp_{key}_ratio"] = float(temp.loc[scale, "distance ratio"]) if temp is not None else float("nan")
    return facts


def training_cost(result) -> dict:
    """Chapter 07's wall-clock value, glued apart (``misgen verify`` and ``misgen compare`` do
    not compare it): the minutes its runs took to train, summed, as recorded when trained."""
    return {"train_minutes": result.run_seconds() / 60}


# --- chapter 08: where the transformer makes its drift -----------------------------------------------

def transformer_drift_facts(results) -> dict:
    """Chapter 08's glued values (``autoregressive.DriftOrigin`` per task): the prefix that halves
    the drift, the amplification at the last step, the linear response's agreement (from a clean
    first step) with intervals beside its ceiling and its control, the perturbation's growth and
    the rounding's effect."""
    ar = autoregressive

    def value(v, ci):
        return f"{v:+.2f} {ci_text(ci)}"

    def amplification(r):
        ratio = r.rollout_error[:, -1] / r.one_step_error[:, -1]
        return f"{r.name}: x{ratio.mean():.1f} (seeds {ratio.min():.1f} to {ratio.max():.1f})"

    check = results[0].response_check
    facts = {"n_seeds": len(results[0].seeds), "perturbation": f"{ar.PERTURBATION:.0e}",
             "target_corr": f"{ar.TARGET_CORRELATION}", "target_share": f"{ar.TARGET_SHARE_NORMALISED}",
             "n_check_inputs": check["inputs"], "n_check_rollouts": check["rollouts"]}
    facts["half_prefix"] = _listing(f"{r.name}: {_steps(ar.half_prefix(r), r)}" for r in results)
    facts["half_prefix_window"] = _listing(f"{r.name}: {_steps(ar.half_prefix(r, 'window '), r)}"
                                           for r in results if len(r.window_drifts) > 1)
    facts["window_not_measurable"] = _listing(r.name for r in results if len(r.window_drifts) <= 1)
    facts["free_tv"] = _listing(f"{r.name}: {r.rows[0]['TV']:.3f} [{r.rows[0]['TV lo']:.3f}, {r.rows[0]['TV hi']:.3f}] "
                                f"(null 95% {r.rows[0]['TV null 95%']:.3f})" for r in results)
    facts["amplification"] = _listing(amplification(r) for r in results)
    for start in ar.STARTS:
        tail = f"_from_{start}"
        facts[f"response_corr{tail}"] = _listing(
            f"{r.name}: {value(*r.responses[start].resampled['correlation'])} (ceiling "
            f"{r.responses[start].validation.ceiling.correlation:.2f})" for r in results)
        facts[f"response_share{tail}"] = _listing(
            f"{r.name}: {value(*r.responses[start].resampled['share_explained'])}, share / ceiling "
            f"{r.responses[start].validation.share_normalised:+.2f}" for r in results)
        facts[f"response_control{tail}"] = _listing(
            f"{r.name}: {r.responses[start].control_validation.share_explained:+.2f}, own minus control "
            f"{value(*r.responses[start].resampled['share_over_control'])}" for r in results)
    facts["targets"] = _listing(target_verdict(r, 1) for r in results)
    facts["response_in_range_from_1"] = _listing(
        f"{r.name}: correlation {r.responses[1].validation.correlation_in_range:+.2f}, share "
        f"{r.responses[1].validation.share_in_range:+.2f}" for r in results)
    facts["forget_step"] = _listing(f"{r.name}: step {ar.forget_step(r)}" for r in results)
    facts["response_check"] = _listing(f"{r.name}: {r.response_check['shift correlation']:.2f}" for r in results)
    facts["response_sd_ratio"] = _listing(f"{r.name}: {r.response_check['median sd ratio']:.2f}" for r in results)
    growth = ar.perturbation_table(results)
    facts["growth"] = _listing(f"{row['task']}: {row['growth to last step']:.2g} (seeds {row['lowest seed']:.2g} to "
                               f"{row['highest seed']:.2g})"
                               for row in growth[growth["injected at step"] == 1].to_dict("records"))
    facts["rounding"] = _listing(f"{row['task']}: {row['|dq| (millionths of the range)']:.1f} millionths of the range, "
                                 f"{row['samples in another bin']:.1%} of samples in another bin, TV between the two "
                                 f"{row['TV float32 vs float64']:.3f}"
                                 for row in ar.rounding_table(results).to_dict("records"))
    return facts


def target_verdict(result, start: int) -> str:
    """One task's linear response (errors from ``start``) against the targets: the correlation's
    and the ceiling-normalised share's 95% intervals, met (interval above), missed (below, by
    how much) or undecided (straddling)."""
    res = result.responses[start]
    corr, corr_ci = res.resampled["correlation"]
    norm, norm_ci = share_over_ceiling(res.resampled, res.validation)
    if not np.isfinite(norm):
        return f"{result.name}: no positive noise ceiling, share / ceiling undefined"

    def verdict(ci, target):
        if ci[0] > target:
            return "met"
        return f"missed by {target - ci[1]:.2f}" if ci[1] < target else "undecided"
    return (f"{result.name}: correlation {corr:+.2f} {ci_text(corr_ci)} against "
            f"{autoregressive.TARGET_CORRELATION} ({verdict(corr_ci, autoregressive.TARGET_CORRELATION)}), "
            f"share / ceiling {norm:+.2f} "
            f"{ci_text(norm_ci)} against {autoregressive.TARGET_SHARE_NORMALISED} "
            f"({verdict(norm_ci, autoregressive.TARGET_SHARE_NORMALISED)})")


def _steps(prefix: float, result) -> str:
    if not np.isfinite(prefix):
        return "no drift beyond the null"
    if prefix > result.prefixes[-1]:
        return "no clean prefix halves it"
    return f"{int(prefix)} of {result.one_step_error.shape[1]} steps"


def round_trip_facts(result) -> dict:
    """The chapter's glued values of the round-trip section (the regimes of the logistic map:
    below and above ``round_trip.ONSET_OF_CHAOS``)."""
    def one(k):
        value, (lo, hi) = result.shift[k]
        return f"{k}: {value:+.4f} [{lo:+.4f}, {hi:+.4f}]"
    v = result.validations[round_trip.KINDS[0]]
    corr, (clo, chi) = result.resampled[round_trip.KINDS[0]]["correlation"]
    share, (slo, shi) = result.resampled[round_trip.KINDS[0]]["share_explained"]
    return {"round_trip_task": result.task.name, "onset_of_chaos": f"{round_trip.ONSET_OF_CHAOS:.3f}",
            "round_trip_regimes": "; ".join(f"{k}: {a:+.3f} below, {b:+.3f} above" for k, (a, b) in
                                            result.regime_shift.items()),
            "round_trip_shift": "; ".join(one(k) for k in round_trip.KINDS),
            "round_trip_tv": "; ".join(f"{k}: {result.tv[k]:.3f}" for k in round_trip.KINDS) + f" (null 95% {result.tv_null95:.3f})",
            "round_trip_kernel": f"correlation {corr:+.2f} [{clo:+.2f}, {chi:+.2f}], share explained {share:+.2f} "
                                 f"[{slo:+.2f}, {shi:+.2f}] (ceiling {v.ceiling.share:.2f}; the VAE's TV {v.tv_observed:.3f})"}
