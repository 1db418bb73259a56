"""The run manifest (``book/executed/manifest.json``) and its rendering on the Reproduce page.

One entry per notebook: the host that ran it (its CPU and bfloat16 units), status (``ok``; ``running`` while it runs, which a killed build leaves
behind; ``failed`` with a one-line ``failure``; ``not run`` after an earlier failure; ``stale``
with a ``stale_reason`` after ``misgen run`` of a notebook it depends on), duration, key, profile,
git revision, finish time, the merged parameters, any ``misgen run`` overrides, the keys of its
upstream notebooks it was made from (``upstream``) and the cache entries it made or used
(``artifacts``). The Reproduce page
includes ``book/executed/run_manifest.md``, written by :func:`write_reproduce_tables`, with the
run table and each notebook's parameter table.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

from .profiles import NotebookSpec

STATUSES = ("ok", "running", "failed", "not run", "stale")
#: how an entry's ``finished`` time (UTC) is written, and read back for the run table's span
FINISHED_FORMAT = "%Y-%m-%d %H:%M:%S"


def load_manifest(path: Path) -> dict[str, dict[str, Any]]:
    """The manifest, or ``{}`` when absent; an unreadable one is reported and ignored (every
    notebook then reruns, which is safe)."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return data
    except ValueError as err:
        warnings.warn(f"run manifest {path} is unreadable ({err}); every notebook will be re-executed",
                      stacklevel=2)
        return {}


def save_manifest(path: Path, manifest: dict[str, dict[str, Any]]) -> None:
    """Atomic write (temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".manifest.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True, default=str)
    os.replace(tmp, path)


def _cell(value: Any) -> str:
    """A value as a markdown table cell (pipes escaped, code formatting)."""
    text = repr(value) if not isinstance(value, str) or value == "" else value
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`"


def _text(value: str) -> str:
    return value.replace("|", "\\|")


def run_table(manifest: dict[str, dict[str, Any]], specs: list[NotebookSpec]) -> str:
    lines = ["| notebook | status | duration | key | profile | revision | finished |",
             "|---|---|---|---|---|---|---|"]
    for spec in specs:
        entry = manifest.get(spec.stem, {})
        status = entry.get("status", "not run")
        if status == "ok" and entry.get("reused"):
            status = "ok (unchanged, reused)"
        duration = f"{entry['duration_s']:.1f} s" if entry.get("duration_s") is not None else "-"
        lines.append("| " + " | ".join([
            _cell(spec.stem), _text(status), duration, _cell(entry.get("key", "-")[:12]),
            _cell(entry.get("profile", "-")), _cell(entry.get("revision", "-")),
            _text(entry.get("finished", "-"))]) + " |")
    timed = [manifest[s.stem] for s in specs if manifest.get(s.stem, {}).get("duration_s") is not None]
    total = sum(e["duration_s"] for e in timed)
    lines.append(f"| **whole book** | {len(timed)} of {len(specs)} chapters timed | "
                 f"**{total / 60:.1f} min** | | | | |")
    lines += ["", "The whole book's time is the sum of the chapters' last executions (a reused chapter "
              "counts its last execution; rendering, about a minute, is not included)."]
    span = side_by_side_span(timed, total)
    if span is not None:
        lines[-1] += (f" These chapters ran side by side: from the first one's start to the last one's "
                      f"finish took **{span / 60:.1f} min** of wall-clock time.")
    hosts = sorted({manifest[s.stem]["host"] for s in specs if manifest.get(s.stem, {}).get("host")})
    if hosts:
        lines += ["", "Executed on: " + "; ".join(_text(h) for h in hosts) + "."]
    return "\n".join(lines)


def side_by_side_span(timed: list[dict[str, Any]], total: float) -> float | None:
    """Seconds from the earliest start (finish minus duration) to the latest finish of the timed
    chapters, when they overlapped in one build (``misgen build --parallel``): none reused and
    the span shorter than ``total``, the sum of their durations. ``None`` otherwise, where the
    sum is the book's time."""
    if len(timed) < 2 or any(e.get("reused") for e in timed):
        return None
    try:
        ends = [datetime.strptime(e["finished"], FINISHED_FORMAT).timestamp() for e in timed]
    except (KeyError, TypeError, ValueError):
        return None
    span = max(ends) - min(end - e["duration_s"] for end, e in zip(ends, timed))
    return span if span < total - 1 else None


def parameter_table(spec: NotebookSpec) -> str:
    lines = ["| parameter | meaning | type | default | ci | paper |", "|---|---|---|---|---|---|"]
    for p in spec.parameters:
        def profile_value(name):
            return _cell(spec.profiles[name][p.name]) if p.name in spec.profiles[name] else "="
        lines.append("| " + " | ".join([_cell(p.name), _text(p.comment), p.type_name, _cell(p.default),
                                        profile_value("ci"), profile_value("paper")]) + " |")
    return "\n".join(lines)


def reproduce_tables(manifest: dict[str, dict[str, Any]], specs: list[NotebookSpec]) -> str:
    """MyST markdown: the run table, then one parameter table per notebook."""
    parts = ["## Last build", "", run_table(manifest, specs) if specs else "No chapters yet.", "",
             "## Parameters of each notebook", "",
             "*default* is the value in the notebook's parameters cell (= the `default` profile); "
             "`=` means the profile keeps it.", ""]
    for spec in specs:
        entry = manifest.get(spec.stem, {})
        depends = f" (uses artifacts of {', '.join(spec.depends)})" if spec.depends else ""
        parts += [f"### `{spec.stem}`{depends}", "", parameter_table(spec), ""]
        if entry.get("overrides"):
            parts += ["Overrides of the last run: "
                      + ", ".join(f"`{k}={v!r}`" for k, v in entry["overrides"].items()), ""]
    return "\n".join(parts)


def write_reproduce_tables(path: Path, manifest: dict[str, dict[str, Any]],
                           specs: list[NotebookSpec]) -> None:
    text = reproduce_tables(manifest, specs)
    if not path.exists() or path.read_text() != text:  # unchanged file: no Sphinx re-read
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
