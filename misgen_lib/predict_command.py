"""``misgen predict --task T --kernel K [--scale S] [--model M] [--out PNG]``: the predicted gain /
loss of mass per bin of a task's quantity under a kernel, before the model is trained.

* an a-priori family (``--kernel white`` ...): with ``--scale``, that scale; with ``--model M``,
  its parameters calibrated on the probe of a short run of class ``M`` (``--calibrate-steps``
  training steps on the task's curated data, cached), as chapter 04 does; otherwise the cheap
  default (``apriori.family``: 5% of the data's standard deviation, one time step for blur);
* ``--kernel probe --model M``: the probe kernel of that short run itself."""
from __future__ import annotations

import argparse
import sys
import time

from . import models, tasks
from .kernel import apriori
from .kernel.predict import METHODS, clean_draws, predict
from .kernel.probe import calibrated, probe

PROBE = "probe"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="misgen predict", description=__doc__.split("\n\n")[0])
    p.add_argument("--task", required=True, help=f"task name, one of {tasks.available()}")
    p.add_argument("--kernel", required=True,
                   help=f"a-priori kernel family, one of {apriori.families()}, or '{PROBE}' (needs --model)")
    p.add_argument("--model", default=None, help=f"model class of the short calibration run, one of "
                                                 f"{models.available()}")
    p.add_argument("--calibrate-steps", type=int, default=200, help="training steps of the calibration run")
    p.add_argument("--scale", type=float, default=None,
                   help="kernel scale (data units; time steps for blur); default: cheap rule")
    p.add_argument("--length", type=float, default=None, help="correlation length (correlated only)")
    p.add_argument("--method", default="monte-carlo", help=f"one of {list(METHODS)}")
    p.add_argument("--n", type=int, default=20000, help="clean draws pushed through the kernel")
    p.add_argument("--bins", type=int, default=20, help="bins over the quantity range")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--out", default=None, help="save the plot of the predicted change as this PNG")
    return p


def _fail(message: str) -> int:
    print(f"misgen predict: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["predict"]:
        argv = argv[1:]
    args = _parser().parse_args(argv)
    if args.task not in tasks.available():
        return _fail(f"unknown task {args.task!r}; valid tasks: {', '.join(tasks.available())}")
    if args.kernel not in (*apriori.families(), PROBE):
        return _fail(f"unknown kernel {args.kernel!r}; valid kernels: {', '.join(apriori.families())}, {PROBE}")
    if args.model is not None and args.model not in models.available():
        return _fail(f"unknown model class {args.model!r}; valid: {', '.join(models.available())}")
    if args.kernel == PROBE and args.model is None:
        return _fail(f"--kernel {PROBE} needs --model, the class whose short run is probed")
    if args.model is not None and args.scale is not None:
        return _fail("give --scale or --model (calibration), not both")
    if args.calibrate_steps < 1:
        return _fail(f"--calibrate-steps must be >= 1, got {args.calibrate_steps}")
    if args.method not in METHODS:
        return _fail(f"unknown method {args.method!r}; valid methods: {', '.join(METHODS)}")
    if args.n < 1 or args.bins < 1:
        return _fail(f"--n and --bins must be >= 1, got n={args.n}, bins={args.bins}")
    start = time.perf_counter()
    task = tasks.get(args.task)
    prior = task.default_prior()
    x = clean_draws(task, prior, args.n, args.seed)
    try:
        kernel = _kernel(args, task, prior, x)
        pred = predict(task, kernel, prior, bins=args.bins, method=args.method, clean=x,
                       seed=args.seed, progress=False)
    except ValueError as err:
        return _fail(str(err))
    elapsed = time.perf_counter() - start

    unit = f" [{task.unit}]" if task.unit else ""
    print(f"task {task.name}: {task.quantity}{unit} over {list(task.q_range)}; kernel "
          f"{kernel.describe()}; {args.method}; {pred.n} clean draws; {elapsed:.1f} s")
    print(f"{'bin':>21}  {'prior':>7}  {'predicted':>9}  {'change':>8}")
    for row in pred.table():
        tag = "gain" if row["delta"] > 0 else "loss" if row["delta"] < 0 else ""
        rng = f"[{row['from']:.4g}, {row['to']:.4g})"
        print(f"{rng:>21}  {row['p_star']:7.4f}  {row['p_tilde']:9.4f}  {row['delta']:+8.4f} {tag}")
    print(f"predicted total variation from the prior: {pred.tv:.4f}")
    if args.out:
        _save_plot(pred, task, kernel, args.out)
        print(f"plot saved to {args.out}")
    return 0


def _kernel(args, task, prior, x):
    if args.model is None:
        return apriori.family(args.kernel, scale=args.scale, length=args.length, data=x)
    data = task.curate(min(len(x), 2000), prior=prior, seed=args.seed + 1)
    short = models.fit(args.model, data, {"train_steps": args.calibrate_steps}, seed=args.seed, progress=False)
    if args.kernel == PROBE:
        return probe(short, task=task)
    return calibrated(args.kernel, short, x[:500], seed=args.seed, task=task)


def _save_plot(pred, task, kernel, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from .plots import plot_change
    fig, ax = plt.subplots(figsize=(8, 3.5), constrained_layout=True)
    plot_change(ax, pred.delta, pred.edges, label="predicted change", quantity=task.quantity)
    ax.set_title(f"{task.name}: predicted gain / loss under {kernel.describe()} ({pred.method})")
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
