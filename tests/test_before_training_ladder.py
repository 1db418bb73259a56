"""Chapter 04's ladder summary: where a class's before-training prediction loses most of the
ceiling, on ladders whose answer is known."""

import pandas as pd
import pytest

from misgen_lib.studies import chapters, claims
from misgen_lib.studies.kernel_study import LADDER

TABLE = pd.DataFrame([{"model": "vae", "correlation": 0.5, "data-Gaussian correlation": 0.1, "share explained": 0.2,
                       "share ceiling": 0.9, "training seconds": 10.0, "prediction seconds": 1.0}])
C6 = claims.Verdict("C6", [])


@pytest.mark.parametrize("rungs, loss", [((0.0, 0.7, 0.9), "the short run (0.70 of the ceiling)"),
                                         ((0.1, 0.2, 0.9), "the family's shape (0.70 of the ceiling)"),
                                         ((0.1, 0.1, 0.2), "beyond local errors (0.80 of the ceiling)")])
def test_the_largest_loss_is_named_with_its_size(rungs, loss):
    row = {"task": "sine", "model": "vae", **dict(zip(LADDER, rungs)), "data-Gaussian": 0.0}
    facts = chapters.before_training_facts(TABLE, pd.DataFrame([row, row]), C6, ["vae"])
    assert facts["ladder_loss_per_class"] == f"vae: {loss}"
    assert facts["ladder_per_class"] == "vae: " + " → ".join(f"{r:+.2f}" for r in rungs)


def test_the_cost_ratio_sums_seconds_so_cheap_pairs_cannot_set_it():
    """Two expensive pairs and three cheap ones whose prediction seconds are mostly fixed
    costs: a median of per-pair ratios would read the cheap pairs' 2; summed seconds read the
    expensive ones' work."""
    table = pd.DataFrame({"model": ["diffusion-unet"] * 2 + ["vae"] * 3,
                          "training seconds": [100.0, 100.0, 2.0, 2.0, 2.0],
                          "prediction seconds": [10.0, 10.0, 1.0, 1.0, 1.0]})
    cost = chapters.before_training_cost(table)
    assert cost["cost_ratio"] == pytest.approx(206 / 23)
    assert cost["cost_ratio_per_class"] == "diffusion-unet 10, vae 2"
