"""Figures that say where they came from.

``show(fig, name, seed=...)`` saves ``fig`` as a PNG whose metadata carries the provenance
(notebook, profile, seed, git revision, library version), displays it, prints the provenance
line under it and closes the figure (so Jupyter does not display it a second time).

Under the book runner the PNG goes to ``book/executed/figures/<notebook>/<name>.png`` (the runner
sets ``MISGEN_FIGURE_DIR``); interactively, to ``<cache root>/figures/interactive/`` (the cache
root is ``$MISGEN_CACHE_DIR`` or ``.misgen_cache`` in the repository), and the provenance reads
``interactive``.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from . import __version__
from .cache import default_root
from .provenance import current_run

FIGURE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DPI = 120


def figure_dir() -> Path:
    """Where ``show`` saves PNGs: ``$MISGEN_FIGURE_DIR`` or the interactive folder."""
    env = os.environ.get("MISGEN_FIGURE_DIR")
    return Path(env) if env else default_root() / "figures" / "interactive"


def provenance(name: str, seed: int | None = None) -> dict[str, str]:
    """The provenance recorded with figure ``name``."""
    run = current_run()
    return {"figure": name, "notebook": run["notebook"], "profile": run["profile"],
            "seed": "-" if seed is None else str(seed), "revision": run["revision"],
            "misgen": __version__}


def provenance_line(info: dict[str, str]) -> str:
    return (f"Figure `{info['figure']}` · notebook `{info['notebook']}` · profile "
            f"`{info['profile']}` · seed `{info['seed']}` · revision `{info['revision']}`")


def save(fig, name: str, seed: int | None = None) -> Path:
    """Save ``fig`` as ``<figure dir>/<name>.png`` with its provenance in the PNG metadata."""
    if not isinstance(name, str) or not FIGURE_NAME.match(name):
        raise ValueError(f"figure name must be a plain file name (letters, digits, '_', '-', '.'), "
                         f"got {name!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed must be an int or None, got {seed!r}")
    info = provenance(name, seed)
    folder = figure_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name.removesuffix('.png')}.png"
    fig.savefig(path, dpi=DPI, bbox_inches="tight",
                metadata={"Title": name, "Software": f"misgen {__version__}",
                          "Provenance": json.dumps(info, sort_keys=True)})
    return path


def read_provenance(path: str | Path) -> dict[str, str]:
    """The provenance stored in a PNG written by :func:`save`."""
    from PIL import Image
    with Image.open(path) as img:
        text = img.text.get("Provenance") if hasattr(img, "text") else None
    if text is None:
        raise ValueError(f"{path} carries no misgen provenance")
    return json.loads(text)


def show(fig, name: str, seed: int | None = None, caption: str | None = None) -> None:
    """Save ``fig`` with provenance, display it with the caption and provenance line under
    it, and close it. (Returns nothing, so a last-line call adds no output to the cell; use
    :func:`save` for the path.)"""
    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    try:
        path = save(fig, name, seed)
    finally:
        plt.close(fig)
    display(Image(filename=str(path)))
    text = provenance_line(read_provenance(path))
    if caption:
        text = f"{caption}\n\n{text}"
    display({"text/markdown": text, "text/plain": text.replace("`", "")}, raw=True)
