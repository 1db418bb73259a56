"""Maze task: a point mass navigating a Maze2D-like layout, d = 2 (positions (x, y) in cells).

Demonstrations: a start drawn uniformly in a random free cell (within 0.3 of its centre), a goal
likewise; a waypoint controller follows the shortest cell path (BFS on the grid, cached per
layout) through the cell centres to the goal with damped point-mass dynamics
``a = k_p (w - p) - k_d v`` (critically damped, speed capped), switching to the next waypoint
within ``switch_radius`` of the current one, until the mass comes within ``ARRIVAL_RADIUS`` of the goal (the arrival
time interpolated between simulation steps, so demos vary continuously with the goal). The simulated
path (time step ``sim_dt``) is resampled uniformly in time to ``horizon`` points.

Recorded representation (companion's choice): positions only; velocities are implicit in the
steps. Quantity: travel distance, the sum of the step lengths of the recorded trajectory (cells);
its default range per layout (``DEFAULT_RANGES``) spans the distances the demos cover well.
Path length is convex in the positions, so zero-mean jitter lengthens paths.

``default_mode = "balanced"``: raw goal-reaching demos are bin-balanced to the prior, as an
engineer curates maze data. ``generate(q, xi)`` (mode "prior") instead places the goal on the
shortest route from a start so that the demo's travel distance is ``q``: ``xi`` ~ U[0,1)^4 picks
the start cell among those far enough, the start offset, and a far target cell that fixes the
route; the goal's arc-length position is found by fixed-point iteration (tolerance
``measure_tolerance``).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .backend import quiet, safe_norm
from ..checks import check_positive_int, check_trajectories
from .base import Task, register
from .maze_layouts import LAYOUTS, layout, segments_through_walls

DEFAULT_RANGES = {"umaze": (1.0, 5.0), "medium": (1.0, 9.0), "large": (2.0, 16.0)}
JITTER = 0.3          # start/goal offset from a cell centre, per axis (cells)
ARRIVAL_RADIUS = 0.005  # a demo ends when the mass comes this close to its goal (cells)
GOAL_ITERATIONS = 30    # secant steps placing the goal of g(q, xi)
ROUTE_MARGIN = 0.5    # > JITTER * sqrt(2): slack between a route's demo length and q


def travel_distance(x):
    """Sum of step lengths of trajectories (n, T, 2); numpy or torch (differentiable)."""
    return safe_norm(x[:, 1:] - x[:, :-1]).sum(1)


def simulate(start, waypoints, n_waypoints, sim_dt=0.02, kp=25.0, kd=10.0, vmax=1.0,
             switch_radius=0.25, max_time=60.0, chunk=1024):
    """Run the waypoint controller for a batch. ``start`` (n, 2); ``waypoints`` (n, K, 2), the
    last valid one (index ``n_waypoints - 1``) being the goal. Returns the simulated paths
    (n, S, 2) float32 (frozen after arrival) and arrival times (n,) in seconds."""
    n = len(start)
    rows = np.arange(n)
    p = np.asarray(start, float).copy()
    v = np.zeros_like(p)
    idx = np.zeros(n, dtype=int)
    last = np.asarray(n_waypoints) - 1
    arrival = np.full(n, np.nan)
    path = [p.astype(np.float32)]
    prev_dist = np.full(n, np.nan)
    for step in range(1, int(max_time / sim_dt) + 1):
        active = np.isnan(arrival)
        target = waypoints[rows, idx]
        e = target - p
        near = (np.einsum("ij,ij->i", e, e) < switch_radius ** 2) & (idx < last)
        idx = idx + near
        target = waypoints[rows, idx]
        e = target - p
        v = v + sim_dt * (kp * e - kd * v)
        speed = np.sqrt(np.einsum("ij,ij->i", v, v))
        v = v * np.minimum(1.0, vmax / np.maximum(speed, 1e-12))[:, None]
        p = np.where(active[:, None], p + sim_dt * v, p)
        v = np.where(active[:, None], v, 0.0)
        # arrival: the goal distance crosses ARRIVAL_RADIUS, timed by linear interpolation
        # between steps so that it moves continuously with the goal
        dist = np.sqrt(np.einsum("ij,ij->i", target - p, target - p))
        done = active & (idx == last) & (dist < ARRIVAL_RADIUS)
        before = np.fmax(prev_dist, dist + 1e-12)  # first step: no previous distance
        frac = np.clip((before - ARRIVAL_RADIUS) / (before - dist), 0, 1)
        arrival[done] = (step - 1 + frac[done]) * sim_dt
        prev_dist = dist
        path.append(p.astype(np.float32))
        if not np.isnan(arrival).any():
            break
    if np.isnan(arrival).any():
        raise RuntimeError(f"maze controller: {int(np.isnan(arrival).sum())} demos did not reach "
                           f"their goal within {max_time} s")
    return np.stack(path, axis=1), arrival


def resample_in_time(path, arrival, sim_dt, horizon):
    """Positions at ``horizon`` equally spaced times over ``[0, arrival]`` (linear interp)."""
    s = np.linspace(0, 1, horizon)[None, :] * (arrival[:, None] / sim_dt)   # fractional index
    k = np.clip(np.floor(s).astype(int), 0, path.shape[1] - 2)
    frac = (s - k)[..., None]
    rows = np.arange(len(path))[:, None]
    return (1 - frac) * path[rows, k] + frac * path[rows, k + 1]


@lru_cache(maxsize=None)
def _reach_table(layout_name: str, horizon: int, sim_dt: float) -> np.ndarray:
    lay = layout(layout_name)
    f = len(lay.cells)
    s_cell, g_cell = np.repeat(np.arange(f), f), np.tile(np.arange(f), f)
    demo = Maze.__new__(Maze)   # only the attributes _demos needs
    demo.layout, demo.horizon, demo.sim_dt = lay, horizon, sim_dt
    x = demo._demos(lay.centers[s_cell], s_cell, lay.centers[g_cell], g_cell)
    return travel_distance(x).reshape(f, f)


@register
class Maze(Task):
    name = "maze"
    quantity = "travel distance"
    unit = "cells"
    dim = 2
    default_mode = "balanced"
    measure_tolerance = 1e-3

    def __init__(self, layout: str = "umaze", horizon: int = 64, q_range=None, sim_dt: float = 0.02):
        if layout not in LAYOUTS:
            raise ValueError(f"unknown maze layout {layout!r}; valid: {sorted(LAYOUTS)}")
        self.layout_name = layout
        self.layout = globals()["layout"](layout)
        self.horizon = check_positive_int("horizon", horizon, minimum=2)
        self.q_range = tuple(float(v) for v in (q_range or DEFAULT_RANGES[layout]))
        self.sim_dt = float(sim_dt)
        if not 0 < self.sim_dt <= 0.05:
            raise ValueError(f"maze: sim_dt must be in (0, 0.05] s, got {sim_dt!r}")
        hi = float(self.reach().max()) - ROUTE_MARGIN
        if not 0 < self.q_range[0] < self.q_range[1] <= hi:
            raise ValueError(f"maze {layout}: q_range must satisfy 0 < lo < hi <= {hi:.2f} (the "
                             f"longest demo in the layout minus {ROUTE_MARGIN}), got {self.q_range}")

    def params(self):
        return {"layout": self.layout_name, "horizon": self.horizon, "q_range": list(self.q_range),
                "sim_dt": self.sim_dt}

    # -- goal-reaching demonstrations ----------------------------------------------------
    def _demos(self, start, start_cell, goal, goal_cell):
        """Controller demos from start points to goal points (with their cells)."""
        cells, counts = self.layout.paths(start_cell, goal_cell)
        centers = self.layout.centers
        # waypoints: the centres of the path cells after the start cell, then the goal
        wp = centers[cells[:, 1:]] if cells.shape[1] > 1 else np.empty((len(start), 0, 2))
        wp = np.concatenate([wp, goal[:, None, :]], axis=1)
        n_wp = counts                               # (cells after start) + goal = count
        wp[np.arange(len(start)), n_wp - 1] = goal  # the goal replaces its own cell's centre
        return self._simulate_resampled(start, wp, n_wp)

    def _simulate_resampled(self, start, wp, n_wp, chunk=1024):
        out = np.empty((len(start), self.horizon, 2))
        for lo in range(0, len(start), chunk):
            sl = slice(lo, lo + chunk)
            path, arrival = simulate(start[sl], wp[sl], n_wp[sl], sim_dt=self.sim_dt)
            out[sl] = resample_in_time(path, arrival, self.sim_dt, self.horizon)
        return out

    def _jittered(self, cell, u):
        return self.layout.centers[cell] + JITTER * (2 * u - 1)

    def raw_demonstrations(self, n, rng):
        """Uncurated demos between uniformly drawn start and goal points."""
        f = len(self.layout.cells)
        s_cell, g_cell = rng.integers(0, f, size=n), rng.integers(0, f, size=n)
        start = self._jittered(s_cell, rng.uniform(size=(n, 2)))
        goal = self._jittered(g_cell, rng.uniform(size=(n, 2)))
        return self._demos(start, s_cell, goal, g_cell), None

    # -- g(q, xi): a demo of prescribed travel distance ------------------------------------
    def nuisance(self, n, rng):
        return rng.uniform(0, 1, size=(n, 4))

    def reach(self) -> np.ndarray:
        """(F, F) travel distance of the demo from each free-cell centre to each other one
        (cached per layout, horizon and time step): which routes are long enough for a ``q``."""
        return _reach_table(self.layout_name, self.horizon, self.sim_dt)

    def _routes(self, q, xi):
        """Start points and route polylines (n, L, 2) long enough for travel distance ``q``: the
        demo along the route from the start cell's centre must exceed ``q + ROUTE_MARGIN``
        (the start offset changes the length by at most ``JITTER * sqrt(2)``)."""
        lay, reach = self.layout, self.reach()
        longest = reach.max(1)
        n = len(q)
        start_cell = np.empty(n, dtype=int)
        target = np.empty(n, dtype=int)
        for i in range(n):  # choices among a few dozen cells: cheap, and exact
            ok = np.flatnonzero(longest >= q[i] + ROUTE_MARGIN)
            start_cell[i] = ok[int(xi[i, 0] * len(ok))]
            far = np.flatnonzero(reach[start_cell[i]] >= q[i] + ROUTE_MARGIN)
            target[i] = far[int(xi[i, 3] * len(far))]
        start = self._jittered(start_cell, xi[:, 1:3])
        cells, counts = lay.paths(start_cell, target)
        route = np.concatenate([start[:, None], lay.centers[cells[:, 1:]]], axis=1)
        return start, route, counts

    def generate(self, q, xi):
        q, xi = self.check_q(q), np.asarray(xi, float)
        start, route, _ = self._routes(q, xi)
        seg = np.linalg.norm(np.diff(route, axis=1), axis=-1)   # padded segments have length 0
        cum = np.concatenate([np.zeros((len(q), 1)), np.cumsum(seg, 1)], axis=1)

        def demos(rows, s):
            """Demos from the start to the point at arc length ``s`` along the route."""
            s = np.clip(s, 0, cum[rows, -1])
            k = np.clip((cum[rows] <= s[:, None]).sum(1) - 1, 0, route.shape[1] - 2)
            frac = (s - cum[rows, k]) / np.maximum(seg[rows, k], 1e-12)
            goal = route[rows, k] + frac[:, None] * (route[rows, k + 1] - route[rows, k])
            wp = route[rows, 1:].copy()
            wp[np.arange(len(rows)), k] = goal
            return self._simulate_resampled(start[rows], wp, k + 1)

        # safeguarded secant on the goal's arc length s: travel distance(s) = q
        rows = np.arange(len(q))
        s_prev, x = q.copy(), demos(rows, q)
        d_prev = travel_distance(x)
        s_cur = s_prev + (q - d_prev)
        for _ in range(GOAL_ITERATIONS):
            todo = np.flatnonzero(np.abs(q - travel_distance(x)) > self.measure_tolerance / 4)
            if not todo.size:
                break
            x_todo = demos(todo, s_cur[todo])
            d_cur = travel_distance(x_todo)
            x[todo] = x_todo
            slope = np.clip((d_cur - d_prev[todo]) / np.where(s_cur[todo] != s_prev[todo],
                                                              s_cur[todo] - s_prev[todo], 1), 0.2, 5)
            s_prev[todo], d_prev[todo] = s_cur[todo], d_cur
            s_cur[todo] = s_cur[todo] + (q[todo] - d_cur) / slope
        return x

    # -- measurement and plausibility --------------------------------------------------------
    def measure(self, x):
        x = check_trajectories(x, f"{self.name} trajectories", self.dim, min_steps=2)
        with quiet():
            return travel_distance(x)

    def draw(self, ax, x=None, mark_crossings: bool = False, **style) -> None:
        """The layout's walls and paths ``x`` (n, T, 2) on ``ax``: start (dot), end (star);
        with ``mark_crossings`` the segments through a wall are drawn red."""
        free = self.layout.free
        ax.imshow(~free, cmap="Greys", vmin=0, vmax=1.6, extent=(0, free.shape[1], free.shape[0], 0))
        ax.set_xticks([]), ax.set_yticks([])
        for k, p in enumerate(np.asarray(x) if x is not None else []):
            kw = {"color": f"C{k}", "lw": 1.0, "marker": ".", "ms": 2, **style}
            ax.plot(p[:, 0], p[:, 1], **kw)
            ax.plot(*p[0], "o", color=kw["color"], ms=4)
            ax.plot(*p[-1], "*", color=kw["color"], ms=8)
            if mark_crossings:
                segs = np.stack([p[:-1], p[1:]], axis=1)       # (T-1, 2, 2): one segment each
                for seg in segs[segments_through_walls(self.layout, segs) > 0]:
                    ax.plot(seg[:, 0], seg[:, 1], color="red", lw=2.5)

    def plausibility(self, x):
        """``wall_crossings``: segments through a wall cell; ``endpoints_in_wall``: how many of
        the start and end points (0-2) are not in a free cell."""
        x = check_trajectories(np.asarray(x), f"{self.name} trajectories", self.dim, min_steps=2)
        with quiet():
            ends = self.layout.cell_index(x[:, [0, -1]])
            return {"wall_crossings": segments_through_walls(self.layout, x).astype(float),
                    "endpoints_in_wall": (ends < 0).sum(1).astype(float)}
