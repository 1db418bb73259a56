"""``misgen predict --task T --kernel K [--scale S] [--model M] [--out PNG]``: the predicted gain /
loss of mass per bin of a task's quantity under a kernel, before the model is trained.

* an a-priori family (``--kernel white`` ...): with ``--scale``, that scale; with ``--model M``,
  its parameters calibrated on the probe of a short run of class ``M`` (``--calibrate-steps``
  training steps on the task's curated data, cached), as chapter 04 does; otherwise the cheap
  default (``apriori.family``: 5% of the data's standard deviation, one time step for blur);
* ``--kernel probe --model M``: the probe kernel of that short run itself, at the declared
  locality rule's depth (``kernel.deepest_local``).

The task is a registered name (``--task sine``) or a user's own class in a Python file
(``--task path/to/ramp.py:Ramp``, see ``load_task``): no registration and no package needed.

The command joins tasks, models, kernels and plots, so it lives above the science layers (the
kernel layer imports neither tasks nor plots; ``tests/test_layers.py``)."""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

from . import models, tasks
from .kernel import apriori
from .kernel.predict import METHODS, clean_draws, predict
from .kernel.probe import calibrated, deepest_local, probe

PROBE = "probe"
#: draws of the measurement check of a task from a file: q evenly over its range, ends included
MEASUREMENT_DRAWS = 16


class TaskSpecError(ValueError):
    """A ``--task`` value that gives no usable task; the message names the value and what is valid."""


def load_task(value: str) -> tasks.Task:
    """The task of a ``--task`` value: a registered name (``tasks.available()``), or
    ``PATH.py:ClassName``, a ``misgen_lib.tasks.Task`` subclass in a Python file. The file is
    imported as a module of its own (its folder is not put on the import path), the class is built
    with no arguments (a task's parameters have defaults) and its measurement is checked
    (``check_measurement``), since a wrong ``measure`` would make every prediction wrong without
    an error. Raises ``TaskSpecError``."""
    path, colon, class_name = value.rpartition(":")
    if not colon:
        if value in tasks.available():
            return tasks.get(value)
        if value.endswith(".py"):
            raise TaskSpecError(f"--task {value!r}: name the class too, as {value}:ClassName")
        raise TaskSpecError(f"unknown task {value!r}; valid tasks: {', '.join(tasks.available())}, or "
                            "PATH.py:ClassName (a Task subclass in a Python file)")
    module = _import_file(Path(path), value)
    found = sorted(name for name, obj in vars(module).items()
                   if isinstance(obj, type) and issubclass(obj, tasks.Task) and obj is not tasks.Task)
    listed = f"Task subclasses in {path}: {', '.join(found) or 'none'}"
    cls = vars(module).get(class_name)
    if cls is None:
        raise TaskSpecError(f"--task {value!r}: {path} has no class {class_name!r}; {listed}")
    if not (isinstance(cls, type) and issubclass(cls, tasks.Task)):
        raise TaskSpecError(f"--task {value!r}: {class_name} is not a subclass of misgen_lib.tasks.Task "
                            f"(it is {cls!r}); {listed}")
    try:
        task = cls()
    except Exception as err:
        raise TaskSpecError(f"--task {value!r}: {class_name}() failed ({type(err).__name__}: {err}); a task "
                            "from a file is built with no arguments") from None
    check_measurement(task, f"--task {value!r}")
    return task


def _import_file(path: Path, value: str):
    """The module of the Python file ``path`` (``value``: the ``--task`` value, for messages)."""
    if not path.is_file():
        raise TaskSpecError(f"--task {value!r}: no file {path} (from {Path.cwd()}); give PATH.py:ClassName")
    if path.suffix != ".py":
        raise TaskSpecError(f"--task {value!r}: {path} is not a Python file (.py); give PATH.py:ClassName")
    name = f"misgen_task_file_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module   # as an import does (a dataclass in the file looks its module up)
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        sys.modules.pop(name, None)
        raise TaskSpecError(f"--task {value!r}: importing {path} failed: {type(err).__name__}: {err}") from None
    return module


def check_measurement(task: tasks.Task, label: str, n: int = MEASUREMENT_DRAWS, seed: int = 0) -> None:
    """That ``measure(generate(q, xi))`` gives back ``q`` within ``task.measure_tolerance`` on
    ``n`` draws (``q`` evenly over ``q_range``, ends included, fresh nuisance from ``seed``), as
    the library's tests check its own tasks; else ``TaskSpecError`` naming the worst draw."""
    q = np.linspace(*task.q_range, n)
    try:
        measured = np.asarray(task.measure(task.sample(q, np.random.default_rng(seed))), dtype=float)
    except Exception as err:
        raise TaskSpecError(f"{label}: measure(generate(q, xi)) failed ({type(err).__name__}: {err})") from None
    if measured.shape != q.shape:
        raise TaskSpecError(f"{label}: measure returned shape {measured.shape} for {n} trajectories; "
                            f"expected ({n},), one quantity per trajectory")
    error = np.abs(measured - q)
    error[~np.isfinite(error)] = np.inf
    bad = error > task.measure_tolerance
    if bad.any():
        i = int(np.argmax(error))
        raise TaskSpecError(f"{label}: measure(generate(q, xi)) does not give back q within measure_tolerance "
                            f"{task.measure_tolerance:g} on {bad.sum()} of {n} draws; worst: q = {q[i]:.6g} is "
                            f"measured as {measured[i]:.6g} (error {error[i]:.3g}); fix measure or generate, or "
                            "state the task's measure_tolerance")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="misgen predict", description=__doc__.split("\n\n")[0])
    p.add_argument("--task", required=True, help=f"a registered task, one of {tasks.available()}, or "
                                                "PATH.py:ClassName, a Task subclass in a Python file")
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
    try:
        task = load_task(args.task)
    except TaskSpecError as err:
        return _fail(str(err))
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
        return probe(short, deepest_local(short, x[:500], task=task, seed=args.seed).depth, task=task)
    return calibrated(args.kernel, short, x[:500], seed=args.seed, task=task)


def _save_plot(pred, task, kernel, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from .plots import plot_change, subplots
    fig, ax = subplots(figsize=(8, 3.5), constrained_layout=True)
    plot_change(ax, pred.delta, pred.edges, label="predicted change", quantity=task.quantity)
    ax.set_title(f"{task.name}: predicted gain / loss under {kernel.describe()} ({pred.method})")
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
