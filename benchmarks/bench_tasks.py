"""Task generation throughput, and the pendulum integrator against scipy, measured in one run.

    python benchmarks/bench_tasks.py [--n 2000] [--ivp 32]

Prints trajectories generated per second for every task (maze: goal-reaching raw demos and
demos of prescribed travel distance), and the vectorised RK4 pendulum against
``scipy.integrate.solve_ivp`` (DOP853, rtol = atol = 1e-10) on the same initial states: the
speed ratio and the largest state difference.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.integrate import solve_ivp

import misgen_lib as mg
from misgen_lib.tasks.pendulum import derivatives


def rate(fn, n):
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="trajectories per task")
    ap.add_argument("--ivp", type=int, default=32, help="pendulum trajectories for solve_ivp")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{'task':<22}{'trajectories/s':>16}")
    cases = [("sine", {}), ("cone", {}), ("logistic", {}), ("pendulum", {}),
             ("maze", {"layout": "umaze"}), ("maze", {"layout": "medium"}), ("maze", {"layout": "large"})]
    for name, kw in cases:
        task = mg.tasks.get(name, **kw)
        label = name + (f"-{kw['layout']}" if kw else "")
        q = task.default_prior().sample(args.n, rng)
        print(f"{label + ' g(q, xi)':<22}{rate(lambda: task.sample(q, rng), args.n):>16,.0f}")
        if name == "maze":
            print(f"{label + ' raw demos':<22}"
                  f"{rate(lambda: task.raw_demonstrations(args.n, rng), args.n):>16,.0f}")

    task = mg.tasks.get("pendulum")
    q = task.default_prior().sample(args.ivp, rng)
    s0 = task.initial_states(q, task.nuisance(args.ivp, rng))
    times = np.arange(task.horizon) * task.dt
    from misgen_lib.tasks.pendulum import rk4_trajectories
    t0 = time.perf_counter()
    ours = rk4_trajectories(s0, task.horizon, task.dt, task.substeps)
    t_rk4 = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = np.stack([solve_ivp(lambda _, s: derivatives(s[None])[0], (0, times[-1]), s, method="DOP853",
                              t_eval=times, rtol=1e-10, atol=1e-10).y.T for s in s0])
    t_ivp = time.perf_counter() - t0
    print(f"\npendulum, {args.ivp} trajectories of {task.horizon} steps:")
    print(f"  RK4 (vectorised, {task.substeps} substeps): {t_rk4 * 1e3:8.1f} ms")
    print(f"  solve_ivp DOP853 (one by one):       {t_ivp * 1e3:8.1f} ms")
    print(f"  speed ratio solve_ivp / RK4: {t_ivp / t_rk4:.1f}x; "
          f"max state difference {np.abs(ours - ref).max():.2e}")


if __name__ == "__main__":
    main()
