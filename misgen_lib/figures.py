"""Figures that say where they came from.

``show(fig, name, seed=...)`` saves ``fig`` as a PNG whose metadata carries the provenance
(notebook, profile, seed, git revision, library version) with the caption and alt text, displays
it (with its alt text), prints the provenance line under it and closes the figure (so Jupyter
does not display it a second time). Under the book runner the provenance line carries the
anchor ``figure-<name>`` and links to the figure's entry in the book's figure index
(``figure_index.html#<index_anchor(notebook, name)>``, written by ``misgen_lib.runner.pages``).

Under the book runner the PNG goes to ``book/executed/figures/<notebook>/<name>.png`` (the runner
sets ``MISGEN_FIGURE_DIR``); interactively, to ``<cache root>/figures/interactive/`` (the cache
root is ``$MISGEN_CACHE_DIR`` or ``.misgen_cache`` in the repository), and the provenance reads
``interactive``.
"""
from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

from . import __version__
from .cache import default_root
from .provenance import current_run
from .vocabulary import FIGURE_DIR_ENV

FIGURE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DPI = 120
#: the book's figure index page, next to the chapters (``book/executed/``)
INDEX_PAGE = "figure_index.html"


def index_anchor(notebook: str, name: str) -> str:
    """HTML id of figure ``name`` of ``notebook`` on the figure index page."""
    return f"index-{notebook}-{name}"


def chapter_anchor(name: str) -> str:
    """HTML id of figure ``name`` on its chapter page (on its provenance line)."""
    return f"figure-{name}"


def describe(fig, name: str) -> str:
    """Alt text of a matplotlib figure from what it shows: its title, panel count, and the
    axis labels and titles of its panels (used when ``show`` is given no ``alt``)."""
    title = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) else ""
    axes = [ax for ax in fig.get_axes() if ax.get_visible() and ax.has_data()]
    parts = [title or f"Figure {name}"]
    if len(axes) > 1:
        parts.append(f"{len(axes)} panels")
    labels = []
    for ax in axes:
        for text in (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()):
            text = " ".join(text.split())
            if text and text not in labels:
                labels.append(text)
    if labels:
        parts.append("showing " + "; ".join(labels[:8]) + ("; ..." if len(labels) > 8 else ""))
    return ". ".join(parts)


def figure_dir() -> Path:
    """Where ``show`` saves PNGs: ``$MISGEN_FIGURE_DIR`` or the interactive folder."""
    env = os.environ.get(FIGURE_DIR_ENV)
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


def save(fig, name: str, seed: int | None = None, caption: str | None = None,
         alt: str | None = None) -> Path:
    """Save ``fig`` as ``<figure dir>/<name>.png`` with its provenance, ``caption`` and ``alt``
    text (default: :func:`describe`) in the PNG metadata."""
    if not isinstance(name, str) or not FIGURE_NAME.match(name):
        raise ValueError(f"figure name must be a plain file name (letters, digits, '_', '-', '.'), "
                         f"got {name!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed must be an int or None, got {seed!r}")
    info = {**provenance(name, seed), "caption": caption or "", "alt": alt or describe(fig, name)}
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


def _inline_html(text: str) -> str:
    """Escaped text with ``code`` spans as ``<code>`` (captions are short markdown)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _provenance_html(info: dict[str, str], caption: str | None) -> str:
    """Caption and provenance line as HTML: the line is anchored and links to the figure's
    entry in the figure index."""
    fields = " · ".join(f"{k} <code>{html.escape(info[k])}</code>"
                        for k in ("notebook", "profile", "seed", "revision"))
    link = f"{INDEX_PAGE}#{index_anchor(info['notebook'], info['figure'])}"
    line = (f'<p class="misgen-provenance" id="{chapter_anchor(info["figure"])}">Figure '
            f'<code>{html.escape(info["figure"])}</code> · {fields} · <a href="{link}">figure '
            "index entry (how to regenerate it)</a></p>")
    return (f"<p>{_inline_html(caption)}</p>\n" if caption else "") + line


def show(fig, name: str, seed: int | None = None, caption: str | None = None,
         alt: str | None = None) -> None:
    """Save ``fig`` with provenance, display it (with ``alt`` text, default the caption or
    :func:`describe`) with the caption and provenance line under it, and close it. (Returns
    nothing, so a last-line call adds no output to the cell; use :func:`save` for the path.)"""
    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    try:
        path = save(fig, name, seed, caption=caption, alt=alt or caption)
    finally:
        plt.close(fig)
    info = read_provenance(path)
    display(Image(filename=str(path), alt=info["alt"]))
    text = provenance_line(info)
    if caption:
        text = f"{caption}\n\n{text}"
    data = {"text/markdown": text, "text/plain": text.replace("`", "")}
    if info["notebook"] != "interactive":  # in the book: anchored, linked to the figure index
        data["text/html"] = _provenance_html(info, caption)
    display(data, raw=True)
