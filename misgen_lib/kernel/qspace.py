"""The kernel seen in q-space, and the continuity-equation (Fokker-Planck) prediction.

From a Monte Carlo ``Prediction`` (per clean draw: its quantity ``q_clean`` and the deviated
quantity ``q_pred``), per interior bin of the clean quantity:

* ``shift`` b(q): mean of ``dq = q_pred - q_clean``;
* ``spread`` s(q): standard deviation of ``dq``;
* ``second_moment`` M2(q) = mean of ``dq^2`` = b^2 + s^2 (the second Kramers-Moyal coefficient;
  companion's choice over s^2 alone, which it equals to first order for a small kernel).

Draws whose deviated quantity is not finite are left out of the moments (``n_nonfinite``).

The continuity equation, one application of the kernel, gives the change of the density

    dp(q) ~ -d/dq (p* b) + 1/2 d^2/dq^2 (p* M2),

written here in flux (finite-volume) form on the prediction's bins, so mass is conserved:
``J = f b - 1/2 d/dq (f M2)`` with ``f = p*_bin / width`` the prior's density, evaluated on the
edges between bins, and the change of bin ``j`` is ``J(left edge) - J(right edge)``. The drift
part is upwind (donor cell, companion's choice): across an edge each neighbour sends
``f |b|`` towards where its own ``b`` points (``f_L max(b_L, 0) + f_R min(b_R, 0)``), which is
exact for a constant shift even where ``p*`` jumps; the diffusion part is the central difference
of ``f M2`` over the distance between bin centres.
**Boundary treatment** (companion's choice): outside ``[q_lo, q_hi]`` the clean density is zero
(the prior lives on the range), so a range edge has a neighbour with ``f = 0``; the flux through
it is mass that leaves to the overflow bin beyond, which is credited there (nothing flows back
in). Where ``p*`` jumps (the edges of a uniform prior) the diffusion term is only a first-order
account of the mass a spread pushes out (``~ f s^2 / (2 h)`` against ``~ 0.4 f s`` exactly for a
Gaussian spread ``s`` smaller than the bin width ``h``). Bins with no clean draw have no moments
and count as ``b = M2 = 0``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import metrics
from .predict import Prediction
from .validate import pearson


@dataclass
class QSpaceView:
    """Per interior bin (``centers``): ``shift`` b, ``spread`` s, ``second_moment`` M2, ``count``
    of clean draws; ``continuity_delta``: the continuity-equation per-bin change on the
    prediction's full binning (overflow bins first and last, as ``prediction.delta``);
    ``monte_carlo_delta``: ``prediction.delta``; ``agreement``: their Pearson correlation."""
    edges: np.ndarray
    shift: np.ndarray
    spread: np.ndarray
    second_moment: np.ndarray
    count: np.ndarray
    n_nonfinite: int
    continuity_delta: np.ndarray
    monte_carlo_delta: np.ndarray

    @property
    def centers(self) -> np.ndarray:
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    @property
    def agreement(self) -> float:
        return float(pearson(self.continuity_delta, self.monte_carlo_delta))

    def table(self) -> list[dict]:
        return [{"q": float(c), "shift": float(b), "spread": float(s), "count": int(k),
                 "continuity_delta": float(dc), "monte_carlo_delta": float(dm)}
                for c, b, s, k, dc, dm in zip(self.centers, self.shift, self.spread, self.count,
                                              self.continuity_delta[1:-1], self.monte_carlo_delta[1:-1])]


def bin_moments(q_clean: np.ndarray, q_pred: np.ndarray, edges: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """``(shift, spread, second_moment, count, n_nonfinite)`` of ``dq = q_pred - q_clean`` per
    interior bin of ``q_clean`` (NaN where a bin has no finite draw)."""
    q_clean, q_pred = np.asarray(q_clean, float), np.asarray(q_pred, float)
    ok = np.isfinite(q_clean) & np.isfinite(q_pred)
    idx = metrics.bin_index(q_clean[ok], edges) - 1          # interior bins 0..B-1, overflow -1 / B
    dq = (q_pred - q_clean)[ok]
    inside = (idx >= 0) & (idx < len(edges) - 1)
    idx, dq = idx[inside], dq[inside]
    nb = len(edges) - 1
    count = np.bincount(idx, minlength=nb)
    with np.errstate(invalid="ignore", divide="ignore"):
        shift = np.bincount(idx, dq, minlength=nb) / count
        variance = np.bincount(idx, (dq - np.nan_to_num(shift)[idx]) ** 2, minlength=nb) / count
    return shift, np.sqrt(variance), variance + shift ** 2, count, int((~ok).sum())


def continuity_change(p_star_inner: np.ndarray, shift: np.ndarray, second_moment: np.ndarray,
                      edges: np.ndarray) -> np.ndarray:
    """Per-bin mass change (overflow bins first and last) of the continuity equation, in the flux
    form and with the boundary treatment of the module docstring."""
    width = np.diff(edges)
    f = np.asarray(p_star_inner, float) / width
    fb = np.pad(f * np.nan_to_num(shift), 1)                # zero density outside the range
    fm = np.pad(f * np.nan_to_num(second_moment), 1)
    h = np.pad(width, 1, mode="edge")
    upwind = np.maximum(fb[:-1], 0.0) + np.minimum(fb[1:], 0.0)
    flux = upwind - 0.5 * (fm[1:] - fm[:-1]) / (0.5 * (h[1:] + h[:-1]))
    # flux[k]: through edge k (k = 0 the lower range edge, k = B the upper), positive upwards
    change = np.empty(len(edges) + 1)
    change[0] = -flux[0]                                    # below the range gains downward flux
    change[1:-1] = flux[:-1] - flux[1:]
    change[-1] = flux[-1]
    return change


def qspace_view(prediction: Prediction) -> QSpaceView:
    """b(q), s(q) and the continuity-equation change beside the Monte Carlo one (needs a Monte
    Carlo prediction: the analytic one's ``q_pred`` is a mean, not a draw)."""
    if prediction.method != "monte-carlo":
        raise ValueError(f"qspace_view needs a Monte Carlo prediction (per-draw deviated quantities), "
                         f"got method={prediction.method!r}; predict with method='monte-carlo'")
    shift, spread, second, count, n_bad = bin_moments(prediction.q_clean, prediction.q_pred, prediction.edges)
    change = continuity_change(prediction.p_star[1:-1], shift, second, prediction.edges)
    return QSpaceView(edges=prediction.edges, shift=shift, spread=spread, second_moment=second,
                      count=count, n_nonfinite=n_bad, continuity_delta=change,
                      monte_carlo_delta=prediction.delta)
