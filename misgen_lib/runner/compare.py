"""``misgen reference`` and ``misgen compare``: a build recorded, and a build compared with the record.

``book_record`` reads a built book (the run manifest, the values each chapter glues into its text,
the claim verdicts it records) into the reference format of ``runner.reference``; ``misgen
reference`` writes it for a whole book, ``misgen compare`` makes it of the build at hand (all of
it, or the chapters named) and compares it with the reference of its profile:

* each value is ``equal`` (to the record's six significant digits), ``within`` its interval or
  tolerance, or ``beyond`` it; ``absent`` when the build lacks a value the reference has, ``new``
  the other way round, ``reported`` for wall-clock values;
* each claim is ``same`` when every word of its verdict (the outcome) is the reference's,
  ``undecided`` when only its outcome differs and one of the two is "undecided" (a rounding-level
  change, such as another CPU's, may move a claim to or from undecided and no further: the
  design's rule of a verdict), else ``changed``; its counts are values like any other, and the
  units whose verdict moved are named;
* chapters that the build lacks (or did not execute at this profile, or not asked for) are
  skipped, and the report says so.

It exits nonzero when a value is beyond or absent, or a claim changed (a move through undecided
is reported, not a failure).

Intervals and tolerances (companion's choice). Bit equality is not expected across CPUs: oneDNN
picks its fp32 and bfloat16 kernels by the CPU's units, so another host trains other weights from
the same seed and every number downstream moves (the transformer's TV on logistic at the default
profile: 0.463 on one host, 0.523 on another). So a value is held to

* for a pair's TV (each seed): the range of the reference's TVs of that pair over its seeds,
  widened on each side by the pair's finite-sample null 95% quantile (median over seeds): a model
  trained on another host is another draw of training's randomness, as another seed is, and its
  TV carries the noise of a finite sample, which the null measures;
* for a statistic the claim record gives with an interval (a column ``X`` beside ``X CI`` or ``X
  interval``): that interval;
* for any other number: ``max(RELATIVE * |reference|, ABSOLUTE)`` by its kind (``TOLERANCE``): a
  count (integer) may move by 10% or at least one (a unit crossing a threshold moves it by one);
  a float by 20% or at least 0.05 (most are TVs, shares and correlations, on a scale of one,
  whose host-to-host moves reach 0.06; the larger ones, cells and joules, move in proportion);
* text: its words equal, each number in it as a number (sentences quoting counts and
  correlations; a different word, e.g. another pair named the worst, is beyond);
* values a chapter glues outside its cells tagged ``nbval-check-output`` (wall-clock seconds,
  cost ratios, which ``misgen verify`` does not compare either): reported, never a failure.
"""
from __future__ import annotations

import ast
import json
import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..provenance import cpu, host_description, package_versions
from .manifest import load_manifest
from .pages import recorded_claims
from .profiles import NotebookSpecError, discover, find
from .reference import FORMAT, ReferenceFileError, load_reference, reference_path, verdict_text
from .verify import CHECK_TAG

GLUE_MIME = "application/papermill.record/text/plain"
#: (relative, absolute) tolerance of a number without an interval, by kind (see the module doc)
TOLERANCE = {"count": (0.1, 1), "float": (0.2, 0.05)}
#: the names of a field holding the interval of field ``X``: ``X`` + one of these
INTERVAL_SUFFIXES = (" CI", " 95% CI", " interval", " 95% interval")
#: claim record fields that describe the claim or the run rather than state the verdict
DESCRIPTIVE = ("claim", "statement", "rule", "sentence", "notebook", "profile", "revision", "items",
               "statistic", "thresholds", "history", "control")
#: the columns naming a claim's unit (a task x model x seed entry, or a model class)
UNIT_KEYS = ("task", "model", "seed")
#: the claim items that give a pair's TV per seed, with its finite-sample null
TV_COLUMNS = ("task", "model", "seed", "TV", "TV null 95%")
FAILING = ("beyond", "absent")
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?![\w.])")
SIGNIFICANT = 6


