"""Figure builders shared by the chapters and the CLI: per-bin change and bin masses, a
quantity's density against the intended prior with the finite-sample null, and the observed vs
kernel-predicted drift of a task. (How a task's trajectories are drawn is the task's own
``draw``.)"""
from __future__ import annotations

import matplotlib
import numpy as np

#: Okabe & Ito's colour-blind-safe palette (blue, vermillion, green, reddish purple, orange, sky
#: blue, yellow, black), matplotlib's colour cycle in ``use_style``, so ``C0``, ``C1``, ... of every
#: figure of the book are distinguishable under the common colour-vision deficiencies
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
GAIN, LOSS = PALETTE[0], PALETTE[1]

#: the width (CSS px) at which the book shows a figure: a chapter cell's output area in
#: sphinx-book-theme in a 1280 px wide window, measured (the article column is 740 px), and the
#: smallest text a reader should have to read there at 100% zoom (pt)
COLUMN_PX, MIN_PT = 676, 8.0
#: the widest figure (inches) whose text keeps ``MIN_PT`` at these fonts once scaled to the column
PAGE_WIDTH_IN = 6.6
#: base fonts of every figure of the book (``use_style``): at ``PAGE_WIDTH_IN`` and ``figures.DPI``
#: (about 816 px shown in 676) 10 pt text reads as 8.3 pt
FONTS = {"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "xtick.labelsize": 10,
         "ytick.labelsize": 10, "legend.fontsize": 10, "figure.titlesize": 11}


def use_style() -> None:
    """The book's figure style, set in matplotlib's ``rcParams``: the ``PALETTE`` as the colour
    cycle and the ``FONTS``. Every figure of this module is made by ``subplots``, which sets it
    first; it stays set for figures made afterwards."""
    matplotlib.rcParams["axes.prop_cycle"] = matplotlib.cycler(color=list(PALETTE))
    matplotlib.rcParams.update(FONTS)


def subplots(*args, **kwargs):
    """``matplotlib.pyplot.subplots`` in the book's style (``use_style``)."""
    import matplotlib.pyplot as plt
    use_style()
    return plt.subplots(*args, **kwargs)


def bin_labels(edges: np.ndarray) -> list[str]:
    """Tick labels of the bins with the overflow bins first and last."""
    inner = [f"{0.5 * (a + b):.3g}" for a, b in zip(edges[:-1], edges[1:])]
    return [f"<{edges[0]:.3g}"] + inner + [f">{edges[-1]:.3g}"]


def set_bin_ticks(ax, edges: np.ndarray, max_labels: int = 12):
    """Rotated bin labels on ``ax``'s x axis (overflow bins first and last), every k-th bin's so
    that at most ``max_labels`` stand side by side (the overflow bins always)."""
    labels = bin_labels(edges)
    step = max(1, int(np.ceil(len(labels) / max_labels)))
    last = len(labels) - 1
    shown = sorted({0, last, *(k for k in range(0, last, step) if step == 1 or last - k >= step)})
    ax.set_xticks(shown, [labels[k] for k in shown], rotation=90)


def mark_overflow(ax, n: int):
    """Set the two overflow bins of an ``n``-bin axis (positions 0 and ``n - 1``) apart from the
    bins in range: hatched, behind a dotted line at the range's edges."""
    for lo in (-0.5, n - 1.5):
        ax.axvspan(lo, lo + 1, facecolor="none", edgecolor="0.75", hatch="///", lw=0, zorder=-1)
    for x in (0.5, n - 1.5):
        ax.axvline(x, color="0.5", ls=":", lw=0.8)


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
    set_bin_ticks(ax, edges)
    mark_overflow(ax, len(delta))
    ax.set_xlabel(f"{quantity} (bin centre; overflow bins hatched)")
    ax.set_ylabel("mass change per bin")
    return ax


def plot_masses(ax, edges: np.ndarray, masses: dict[str, np.ndarray], quantity: str = "q"):
    """Step lines of bin masses (overflow bins first and last), one per name in ``masses``."""
    pos = np.arange(len(edges) + 1)
    styles = {"prior": dict(color="0.4", ls="--"), "observed": dict(color="C0", lw=2),
              "predicted": dict(color="C3", lw=1.5)}
    for name, p in masses.items():
        ax.step(pos, p, where="mid", label=name, **styles.get(name.split()[0], {}))
    set_bin_ticks(ax, edges)
    mark_overflow(ax, len(pos))
    ax.set_xlabel(f"{quantity} (bin centre; overflow bins hatched)")
    ax.set_ylabel("mass per bin")
    return ax


def plot_observed_vs_predicted(ax_masses, ax_change, drift, prediction, quantity: str = "q", control=None,
                               own=None):
    """Left: prior, observed and predicted bin masses; right: observed change (bars, null band)
    with the predicted change (line and dots) and, when given, the ``control`` prediction's
    (dashed) and the class's ``own`` estimator's (``kernel_study.OwnEstimate``, green)."""
    plot_masses(ax_masses, drift.edges, {"prior": drift.p_star, "observed": drift.p_hat,
                                         "predicted": prediction.p_tilde}, quantity)
    plot_change(ax_change, drift.delta, drift.edges, drift.null_band, label="observed change",
                quantity=quantity)
    ax_change.plot(np.arange(len(prediction.delta)), prediction.delta, "o-", color="k", ms=3,
                   lw=1, label="predicted change")
    if control is not None:
        ax_change.plot(np.arange(len(control.delta)), control.delta, "--", color="0.45", lw=1,
                       label="class-blind control")
    if own is not None:
        ax_change.plot(np.arange(len(own.prediction.delta)), own.prediction.delta, "s-", color="C2", ms=3,
                       lw=1, label="the class's own estimator")
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
        ax.set_title(title)
    return ax


