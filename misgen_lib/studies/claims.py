"""The paper's claims as computed verdicts. Each claim has its decision rule declared here, in
``RULES``, before any result is seen; a ``claim_*`` function applies the rule to every unit (a
task x model x seed entry, or a model class) and returns a ``Verdict``: the units with their
numbers and whether each one counts for the claim, and the outcome over all units:

* ``supports``: every unit counts; ``partly supports``: some do; ``does not support``: none does;
* ``not tested``: no unit qualifies (e.g. no plausible pair for C2).

Chapters print ``verdict.sentence()`` and show ``verdict.items``; they never decide themselves.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import interventions as _interventions
from ..vocabulary import CLAIMS_DIR_ENV, check_claim

#: plausibility threshold of C1 and C2 (companion's choice): the median nearest-clean distance of
#: a model's samples at most this many times that of fresh clean trajectories
PLAUSIBLE_FACTOR = 2.0

#: the paper's claims, in the companion's words (the design's C1-C6), one per ``vocabulary.CLAIM_IDS``
CLAIMS = {
    "C1": "each model class shows a drift of the quantity's distribution well above the finite-sample "
          "null while single samples stay plausible",
    "C2": "the data deviation kernel, pushed through the measurement, predicts the observed per-bin "
          "change (peaks and troughs) for models whose samples are plausible",
    "C3": "the maze's recovered travel distance shifts upward",
    "C4": "the pendulum's energy gains and loses mass where the kernel says",
    "C5a": "reweighting the dataset does not remove the drift",
    "C5b": "conditioning on the quantity helps in simple cases only",
    "C5c": "a kernel-informed intervention reduces the drift clearly",
    "C6": "an a-priori kernel, declared before training, predicts the direction of the drift",
}

#: the tasks counted as "simple" by C5b (companion's choice: the synthetic ones)
SIMPLE_TASKS = ("sine", "cone", "logistic")
#: TV reductions (1 - TV_B / TV_A) that count as "helps" (C5b) and "clearly" (C5c)
HELPS, CLEARLY = 0.2, 0.5

#: decision rules, declared up front; the functions below implement exactly these
RULES = {
    "C1": "a task x model x seed entry counts when its TV exceeds the 95% quantile of its "
          "finite-sample null AND its samples are plausible: their median distance to the nearest "
          "training trajectory is at most `plausible_factor` times that of fresh clean trajectories",
    "C2": "among plausible entries (as in C1), an entry counts when the kernel's predicted per-bin "
          "change correlates with the observed one above the 95% quantile of the same correlation "
          "under pure finite-sample noise AND the predicted sign agrees on more than half of the "
          "bins whose observed change lies beyond the null band",
    "C3": "a model counts when both the mean shift of travel distance and the share of samples above "
          "the prior's median have their whole 95% bootstrap interval above the central 95% of the "
          "same statistic for a clean sample of the same size",
    "C4": "an entry counts under the same agreement rule as C2 (correlation above the noise quantile "
          "and sign agreement above one half on bins beyond the null)",
    "C5a": "a task x model x seed counts when the model trained on the resampled dataset (weights "
           "p*/p_hat_A, and the importance-weighted loss where it was run) still has a TV above the 95% "
           "quantile of its finite-sample null",
    "C5b": "a task x model x seed counts when the conditional model reduces TV by at least 20% against the "
           "untreated model on a simple (synthetic) task, or keeps a TV above its null on an applied task",
    "C5c": "a task x model x seed counts when its informed fix reduces TV by at least 50% against the "
           "untreated model: the model trained on the kernel-pre-compensated prior, or, for a class whose "
           "drift the origin experiments trace to a source that is not a local error, model A sampled "
           "with that source removed (the fix of its class; one per entry)",
    "C6": "a task x model pair counts when the one a-priori family declared for its model class before "
          "training (scale calibrated on a short probe run, no choice after seeing the drift) predicts the "
          "sign of every component of the direction that the observation shows beyond its null: the mean "
          "shift of the quantity, and whether more mass leaves the range above or below; a pair whose "
          "observed drift has no such component is not counted",
}


@dataclass
class Verdict:
    """A claim's outcome: ``items`` (pandas DataFrame) has one row per unit with the numbers the
    rule uses and a boolean ``counts`` column (NaN rows, e.g. implausible pairs for C2, are left
    out of the count). ``claim`` must be one of ``vocabulary.CLAIM_IDS`` (a ``ValueError``
    otherwise: the claims page lists only those, so another id would vanish from it)."""
    claim: str
    items: object

    def __post_init__(self):
        check_claim(self.claim)

    @property
    def statement(self) -> str:
        return CLAIMS[self.claim]

    @property
    def rule(self) -> str:
        return RULES[self.claim]

    @property
    def total(self) -> int:
        return int(self.items["counts"].notna().sum())

    @property
    def passed(self) -> int:
        return int((self.items["counts"] == True).sum())  # noqa: E712 (NaN rows do not count)

    @property
    def outcome(self) -> str:
        if self.total == 0:
            return "not tested"
        return ("supports" if self.passed == self.total else
                "partly supports" if self.passed else "does not support")

    def sentence(self) -> str:
        return f"{self.outcome} the claim ({self.passed} of {self.total} units meet the rule)"


def _verdict(claim: str, rows: list[dict]) -> Verdict:
    import pandas as pd
    items = pd.DataFrame(rows)
    if "counts" not in items:
        items["counts"] = pd.Series(dtype=object)
    items["counts"] = items["counts"].astype(object)
    return Verdict(claim, items)


def _entry_keys(e) -> dict:
    return {"task": e.task.name, "model": e.model.name, "seed": e.seed}


def _agrees(v) -> bool:
    return bool(v.correlation > v.correlation_null95 and v.sign_agreement > 0.5)


def plausible(entry, plausible_factor: float) -> bool:
    """The C1 plausibility condition of a suite entry."""
    return bool(entry.distance_ratio <= plausible_factor)


def claim_c1(entries, plausible_factor: float = PLAUSIBLE_FACTOR) -> Verdict:
    """C1 over suite entries."""
    rows = []
    for e in entries:
        above = bool(e.drift.tv > e.drift.null_q95("tv"))
        ok = plausible(e, plausible_factor)
        rows.append({**_entry_keys(e), "TV": e.drift.tv, "TV null 95%": e.drift.null_q95("tv"),
                     "TV above null": above, "distance ratio": e.distance_ratio, "plausible": ok,
                     "counts": above and ok})
    return _verdict("C1", rows)


def _agreement_rows(results, predictor: str, plausible_factor: float | None) -> list[dict]:
    """Rows of kernel-study results: anything with ``entry`` (a suite entry naming the task and
    model), ``seed_label``, ``distance_ratio`` and ``validations`` (predictor -> Validation)."""
    rows = []
    for r in results:
        v = r.validations[predictor]
        ok = True if plausible_factor is None else bool(r.distance_ratio <= plausible_factor)
        rows.append({"task": r.entry.task.name, "model": r.entry.model.name, "seed": r.seed_label,
                     "correlation": v.correlation, "corr null 95%": v.correlation_null95,
                     "sign agreement": v.sign_agreement, "bins beyond null": v.n_beyond_null,
                     "share explained": v.share_explained, "plausible": ok,
                     "counts": _agrees(v) if ok else np.nan})
    return rows


def claim_c2(results, predictor: str, plausible_factor: float = PLAUSIBLE_FACTOR) -> Verdict:
    """C2 over kernel-study results (``ProbeResult`` or ``EmpiricalResult``) with validations
    under ``predictor``."""
    return _verdict("C2", _agreement_rows(results, predictor, plausible_factor))


def claim_c4(results, predictor: str) -> Verdict:
    """C4 over kernel-study results of the pendulum."""
    return _verdict("C4", _agreement_rows(results, predictor, None))


def claim_c3(shifts: dict) -> Verdict:
    """C3 over ``{model name: metrics.LocationShift}`` of the maze's travel distance."""
    rows = []
    for name, s in shifts.items():
        mean_dir, share_dir = s.beyond_null("mean_shift"), s.beyond_null("share_above_median")
        rows.append({"model": name, "mean shift": s.mean_shift, "mean shift CI": s.mean_shift_ci,
                     "mean shift null": s.mean_shift_null, "share above median": s.share_above_median,
                     "share CI": s.share_above_median_ci, "share null": s.share_above_median_null,
                     "direction": direction(s), "counts": mean_dir == 1 and share_dir == 1})
    return _verdict("C3", rows)


