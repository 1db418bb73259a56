"""Pages the runner generates for the reader, between executing and rendering.

On every executed chapter (``book/executed/NN_name.ipynb``, status ``ok``), idempotently:

* the ``parameters`` cell and papermill's ``injected-parameters`` cell get the tag
  ``remove-cell`` (they stay in the notebook, so it re-runs as is in Jupyter), and in their place
  a generated markdown cell, the **re-run box**, shows the parameters once, as a table (name,
  value in this build, default, type, meaning), the exact ``misgen run`` command with this
  build's values, what the last run cost (the manifest's duration) and download links for the
  chapter's source (``.md``) and executed notebook (``.ipynb``);
* cells that draw a figure (``figures.show``) get ``hide-input`` (the code folds behind a
  toggle), ``full-width`` when a figure is wider than the text column, and their figures' alt
  text as the cell's image option (myst-nb reads alt text only there).

Beside the chapters, two pages the table of contents names:

* ``book/executed/figure_index.md``: every figure (``book/executed/figures/<notebook>/*.png``)
  as a thumbnail with chapter, caption, profile, seed, revision and the command that regenerates
  it, linked both ways with the figure's provenance line on its chapter page;
* ``book/executed/claims.md``: each paper claim (C1-C7), the verdict this build computed
  (recorded by ``misgen_lib.studies.claims.record`` into ``book/executed/claims/<notebook>/``),
  the numbers behind it and the chapter that computed it, beside the verdict of the reference
  book of the same profile where one is committed (``runner.reference``).

Nothing here imports the science layers: the runner reads only what the notebooks wrote.
"""
from __future__ import annotations

import base64
import json
import shlex
import shutil
import struct
from pathlib import Path
from typing import Any

import nbformat

from ..figures import INDEX_PAGE, chapter_anchor, index_anchor, read_provenance
from ..vocabulary import CLAIM_IDS, CLAIMS_DIR_ENV, check_claim
from .manifest import load_manifest
from .profiles import PROFILE_PARAMETER, NotebookSpec, NotebookSpecError, discover
from .reference import claim_verdicts, load_reference, reference_path, verdict_text

FIGURE_INDEX_DOC = Path(INDEX_PAGE).stem
CLAIMS_DOC = "claims"
#: cell metadata key marking the cells this module generated (replaced on every build)
GENERATED = "misgen_generated"
#: a figure wider than this (pixels, at ``figures.DPI``) gets the whole page width
FULL_WIDTH_PX = 1100
FIGURE_CALL = "figures.show("


def claims_dir(executed_dir: Path, stem: str) -> Path:
    return Path(executed_dir) / "claims" / stem


def claims_environment(executed_dir: Path, stem: str) -> dict[str, str]:
    """The variable telling ``claims.record`` where notebook ``stem`` records its verdicts;
    that folder is emptied first, so no verdict of an earlier run survives a re-execution."""
    folder = claims_dir(executed_dir, stem)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return {CLAIMS_DIR_ENV: str(folder)}


def write_generated_pages(project) -> None:
    """Decorate every current executed chapter and write the figure index and claims pages
    (``project``: a ``build.Project``). Files are rewritten only when their content changes."""
    specs = discover(project.notebooks_dir)
    manifest = load_manifest(project.manifest_path)
    current = [s for s in specs if manifest.get(s.stem, {}).get("status") == "ok"
               and project.executed(s.stem).exists()]
    for spec in current:
        decorate_chapter(project.executed(spec.stem), spec, manifest[spec.stem])
    write_if_changed(project.executed_dir / f"{FIGURE_INDEX_DOC}.md",
                      figure_index(project, current, manifest))
    write_if_changed(project.executed_dir / f"{CLAIMS_DOC}.md",
                      claims_page(project.executed_dir, specs, manifest))


def write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:  # unchanged file: no Sphinx re-read
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


# --- the re-run box -----------------------------------------------------------------------------

def base_profile(entry: dict[str, Any]) -> str:
    """The profile of a manifest entry without the ``+overrides`` mark."""
    return str(entry.get("profile", "default")).split("+")[0]


def cli_value(value: Any) -> str:
    """``value`` as a shell word that ``misgen run -p NAME VALUE`` parses back to it."""
    return shlex.quote(repr(value) if isinstance(value, str) else str(value))


def rerun_command(spec: NotebookSpec, entry: dict[str, Any], separator: str = " ") -> str:
    """``misgen run NN --profile P -p name value ...`` with this build's value of every
    parameter (``profile`` is set by ``--profile``); ``separator`` joins the ``-p`` options
    (``" \\\n  "``: one per line)."""
    values = entry.get("parameters", {})
    parts = [f"misgen run {spec.stem.split('_', 1)[0]} --profile {base_profile(entry)}"]
    parts += [f"-p {p.name} {cli_value(values.get(p.name, p.default))}" for p in spec.parameters
              if p.name != PROFILE_PARAMETER]
    return separator.join(parts)


