"""Conditioning fidelity: how far a conditional model's samples land from the quantity asked for
(the kernel's bias ``b(q)`` and spread ``s(q)`` in q-space)."""
from __future__ import annotations

import numpy as np


def fidelity(q_condition, q_hat, edges: np.ndarray):
    """Conditioning fidelity per bin of the requested quantity ``q_c``: the mean error
    ``E[m(x_hat) | q_c] - q_c``, the spread ``sd[m(x_hat) | q_c]`` and the count (pandas
    DataFrame; non-finite measurements are counted as ``non-finite`` and left out)."""
    import pandas as pd
    q_condition, q_hat = np.asarray(q_condition, float), np.asarray(q_hat, float)
    b = np.clip(np.searchsorted(edges, q_condition, side="right") - 1, 0, len(edges) - 2)
    rows = []
    for k in range(len(edges) - 1):
        sel = b == k
        finite = sel & np.isfinite(q_hat)
        err = q_hat[finite] - q_condition[finite]
        rows.append({"q_c": 0.5 * (edges[k] + edges[k + 1]), "mean error": err.mean() if err.size else np.nan,
                     "sd": q_hat[finite].std() if err.size > 1 else np.nan, "n": int(sel.sum()),
                     "non-finite": int((sel & ~np.isfinite(q_hat)).sum())})
    return pd.DataFrame(rows)