def _outcome_rows(table, interventions) -> dict:
    """``{(task, model, seed): {intervention: row}}`` of a mitigation outcome table."""
    rows: dict = {}
    for _, row in table[table["intervention"].isin(interventions)].iterrows():
        rows.setdefault((row["task"], row["model"], row["seed"]), {})[row["intervention"]] = row
    return rows


def c5_interventions(names) -> dict[str, list[str]]:
    """Per claim C5a-c, the registered interventions among ``names`` whose role bears on it
    (``interventions.ROLES``), in name order (C5a's reductions list resample before reweight, as
    the chapter has always shown them); C5b's rule is about one model, so two conditioning
    interventions are an error (C5c's, about the one informed fix each entry ran: checked per
    entry by ``claim_c5``)."""
    roles = {n: _interventions.get(n).role for n in names if n in _interventions.available()}
    out = {claim: sorted(n for n, role in roles.items() if role and _interventions.ROLES[role] == claim)
           for claim in ("C5a", "C5b", "C5c")}
    if len(out["C5b"]) > 1:
        raise ValueError(f"C5b's rule is about one model, but the table has {out['C5b']} "
                         f"(interventions of role {_interventions.get(out['C5b'][0]).role!r})")
    return out


def claim_c5(table) -> list[Verdict]:
    """C5a-c over a mitigation outcome table (``mitigation_study.outcome_table``), each over the
    table's interventions of its role (``c5_interventions``)."""
    named = c5_interventions(set(table["intervention"]))
    condition = named["C5b"][0] if named["C5b"] else None
    out = {"C5a": [], "C5b": [], "C5c": []}
    for (task, model, seed), r in _outcome_rows(table, [n for names in named.values() for n in names]).items():
        keys = {"task": task, "model": model, "seed": seed}
        weighted = [r[k] for k in named["C5a"] if k in r]
        if weighted:
            out["C5a"].append({**keys, "TV reductions": [float(x["TV reduction"]) for x in weighted],
                               "counts": all(x["TV"] > x["TV null 95%"] for x in weighted)})
        if condition in r:
            c = r[condition]
            simple = task in SIMPLE_TASKS
            out["C5b"].append({**keys, "simple task": simple, "TV reduction": float(c["TV reduction"]),
                               "counts": bool(c["TV reduction"] >= HELPS) if simple else bool(c["TV"] > c["TV null 95%"])})
        informed = [k for k in named["C5c"] if k in r]
        if len(informed) > 1:
            raise ValueError(f"C5c's rule is about one informed fix per entry, but {task} / {model} / seed {seed} "
                             f"ran {informed}")
        if informed:
            fix = r[informed[0]]
            out["C5c"].append({**keys, "fix": informed[0], "TV reduction": float(fix["TV reduction"]),
                               "counts": bool(fix["TV reduction"] >= CLEARLY)})
    return [_verdict(claim, rows) for claim, rows in out.items()]


