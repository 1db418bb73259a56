"""Every chapter's code at the ``paper`` profile on a CUDA GPU, with a short training budget: a
check that the profile meant for a GPU runs there (the book itself is built on CPUs only).

Two steps, because a GPU machine of this workplace has PyTorch but not the book's stack
(jupytext, papermill, myst-nb, IPython), nor the library installed (hence ``PYTHONPATH``):

    python benchmarks/paper_profile_on_cuda.py prepare .device            # here
    PYTHONPATH=. python3 benchmarks/paper_profile_on_cuda.py run .device --train-steps 200 --out DIR   # on the GPU

``prepare`` writes each chapter's code cells as one script, the profile's parameters assigned
after its ``parameters`` cell (where the runner injects them), plus stand-ins for
``myst_nb.glue`` (records the glued values) and ``IPython.display`` (a no-op: figures are still
saved with their provenance). ``run`` executes the scripts in the book's order, each in a fresh
process, on one artifact cache emptied first (a cold build), with every training budget of
the profile cut to ``--train-steps`` (the only change to the profile: sizes, widths, batches,
sample counts and the chapters' own parameters are the paper's), and writes ``DIR/report.md``:
each chapter's seconds and outcome (its traceback if it failed), every trained model's device
and training rate, the claim verdicts, the number of glued values and figures. The verdicts of
so short a training say nothing about the paper; the training rates say roughly how long the
full profile would take on that GPU.

``--profile ci --device cpu`` runs the same harness on a CPU in a few minutes (the check of the
harness itself).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from misgen_lib.vocabulary import (CACHE_DIR_ENV, CLAIMS_DIR_ENV, FIGURE_DIR_ENV, NOTEBOOK_ENV, PROFILE_ENV,
                                   PROFILES)

ROOT = Path(__file__).resolve().parents[1]
GLUE_ENV = "MISGEN_CHECK_GLUE"   # file the myst_nb stand-in appends glued names to
STUBS = {
    "myst_nb/__init__.py": (
        "import json, os\n\n"
        "def glue(name, value, display=True):\n"
        f"    with open(os.environ['{GLUE_ENV}'], 'a') as f:\n"
        "        f.write(json.dumps({'name': name, 'value': repr(value)[:200]}) + '\\n')\n"),
    "IPython/__init__.py": "",
    "IPython/display.py": (
        "def display(*objs, **kw):\n    pass\n\n"
        "class Image:\n    def __init__(self, *a, **kw):\n        pass\n"),
}
#: how a chapter's script runs: as code without a file, as in a notebook's kernel (a script run as
#: a file is imported again by every worker that ``jobs.run`` spawns, which would run the chapter)
RUN_AS_NOTEBOOK = "import sys; p = sys.argv[1]; exec(compile(open(p).read(), p, 'exec'))"
#: prepended to every chapter's script: the one change to the profile (its training budgets)
PREAMBLE = """\
import matplotlib
matplotlib.use("Agg")
from misgen_lib.studies import config as _config
_overrides = {{"train_steps": {steps}}} if {steps} else {{}}
if {device!r}:
    _overrides["device"] = {device!r}
_config.PROFILES[{profile!r}].update(_overrides)
"""


def prepare(folder: Path, profile: str) -> None:
    """Each chapter as ``folder/NN_name.py`` with ``profile``'s parameters, and the stand-ins."""
    from misgen_lib.runner.parameters import parameters_cell
    from misgen_lib.runner.profiles import discover

    folder.mkdir(parents=True, exist_ok=True)
    for name, text in STUBS.items():
        (folder / "stubs" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "stubs" / name).write_text(text)
    for spec in discover(ROOT / "notebooks"):
        marker = parameters_cell(spec.notebook, spec.stem)
        parts = []
        for cell in spec.notebook.cells:
            if cell.cell_type != "code":
                continue
            parts.append(cell.source)
            if cell is marker:
                values = spec.merged_parameters(profile)
                parts.append("# Parameters (the profile's, as the runner injects them)\n"
                             + "\n".join(f"{k} = {v!r}" for k, v in values.items()))
        (folder / f"{spec.stem}.py").write_text("{PREAMBLE}\n" + "\n\n".join(parts) + "\n")
        print(f"{spec.stem}: {len(parts)} cells, profile {profile!r}")
    (folder / "profile.json").write_text(json.dumps({"profile": profile}))


def _models(cache: Path) -> list[dict]:
    rows = []
    for manifest in sorted(cache.glob("model/*/MANIFEST.json")):
        state = json.loads((manifest.parent / "state.json").read_text())
        cfg = json.loads((manifest.parent / "config.json").read_text())
        meta = state["meta"]
        rows.append({"class": state["name"], "device": meta.get("device"),
                     "steps": cfg.get("train_steps"), "seconds": meta.get("train_seconds")})
    return rows