# --- a build as a record ---------------------------------------------------------------------------

def _rounded(value: Any) -> Any:
    """``value`` with every float at ``SIGNIFICANT`` digits and NaN as ``None``, recursively."""
    if isinstance(value, float):
        return None if math.isnan(value) else float(f"{value:.{SIGNIFICANT}g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def glue_value(text: str) -> Any:
    """A glued value from its ``text/plain`` form (its ``repr``): the number or string itself,
    else the text."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return float(text) if text in ("nan", "inf", "-inf") else text
    return value if isinstance(value, (str, int, float)) else text


def glued(ipynb: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(checked, reported)``: name -> value of every value a notebook glues (myst-nb's
    ``glue``), from its cells tagged ``nbval-check-output`` and from its other cells."""
    checked, reported = {}, {}
    for cell in json.loads(Path(ipynb).read_text())["cells"]:
        into = checked if CHECK_TAG in cell.get("metadata", {}).get("tags", []) else reported
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is not None and GLUE_MIME in out.get("data", {}):
                into[name] = glue_value(out["data"][GLUE_MIME])
    return checked, reported


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def with_intervals(fields: dict[str, Any]) -> dict[str, list]:
    """Name -> ``[value, low, high]`` of every number in ``fields`` that has an interval beside it
    (a field named ``name`` + one of ``INTERVAL_SUFFIXES`` holding two numbers)."""
    out = {}
    for name, value in fields.items():
        for suffix in INTERVAL_SUFFIXES:
            pair = fields.get(name + suffix)
            if _is_number(value) and isinstance(pair, list) and len(pair) == 2 and all(map(_is_number, pair)):
                out[name] = [value, *pair]
    return out


def unit_label(row: dict[str, Any]) -> str:
    return " / ".join(str(row[k]) for k in UNIT_KEYS if k in row) or "all"


def tv_intervals(rows: list[dict[str, Any]]) -> dict[str, list]:
    """``"TV task / model / seed"`` -> ``[TV, low, high]``: the pair's range over seeds widened by
    its median finite-sample null 95% quantile (see the module doc)."""
    pairs: dict[tuple, list] = {}
    for row in rows:
        if all(c in row for c in TV_COLUMNS) and _is_number(row["TV"]):
            pairs.setdefault((row["task"], row["model"]), []).append(row)
    out = {}
    for (task, model), seeds in pairs.items():
        tvs = [r["TV"] for r in seeds]
        null = statistics.median(r["TV null 95%"] for r in seeds)
        for r in seeds:
            out[f"TV {task} / {model} / {r['seed']}"] = [r["TV"], min(tvs) - null, max(tvs) + null]
    return out


def claim_entry(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list]]:
    """A claim record (``claims.record``) as ``(verdict, intervals)``: its words and numbers with
    each unit's verdict, and the statistics it gives with an interval, the claim's own and its
    units' (named ``"<claim> <unit>: <statistic>"``) and its pairs' TV."""
    claim = record["claim"]
    fields = {k: v for k, v in record.items() if k not in DESCRIPTIVE}
    rows = [dict(zip(record["items"]["columns"], row)) for row in record["items"]["rows"]]
    intervals = {f"{claim} {name}": v for name, v in with_intervals(fields).items()}
    for row in rows:
        intervals.update({f"{claim} {unit_label(row)}: {name}": v for name, v in with_intervals(row).items()})
    verdict = {k: v for k, v in fields.items() if isinstance(v, (str, int, float, bool)) or v is None}
    verdict["units"] = {unit_label(row): row.get("counts") for row in rows}
    return verdict, {**intervals, **tv_intervals(rows)}