def direction(shift) -> str:
    """``upward`` / ``downward`` when both location statistics leave the null the same way, else
    ``no clear shift``."""
    signs = {shift.beyond_null("mean_shift"), shift.beyond_null("share_above_median")}
    return "upward" if signs == {1} else "downward" if signs == {-1} else "no clear shift"


def claim_c6(results) -> Verdict:
    """C6 over before-training results (``kernel_study.BeforeTrainingResult``)."""
    rows = []
    for r in results:
        obs, pred = r.observed_direction, r.predicted_direction
        shown = [k for k in ("location", "outside") if obs[k] != 0]
        rows.append({"task": r.entry.task.name, "model": r.entry.model.name, "seed": r.seed_label,
                     "family": r.family, "observed": str(obs), "predicted": str(pred),
                     "counts": all(pred[k] == obs[k] for k in shown) if shown else np.nan})
    return _verdict("C6", rows)


def record(verdict: Verdict):
    """Write ``verdict`` as ``<$MISGEN_CLAIMS_DIR>/<claim>.json`` (claim, statement, outcome,
    passed, total, rule, the notebook/profile/revision of the run, and its items as a table) for
    the book's claims page. Outside the runner (variable unset) nothing is written; returns the
    path written or ``None``."""
    import json
    import os
    from pathlib import Path

    from ..provenance import current_run

    check_claim(verdict.claim)   # the claim may have been changed after the Verdict was built
    folder = os.environ.get(CLAIMS_DIR_ENV)
    if not folder:
        return None
    items = json.loads(verdict.items.to_json(orient="split", index=False, double_precision=6))
    record = {"claim": verdict.claim, "statement": verdict.statement, "outcome": verdict.outcome,
              "passed": verdict.passed, "total": verdict.total, "rule": verdict.rule,
              "sentence": verdict.sentence(), **current_run(),
              "items": {"columns": items["columns"], "rows": items["data"]}}
    path = Path(folder) / f"{verdict.claim}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, default=str))
    return path