def _report(out: Path, results: list[dict], models: list[dict], claims: list[dict], glued: int,
            figures: int, header: str) -> None:
    lines = [header, "", "| chapter | seconds | outcome |", "|---|---|---|"]
    lines += [f"| {r['stem']} | {r['seconds']:.0f} | {r['outcome']} |" for r in results]
    lines += ["", "| class | models | devices | steps each | median seconds | steps/s (median) |",
              "|---|---|---|---|---|---|"]
    for name in sorted({m["class"] for m in models}):
        rows = [m for m in models if m["class"] == name]
        secs = sorted(m["seconds"] for m in rows)
        rates = sorted(m["steps"] / m["seconds"] for m in rows)
        lines.append(f"| {name} | {len(rows)} | {', '.join(sorted({m['device'] for m in rows}))} | "
                     f"{', '.join(str(s) for s in sorted({m['steps'] for m in rows}))} | "
                     f"{secs[len(secs) // 2]:.1f} | {rates[len(rates) // 2]:.1f} |")
    lines += ["", "| claim | outcome | counts |", "|---|---|---|"]
    lines += [f"| {c.get('claim')} | {c.get('outcome')} | {c.get('passed')}/{c.get('total')} |"
              for c in claims]
    lines += ["", f"glued values: {glued}; figures saved: {figures}"]
    failed = [r for r in results if r["outcome"] != "ok"]
    for r in failed:
        lines += ["", f"## {r['stem']} failed", "```", r["tail"], "```"]
    (out / "report.md").write_text("\n".join(lines) + "\n")


def run(folder: Path, out: Path, train_steps: int, device: str, timeout: float) -> int:
    """Execute the prepared chapters in order; returns the number that failed."""
    import torch

    folder = folder.resolve()
    profile = json.loads((folder / "profile.json").read_text())["profile"]
    out.mkdir(parents=True, exist_ok=True)
    work = Path(os.environ.get("TMPDIR", "/tmp")) / "misgen-paper-check"
    shutil.rmtree(work, ignore_errors=True)   # a fresh cache: nothing from an earlier check
    (out / "chapters.log").unlink(missing_ok=True)
    cache, claims_dir, figures = work / "cache", work / "claims", work / "figures"
    for d in (cache, claims_dir, figures):
        d.mkdir(parents=True, exist_ok=True)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    header = (f"# The `{profile}` profile's chapters, training budgets cut to {train_steps or 'the profile'}"
              f" steps\n\ntorch {torch.__version__}, {gpu}, {os.cpu_count()} CPUs; "
              f"device override: {device or 'none (the profile decides)'}")
    results, start = [], time.time()
    for script in sorted(folder.glob("[0-9][0-9]_*.py")):
        stem = script.stem
        text = script.read_text().replace("{PREAMBLE}", PREAMBLE.format(
            steps=train_steps, device=device, profile=profile), 1)
        runnable = work / script.name
        runnable.write_text(text)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder / "stubs"), str(ROOT)]),
               CACHE_DIR_ENV: str(cache), CLAIMS_DIR_ENV: str(claims_dir / stem),
               FIGURE_DIR_ENV: str(figures / stem), NOTEBOOK_ENV: stem,
               PROFILE_ENV: profile, GLUE_ENV: str(work / "glued.jsonl"), "MPLBACKEND": "Agg",
               "PYTHONUNBUFFERED": "1"}
        left = timeout - (time.time() - start)
        t0 = time.time()
        with open(out / "chapters.log", "a") as log:
            log.write(f"\n===== {stem} =====\n")
            log.flush()
            try:
                proc = subprocess.run([sys.executable, "-c", RUN_AS_NOTEBOOK, str(runnable)], cwd=work, env=env, stdout=log,
                                      stderr=subprocess.STDOUT, timeout=max(left, 1))
                outcome = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
            except subprocess.TimeoutExpired:
                outcome = f"stopped at the check's limit of {timeout:.0f} s"
        tail = "\n".join((out / "chapters.log").read_text().splitlines()[-25:])
        results.append({"stem": stem, "seconds": time.time() - t0, "outcome": outcome, "tail": tail})
        print(f"{stem}: {outcome} in {results[-1]['seconds']:.0f} s", flush=True)
        claims = [json.loads(p.read_text()) for p in sorted(claims_dir.glob("*/*.json"))]
        glued = work / "glued.jsonl"
        _report(out, results, _models(cache), claims,
                len(glued.read_text().splitlines()) if glued.exists() else 0,
                len(list(figures.glob("*/*.png"))), header)
        if outcome.startswith("stopped"):
            break
    return sum(r["outcome"] != "ok" for r in results)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("prepare", help="write the chapters as scripts (needs the book's stack)")
    p.add_argument("folder", type=Path)
    p.add_argument("--profile", default="paper", choices=PROFILES)
    r = sub.add_parser("run", help="execute the prepared scripts (needs torch and the library's needs)")
    r.add_argument("folder", type=Path)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--train-steps", type=int, default=200, help="every model's training steps (0: the profile's)")
    r.add_argument("--device", default="", help="override the profile's device (e.g. cpu)")
    r.add_argument("--timeout", type=float, default=540, help="seconds for all chapters together")
    args = parser.parse_args(argv)
    if args.step == "prepare":
        prepare(args.folder, args.profile)
        return 0
    return run(args.folder, args.out, args.train_steps, args.device, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