def observed_vs_predicted_figure(rows, title: str):
    """One row per ``(label, drift, prediction, validation, control, own)``: left, prior, observed
    and predicted bin masses; right, the observed change with its null band, the predicted change,
    the class-blind ``control``'s (a ``(prediction, validation)``, or None) and the class's ``own``
    estimator's (``kernel_study.OwnEstimate``, or None), titled with the validation numbers over
    all bins and in range (the overflow bins, hatched, left out), the noise ceiling, the
    control's share and the own estimator's."""
    fig, axes = subplots(len(rows), 2, figsize=(PAGE_WIDTH_IN, 3.6 * len(rows) + 0.8), squeeze=False,
                         constrained_layout=True)
    for (ax_m, ax_c), (label, drift, prediction, v, control, own) in zip(axes, rows):
        plot_observed_vs_predicted(ax_m, ax_c, drift, prediction, control=None if control is None else control[0],
                                   own=own)
        ax_m.set_title(wrap(f"{label}: recovered distribution"))
        ceiling = getattr(v, "ceiling", None)
        tail = f" (ceiling {ceiling.share:.2f})" if ceiling is not None else ""
        lines = [f"corr {v.correlation:+.2f} (noise 95% {v.correlation_null95:.2f})",
                 f"share explained {v.share_explained:+.2f}{tail}",
                 f"in range: corr {v.correlation_in_range:+.2f}, share {v.share_in_range:+.2f}"]
        if control is not None:
            lines.append(f"class-blind control's share {control[1].share_explained:+.2f}")
        if own is not None:
            lines.append(f"{own.name}: corr {own.validation.correlation:+.2f}, share {own.validation.share_explained:+.2f}")
        ax_c.set_title("\n".join(lines))
    legend_below(fig, *axes.ravel())
    fig.suptitle(wrap(title, 70))
    return fig


def qspace_figure(views: dict, task):
    """Per model (``{label: kernel.QSpaceView}``), left: the kernel's mean shift b(q) with its
    spread s(q) as a band; right: the per-bin change predicted by the continuity equation against
    the Monte Carlo one (peaks where b converges, troughs where it diverges)."""
    fig, axes = subplots(len(views), 2, figsize=(PAGE_WIDTH_IN, 3.4 * len(views) + 0.8), squeeze=False,
                         constrained_layout=True)
    for (ax_b, ax_d), (label, view) in zip(axes, views.items()):
        c = view.centers
        ax_b.fill_between(c, view.shift - view.spread, view.shift + view.spread, color="C0", alpha=0.2,
                          label="b(q) +- s(q)")
        ax_b.plot(c, view.shift, "o-", color="C0", ms=3, label="mean shift b(q)")
        ax_b.axhline(0, color="0.3", lw=0.8)
        ax_b.set(xlabel=quantity_label(task), ylabel=wrap(f"shift of {task.quantity}", 24),
                 title=wrap(f"{label}: kernel in q-space"))
        pos = np.arange(len(view.monte_carlo_delta))
        ax_d.bar(pos, view.monte_carlo_delta, color="0.7", label="Monte Carlo prediction")
        ax_d.plot(pos, view.continuity_delta, "o-", color="C3", ms=3, label="continuity equation")
        ax_d.axhline(0, color="0.3", lw=0.8)
        set_bin_ticks(ax_d, view.edges)
        ax_d.set(ylabel="mass change per bin", title=wrap(f"{label}: agreement r = {view.agreement:+.2f}"))
    legend_below(fig, axes[0, 0], axes[0, 1])
    return fig


# --- legible figures at the book's page width ---------------------------------------------------

def wrap(text: str, width: int = 36) -> str:
    """``text`` broken into lines of at most ``width`` characters (a panel title at the book's
    fonts; existing line breaks are kept)."""
    import textwrap
    return "\n".join(textwrap.fill(line, width, break_on_hyphens=False, break_long_words=False)
                     for line in text.split("\n"))


def legend_below(fig, *axes, ncols: int = 3):
    """One legend for the whole figure, under its panels: the distinct labels of ``axes``."""
    seen = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    if seen:
        fig.legend(list(seen.values()), list(seen.keys()), loc="outside lower center",
                   ncols=min(ncols, len(seen)))


def panel_grid(n: int, ncols: int, panel_height: float, width: float = PAGE_WIDTH_IN, **kwargs):
    """``n`` panels, ``ncols`` to a row, at the page width (constrained layout); the unused
    panels of the last row are hidden. Returns the figure and the ``n`` axes in order."""
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = subplots(nrows, ncols, figsize=(width, panel_height * nrows + 0.6), squeeze=False,
                         constrained_layout=True, **kwargs)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def effective_scale(fig, column_px: int = COLUMN_PX) -> float:
    """How much the figure's text shrinks when its PNG (``figures.DPI``, tight bounding box, as
    ``figures.save`` writes it) is shown scaled to a column of ``column_px`` CSS px: 1 when it
    fits, else column / PNG width (text of ``s`` pt then reads as ``s * scale`` pt)."""
    from .figures import DPI
    fig.canvas.draw()
    bbox = fig.get_tightbbox(fig.canvas.get_renderer())
    width_px = (bbox.width + 0.2) * DPI   # savefig's pad_inches 0.1 on each side
    return min(1.0, column_px / width_px)


