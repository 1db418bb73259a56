"""Two built books side by side: the before/after table of a change that moves the book's numbers.

Reads two checkouts' executed books (``book/executed``: the run manifest, the recorded claim
verdicts and the values each chapter glues into its text) and prints, as markdown:

* per chapter, the duration of its last execution and the host that ran it;
* per claim, the verdict with its counts, and which of its items changed;
* every glued value that differs between the two (the numbers the chapters' text quotes: TV per
  pair, plausible entries, the kernel's correlation and share beside their ceilings, the
  mitigations' reductions), or all of them with ``--all``.

    python benchmarks/compare_books.py /path/to/before /path/to/after [--all]

It runs nothing and trains nothing. A chapter marked ``stale`` (an upstream chapter was re-run
after it) is compared as it was last executed, and labelled; any other chapter that is not
``ok`` in a manifest is shown as such.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from misgen_lib.runner import Project, discover
from misgen_lib.runner.manifest import load_manifest
from misgen_lib.runner.pages import recorded_claims

GLUE_MIME = "application/papermill.record/text/plain"
COMPARED = ("ok", "stale")   # statuses whose executed output is compared


def glued(ipynb: Path) -> dict[str, str]:
    """Name -> value (as text) of every value a notebook glues (myst-nb's ``glue``)."""
    if not ipynb.exists():
        return {}
    values = {}
    for cell in json.loads(ipynb.read_text())["cells"]:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is not None and GLUE_MIME in out.get("data", {}):
                values[name] = out["data"][GLUE_MIME]
    return values


def book(root: Path) -> dict:
    project = Project(root)
    if not project.manifest_path.exists():
        raise SystemExit(f"{root} has no built book ({project.manifest_path} is missing); build it first "
                         f"(make book)")
    specs = discover(project.notebooks_dir)
    manifest = load_manifest(project.manifest_path)
    return {"specs": [s.stem for s in specs], "manifest": manifest,
            "claims": recorded_claims(project.executed_dir, specs, {
                stem: {**entry, "status": "ok"} if entry.get("status") in COMPARED else entry
                for stem, entry in manifest.items()}),
            "glued": {s.stem: glued(project.executed(s.stem)) for s in specs}}


def cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def chapters_table(before: dict, after: dict) -> list[str]:
    lines = ["| chapter | before | after |", "|---|---|---|"]
    for stem in dict.fromkeys(before["specs"] + after["specs"]):
        sides = []
        for b in (before, after):
            entry = b["manifest"].get(stem, {})
            if entry.get("status") not in COMPARED:
                sides.append(entry.get("status", "absent"))
            else:
                sides.append(("stale, " if entry["status"] == "stale" else "") +
                             f"{entry.get('duration_s', float('nan')):.0f} s ({entry.get('host', 'host not recorded')}, "
                             f"`{entry.get('revision', '?')}`)")
        lines.append(f"| {stem} | {cell(sides[0])} | {cell(sides[1])} |")
    return lines


def label(row: list) -> str:
    """An item's name: its leading text and integer columns (task, model, seed...), up to its
    first value (a number, a flag, a list)."""
    names = []
    for value in row:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            break
        names.append(str(value))
    return " / ".join(names) or str(row[0])


def claims_table(before: dict, after: dict) -> list[str]:
    lines = ["| claim | before | after | items that changed |", "|---|---|---|---|"]
    for claim in sorted(set(before["claims"]) | set(after["claims"])):
        b, a = before["claims"].get(claim), after["claims"].get(claim)
        show = [f"{r['outcome']}, {r['passed']} of {r['total']}" if r else "not recorded" for r in (b, a)]
        changed = "-"
        if a and b:
            rows_b, rows_a = b["items"]["rows"], a["items"]["rows"]
            moved = [label(r) for rb, r in zip(rows_b, rows_a) if json.dumps(rb) != json.dumps(r)]
            if len(rows_b) != len(rows_a):
                moved.append(f"{len(rows_b)} rows before, {len(rows_a)} after")
            changed = "; ".join(moved) if moved else "none (every value equal)"
        lines.append(f"| {claim} | {show[0]} | {show[1]} | {cell(changed)} |")
    return lines


def glued_table(before: dict, after: dict, everything: bool) -> list[str]:
    lines = ["| chapter | value | before | after |", "|---|---|---|---|"]
    for stem in dict.fromkeys(before["specs"] + after["specs"]):
        b, a = before["glued"].get(stem, {}), after["glued"].get(stem, {})
        for name in dict.fromkeys(list(b) + list(a)):
            if everything or b.get(name) != a.get(name):
                lines.append(f"| {stem} | `{name}` | {cell(b.get(name, '-'))} | {cell(a.get(name, '-'))} |")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="checkout whose book/executed is the 'before'")
    parser.add_argument("after", type=Path, help="checkout whose book/executed is the 'after'")
    parser.add_argument("--all", action="store_true", help="list every glued value, not only those that differ")
    args = parser.parse_args(argv)
    before, after = book(args.before), book(args.after)
    for title, lines in (("Chapters", chapters_table(before, after)), ("Claims", claims_table(before, after)),
                         ("Glued values" + ("" if args.all else " that differ"),
                          glued_table(before, after, args.all))):
        print(f"## {title}\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
