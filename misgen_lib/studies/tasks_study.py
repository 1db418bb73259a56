"""The tasks and their curated datasets (chapter 01): build the named tasks, check each
measurement on clean trajectories across its range, curate a dataset per task to the intended
prior and measure its drift from that prior against the finite-sample null.

    study = tasks_study("sine,maze", "umaze", n=2000, horizon=64, prior="uniform", beta_a=2.0,
                        beta_b=5.0, bins=20, n_check=41, seed=0)
    study.fit                           # each curated dataset's TV beside its null

Seeds: the measurement check draws stream ``("measurement-check", task)`` of ``seed``; curation
``derive(seed, "data", task)``; the null ``derive(seed, "null", task)``.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from .. import checks, metrics, priors as _priors, seeds, tasks as _tasks
from ..progress import bar


@dataclass
class TasksStudy:
    """Chapter 01: the tasks, their intended priors, the curated datasets and their drift from
    the prior, with the tables the chapter shows."""
    tasks: dict
    priors: dict
    datasets: dict
    drifts: dict
    table: object          # the tasks and their parameters
    check: object          # the measurement on clean data against each task's tolerance
    fit: object            # each curated dataset's TV against its null


def _build(name: str, horizon: int, layout: str) -> _tasks.Task:
    """Task ``name`` at ``horizon``, in ``layout`` where its class takes one (a maze)."""
    takes = inspect.signature(_tasks.task_class(name)).parameters
    return _tasks.get(name, horizon=horizon, **({"layout": layout} if "layout" in takes else {}))


def tasks_study(tasks: str, maze_layout: str, n: int, horizon: int, prior: str, beta_a: float,
                beta_b: float, bins: int, n_check: int, seed: int) -> TasksStudy:
    """Build the named tasks (``maze_layout``: the layout of those that take one), check each
    measurement on ``n_check`` clean trajectories across the range, curate ``n`` trajectories per
    task to the intended prior and measure their drift."""
    import pandas as pd
    names = checks.check_names(tasks, "task", _tasks.available())
    shape = {"a": beta_a, "b": beta_b} if prior == "beta" else {}
    task_objs = {name: _build(name, horizon, maze_layout) for name in names}
    prior_of = {name: _priors.named(prior, *task.q_range, **shape) for name, task in task_objs.items()}
    rows, check = [], []
    for name, task in task_objs.items():
        d = task.describe()
        extra = {k: v for k, v in d.items() if k not in ("task", "quantity", "unit", "q_range", "horizon", "dim")}
        rows.append({"task": name, "quantity": d["quantity"], "unit": d["unit"],
                     "range": f"[{d['q_range'][0]:g}, {d['q_range'][1]:g}]", "T": d["horizon"],
                     "d": d["dim"], "curation": task.default_mode, "tolerance": task.measure_tolerance,
                     "other parameters": ", ".join(f"{k}={v}" for k, v in extra.items())})
        q = np.linspace(*task.q_range, n_check)
        x = task.sample(q, seeds.stream(seed, "measurement-check", name))
        err = np.abs(task.measure(x) - q)
        check.append({"task": name, "max |m(g(q, xi)) - q|": err.max(), "tolerance": task.measure_tolerance,
                      "within tolerance": bool(err.max() <= task.measure_tolerance)})
    datasets = {}
    for name, task in bar(task_objs.items(), total=len(task_objs), desc="curating"):
        datasets[name] = task.curate(n, prior=prior_of[name], seed=seeds.derive(seed, "data", name), bins=bins)
    drifts = {name: metrics.drift(data.q, prior_of[name], bins=bins, seed=seeds.derive(seed, "null", name))
              for name, data in datasets.items()}
    fit = []
    for name, data in datasets.items():
        s = drifts[name].summary()
        fit.append({"task": name, "mode": data.mode, "N": len(data), "TV": s["tv"],
                    "TV null 95%": s["tv_null95"], "inside null": s["tv"] <= s["tv_null95"],
                    "raw demos needed": data.info.get("n_raw", len(data))})
    return TasksStudy(task_objs, prior_of, datasets, drifts, pd.DataFrame(rows).set_index("task"),
                      pd.DataFrame(check).set_index("task"), pd.DataFrame(fit).set_index("task"))


def balanced_tasks() -> list[str]:
    """The registered tasks that curate by bin-balanced selection of raw demonstrations by
    default (``Task.default_mode == "balanced"``: the maze), whose cost chapter 01 quotes."""
    return [name for name in _tasks.available() if _tasks.task_class(name).default_mode == "balanced"]
