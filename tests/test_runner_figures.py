"""misgen_lib.figures: PNGs with provenance, displayed with a provenance line."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from misgen_lib import figures  # noqa: E402


@pytest.fixture
def shown(monkeypatch):
    """Capture what ``show`` displays instead of sending it to a frontend."""
    items = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: items.append(obj))
    return items


def _figure():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    return fig


def test_runner_run_is_recorded_in_png_and_caption(tmp_path, monkeypatch, shown):
    monkeypatch.setenv("MISGEN_FIGURE_DIR", str(tmp_path))
    monkeypatch.setenv("MISGEN_NOTEBOOK", "02_misgeneralization")
    monkeypatch.setenv("MISGEN_PROFILE", "ci")
    fig = _figure()
    assert figures.show(fig, "drift_sine", seed=3, caption="Per-bin change.") is None
    info = figures.read_provenance(tmp_path / "drift_sine.png")
    assert (info["figure"], info["notebook"], info["profile"], info["seed"]) == (
        "drift_sine", "02_misgeneralization", "ci", "3")
    assert info["revision"]  # a revision or "unknown", never empty
    image, caption = shown
    assert image.data == (tmp_path / "drift_sine.png").read_bytes()
    text = caption["text/markdown"]
    assert text.startswith("Per-bin change.") and "notebook `02_misgeneralization`" in text
    assert "seed `3`" in text and f"revision `{info['revision']}`" in text
    assert not plt.fignum_exists(fig.number)  # closed: not displayed twice


def test_interactive_use_says_so_and_saves_under_the_cache(tmp_path, monkeypatch, shown):
    for var in ("MISGEN_FIGURE_DIR", "MISGEN_NOTEBOOK", "MISGEN_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MISGEN_CACHE_DIR", str(tmp_path))
    figures.show(_figure(), "quick_look")
    info = figures.read_provenance(tmp_path / "figures" / "interactive" / "quick_look.png")
    assert (info["notebook"], info["profile"], info["seed"]) == ("interactive", "interactive", "-")


@pytest.mark.parametrize("name", ["../escape", "a/b", "", " spaced"])
def test_bad_names_are_rejected_and_the_figure_closed(tmp_path, monkeypatch, shown, name):
    monkeypatch.setenv("MISGEN_FIGURE_DIR", str(tmp_path))
    fig = _figure()
    with pytest.raises(ValueError, match="plain file name"):
        figures.show(fig, name)
    assert not plt.fignum_exists(fig.number) and not shown


def test_bad_seed_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("MISGEN_FIGURE_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="seed must be an int or None, got '1'"):
        figures.save(_figure(), "x", seed="1")


def test_png_without_provenance_is_reported(tmp_path):
    path = tmp_path / "plain.png"
    _figure().savefig(path)
    with pytest.raises(ValueError, match="carries no misgen provenance"):
        figures.read_provenance(path)


def test_book_figures_link_to_their_index_entry_and_carry_alt_text(tmp_path, monkeypatch, shown):
    monkeypatch.setenv("MISGEN_FIGURE_DIR", str(tmp_path))
    monkeypatch.setenv("MISGEN_NOTEBOOK", "03_kernel")
    fig = _figure()
    fig.suptitle("sine: drift")
    fig.axes[0].set_xlabel("amplitude [m]")
    figures.show(fig, "drift", caption="The `sine` drift.")
    image, line = shown
    info = figures.read_provenance(tmp_path / "drift.png")
    assert info["caption"] == "The `sine` drift." and image.alt == info["alt"] == info["caption"]
    html = line["text/html"]
    assert f'href="{figures.INDEX_PAGE}#{figures.index_anchor("03_kernel", "drift")}"' in html
    assert f'id="{figures.chapter_anchor("drift")}"' in html and "<code>sine</code>" in html
    assert figures.describe(_figure(), "x") == "Figure x"
    assert figures.describe(fig, "drift") == "sine: drift. showing amplitude [m]"