def verdict_facts(verdict: Verdict) -> dict:
    """What a chapter glues of ``verdict``, under ``<claim>_*`` (claim in lower case): the
    ``claim`` statement, the ``verdict`` sentence, the ``outcome``, the ``rule``, ``passed`` and
    ``total``."""
    key = verdict.claim.lower()
    return {f"{key}_claim": verdict.statement, f"{key}_verdict": verdict.sentence(),
            f"{key}_outcome": verdict.outcome, f"{key}_rule": verdict.rule,
            f"{key}_passed": verdict.passed, f"{key}_total": verdict.total}


def _span(pair, fmt: str, sep: str = ", ", brackets: str = "[]") -> str:
    """An interval as text: ``[lo, hi]`` (or with another separator and brackets)."""
    return f"{brackets[:1]}{pair[0]:{fmt}}{sep}{pair[1]:{fmt}}{brackets[1:]}"


def _units(verdict: Verdict, describe) -> str:
    """``describe(row)`` of every unit of ``verdict``, joined by semicolons."""
    return "; ".join(describe(r) for _, r in verdict.items.iterrows())


def c3_details(verdict: Verdict) -> str:
    """Per model of a C3 verdict: the mean shift of travel distance and the share above the
    prior's median, each with its bootstrap interval beside its null, and the direction."""
    return _units(verdict, lambda r: (
        f"{r['model']}: mean shift {r['mean shift']:+.2f} cells, 95% CI {_span(r['mean shift CI'], '+.2f')} "
        f"(null {_span(r['mean shift null'], '+.2f')}), {r['share above median']:.0%} of samples above the "
        f"prior's median (CI {_span(r['share CI'], '.0%', ' to ', '')}, null "
        f"{_span(r['share null'], '.0%', ' to ', '')}): {r['direction']}"))


def c4_details(verdict: Verdict, ceilings) -> str:
    """Per model of a C4 verdict: the correlation beside its noise quantile and the perfect
    prediction's (``ceilings``: the probe table of the pendulum indexed by model, with ``corr
    ceiling`` and ``share ceiling``), the sign agreement and the share explained."""
    def describe(r):
        ceiling = ceilings.loc[r["model"]]
        return (f"{r['model']}: correlation {r['correlation']:+.2f} (noise 95% quantile {r['corr null 95%']:.2f}, "
                f"perfect prediction {ceiling['corr ceiling']:.2f}), sign agreement {r['sign agreement']:.2f} on "
                f"{r['bins beyond null']} bins beyond the null, share explained {r['share explained']:+.2f} "
                f"(ceiling {ceiling['share ceiling']:.2f})")
    return _units(verdict, describe)
