"""Maze2D-like layouts as grid strings, shortest cell paths, and wall geometry.

``#`` is a wall cell, ``O`` a free cell. Cell ``(row, col)`` covers ``x in [col, col + 1]``,
``y in [row, row + 1]`` (``y`` grows downward, as the strings read); its centre is
``(col + 0.5, row + 0.5)``. The three layouts follow D4RL's ``maze2d-umaze``, ``-medium`` and
``-large`` grids (goal markers removed: goals are drawn at random).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

LAYOUTS = {
    "umaze": """
#####
#OOO#
###O#
#OOO#
#####""",
    "medium": """
########
#OO##OO#
#OO#OOO#
##OOO###
#OO#OOO#
#O#OO#O#
#OOO#OO#
########""",
    "large": """
############
#OOOO#OOOOO#
#O##O#O#O#O#
#OOOOOO#OOO#
#O####O###O#
#OO#O#OOOOO#
##O#O#O#O###
#OO#OOO#OOO#
############""",
}


@dataclass(frozen=True)
class Layout:
    """A maze grid with all-pairs shortest cell paths (BFS) between its free cells."""
    name: str
    free: np.ndarray        # (rows, cols) bool
    cells: np.ndarray       # (F, 2) (row, col) of the free cells
    distance: np.ndarray    # (F, F) shortest path length in cell steps
    next_hop: np.ndarray    # (F, F) next cell index from i toward j (j itself when adjacent)

    @property
    def centers(self) -> np.ndarray:
        """(F, 2) cell centres as (x, y)."""
        return self.cells[:, ::-1] + 0.5

    @property
    def walls(self) -> np.ndarray:
        """(W, 2) (row, col) of the wall cells."""
        return np.argwhere(~self.free)

    def cell_index(self, xy: np.ndarray) -> np.ndarray:
        """Free-cell index of each point (..., 2) = (x, y); -1 inside a wall or off the grid."""
        xy = np.asarray(xy, float)
        with np.errstate(invalid="ignore"):
            col = np.floor(np.nan_to_num(xy[..., 0], nan=-1.0)).astype(int)
            row = np.floor(np.nan_to_num(xy[..., 1], nan=-1.0)).astype(int)
        rows, cols = self.free.shape
        inside = (row >= 0) & (row < rows) & (col >= 0) & (col < cols)
        lookup = np.full(self.free.shape, -1)
        lookup[self.cells[:, 0], self.cells[:, 1]] = np.arange(len(self.cells))
        return np.where(inside, lookup[np.clip(row, 0, rows - 1), np.clip(col, 0, cols - 1)], -1)

    def paths(self, start: np.ndarray, goal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shortest cell paths for a batch: (n, L) free-cell indices ``start .. goal`` padded
        with ``goal``, and their lengths in cells (n,). Vectorised over the batch."""
        start, goal = np.asarray(start), np.asarray(goal)
        steps = self.distance[start, goal]
        out = np.empty((len(start), int(steps.max(initial=0)) + 1), dtype=int)
        cur = start.copy()
        out[:, 0] = cur
        for k in range(1, out.shape[1]):
            cur = self.next_hop[cur, goal]
            out[:, k] = cur
        return out, steps + 1


def parse(name: str) -> np.ndarray:
    if name not in LAYOUTS:
        raise ValueError(f"unknown maze layout {name!r}; valid: {sorted(LAYOUTS)}")
    rows = LAYOUTS[name].strip().splitlines()
    return np.array([[ch == "O" for ch in row] for row in rows])


@lru_cache(maxsize=None)
def layout(name: str) -> Layout:
    """The layout ``name`` with BFS shortest paths, computed once and cached."""
    free = parse(name)
    cells = np.argwhere(free)
    index = {tuple(c): i for i, c in enumerate(cells)}
    n = len(cells)
    distance = np.full((n, n), -1, dtype=int)
    next_hop = np.full((n, n), -1, dtype=int)
    for target in range(n):  # BFS from each target: parents point one step toward it
        distance[target, target] = 0
        next_hop[target, target] = target
        queue = deque([target])
        while queue:
            cur = queue.popleft()
            r, c = cells[cur]
            for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                nb = index.get((r + dr, c + dc))
                if nb is not None and distance[nb, target] < 0:
                    distance[nb, target] = distance[cur, target] + 1
                    next_hop[nb, target] = cur
                    queue.append(nb)
    if (distance < 0).any():
        raise ValueError(f"maze layout {name!r} has free cells that cannot reach each other")
    return Layout(name, free, cells, distance, next_hop)


def segments_through_walls(lay: Layout, x: np.ndarray) -> np.ndarray:
    """Per trajectory (n, T, 2) the number of segments ``x_t -> x_{t+1}`` that pass through the
    interior of a wall cell (slab test of each segment against each wall square)."""
    x = np.asarray(x, float)
    p = x[:, :-1, None, :]                          # (n, T-1, 1, 2)
    d = (x[:, 1:] - x[:, :-1])[:, :, None, :]
    walls = lay.walls
    lo = walls[:, ::-1].astype(float)[None, None]   # (1, 1, W, 2) as (x, y)
    hi = lo + 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (lo - p) / d, (hi - p) / d
        parallel = d == 0
        inside_slab = (p > lo) & (p < hi)
        t_enter = np.where(parallel, np.where(inside_slab, -np.inf, np.inf), np.minimum(t1, t2))
        t_exit = np.where(parallel, np.where(inside_slab, np.inf, -np.inf), np.maximum(t1, t2))
        enter, leave = t_enter.max(-1), t_exit.min(-1)   # over the two axes
        hit = (enter < leave) & (leave > 0) & (enter < 1)
    bad = ~np.isfinite(x).all(-1)
    return hit.any(-1).sum(-1) + (bad[:, 1:] | bad[:, :-1]).sum(-1)