def chapter_record(executed: Path, entry: dict[str, Any], claims: list[dict]) -> dict[str, Any]:
    """The reference record of one executed chapter (``entry``: its manifest entry; ``claims``:
    the verdicts it recorded)."""
    values, reported = glued(executed)
    record = {"built": {k: entry.get(k) for k in ("revision", "host", "finished")},
              "values": values, "reported": reported, "intervals": {}, "claims": {}}
    for claim in claims:
        record["claims"][claim["claim"]], intervals = claim_entry(claim)
        record["intervals"].update(intervals)
    return record


def book_record(project, profile: str, chapters: list[str] | None = None) -> dict[str, Any]:
    """The reference record (``runner.reference``) of the chapters of ``project`` executed at
    ``profile`` without overrides (of those named in ``chapters``, stems or numbers, if given),
    with ``skipped``: stem -> why a chapter is not in it."""
    specs = discover(project.notebooks_dir)
    wanted = [find(specs, name).stem for name in chapters] if chapters else [s.stem for s in specs]
    manifest = load_manifest(project.manifest_path)
    current = {s: e for s, e in manifest.items() if s in wanted and e.get("status") == "ok"
               and e.get("profile") == profile and project.executed(s).exists()}
    claims = recorded_claims(project.executed_dir, specs, current)
    skipped = {}
    for spec in specs:
        entry = manifest.get(spec.stem)
        if spec.stem not in wanted:
            skipped[spec.stem] = "not asked for"
        elif entry is None or not project.executed(spec.stem).exists():
            skipped[spec.stem] = "not in this build"
        elif spec.stem not in current:
            skipped[spec.stem] = (f"{entry.get('status')} at profile {entry.get('profile')}" if entry.get("status")
                                  != "ok" else f"executed at profile {entry.get('profile')}, not {profile}")
    return _rounded({
        "format": FORMAT, "profile": profile,
        "revision": ", ".join(sorted({str(e.get("revision")) for e in current.values()})) or "none",
        "built": max((e.get("finished", "") for e in current.values()), default=None),
        "host": {**cpu(), "description": host_description()}, "packages": package_versions(),
        "chapters": {stem: chapter_record(project.executed(stem), entry,
                                          [c for c in claims.values() if c["notebook"] == stem])
                     for stem, entry in sorted(current.items())},
        "skipped": skipped})


def write_reference(project, profile: str, path: Path | None = None) -> Path:
    """Write the reference record of the book built at ``profile`` (every chapter current at that
    profile, else a ``NotebookSpecError`` naming those that are not) to ``path`` (default:
    ``reference.reference_path``); returns the path written."""
    record = book_record(project, profile)
    skipped = record.pop("skipped")
    if skipped:
        missing = ", ".join(f"{stem} ({why})" for stem, why in skipped.items())
        raise NotebookSpecError(f"a reference records a whole book at one profile, but these chapters are not "
                                f"current at profile {profile}: {missing}; build them first (misgen build "
                                f"--profile {profile})")
    path = Path(path) if path else reference_path(project.book_dir, profile)
    text = json.dumps(record, indent=1, sort_keys=True)
    one_line = re.sub(r'\[\n[^][{}"]*\]', lambda m: json.dumps(json.loads(m.group())), text)   # [value, low, high]
    path.write_text(one_line + "\n")
    return path


# --- a build against the reference -------------------------------------------------------------------

@dataclass
class Row:
    """One value compared: ``status`` is equal, within, beyond, absent, new or reported;
    ``against`` is what the value was held to (an interval, a tolerance)."""
    chapter: str
    name: str
    reference: Any
    build: Any
    status: str
    against: str = ""


@dataclass
class ClaimRow:
    """One claim compared: ``status`` is same, undecided (moved to or from it), changed or new;
    ``moved``: the units whose verdict differs."""
    claim: str
    chapter: str
    reference: dict | None
    build: dict | None
    status: str
    moved: list[str] = field(default_factory=list)


def tolerance(reference: float) -> float:
    """How far a number without an interval may move from ``reference`` (``TOLERANCE``)."""
    relative, absolute = TOLERANCE["count" if isinstance(reference, int) else "float"]
    return max(relative * abs(reference), absolute)