def small_texts(fig, min_pt: float = MIN_PT, column_px: int = COLUMN_PX) -> list[tuple[str, float]]:
    """Every visible text of ``fig`` (titles, labels, tick labels, legends) that reads below
    ``min_pt`` once the figure is shown in the book's column: ``(text, effective pt)`` pairs;
    empty when the whole figure is legible."""
    from matplotlib.text import Text
    scale = effective_scale(fig, column_px)
    small = []
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip() and t.get_fontsize() * scale < min_pt:
            small.append((t.get_text(), round(t.get_fontsize() * scale, 2)))
    return small


# --- the chapters' figures: one call per figure ---------------------------------------------------

def task_model_pairs(suite, tasks=None, models=None) -> list[tuple[str, str]]:
    tasks = list(suite.config.tasks if tasks is None else tasks)
    models = list(suite.config.models if models is None else models)
    return [(t, m) for t in tasks for m in models]


def density_grid(suite, tasks=None, models=None, ncols: int = 2):
    """Task x model panels (first seed): the density of the measured quantity over the model's
    samples against the intended prior, the training data and the finite-sample null."""
    pairs = task_model_pairs(suite, tasks, models)
    fig, axes = panel_grid(len(pairs), ncols, 2.9)
    for ax, (t, m) in zip(axes, pairs):
        e = suite.get(t, m)
        density_with_null(ax, e.q_hat, e.drift, e.prior, e.task, data_q=e.data.q,
                          title=f"{t} / {m}\nTV {e.drift.tv:.2f} (null 95% {e.drift.null_q95('tv'):.2f})")
    legend_below(fig, axes[0], ncols=4)
    return fig


