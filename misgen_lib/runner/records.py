"""Run records: one JSON file per timed build or benchmark run, under ``benchmarks/runs/``.

A record says what ran, where and how long it took, so that a reader can compare a build of
their own with the builds of others::

    {"date": "2026-12-04", "revision": "bffadd5", "command": "make book", "profile": "default",
     "cache": "cold", "cpu": "AMD EPYC ...", "bf16_units": ["avx512_bf16"], "wall_s": 4301,
     "chapter_s": {"01": 11, "02": 1203}, "peak_memory_gib": 1.6,
     "claims": {"C1": "partly supports, 24 of 36"}, "note": "..."}

``date``, ``revision``, ``command``, ``cpu`` and ``note`` are required; the others may be
``null`` or absent where they were not measured or recorded (``profile`` is ``null`` for a
benchmark script, ``cache`` is ``cold`` or ``warm``, ``bf16_units`` is ``[]`` for a CPU without
bfloat16 units and ``null`` where they were not recorded; ``results`` maps a benchmark's measures to its numbers).
:func:`records_table` renders them, newest
first, for the book's Reproduce page and ``misgen record --list``; :func:`record_from_build` makes
one from a build's run manifest and recorded verdicts (``misgen record``).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..provenance import cpu, host_description
from .manifest import load_manifest, side_by_side_span
from .pages import base_profile, recorded_claims, write_if_changed
from .profiles import discover

REQUIRED = ("date", "revision", "command", "cpu", "note")
OPTIONAL = ("profile", "cache", "bf16_units", "wall_s", "chapter_s", "peak_memory_gib", "claims", "results")
CACHES = ("cold", "warm", None)


class RecordError(ValueError):
    """A run record that is not valid JSON, lacks a field or has one of the wrong kind."""


def check_record(record: Any, where: str) -> dict[str, Any]:
    """``record`` if it has every required field and only known ones; else a ``RecordError``
    naming ``where`` and what is wrong."""
    if not isinstance(record, dict):
        raise RecordError(f"{where}: a run record is a JSON object, got {type(record).__name__}")
    problems = [f"missing {name!r}" for name in REQUIRED if not record.get(name)]
    problems += [f"unknown field {name!r}" for name in record if name not in REQUIRED + OPTIONAL]
    if not isinstance(record.get("bf16_units", []), (list, type(None))):
        problems.append("'bf16_units' must be a list (empty for none, null where not recorded)")
    if not re.fullmatch(r"\d{4}-\d\d-\d\d", str(record.get("date"))):
        problems.append(f"'date' must read YYYY-MM-DD, got {record.get('date')!r}")
    if record.get("cache") not in CACHES:
        problems.append(f"'cache' must be one of {CACHES}, got {record.get('cache')!r}")
    for name in ("wall_s", "peak_memory_gib"):
        if record.get(name) is not None and not isinstance(record[name], (int, float)):
            problems.append(f"{name!r} must be a number, got {record[name]!r}")
    for name in ("chapter_s", "claims", "results"):
        if not isinstance(record.get(name) or {}, dict):
            problems.append(f"{name!r} must map names to values, got {record[name]!r}")
    if problems:
        raise RecordError(f"{where}: " + "; ".join(problems))
    return record


def load_records(folder: Path) -> list[dict[str, Any]]:
    """Every record of ``folder`` (``*.json``), checked, newest first (``[]`` when absent)."""
    records = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            records.append(check_record(json.loads(path.read_text()), str(path)))
        except json.JSONDecodeError as err:
            raise RecordError(f"{path}: not valid JSON: {err}") from None
    return sorted(records, key=lambda r: r["date"], reverse=True)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _units(units: list[str] | None) -> str:
    return "not recorded" if units is None else ", ".join(units) or "none"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def records_table(records: list[dict[str, Any]]) -> str:
    """Markdown: one row per record, in the given order."""
    if not records:
        return "No run records yet."
    lines = ["| date | revision | command | profile, cache | CPU (bfloat16 units) | wall time | chapters "
             "| peak memory | claims | note |", "|" + "---|" * 10]
    for r in records:
        chapters = "; ".join(f"{k}: {_duration(v)}" for k, v in (r.get("chapter_s") or {}).items())
        claims = "; ".join(f"{k} {v}" for k, v in (r.get("claims") or {}).items())
        memory = f"{r['peak_memory_gib']:g} GiB" if r.get("peak_memory_gib") is not None else "–"
        setting = ", ".join(str(r[k]) for k in ("profile", "cache") if r.get(k)) or "–"
        lines.append("| " + " | ".join(_cell(c) for c in [
            r["date"], f"`{r['revision']}`", f"`{r['command']}`", setting,
            f"{r['cpu']} ({_units(r.get('bf16_units'))})", _duration(r.get("wall_s")),
            chapters or "–", memory, claims or "–", r["note"]]) + " |")
    return "\n".join(lines)


def record_from_build(project, command: str, note: str, cache: str | None = None,
                      wall_s: float | None = None, peak_memory_gib: float | None = None) -> dict[str, Any]:
    """A run record of the last build of ``project`` (a ``Project``), from its run manifest:
    revision, profile, each chapter's duration, the claims' verdicts; ``wall_s`` defaults to the
    chapters' side-by-side span (or the sum of their durations), without install or rendering.
    The build must have run on this host, whose CPU the record names."""
    specs = discover(project.notebooks_dir)
    manifest = load_manifest(project.manifest_path)
    timed = {s.stem: manifest[s.stem] for s in specs
             if manifest.get(s.stem, {}).get("status") == "ok" and manifest[s.stem].get("duration_s") is not None}
    if not timed:
        raise RecordError(f"{project.manifest_path}: no chapter finished, nothing to record")
    hosts = {e.get("host") for e in timed.values()} - {None}
    if hosts - {host_description()}:
        raise RecordError(f"the build ran on {', '.join(sorted(hosts))}, this host is {host_description()}; "
                          "write its record on the host that ran it")
    total = sum(e["duration_s"] for e in timed.values())
    record = {"date": max(e["finished"] for e in timed.values())[:10],
              "revision": ", ".join(sorted({e["revision"] for e in timed.values()})),
              "command": command, "profile": ", ".join(sorted({base_profile(e) for e in timed.values()})),
              "cache": cache, "cpu": cpu()["model"], "bf16_units": cpu()["bf16_units"],
              "wall_s": round(wall_s if wall_s is not None
                              else side_by_side_span(list(timed.values()), total) or total),
              "chapter_s": {stem.split("_")[0]: round(e["duration_s"]) for stem, e in timed.items()},
              "peak_memory_gib": peak_memory_gib,
              "claims": {claim: f"{r['outcome']}, {r['passed']} of {r['total']}" for claim, r in
                         sorted(recorded_claims(project.executed_dir, specs, manifest).items())},
              "note": note}
    return check_record(record, "the new record")


def write_record(folder: Path, record: dict[str, Any]) -> Path:
    """``record`` as ``<folder>/<date>_<revision>_<command>_<profile>.json``; an existing file is an
    error (a record is never overwritten)."""
    name = "_".join(str(record[k]) for k in ("date", "revision", "command", "profile") if record.get(k))
    slug = re.sub(r"[^A-Za-z0-9_]+", "-", name).strip("-")
    path = Path(folder) / f"{slug}.json"
    if path.exists():
        raise RecordError(f"{path} exists; a record is never overwritten (give the new one another --command)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(check_record(record, str(path)), indent=1) + "\n")
    return path


def write_records_page(project) -> None:
    """The Reproduce page's table of every run record (``book/executed/run_records.md``)."""
    write_if_changed(project.records_page, records_table(load_records(project.records_dir)) + "\n")