def judge(reference: Any, build: Any, interval: list | None = None) -> tuple[str, str]:
    """``(status, against)`` of a build's value beside the reference's (see the module doc)."""
    if reference == build:
        return "equal", ""
    if interval is not None:
        low, high = interval
        inside = _is_number(build) and low <= build <= high
        return ("within" if inside else "beyond"), f"interval [{low:.4g}, {high:.4g}]"
    if _is_number(reference) and _is_number(build):
        allowed = tolerance(reference)
        return ("within" if abs(build - reference) <= allowed else "beyond"), f"tolerance ±{allowed:.3g}"
    if isinstance(reference, str) and isinstance(build, str):
        if NUMBER.sub("#", reference) != NUMBER.sub("#", build):
            return "beyond", "its words differ"
        numbers = [judge(_number(a), _number(b))[0]
                   for a, b in zip(NUMBER.findall(reference), NUMBER.findall(build))]
        if "beyond" in numbers:
            return "beyond", "same words, a number beyond its tolerance"
        return "within", "same words, each number within its tolerance"
    return "beyond", "no tolerance between these values"


def _number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def _rows(chapter: str, reference: dict, build: dict, judge_one) -> list[Row]:
    """Rows of the values of ``reference`` and ``build`` (name -> value), those both have judged
    by ``judge_one(name, reference value, build value)``."""
    rows = []
    for name in dict.fromkeys([*reference, *build]):
        if name not in build:
            rows.append(Row(chapter, name, reference[name], None, "absent"))
        elif name not in reference:
            rows.append(Row(chapter, name, None, build[name], "new"))
        else:
            rows.append(Row(chapter, name, reference[name], build[name],
                            *judge_one(name, reference[name], build[name])))
    return rows


def _words(verdict: dict) -> dict:
    return {k: v for k, v in verdict.items() if isinstance(v, (str, bool))}


def claim_status(reference: dict, build: dict) -> str:
    """``same``, ``undecided`` (only the outcome differs, through "undecided") or ``changed``."""
    r, b = _words(reference), _words(build)
    if r == b:
        return "same"
    through_undecided = "undecided" in (r.get("outcome"), b.get("outcome"))
    others_equal = {k: v for k, v in r.items() if k != "outcome"} == {k: v for k, v in b.items() if k != "outcome"}
    return "undecided" if through_undecided and others_equal else "changed"


def _numbers(claim: str, verdict: dict) -> dict:
    return {f"{claim} {k}": v for k, v in verdict.items() if _is_number(v) or v is None}


def compare_chapter(stem: str, reference: dict, build: dict) -> tuple[list[Row], list[ClaimRow]]:
    """One chapter's record (``runner.reference``) against the reference's."""
    rows = _rows(stem, reference["values"], build["values"], lambda name, r, b: judge(r, b))
    rows += _rows(stem, reference["reported"], build["reported"],
                  lambda name, r, b: ("equal", "") if r == b else ("reported", "wall-clock: never a failure"))
    intervals = reference["intervals"]
    rows += _rows(stem, {n: v[0] for n, v in intervals.items()}, {n: v[0] for n, v in build["intervals"].items()},
                  lambda name, r, b: judge(r, b, intervals[name][1:]))
    claims = []
    for claim in dict.fromkeys([*reference["claims"], *build["claims"]]):
        r, b = reference["claims"].get(claim), build["claims"].get(claim)
        if r is None or b is None:
            claims.append(ClaimRow(claim, stem, r, b, "new" if r is None else "changed"))
            continue
        rows += _rows(stem, _numbers(claim, r), _numbers(claim, b), lambda name, x, y: judge(x, y))
        units = dict.fromkeys([*r["units"], *b["units"]])
        claims.append(ClaimRow(claim, stem, r, b, claim_status(r, b),
                               [u for u in units if r["units"].get(u, "absent") != b["units"].get(u, "absent")]))
    return rows, claims


