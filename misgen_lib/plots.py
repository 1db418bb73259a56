"""Figure builders shared by the chapters and the CLI: per-bin change and bin masses, a
quantity's density against the intended prior with the finite-sample null, and the observed vs
kernel-predicted drift of a task. (How a task's trajectories are drawn is the task's own
``draw``.)"""
from __future__ import annotations

import matplotlib
import numpy as np

#: Okabe & Ito's colour-blind-safe palette (blue, vermillion, green, reddish purple, orange, sky
#: blue, yellow, black), set once here as matplotlib's colour cycle, so ``C0``, ``C1``, ... of every
#: figure of the book are distinguishable under the common colour-vision deficiencies
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
matplotlib.rcParams["axes.prop_cycle"] = matplotlib.cycler(color=list(PALETTE))
GAIN, LOSS = PALETTE[0], PALETTE[1]


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


def quantity_label(task) -> str:
    return f"{task.quantity} [{task.unit}]" if task.unit else task.quantity


def density_with_null(ax, q, drift, prior, task, data_q=None, pad: float = 0.25,
                      label: str = "model samples", title: str | None = None):
    """The density of measured quantities ``q`` (bars; values beyond the padded axis are
    clipped to its edges) against the intended ``prior`` (line), with the central 95% of a
    bin's density for an independent clean sample of the same size (grey band: ``drift``'s
    finite-sample null) and, when given, the training data's quantities ``data_q`` (grey steps)."""
    lo, hi = task.q_range
    pad = pad * (hi - lo)
    width = np.diff(drift.edges)
    inner = slice(1, -1)
    band = [np.append((drift.p_star[inner] + drift.null_band[k, inner]) / width, 0) for k in (0, 1)]
    ax.fill_between(drift.edges, band[0], band[1], step="post", color="0.8", label="null 95%")
    q = np.asarray(q, float)
    shown = np.clip(q[np.isfinite(q)], lo - pad, hi + pad)
    ax.hist(shown, bins=np.linspace(lo - pad, hi + pad, int(1.5 * (len(drift.edges) - 1)) + 1),
            density=True, color="C0", alpha=0.55, label=label)
    if data_q is not None:
        ax.hist(data_q, bins=drift.edges, density=True, histtype="step", color="0.35",
                label="training data")
    grid = np.linspace(lo - pad, hi + pad, 400)
    ax.plot(grid, prior.pdf(grid), color="C3", lw=2, label="intended prior")
    ax.set_xlabel(quantity_label(task))
    ax.set_ylabel("density")
    if title is not None:
        ax.set_title(title, fontsize=9)
    return ax


def observed_vs_predicted_figure(rows, title: str):
    """One row per ``(label, drift, prediction, validation)``: left, prior, observed and predicted
    bin masses; right, the observed change with its null band and the predicted change, titled
    with the validation numbers and their noise ceiling."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(rows), 2, figsize=(12, 2.9 * len(rows)), squeeze=False,
                             constrained_layout=True)
    for (ax_m, ax_c), (label, drift, prediction, v) in zip(axes, rows):
        plot_observed_vs_predicted(ax_m, ax_c, drift, prediction)
        ax_m.set_title(f"{label}: recovered distribution", fontsize=9)
        ceiling = getattr(v, "ceiling", None)
        tail = f" (ceiling {ceiling.share:.2f})" if ceiling is not None else ""
        ax_c.set_title(f"{label}: change; corr {v.correlation:+.2f} (noise 95% {v.correlation_null95:.2f}), "
                       f"share explained {v.share_explained:+.2f}{tail}", fontsize=9)
    axes[0, 0].legend(fontsize=7)
    axes[0, 1].legend(fontsize=7)
    fig.suptitle(title)
    return fig


def qspace_figure(views: dict, task):
    """Per model (``{label: kernel.QSpaceView}``), left: the kernel's mean shift b(q) with its
    spread s(q) as a band; right: the per-bin change predicted by the continuity equation against
    the Monte Carlo one (peaks where b converges, troughs where it diverges)."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(views), 2, figsize=(12, 2.6 * len(views)), squeeze=False,
                             constrained_layout=True)
    for (ax_b, ax_d), (label, view) in zip(axes, views.items()):
        c = view.centers
        ax_b.fill_between(c, view.shift - view.spread, view.shift + view.spread, color="C0", alpha=0.2,
                          label="b(q) +- s(q)")
        ax_b.plot(c, view.shift, "o-", color="C0", ms=3, label="mean shift b(q)")
        ax_b.axhline(0, color="0.3", lw=0.8)
        ax_b.set(xlabel=quantity_label(task), ylabel=f"shift of {task.quantity}", title=f"{label}: kernel in q-space")
        pos = np.arange(len(view.monte_carlo_delta))
        ax_d.bar(pos, view.monte_carlo_delta, color="0.7", label="Monte Carlo prediction")
        ax_d.plot(pos, view.continuity_delta, "o-", color="C3", ms=3, label="continuity equation")
        ax_d.axhline(0, color="0.3", lw=0.8)
        ax_d.set_xticks(pos)
        ax_d.set_xticklabels(bin_labels(view.edges), rotation=90, fontsize=7)
        ax_d.set(ylabel="mass change per bin", title=f"{label}: agreement r = {view.agreement:+.2f}")
    axes[0, 0].legend(fontsize=7)
    axes[0, 1].legend(fontsize=7)
    return fig
