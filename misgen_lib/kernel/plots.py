"""Plots of predicted and observed per-bin change (shared by the CLI and the chapters)."""
from __future__ import annotations

import numpy as np

GAIN, LOSS = "#2a9d8f", "#e76f51"


def bin_labels(edges: np.ndarray) -> list[str]:
    """Tick labels of the bins with the overflow bins first and last."""
    inner = [f"{0.5 * (a + b):.3g}" for a, b in zip(edges[:-1], edges[1:])]
    return [f"<{edges[0]:.3g}"] + inner + [f">{edges[-1]:.3g}"]


def plot_change(ax, delta: np.ndarray, edges: np.ndarray, null_band: np.ndarray | None = None,
                label: str = "change", quantity: str = "q", color_by_sign: bool = True,
                offset: float = 0.0, width: float = 0.8, **bar_kwargs):
    """Bars of a per-bin change ``delta`` (overflow bins first and last) on ``ax``, coloured gain
    / loss, with the finite-sample null band (2, bins+2) as a grey band when given."""
    pos = np.arange(len(delta))
    if null_band is not None:
        ax.fill_between(pos, null_band[0], null_band[1], step="mid", color="0.85",
                        label="null 95% band", zorder=0)
    colors = np.where(delta >= 0, GAIN, LOSS) if color_by_sign else None
    ax.bar(pos + offset, delta, width=width, color=colors, label=label, **bar_kwargs)
    ax.axhline(0.0, color="0.3", lw=0.8)
    ax.set_xticks(pos)
    ax.set_xticklabels(bin_labels(edges), rotation=90, fontsize=7)
    ax.set_xlabel(f"{quantity} (bin centre; overflow bins at the ends)")
    ax.set_ylabel("mass change per bin")
    return ax


def plot_masses(ax, edges: np.ndarray, masses: dict[str, np.ndarray], quantity: str = "q"):
    """Step lines of bin masses (overflow bins first and last), one per name in ``masses``."""
    pos = np.arange(len(edges) + 1)
    styles = {"prior": dict(color="0.4", ls="--"), "observed": dict(color="C0", lw=2),
              "predicted": dict(color="C3", lw=1.5)}
    for name, p in masses.items():
        ax.step(pos, p, where="mid", label=name, **styles.get(name.split()[0], {}))
    ax.set_xticks(pos)
    ax.set_xticklabels(bin_labels(edges), rotation=90, fontsize=7)
    ax.set_xlabel(f"{quantity} (bin centre; overflow bins at the ends)")
    ax.set_ylabel("mass per bin")
    return ax


def plot_observed_vs_predicted(ax_masses, ax_change, drift, prediction, quantity: str = "q"):
    """Left: prior, observed and predicted bin masses; right: observed change (bars, null band)
    with the predicted change (line and dots)."""
    plot_masses(ax_masses, drift.edges, {"prior": drift.p_star, "observed": drift.p_hat,
                                         "predicted": prediction.p_tilde}, quantity)
    plot_change(ax_change, drift.delta, drift.edges, drift.null_band, label="observed change",
                quantity=quantity)
    ax_change.plot(np.arange(len(prediction.delta)), prediction.delta, "o-", color="k", ms=3,
                   lw=1, label="predicted change")
    return ax_masses, ax_change