@dataclass
class Comparison:
    """A build's record against the reference: every value and claim of the chapters both have,
    and the chapters skipped (stem -> why)."""
    reference: dict
    build: dict
    values: list[Row]
    claims: list[ClaimRow]
    skipped: dict[str, str]

    @property
    def compared(self) -> list[str]:
        return sorted(set(self.reference["chapters"]) & set(self.build["chapters"]))

    @property
    def failed(self) -> bool:
        """Whether a value is beyond or absent, a claim changed, or no chapter was compared."""
        return (not self.compared or any(r.status in FAILING for r in self.values)
                or any(c.status == "changed" for c in self.claims))

    def report(self, everything: bool = False) -> str:
        """The comparison as text: the two builds, the chapters, each claim, each value that is
        not equal (every value with ``everything``), and a summary."""
        ref, new = self.reference, self.build
        lines = [f"reference:  profile {ref['profile']}, revision {ref['revision']}, built {ref['built']} on "
                 f"{ref['host']['description']}",
                 f"this build: profile {new['profile']}, revision {new['revision']}, on {new['host']['description']}",
                 f"chapters compared: {', '.join(self.compared) or 'none'}"]
        for why in dict.fromkeys(self.skipped.values()):
            lines.append(f"skipped ({why}): " + ", ".join(s for s, w in sorted(self.skipped.items()) if w == why))
        lines += ["", "claims:"] + [
            f"  {c.claim:4} {c.status:8} {verdict_text(c.build) if c.build else 'not recorded'} "
            f"(reference: {verdict_text(c.reference) if c.reference else 'not recorded'}; {c.chapter})"
            + (f"; units whose verdict moved: {', '.join(c.moved)}" if c.moved else "") for c in self.claims]
        lines += ["", "values" + ("" if everything else " (those not equal; --all lists every one)") + ":"]
        lines += [f"  {r.status:8} {r.chapter} {r.name}: {_shown(r.build)} against {_shown(r.reference)}"
                  + (f" ({r.against})" if r.against else "") for r in self.values if everything or r.status != "equal"]
        counts = {s: sum(r.status == s for r in self.values) for s in dict.fromkeys(r.status for r in self.values)}
        changed = sum(c.status == "changed" for c in self.claims)
        through = sum(c.status == "undecided" for c in self.claims)
        lines += ["", "summary: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + f" values; "
                  f"{len(self.claims) - changed - through} claims same, "
                  + (f"{through} moved to or from undecided, " if through else "") + f"{changed} changed",
                  "result: " + ("differs from the reference" if self.failed else "matches the reference")]
        return "\n".join(lines)


def _shown(value: Any) -> str:
    return "–" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)


def compare(reference: dict, build: dict) -> Comparison:
    """``build`` (a record from ``book_record``) against ``reference``, chapter by chapter."""
    rows, claims, skipped = [], [], dict(build.get("skipped", {}))
    for stem in sorted(set(reference["chapters"]) | set(build["chapters"])):
        if stem not in build["chapters"]:
            skipped.setdefault(stem, "not in this build")
        elif stem not in reference["chapters"]:
            skipped[stem] = "not in the reference"
        else:
            chapter_rows, chapter_claims = compare_chapter(stem, reference["chapters"][stem], build["chapters"][stem])
            rows += chapter_rows
            claims += chapter_claims
    return Comparison(reference, build, rows, claims, skipped)


def compare_build(project, profile: str, chapters: list[str] | None = None, path: Path | None = None) -> Comparison:
    """The chapters of ``project`` built at ``profile`` (those named in ``chapters``, if given)
    against the reference at ``path`` (default: ``reference.reference_path``)."""
    path = Path(path) if path else reference_path(project.book_dir, profile)
    reference = load_reference(path)
    if reference.get("profile") != profile:
        raise ReferenceFileError(f"reference file {path} records profile {reference.get('profile')!r}, but "
                                 f"the build is compared at profile {profile!r}")
    return compare(reference, book_record(project, profile, chapters))