def _code(value: Any) -> str:
    text = value if isinstance(value, str) and value else repr(value)
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`"


def parameter_values_table(spec: NotebookSpec, entry: dict[str, Any]) -> str:
    """Markdown table: parameter, value in this build, default, type, meaning."""
    values = entry.get("parameters", {})
    lines = ["| parameter | this build | default | type | meaning |", "|---|---|---|---|---|"]
    for p in spec.parameters:
        value = values.get(p.name, p.default)
        shown = _code(value) if value == p.default else f"**{_code(value)}**"
        lines.append(f"| `{p.name}` | {shown} | {_code(p.default)} | {p.type_name} | "
                     f"{p.comment.replace('|', chr(92) + '|')} |")
    return "\n".join(lines)


def cost_sentence(spec: NotebookSpec, entry: dict[str, Any]) -> str:
    duration = entry.get("duration_s")
    took = f"took **{duration:.1f} s**" if duration is not None else "has no recorded duration"
    text = (f"Its last run {took} on the machine that built this page ({entry.get('host', 'CPU not recorded')}; profile "
            f"`{entry.get('profile', '?')}`, revision `{entry.get('revision', '?')}`, finished "
            f"{entry.get('finished', '?')} UTC).")
    if spec.depends:
        text += (" It loads the cached results of " + ", ".join(f"`{d}`" for d in spec.depends)
                 + ": build those at the same profile first (`misgen build --profile "
                 f"{base_profile(entry)}` runs everything in order and skips what is current).")
    return text


def rerun_box(spec: NotebookSpec, entry: dict[str, Any]) -> str:
    """The generated markdown of a chapter's re-run box (MyST)."""
    overrides = entry.get("overrides") or {}
    note = (" with the overrides " + ", ".join(f"`{k}={v!r}`" for k, v in overrides.items())
            if overrides else "")
    return "\n".join([
        "````{admonition} Re-run this chapter",
        ":class: tip misgen-rerun",
        "",
        f"This page was executed at profile `{base_profile(entry)}`{note}; values that differ "
        "from the notebook's defaults are in bold. Change any value and run, from the "
        "repository root:",
        "",
        "```bash",
        rerun_command(spec, entry, separator=" \\\n  "),
        "```",
        "",
        parameter_values_table(spec, entry),
        "",
        cost_sentence(spec, entry) + f" `misgen params {spec.stem.split('_', 1)[0]}` lists the "
        "values of every profile.",
        "",
        f"Download: {{download}}`source (.md) <../../notebooks/{spec.path.name}>` · "
        f"{{download}}`executed notebook (.ipynb) <{spec.stem}.ipynb>` (opens in Jupyter with "
        "`misgen_lib` installed and re-runs as is).",
        "````",
    ])


def png_width(data: str) -> int:
    """Pixel width of a base64 PNG (from its IHDR header)."""
    header = base64.b64decode(data[:44])
    return struct.unpack(">I", header[16:20])[0]


def _add_tag(cell, tag: str) -> None:
    tags = cell.metadata.setdefault("tags", [])
    if tag not in tags:
        tags.append(tag)


def decorate_chapter(path: Path, spec: NotebookSpec, entry: dict[str, Any]) -> bool:
    """Tag and box an executed chapter (see the module doc); idempotent. Returns whether the
    file changed."""
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    nb.cells = [c for c in nb.cells if GENERATED not in c.metadata]
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "parameters" in tags or "injected-parameters" in tags:
            _add_tag(cell, "remove-cell")
        elif cell.cell_type == "code" and FIGURE_CALL in cell.source:
            _add_tag(cell, "hide-input")
            images = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
            if images and max(png_width(o["data"]["image/png"]) for o in images) > FULL_WIDTH_PX:
                _add_tag(cell, "full-width")
            alts = [a for a in dict.fromkeys(o.get("metadata", {}).get("image/png", {}).get("alt")
                                             for o in images) if a]
            if alts:  # myst-nb takes an image's alt text from the cell, not from the output
                cell.metadata.setdefault("mystnb", {}).setdefault("image", {})["alt"] = " / ".join(alts)
    box = nbformat.v4.new_markdown_cell(rerun_box(spec, entry), id="misgen-rerun-box")  # fixed id: idempotent
    box.metadata[GENERATED] = "rerun-box"
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at, box)
    text = nbformat.writes(nb)
    if text == before:
        return False
    path.write_text(text)
    return True


# --- the figure index ---------------------------------------------------------------------------

