"""Physics of the pendulum and maze tasks, checked against independent computations."""
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import misgen_lib as mg
from misgen_lib.tasks.maze_layouts import LAYOUTS, layout, segments_through_walls
from misgen_lib.tasks.pendulum import G, derivatives, energy, rk4_trajectories

# -- pendulum ------------------------------------------------------------------------------

#: stated bound: relative energy drift over a window, far below a bin width (1.25 J / 30 J)
ENERGY_DRIFT_BOUND = 1e-6


def test_pendulum_initial_states_have_exactly_the_drawn_energy():
    task = mg.tasks.get("pendulum")
    q = np.linspace(*task.q_range, 200)
    s0 = task.initial_states(q, task.nuisance(200, np.random.default_rng(0)))
    np.testing.assert_allclose(energy(s0), q, rtol=0, atol=1e-9)


def test_pendulum_integrator_conserves_energy():
    task = mg.tasks.get("pendulum")
    q = np.linspace(*task.q_range, 60)
    x = task.generate(q, task.nuisance(60, np.random.default_rng(1)))
    e = energy(x)
    drift = np.abs(e - q[:, None]).max(1) / q
    assert drift.max() < ENERGY_DRIFT_BOUND, drift.max()
    assert np.abs(x[..., 2:]).max() > 5, "the range reaches fast, large-amplitude motion"


def test_pendulum_matches_an_independent_integrator():
    task = mg.tasks.get("pendulum")
    q = np.array([task.q_range[0], 15.0, task.q_range[1]])
    x = task.generate(q, task.nuisance(3, np.random.default_rng(2)))
    times = np.arange(task.horizon) * task.dt
    for i in range(3):
        sol = solve_ivp(lambda _, s: derivatives(s[None])[0], (0, times[-1]), x[i, 0],
                        method="DOP853", t_eval=times, rtol=1e-12, atol=1e-12)
        assert np.abs(sol.y.T - x[i]).max() < 1e-6


def test_pendulum_small_oscillation_normal_mode_frequencies():
    """Linearised double pendulum (m = l = 1): modes w^2 = g (2 -+ sqrt 2), shapes (1, +-sqrt 2)."""
    eps, dt = 1e-4, 0.01
    s0 = np.array([[eps, eps * np.sqrt(2), 0, 0], [eps, -eps * np.sqrt(2), 0, 0]])
    x = rk4_trajectories(s0, 400, dt, 5)
    t = np.arange(400) * dt
    for row, w2 in zip(x, (G * (2 - np.sqrt(2)), G * (2 + np.sqrt(2)))):
        np.testing.assert_allclose(row[:, 0], eps * np.cos(np.sqrt(w2) * t), atol=1e-3 * eps)


def test_pendulum_bob_positions_keep_the_rod_lengths():
    task = mg.tasks.get("pendulum")
    x = task.sample([10.0, 25.0], np.random.default_rng(0))
    b = task.bob_positions(x)
    np.testing.assert_allclose(np.hypot(b[..., 0], b[..., 1]), 1.0)
    np.testing.assert_allclose(np.hypot(b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]), 1.0)


# -- maze ----------------------------------------------------------------------------------

def free_grid(name):
    """Free cells straight from the layout string (independent of the library's parser)."""
    return np.array([[c == "O" for c in row] for row in LAYOUTS[name].strip().split("\n")])


def points_in_free_cells(name, pts):
    grid = free_grid(name)
    col, row = np.floor(pts[..., 0]).astype(int), np.floor(pts[..., 1]).astype(int)
    ok = (row >= 0) & (row < grid.shape[0]) & (col >= 0) & (col < grid.shape[1])
    return ok & grid[np.clip(row, 0, grid.shape[0] - 1), np.clip(col, 0, grid.shape[1] - 1)]


def densely_sampled_segments(x, k=64):
    s = np.linspace(0, 1, k)[None, None, :, None]
    return x[:, :-1, None] + s * (x[:, 1:, None] - x[:, :-1, None])


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_maze_demos_never_cross_walls(name):
    task = mg.tasks.get("maze", layout=name)
    rng = np.random.default_rng(0)
    raw, _ = task.raw_demonstrations(300, rng)
    prescribed = task.sample(np.linspace(*task.q_range, 100), rng)
    for x in (raw, prescribed):
        assert points_in_free_cells(name, densely_sampled_segments(x)).all()
        assert (segments_through_walls(task.layout, x) == 0).all()
        assert (task.plausibility(x)["endpoints_in_wall"] == 0).all()


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_wall_geometry_agrees_with_dense_sampling_on_random_segments(name):
    lay = layout(name)
    rng = np.random.default_rng(5)
    rows, cols = lay.free.shape
    start = rng.uniform([0, 0], [cols, rows], size=(400, 1, 2))
    x = np.concatenate([start, start + rng.uniform(-1.5, 1.5, size=(400, 1, 2))], axis=1)
    slab = segments_through_walls(lay, x) > 0
    sampled = ~points_in_free_cells(name, densely_sampled_segments(x, k=2000)).all(axis=(1, 2))
    assert slab.sum() > 50 and (~slab).sum() > 20
    assert np.mean(slab == sampled) > 0.99   # dense sampling can miss a clipped corner only


def test_maze_known_crossing_is_counted():
    task = mg.tasks.get("maze", layout="umaze")
    # from the top corridor straight down through the wall row 2 into the bottom corridor
    x = np.array([[[1.5, 1.5], [1.5, 3.5]], [[1.5, 1.5], [3.5, 1.5]]])
    assert task.plausibility(x)["wall_crossings"].tolist() == [1.0, 0.0]


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_maze_paths_are_at_least_the_straight_line(name):
    task = mg.tasks.get("maze", layout=name)
    x, _ = task.raw_demonstrations(300, np.random.default_rng(1))
    travel = task.measure(x)
    assert np.all(travel >= np.linalg.norm(x[:, -1] - x[:, 0], axis=-1) - 1e-9)
    assert np.all(travel > 0)


def test_maze_bfs_distances():
    lay = layout("umaze")
    corners = lay.cell_index(np.array([[1.5, 1.5], [1.5, 3.5], [3.5, 1.5]]))
    assert lay.distance[corners[0], corners[1]] == 6   # around the U
    assert lay.distance[corners[0], corners[2]] == 2
    np.testing.assert_array_equal(lay.distance, lay.distance.T)
