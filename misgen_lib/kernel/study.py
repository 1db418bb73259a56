"""The kernel chapters' computations over a suite of trained models (notebooks 03 and 04 only plot).

``empirical_study``: for every task x model entry of ``suite.run_suite``, the empirical kernel of
the model's samples (residual bank and its stationary Gaussian), the predictions they make
(bank: Monte Carlo; Gaussian: analytic), their validation against the observed drift, and the
decomposition of the drift into the on-manifold part (drift of the samples' fitted ``q``) and the
measured drift.

``apriori_study``: a-priori kernels made from the training data alone (no model), predicted with
the analytic predictor, validated against every model's observed drift, with the prediction's
measured wall-clock time.

Seeds (companion's choice; the suite uses ``seed`` .. ``seed + 3``): clean draws for predictions
``seed + 4``, projection references ``seed + 5``, kernel draws ``seed + 6``, bootstrap ``seed + 7``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from .. import metrics
from .apriori import prior as apriori_kernel
from .empirical import ResidualBank, StationaryGaussian, estimate
from .predict import Prediction, clean_draws, predict
from .validate import Validation, validate


@dataclass
class EmpiricalResult:
    entry: object                 # suite.SuiteEntry
    bank: ResidualBank
    gaussian: StationaryGaussian
    predictions: dict[str, Prediction]     # "bank (Monte Carlo)", "Gaussian (analytic)"
    validations: dict[str, Validation]
    on_manifold: metrics.Drift    # drift of the samples' fitted on-manifold quantity
    n_dropped: int                # samples with NaN/inf (not projected)


@dataclass
class AprioriResult:
    entry: object
    family: str
    kernel: object
    prediction: Prediction
    validation: Validation
    seconds: float                # wall-clock time of the prediction (clean draws excluded)


def _clean_by_task(entries, n: int, seed: int) -> dict[str, np.ndarray]:
    out = {}
    for e in entries:
        if e.task.name not in out:
            out[e.task.name] = clean_draws(e.task, e.prior, n, seed + 4)
    return out


def empirical_study(entries, n_predict: int = 20000, n_reference: int = 20000,
                    refine_steps: int = 30, n_boot: int = 500, seed: int = 0,
                    progress: bool = True) -> list[EmpiricalResult]:
    clean = _clean_by_task(entries, n_predict, seed)
    results = []
    for e in tqdm(entries, desc="empirical kernels", disable=not progress):
        bins = len(e.drift.edges) - 1
        finite = np.isfinite(e.samples).all(axis=(1, 2))
        bank = estimate(e.task, e.data, e.samples[finite], form="bank", n_reference=n_reference,
                        refine_steps=refine_steps, seed=seed + 5, progress=False)
        gauss = bank.to_gaussian()
        kw = dict(prior=e.prior, clean=clean[e.task.name], bins=bins, seed=seed + 6, progress=False)
        preds = {"bank (Monte Carlo)": predict(e.task, bank, method="monte-carlo", **kw),
                 "Gaussian (analytic)": predict(e.task, gauss, method="analytic", **kw)}
        vals = {name: validate(p, e.drift, n_boot=n_boot, seed=seed + 7) for name, p in preds.items()}
        on_manifold = metrics.drift(bank.projection.q_fit, e.prior, bins=bins,
                                    n_null=len(e.drift.null["tv"]), seed=seed + 2)
        results.append(EmpiricalResult(e, bank, gauss, preds, vals, on_manifold, int((~finite).sum())))
    return results


def apriori_study(entries, families=("white", "correlated", "random-walk", "blur"),
                  relative: float = 0.05, length: float = 3.0, blur_steps: float = 1.0,
                  n_predict: int = 20000, n_boot: int = 300, seed: int = 0,
                  progress: bool = True) -> list[AprioriResult]:
    """One analytic prediction per task x family (scale set from the training data: see
    ``apriori``), validated against every model of that task."""
    clean = _clean_by_task(entries, n_predict, seed)
    by_task: dict[str, list] = {}
    for e in entries:
        by_task.setdefault(e.task.name, []).append(e)
    results = []
    bar = tqdm(total=len(by_task) * len(families), desc="a-priori kernels", disable=not progress)
    for name, group in by_task.items():
        first = group[0]
        for family in families:
            kernel = apriori_kernel(family, scale=blur_steps if family == "blur" else None,
                                    length=length if family == "correlated" else None,
                                    data=first.data, relative=relative)
            start = time.perf_counter()
            pred = predict(first.task, kernel, first.prior, clean=clean[name],
                           bins=len(first.drift.edges) - 1, method="analytic", seed=seed + 6,
                           progress=False)
            seconds = time.perf_counter() - start
            for e in group:
                results.append(AprioriResult(e, family, kernel, pred,
                                             validate(pred, e.drift, n_boot=n_boot, seed=seed + 7), seconds))
            bar.update()
    bar.close()
    return results


def _validation_columns(v: Validation) -> dict:
    return {"correlation": v.correlation, "corr 95% CI": _fmt_ci(v.correlation_ci),
            "corr null 95%": v.correlation_null95, "sign agreement": v.sign_agreement,
            "sign 95% CI": _fmt_ci(v.sign_agreement_ci), "bins beyond null": v.n_beyond_null,
            "share explained": v.share_explained, "share 95% CI": _fmt_ci(v.share_explained_ci),
            "TV observed": v.tv_observed, "TV predicted": v.tv_predicted}


def _fmt_ci(ci) -> str:
    return f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"


def empirical_table(results: list[EmpiricalResult]):
    """pandas DataFrame: one row per task x model x predictor with the validation numbers."""
    import pandas as pd
    rows = []
    for r in results:
        for name, v in r.validations.items():
            rows.append({"task": r.entry.task.name, "model": r.entry.model.name, "predictor": name,
                         "TV null 95%": r.entry.drift.null_q95("tv"), **_validation_columns(v),
                         "residual RMS": float(np.sqrt(np.mean(r.bank.residuals ** 2)))})
    return pd.DataFrame(rows)


def decomposition_table(results: list[EmpiricalResult]):
    """pandas DataFrame: drift of the fitted on-manifold quantity beside the measured drift."""
    import pandas as pd
    return pd.DataFrame([{
        "task": r.entry.task.name, "model": r.entry.model.name,
        "TV measured": r.entry.drift.tv, "TV on-manifold": r.on_manifold.tv,
        "TV null 95%": r.entry.drift.null_q95("tv"),
        "on-manifold within null": r.on_manifold.tv <= r.on_manifold.null_q95("tv"),
        "samples refined": float(r.bank.projection.refined.mean()),
        "projection RMS (median)": float(np.median(r.bank.projection.rms)),
        "non-finite samples": r.n_dropped} for r in results])


def apriori_table(results: list[AprioriResult]):
    """pandas DataFrame: one row per task x model x a-priori family."""
    import pandas as pd
    return pd.DataFrame([{"task": r.entry.task.name, "model": r.entry.model.name, "family": r.family,
                          "kernel": r.kernel.describe(), **_validation_columns(r.validation),
                          "prediction seconds": r.seconds} for r in results])


def training_seconds(entry, probe_steps: int = 50) -> tuple[float, str]:
    """Wall-clock training cost of ``entry.model``: ``meta["train_seconds"]`` when the model
    recorded it, else measured here: one throw-away fit of ``probe_steps`` steps (same class,
    config and data; temporary cache, nothing kept), its time per step (set-up included, so an
    upper estimate) times the model's configured ``train_steps``."""
    import dataclasses
    import tempfile

    from .. import models
    from ..cache import ArtifactStore
    recorded = entry.model.meta.get("train_seconds")
    if recorded is not None:
        return float(recorded), "recorded"
    cfg = dataclasses.replace(entry.model.config, train_steps=probe_steps)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        models.fit(entry.model.name, entry.data, cfg, seed=entry.model.seed,
                   store=ArtifactStore(tmp), progress=False)
        seconds = time.perf_counter() - start
    return seconds / probe_steps * entry.model.config.train_steps, f"probe of {probe_steps} steps"