def figures_in_order(project, spec: NotebookSpec) -> list[Path]:
    """The PNGs of a chapter in the order its page shows them (by the provenance lines of
    the executed notebook), then any others by name."""
    folder = project.figures_dir / spec.stem
    saved = {p.stem: p for p in sorted(folder.glob("*.png"))}
    nb = nbformat.read(project.executed(spec.stem), as_version=4)
    shown = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html", "")
            for name in saved:
                if f'id="{chapter_anchor(name)}"' in html and name not in shown:
                    shown.append(name)
    return [saved[n] for n in shown] + [saved[n] for n in saved if n not in shown]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def figure_entry(png: Path, spec: NotebookSpec, entry: dict[str, Any], executed_dir: Path) -> str:
    info = read_provenance(png)
    name = info["figure"]
    chapter = f"{spec.stem}.html#{chapter_anchor(name)}"
    caption = _one_line(info.get("caption", "")) or "(no caption)"
    return "\n".join([
        f'<div class="misgen-figure-entry" id="{index_anchor(spec.stem, name)}"></div>',
        "",
        f"### `{name}`",
        "",
        f"```{{image}} {png.relative_to(executed_dir).as_posix()}",
        f":alt: {_one_line(info.get('alt', name))}",
        ":width: 360px",
        "```",
        "",
        f"- **chapter**: {{doc}}`{spec.stem}` (<a href=\"{chapter}\">the figure on its page</a>)",
        f"- **caption**: {caption}",
        f"- **profile** `{info['profile']}` · **seed** `{info['seed']}` · **revision** "
        f"`{info['revision']}` · misgen `{info.get('misgen', '?')}`",
        f"- **regenerate**: `{rerun_command(spec, entry)}` (writes "
        f"`book/executed/figures/{spec.stem}/{png.name}`)",
        "",
    ])


def figure_index(project, specs: list[NotebookSpec], manifest: dict) -> str:
    parts = ["# Figure index", "",
             "Every figure of this build, chapter by chapter. Each figure's PNG carries its "
             "provenance in its metadata (`misgen_lib.figures.read_provenance`); its provenance "
             "line on the chapter page links here, and each entry links back to it.", ""]
    found = False
    for spec in specs:
        pngs = figures_in_order(project, spec)
        if not pngs:
            continue
        found = True
        parts += [f"## {spec.title}", ""]
        parts += [figure_entry(p, spec, manifest[spec.stem], project.executed_dir) for p in pngs]
    if not found:
        parts.append("No chapter of this build has drawn a figure yet.")
    return "\n".join(parts) + "\n"


# --- the claims page ----------------------------------------------------------------------------

def recorded_claims(executed_dir: Path, specs: list[NotebookSpec], manifest: dict) -> dict[str, dict]:
    """Claim id -> the verdict recorded by a current chapter (``claims.record``). A record whose
    id is not one of ``vocabulary.CLAIM_IDS`` is a ``NotebookSpecError`` (the page lists the
    vocabulary's claims, so such a verdict would silently vanish from it)."""
    found = {}
    for spec in specs:
        if manifest.get(spec.stem, {}).get("status") != "ok":
            continue
        for path in sorted(claims_dir(executed_dir, spec.stem).glob("*.json")):
            record = json.loads(path.read_text())
            try:
                check_claim(record.get("claim"))
            except ValueError as err:
                raise NotebookSpecError(f"{path}: {spec.stem} recorded a verdict the claims page cannot "
                                        f"show: {err}") from None
            found[record["claim"]] = {**record, "notebook": spec.stem}
    return found


def _cell_text(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return "[" + ", ".join(_cell_text(v) for v in value) + "]"
    return str(value).replace("|", "\\|")


def items_table(items: dict[str, list]) -> str:
    columns = items["columns"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell_text(v) for v in row) + " |" for row in items["rows"]]
    return "\n".join(lines)


def references_of(book_dir: Path, profiles) -> dict[str, dict]:
    """Profile -> the committed reference book of that profile, for those of ``profiles`` that
    have one (``runner.reference``)."""
    paths = {p: reference_path(book_dir, p) for p in profiles}
    return {p: load_reference(path) for p, path in paths.items() if path.exists()}


def reference_sentence(book_dir: Path, references: dict[str, dict]) -> str:
    books = "; ".join(f"`{reference_path(book_dir, p).relative_to(book_dir.parent).as_posix()}`: profile `{p}`, "
                      f"revision `{r['revision']}`, built {r['built']} UTC on {r['host']['description']}"
                      for p, r in references.items())
    return (f"The column *reference* is the verdict of the reference book of the same profile ({books}); "
            "`misgen compare` compares a build with it value by value.")


def reference_verdict(references: dict[str, dict], record: dict) -> str:
    """The verdict of ``record``'s claim in the reference of its profile, in words."""
    reference = references.get(base_profile(record))
    if reference is None:
        return "no reference at this profile"
    verdict = claim_verdicts(reference).get(record["claim"])
    return verdict_text(verdict) if verdict else "not in the reference"