def change_grid(suite, tasks=None, models=None, ncols: int = 2):
    """Task x model panels (first seed): the per-bin change of mass against the prior (overflow
    bins at the ends), drawn dark where it leaves the finite-sample null's band (grey); one y
    scale per task."""
    pairs = task_model_pairs(suite, tasks, models)
    fig, axes = panel_grid(len(pairs), ncols, 2.5)
    first_of_task = {}
    for ax, (t, m) in zip(axes, pairs):
        d = suite.get(t, m).drift
        x = np.arange(len(d.delta))
        ax.fill_between(x, d.null_band[0], d.null_band[1], step="mid", color="0.8", label="null 95%")
        ax.bar(x, d.delta, color=np.where(d.beyond_null(), "C0", "#a6c8e6"), width=0.8, label="beyond null")
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xticks([0, len(x) // 2, len(x) - 1], ["below", f"{d.centers[len(x) // 2 - 1]:.2g}", "above"])
        ax.set_title(f"{t} / {m}: TV {d.tv:.3f}")
        ax.set_ylabel("p_hat - p*")
        if t in first_of_task:
            ax.sharey(first_of_task[t])
        first_of_task.setdefault(t, ax)
    legend_below(fig, axes[0])
    return fig


def sample_grid(suite, n_examples: int, tasks=None, models=None):
    """Task rows x model columns (first seed): ``n_examples`` samples (solid) beside their
    nearest clean training trajectory (dashed)."""
    from .metrics import nearest_clean
    pairs = task_model_pairs(suite, tasks, models)
    fig, axes = panel_grid(len(pairs), len(suite.config.models if models is None else models), 2.2)
    for ax, (t, m) in zip(axes, pairs):
        e = suite.get(t, m)
        idx, _ = nearest_clean(e.samples[:n_examples], e.data.x)
        e.task.draw(ax, e.samples[:n_examples], lw=1.2)
        e.task.draw(ax, e.data.x[idx], ls="--")
        ax.set_title(f"{t}\n{m}")
    return fig


def task_samples_figure(task_objs: dict, datasets: dict, n_show: int, ncols: int = 3):
    """A few curated trajectories per task, titled with their measured quantity."""
    fig, axes = panel_grid(len(task_objs), ncols, 2.8)
    for ax, (name, task) in zip(axes, task_objs.items()):
        data = datasets[name]
        order = np.argsort(data.q[:n_show])
        task.draw(ax, data.x[:n_show][order])
        ax.set_title(f"{name}: {task.quantity}\n" + wrap(", ".join(f"{q:.2f}" for q in data.q[:n_show][order]), 24))
    return fig


def maze_layouts_figure(horizon: int, n_show: int, seed: int, layouts=("umaze", "medium", "large")):
    """Raw goal-reaching demonstrations in each maze layout, titled with the range of travel
    distances and the number of wall crossings."""
    from . import tasks
    from .seeds import stream
    fig, axes = subplots(1, len(layouts), figsize=(PAGE_WIDTH_IN, 3.0), constrained_layout=True,
                         gridspec_kw={"width_ratios": [5, 8, 12][:len(layouts)]})
    for ax, layout in zip(np.atleast_1d(axes), layouts):
        maze = tasks.get("maze", layout=layout, horizon=horizon)
        x, _ = maze.raw_demonstrations(n_show, stream(seed, "raw-demos", layout))
        maze.draw(ax, x)
        crossings = int(maze.plausibility(x)["wall_crossings"].sum())
        ax.set_title(f"{layout}\nrange {maze.q_range}\nwall crossings {crossings}")
    return fig


def curated_density_figure(task_objs: dict, datasets: dict, drifts: dict, priors: dict, ncols: int = 3):
    """Each curated dataset's measured quantity against its intended prior and null band."""
    fig, axes = panel_grid(len(task_objs), ncols, 2.6)
    for ax, (name, task) in zip(axes, task_objs.items()):
        density_with_null(ax, datasets[name].q, drifts[name], priors[name], task, pad=0.05,
                          label="curated", title=name)
    legend_below(fig, axes[0])
    return fig


def observed_vs_predicted_task(results, task_name: str,
                               title: str = "observed (seed mean) vs probe-kernel prediction"):
    """``observed_vs_predicted_figure`` of one task's kernel-study results (probe results, or
    before-training results, whose rows name the declared family), each with its class-blind
    control (``class_blind``)."""
    rows = []
    for r in results:
        if r.entry.task.name != task_name:
            continue
        label = f"{r.entry.model.name} ({r.kernel.describe()})" if hasattr(r, "kernel") else r.model
        rows.append((label, r.drift, r.prediction, r.validation, r.class_blind, getattr(r, "own", None)))
    return observed_vs_predicted_figure(rows, f"{task_name}: {title}")


def qspace_task_figure(probes, suite, task_name: str):
    """``qspace_figure`` of one task's probe results, titled."""
    views = {r.model: r.view for r in probes if r.task.name == task_name}
    fig = qspace_figure(views, suite.get(task_name, suite.config.models[0]).task)
    fig.suptitle(f"{task_name}: the probe kernel in q-space")
    return fig


def depth_curve_figure(curves, tasks):
    """Where the drift is made. Per task (columns): the share explained over its noise ceiling
    (top) and the correlation over its ceiling (bottom) of the probe kernel at every depth of
    the whole generative process, against the probe's locality index (log scale), one line per
    model class; the declared rule's depth circled, its locality budget a dashed line."""
    fig, axes = subplots(2, len(tasks), figsize=(PAGE_WIDTH_IN, 5.6), sharex=True, sharey="row",
                         squeeze=False, constrained_layout=True)
    models = list(dict.fromkeys(c.model for c in curves))
    for j, task_name in enumerate(tasks):
        top, bottom = axes[0, j], axes[1, j]
        for c in (c for c in curves if c.task == task_name):
            color = f"C{models.index(c.model)}"
            loc = np.array([r["locality"] for r in c.rows])
            chosen = np.array([r["depth"] == c.chosen for r in c.rows])
            for ax, y in ((top, [r["share / ceiling"] for r in c.rows]),
                          (bottom, [r["correlation"] / r["corr ceiling"] for r in c.rows])):
                y = np.array(y, dtype=float)
                ax.plot(loc, y, "o-", color=color, ms=4, label=c.model)
                ax.plot(loc[chosen], y[chosen], "o", ms=11, mfc="none", color=color)
        for ax in (top, bottom):
            ax.axvline(curves[0].budget, color="0.4", ls="--", lw=1, label="locality budget")
            ax.axhline(0, color="0.3", lw=0.8)
            ax.set_xscale("log")
        top.set_title(task_name)
        bottom.set_xlabel("locality of the probe")
    axes[0, 0].set_ylabel("share / ceiling")
    axes[1, 0].set_ylabel("correlation / ceiling")
    for ax in axes.ravel():
        ax.set_ylim(-0.6, 1.1)
    legend_below(fig, *axes.ravel(), ncols=3)
    return fig


def origin_figure(table, tasks):
    """Per task: the TV (median over the seeds) of each model with an origin variant (its own
    samples, blue) and of each variant (green), the null's 95% quantile grey."""
    fig, axes = panel_grid(len(tasks), len(tasks), 3.2)
    for ax, task_name in zip(axes, tasks):
        sub = table[table.task == task_name]
        labels = []
        for model, rows in sub.groupby("model", sort=False):
            first = len(labels)
            for name, tv in [(model, rows["TV"].iloc[0]), *zip(rows["variant"], rows["TV variant"])]:
                ax.bar(len(labels), tv, color="C0" if name == model else "C2", alpha=0.6)
                labels.append(name)
            ax.hlines(rows["TV null 95%"].median(), first - 0.4, len(labels) - 0.6, color="0.5", lw=3)
        ax.set_xticks(range(len(labels)), [wrap(n, 26) for n in labels], rotation=90)
        ax.set_title(task_name)
    axes[0].set_ylabel("TV against the intended prior\n(median over seeds)")
    return fig


def ladder_figure(ladder, rungs, models):
    """Per model class: share explained / ceiling at each rung of chapter 04's ladder (``rungs``,
    columns of ``ladder``: ``kernel_study.before_training_ladder``), one marker per task, joined
    by a line; the grey band is a perfect prediction (1) and no prediction (0)."""
    fig, axes = panel_grid(len(models), len(models), 3.4, sharey=True)
    for ax, model in zip(axes, models):
        sub = ladder[ladder.model == model]
        for i, (_, row) in enumerate(sub.iterrows()):
            values = np.clip([row[r] for r in rungs], -1.0, 1.2)   # beyond: drawn at the edge
            ax.plot(range(len(rungs)), values, "o-", color=f"C{i}", label=row["task"])
        ax.axhspan(0, 1, color="0.92", zorder=0)
        ax.set_xticks(range(len(rungs)), [wrap(r, 14) for r in rungs], rotation=90)
        ax.set_title(model)
    axes[0].set_ylabel("share explained / ceiling\n(clipped to [-1, 1.2])")
    legend_below(fig, axes[0])
    return fig


def maze_samples_figure(suite, n_examples: int):
    """The maze's training demonstrations and each model's first samples in the layout, with
    segments through a wall in red, titled with the median wall crossings per sample."""
    models = list(suite.config.models)
    maze = suite.get("maze", models[0])
    fig, axes = panel_grid(1 + len(models), 1 + len(models), 3.0)
    maze.task.draw(axes[0], maze.data.x[:n_examples], mark_crossings=True)
    axes[0].set_title(f"training demos\nmedian crossings "
                      f"{np.median(maze.reference_plausibility['wall_crossings']):.0f}")
    for ax, m in zip(axes[1:], models):
        e = suite.get("maze", m)
        e.task.draw(ax, e.samples[:n_examples], mark_crossings=True)
        crossings = e.plausibility["wall_crossings"]
        ax.set_title(f"{m}\nmedian crossings {np.median(crossings):.0f}\nany: {np.mean(crossings > 0):.0%}")
    return fig


def pendulum_samples_figure(suite, n_examples: int):
    """Top: the outer bob's path of the pendulum's training data and each model's first samples;
    bottom: the energy along the same trajectories over time."""
    from .tasks.pendulum import energy
    models = list(suite.config.models)
    pendulum = suite.get("pendulum", models[0])
    columns = [("training data", pendulum.data.x[:n_examples])] + [
        (m, suite.get("pendulum", m).samples[:n_examples]) for m in models]
    fig, axes = panel_grid(2 * len(columns), len(columns), 2.8)
    times = np.arange(pendulum.task.horizon) * pendulum.task.dt
    for j, (name, x) in enumerate(columns):
        top, bottom = axes[j], axes[len(columns) + j]
        pendulum.task.draw(top, x)
        top.set_title(name)
        for k, traj in enumerate(x):
            bottom.plot(times, energy(traj), color=f"C{k}")
        bottom.set_xlabel("time [s]")
    axes[len(columns)].set_ylabel("energy along\nthe sample [J]")
    return fig


def location_shift_figure(shifts: dict, on_manifold_shifts: dict):
    """Left: the mean shift of the quantity against the prior's mean, right: the share of samples
    above the prior's median, per model for the measured and the on-manifold quantity, each with
    its bootstrap interval (error bar) and the finite-sample null's central 95% (grey)."""
    models = list(shifts)
    fig, axes = subplots(1, 2, figsize=(PAGE_WIDTH_IN, 1.2 + 0.8 * len(models) * 2), constrained_layout=True)
    labels, ys = [], []
    for k, m in enumerate(models):
        for off, (kind, s) in enumerate((("measured", shifts[m]), ("on-manifold", on_manifold_shifts[m]))):
            y = 2 * k + off
            labels.append(f"{m}\n{kind}")
            ys.append(y)
            for ax, stat in zip(axes, ("mean_shift", "share_above_median")):
                value, ci, band = getattr(s, stat), getattr(s, f"{stat}_ci"), getattr(s, f"{stat}_null")
                ax.fill_betweenx([y - 0.4, y + 0.4], *band, color="0.85")
                ax.errorbar(value, y, xerr=[[value - ci[0]], [ci[1] - value]], fmt="o",
                            color="C0" if off == 0 else "C1", capsize=3)
    for ax, ref, xlabel in zip(axes, (0.0, 0.5), ("mean travel distance\nminus prior mean [cells]",
                                                  "share of samples above\nthe prior's median")):
        ax.axvline(ref, color="k", lw=0.8)
        ax.set_yticks(ys, labels)
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
    axes[1].set_yticklabels([])
    return fig


def mitigation_tv_figure(table, tasks, models, order):
    """Per task x model (a panel each): the TV against the intended prior of the untreated model
    (``none``) and each intervention that ran for it (in ``order``), every seed a dot, the median
    a bar, the null's 95% quantile grey, the kernel's prediction made before training a black
    cross (none for a fix the kernel cannot predict)."""
    pairs = [(t, m) for t in tasks for m in models if ((table.task == t) & (table.model == m)).any()]
    fig, axes = panel_grid(len(pairs), 3, 3.4)
    for ax, (task_name, model) in zip(axes, pairs):
        sub = table[(table.task == task_name) & (table.model == model)]
        names = ["none", *[i for i in order if i in set(sub["intervention"])]]
        for k, name in enumerate(names):
            rows = sub[sub.intervention == name]
            ax.bar(k, rows["TV"].median(), color="C0" if name == "none" else "C2", alpha=0.5)
            ax.plot(np.full(len(rows), k), rows["TV"], "o", color="C0", ms=4)
            ax.plot(k, rows["predicted TV"].median(), "x", color="k", ms=9, mew=2)
            ax.hlines(rows["TV null 95%"].median(), k - 0.4, k + 0.4, color="0.5", lw=3)
        ax.set_xticks(range(len(names)), names, rotation=90)
        ax.set_title(wrap(f"{task_name} / {model}", 20))
    axes[0].set_ylabel("TV against the intended prior")
    return fig


def fidelity_figure(fidelities: dict):
    """Per task (``{task name: (fidelity table, task)}``, e.g. ``studies.chapters.
    conditioning_fidelity``): the conditional model's mean error of the measured quantity per
    requested quantity ``q_c`` (line) and its spread (band)."""
    fig, axes = panel_grid(max(len(fidelities), 1), max(len(fidelities), 1), 3.0)
    for ax, (task_name, (fid, task)) in zip(axes, fidelities.items()):
        ax.fill_between(fid["q_c"], fid["mean error"] - fid["sd"], fid["mean error"] + fid["sd"], alpha=0.2)
        ax.plot(fid["q_c"], fid["mean error"], "o-", ms=3)
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set(xlabel=quantity_label(task), title=f"{task_name}:\nconditioning fidelity")
    axes[0].set_ylabel("E[m(x_hat) | q_c] - q_c")
    return fig


def precompensation_figure(results, seed: int):
    """Per task (the results of ``seed``): the intended prior, the pre-compensated training prior
    ``pi``, its predicted outcome ``P pi`` and model B's observed bin masses."""
    firsts = [r for r in results if r.base.seed == seed and "precompensate" in r.training_masses]
    fig, axes = panel_grid(max(len(firsts), 1), max(len(firsts), 1), 3.4)
    for ax, r in zip(axes, firsts):
        edges = r.base.drift.edges
        pos = np.arange(len(edges) + 1)
        ax.step(pos, r.base.drift.p_star, where="mid", color="0.4", ls="--", label="intended prior p*")
        ax.step(pos, r.training_masses["precompensate"], where="mid", color="C2", lw=2, label="training prior pi")
        ax.step(pos, r.predicted["precompensate"], where="mid", color="C3", label="predicted P pi")
        ax.step(pos, r.treated["precompensate"].drift.p_hat, where="mid", color="C0", label="observed (model B)")
        set_bin_ticks(ax, edges, max_labels=8)
        ax.set_title(f"{r.base.task.name}:\npre-compensation")
    axes[0].set_ylabel("mass per bin")
    legend_below(fig, axes[0], ncols=2)
    return fig


def step_axis(ax, steps):
    """A log x axis of training steps, ticked and labelled at ``steps`` only."""
    from matplotlib.ticker import NullLocator
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(list(steps), [f"{s:g}" for s in steps], rotation=90)


def scaling_figure(result, plausible_factor: float):
    """The drift against training. One panel per task (rows) and model class (columns): each
    seed's TV at each checkpoint (filled where that seed's samples are plausible, i.e. their
    distance ratio is at most ``plausible_factor``; hollow where not), the saturating law fitted
    to the mean over seeds (line), its TV_inf with the 95% interval (band) and the finite-sample
    null's 95% quantile at the largest checkpoint (dashed)."""
    fits = result.fits
    tasks = list(dict.fromkeys(f.task for f in fits))
    models = list(dict.fromkeys(f.model for f in fits))
    fig, axes = subplots(len(tasks), len(models), figsize=(PAGE_WIDTH_IN, 2.6 * len(tasks) + 0.8),
                             squeeze=False, constrained_layout=True)
    for f in fits:
        ax = axes[tasks.index(f.task), models.index(f.model)]
        grid = np.geomspace(f.steps[0], f.steps[-1], 100)
        ax.axhspan(*f.tv_inf_interval, color="0.85", label="TV_inf, 95% interval")
        ax.plot(grid, f.law(grid), color="C0", label="fitted law (mean over seeds)")
        ax.axhline(f.null95, color="0.3", ls="--", lw=1, label="null 95% quantile")
        for curve in f.curves:
            steps = np.array([e.step for e in curve])
            tv = np.array([e.drift.tv for e in curve])
            ok = np.array([e.distance_ratio <= plausible_factor for e in curve])
            ax.plot(steps[ok], tv[ok], "o", color="C1", ms=5, label="seed, plausible samples")
            ax.plot(steps[~ok], tv[~ok], "o", mfc="none", color="C1", ms=5, label="seed, implausible samples")
        step_axis(ax, f.steps)
        ax.set_ylim(bottom=0)
        ax.set_title(f"{f.task} / {f.model}")
    for ax in axes.ravel():
        ax.set_xlabel("training steps")
    for ax in axes[:, 0]:
        ax.set_ylabel("TV")
    legend_below(fig, *axes.ravel(), ncols=2)
    return fig


def fit_quality_figure(table, plausible_factor: float, memorised: float):
    """How well the models fit, against training: per task (columns), the distance ratio (top),
    the memorisation index (middle) and the held-out minus the training loss (bottom) at each
    checkpoint, the mean over seeds, one line per model class; the plausibility factor and the
    memorisation limit dashed. ``table``: ``ScalingResult.summary()`` at the book's size."""
    tasks = list(dict.fromkeys(table["task"]))
    models = list(dict.fromkeys(table["model"]))
    fig, axes = subplots(3, len(tasks), figsize=(PAGE_WIDTH_IN, 6.6), sharex="col", sharey="row",
                             squeeze=False, constrained_layout=True)
    rows = (("distance ratio", plausible_factor, "plausibility factor"),
            ("memorisation", memorised, "memorisation limit"), ("loss gap", None, None))
    for j, task_name in enumerate(tasks):
        for model in models:
            part = table[(table["task"] == task_name) & (table["model"] == model)]
            values = {"distance ratio": part["distance ratio"], "memorisation": part["memorisation"],
                      "loss gap": part["held-out loss"] - part["train loss"]}
            for i, (name, _, _) in enumerate(rows):
                axes[i, j].plot(part["step"], values[name], "o-", ms=4, color=f"C{models.index(model)}", label=model)
        for i, (name, line, label) in enumerate(rows):
            if line is not None:
                axes[i, j].axhline(line, color="0.3", ls="--", lw=1, label=label)
            step_axis(axes[i, j], sorted(set(table.loc[table["task"] == task_name, "step"])))
        axes[0, j].set_title(task_name)
        axes[-1, j].set_xlabel("training steps")
    for i, label in enumerate(("distance ratio", "memorisation index", "held-out - train loss")):
        axes[i, 0].set_ylabel(label)
    legend_below(fig, *axes.ravel(), ncols=2)
    return fig


def temperature_figure(table):
    """The transformer's sampling temperature: TV against the distance ratio at each scale of its
    Gaussian head's standard deviation, one line per task through the means over seeds (each
    point labelled with its scale), seeds as small dots."""
    fig, ax = subplots(figsize=(PAGE_WIDTH_IN * 0.7, 3.6), constrained_layout=True)
    for k, (task_name, part) in enumerate(table.groupby("task", sort=False)):
        mean = part.groupby("scale")[["TV", "distance ratio"]].mean()
        ax.plot(part["distance ratio"], part["TV"], ".", color=f"C{k}", alpha=0.5)
        ax.plot(mean["distance ratio"], mean["TV"], "o-", color=f"C{k}", label=task_name)
        for scale, row in mean.iterrows():
            ax.annotate(f"x{scale:g}", (row["distance ratio"], row["TV"]), textcoords="offset points", xytext=(4, 4))
    ax.set_xlabel("distance ratio (samples / clean)")
    ax.set_ylabel("TV")
    ax.legend()
    return fig


# -- where the transformer makes its drift (studies.autoregressive) ----------------------------
def _prefix_position(prefixes) -> np.ndarray:
    """x positions of clean prefix lengths on a log axis, the free model (0) half a step left of 1."""
    return np.array([0.5 if p == 0 else p for p in prefixes], dtype=float)


def prefix_curve_figure(results):
    """Per task: the TV of the quantity of rollouts from a clean prefix of L steps (L = 0: free
    samples), measured on the whole trajectory (blue) and on the generated window alone
    (green, where the measurement allows), the 95% interval over seeds and samples shaded, each
    beside its finite-sample null's 95% quantile (dotted)."""
    fig, axes = panel_grid(len(results), len(results), 3.2, sharey=True)
    for ax, r in zip(axes, results):
        for part, color, label in (("", "C0", "whole trajectory"), ("window ", "C2", "generated window")):
            rows = [row for row in r.rows if f"{part}TV" in row]
            if len(rows) < 2:
                continue
            x = _prefix_position([row["prefix"] for row in rows])
            ax.plot(x, [row[f"{part}TV"] for row in rows], "o-", color=color, ms=4, label=label)
            ax.fill_between(x, [row[f"{part}TV lo"] for row in rows], [row[f"{part}TV hi"] for row in rows],
                            color=color, alpha=0.2, lw=0)
            ax.plot(x, [row[f"{part}TV null 95%"] for row in rows], ":", color=color, label=f"null 95% ({label})")
        ax.set_xscale("log")
        ticks = _prefix_position(r.prefixes)
        ax.set_xticks(ticks, ["free" if p == 0 else str(p) for p in r.prefixes], rotation=90)
        ax.minorticks_off()
        ax.set_title(r.name)
        ax.set_xlabel("clean prefix (steps)")
    axes[0].set_ylabel("TV against the intended prior")
    legend_below(fig, *axes, ncols=2)
    return fig


def prefix_change_figure(results, prefixes=(0, 1, 8)):
    """Per task (rows): the per-bin change of the quantity (whole trajectory, seed mean) of free
    samples and of rollouts from a few clean prefixes, with the null band of the free samples'
    change (grey; overflow bins hatched)."""
    fig, axes = subplots(len(results), 1, figsize=(PAGE_WIDTH_IN, 2.9 * len(results) + 0.8), squeeze=False,
                             constrained_layout=True)
    for ax, r in zip(axes[:, 0], results):
        shown = [p for p in prefixes if p in r.drifts]
        first = r.drifts[shown[0]]
        pos = np.arange(len(first.delta))
        ax.fill_between(pos, first.null_band[0], first.null_band[1], step="mid", color="0.85", label="null 95% band")
        for k, p in enumerate(shown):
            ax.step(pos, r.drifts[p].delta, where="mid", color=f"C{k}", lw=1.5,
                    label="free samples" if p == 0 else f"clean prefix of {p}")
        ax.axhline(0, color="0.3", lw=0.8)
        set_bin_ticks(ax, first.edges)
        mark_overflow(ax, len(first.delta))
        ax.set_ylabel("mass change")
        ax.set_title(f"{r.name}: {quantity_label(r.task)}")
    legend_below(fig, *axes[:, 0], ncols=2)
    return fig


def amplification_figure(results):
    """Per task: the RMS error per step of teacher-forced one-step draws and of free-running
    rollouts from a clean first step (top, log scale, in units of the data's spread; dotted: an
    independent clean draw's), and their ratio, the amplification (bottom; thin lines: seeds)."""
    fig, axes = subplots(2, len(results), figsize=(PAGE_WIDTH_IN, 5.4), sharex=True, squeeze=False,
                             constrained_layout=True)
    for j, r in enumerate(results):
        top, bottom = axes[0, j], axes[1, j]
        steps = np.arange(1, r.one_step_error.shape[1])
        top.plot(steps, r.one_step_error[:, 1:].mean(0), color="C0", label="one-step (teacher forced)")
        top.plot(steps, r.rollout_error[:, 1:].mean(0), color="C1", label="rollout")
        top.plot(steps, r.independent_error[:, 1:].mean(0), ":", color="0.4", label="independent draw")
        top.set_yscale("log")
        top.set_title(r.name)
        ratio = r.rollout_error[:, 1:] / r.one_step_error[:, 1:]
        for row in ratio:
            bottom.plot(steps, row, color="C3", lw=0.6, alpha=0.6)
        bottom.plot(steps, ratio.mean(0), color="C3", lw=1.8, label="amplification (mean over seeds)")
        bottom.set_yscale("log")
        bottom.set_xlabel("step")
    axes[0, 0].set_ylabel("RMS error / data spread")
    axes[1, 0].set_ylabel("rollout / one-step")
    legend_below(fig, *axes.ravel(), ncols=2)
    return fig


def response_figure(results, start: int):
    """Per task: the observed per-bin change (seed mean, bars, null band grey) against the
    linear-response kernel's prediction (errors counted from step ``start``) and the class-blind
    control's, titled with the agreement and its interval over seeds."""
    fig, axes = subplots(len(results), 1, figsize=(PAGE_WIDTH_IN, 3.1 * len(results) + 0.8), squeeze=False,
                             constrained_layout=True)
    for ax, r in zip(axes[:, 0], results):
        res = r.responses[start]
        v, pred, control = res.validation, _pooled_delta(res.per_seed), _pooled_delta(res.controls)
        plot_change(ax, r.observed.delta, r.observed.edges, r.observed.null_band, label="observed change",
                    quantity=quantity_label(r.task))
        pos = np.arange(len(pred))
        ax.plot(pos, pred, "o-", color="k", ms=3, lw=1, label="linear response")
        ax.plot(pos, control, "--", color="0.45", lw=1, label="class-blind control")
        corr, (lo, hi) = res.resampled["correlation"]
        ax.set_title(f"{r.name}: corr {corr:+.2f} [{lo:+.2f}, {hi:+.2f}], share {v.share_explained:+.2f} "
                     f"(ceiling {v.ceiling.share:.2f})")
    legend_below(fig, *axes[:, 0], ncols=2)
    return fig


def _pooled_delta(predictions) -> np.ndarray:
    return np.mean([p.delta for p in predictions], axis=0)


def perturbation_figure(results):
    """Per task: the size of a perturbation of 1e-6 of the data's spread injected at a step of a
    rollout, along the rest of it (median over inputs, mean over seeds, in units of the
    perturbation), and the distance of the same rollout run in float32 from float64 (dashed, in
    the same units): the rounding grows as an injected perturbation does."""
    fig, axes = panel_grid(len(results), len(results), 3.2, sharey=True)
    for ax, r in zip(axes, results):
        horizon = r.one_step_error.shape[1]
        for k, (t0, g) in enumerate(r.growth.items()):
            steps = np.arange(t0, horizon)
            ax.plot(steps, np.exp(np.log(g[:, t0:]).mean(0)), color=f"C{k}", label=f"injected at step {t0}")
        rounding = (r.rounding["median |dx| per step"] / r.rounding["perturbation"][:, None]).mean(0)
        ax.plot(np.arange(1, horizon), rounding[1:], "--", color="0.3", label="float32 vs float64")
        ax.set_yscale("log")
        ax.set_title(r.name)
        ax.set_xlabel("step")
    axes[0].set_ylabel("|change| / perturbation")
    legend_below(fig, *axes, ncols=2)
    return fig


def round_trip_figure(result):
    """The VAE's round trips on one task (``studies.round_trip``). Top: the mean change of the
    quantity per bin of the clean quantity, one line per kind of round trip. Bottom: the VAE's
    observed per-bin change (seed mean, bars, null band grey) against the change each kind
    predicts as a kernel."""
    fig, (top, bottom) = subplots(2, 1, figsize=(PAGE_WIDTH_IN, 7.0), constrained_layout=True)
    drift = result.drift
    centres = drift.centers
    styles = ("-", "--", ":", "-.")
    for k, (kind, b) in enumerate(result.binned_shift.items()):
        top.plot(centres, b, styles[k % len(styles)], color=f"C{k}", lw=1.6, label=kind)
    top.axhline(0, color="0.3", lw=0.8)
    top.set_xlabel(f"clean {quantity_label(result.task)}")
    top.set_ylabel("mean change of q")
    top.set_title(f"{result.task.name}: the round trip moves the quantity")
    plot_change(bottom, drift.delta, drift.edges, drift.null_band, label="the VAE's observed change",
                quantity=quantity_label(result.task))
    pos = np.arange(len(drift.delta))
    for k, (kind, preds) in enumerate(result.per_seed.items()):
        bottom.plot(pos, np.mean([p.delta for p in preds], axis=0), styles[k % len(styles)], color=f"C{k}", lw=1.2)
    bottom.set_title("the VAE's drift against each round trip as a kernel")
    legend_below(fig, top, bottom, ncols=2)
    return fig