def _share(r: dict) -> str:
    """The claim-level statistic of a record: the share of tested units that count, its interval."""
    lo, hi = r["interval"]
    if lo is None or lo != lo:   # NaN: no unit tested
        return "–"
    return f"{lo:.0%}" if lo == hi else f"{lo:.0%} to {hi:.0%}"


def _units_cell(r: dict) -> str:
    return (f"{r['counted']} / {r['failed']} / {r['undecided']}"
            + (f" ({r['not_tested']} not tested)" if r["not_tested"] else ""))


def decision_sentence(found: dict[str, dict]) -> str:
    """How a claim is decided, with the statistic and thresholds its records carry, and the gate
    of the claims that carry baseline tests."""
    r = next(iter(found.values()), None)
    if r is None or "thresholds" not in r:
        return ""
    most, few = r["thresholds"]["supports"], r["thresholds"]["does not support"]
    return (f"A claim is decided on the {r['statistic']}, whose interval runs from the units that count to "
            f"those that count or are undecided: it *supports* the claim when that interval lies at or "
            f"above {most:.0%}, *does not support* it at or below {few:.0%}, *partly supports* it in "
            "between, and is *undecided* when it straddles either."
            + "".join(f" {claim}'s units must also beat each of its class-blind baselines (its section below): "
                      "its verdict is *does not support* when a baseline is not beaten, *undecided* while one is "
                      "undecided."
                      for claim, record in found.items() if record.get("baselines")))


def _control_lines(r: dict) -> list[str]:
    """What a record's statistic is measured against and, for a claim gated by baselines, each
    baseline test (records written before controls were recorded show none)."""
    lines = [f"**Control or baseline**: {r['control']}.", ""] if r.get("control") else []
    return lines + [f"* {t}" for t in r.get("baselines", [])] + ([""] if r.get("baselines") else [])


def claims_page(executed_dir: Path, specs: list[NotebookSpec], manifest: dict) -> str:
    found = recorded_claims(executed_dir, specs, manifest)
    book_dir = Path(executed_dir).parent
    references = references_of(book_dir, sorted({base_profile(r) for r in found.values()}))
    shown = ["claim", "verdict in this build", "share of units that count", "counted / failed / undecided",
             "reference", "profile", "chapter"]
    if not references:
        shown.remove("reference")
    parts = ["# Claims: the state of the reproduction", "",
             "Each claim of the paper, as the design numbers them, with the verdict this build "
             "computed by the rules in `misgen_lib/studies/claims.py`. Each unit (a task x model pair "
             "over its seeds) is decided by statistics with 95% intervals that resample seeds and "
             "samples: it *counts*, *fails*, or is *undecided* when an interval straddles its threshold. "
             + decision_sentence(found) + " Each rule's history (the revision that declared it and every "
             "later change, with its reason) is under the claim. Verdicts at the `ci` profile come from "
             "barely trained models and say nothing about the paper."
             + (" " + reference_sentence(book_dir, references) if references else ""), "",
             "| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    for claim in CLAIM_IDS:
        r = found.get(claim)
        cells = ({"claim": claim, "verdict in this build": "not tested",
                  "chapter": "no chapter of this build records it"} if r is None else
                 {"claim": f"[{claim}](#claim-{claim.lower()})", "verdict in this build": f"**{r['outcome']}**",
                  "share of units that count": _share(r), "counted / failed / undecided": _units_cell(r),
                  "reference": reference_verdict(references, r), "profile": f"`{r['profile']}`",
                  "chapter": f"{{doc}}`{r['notebook']}`"})
        parts.append("| " + " | ".join(cells.get(c, "–") for c in shown) + " |")
    for claim in CLAIM_IDS:
        r = found.get(claim)
        if r is None:
            continue
        history = [f"* `{rev}` ({date}): {reason}" for rev, date, reason in r["history"]]
        parts += ["", f"(claim-{claim.lower()})=", f"## {claim}: {r['outcome']}", "",
                  f"*{r['statement']}*", "",
                  f"This build {r['sentence']}, in {{doc}}`{r['notebook']}` (profile "
                  f"`{r['profile']}`, revision `{r['revision']}`).", "",
                  f"**Statistic**: the {r['statistic']}, {_share(r)} (supports from "
                  f"{r['thresholds']['supports']:.0%}, does not support up to "
                  f"{r['thresholds']['does not support']:.0%}); units counted / failed / undecided: "
                  f"{_units_cell(r)}.", "", *_control_lines(r),
                  f"**Rule**: {r['rule']}", "", "**The rule's history**:", "", *history, "",
                  items_table(r["items"])]
    return "\n".join(parts) + "\n"
