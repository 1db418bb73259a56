"""An intervention defined outside the package, registered by a user, runs through the mitigation
study and its outcome table unchanged (the contract of ``misgen_lib.interventions``)."""
import numpy as np
import pytest
import torch

import misgen_lib as mg
from misgen_lib.cache import ArtifactStore
from misgen_lib.interventions import base
from misgen_lib.studies import mitigation_study as ms

torch.set_num_threads(1)


class Squared(mg.interventions.Intervention):
    """Importance weights ``(p*/p_hat_A)^2``: a stronger reweighting (the example of
    ``book/extending.md``)."""
    name, description = "reweight-squared", "importance weights (p*/p_hat_A)^2, clipped"

    def plan(self, ctx):
        w = np.clip(ctx.weights ** 2, 1 / ctx.clip, ctx.clip)
        masses = mg.interventions.weighted_masses(ctx.unit.data.q, w, ctx.edges)
        return self.through_kernel(ctx, masses, self.treat(ctx, weights=w / w.mean()))


@pytest.fixture
def registry(monkeypatch):
    """The registry as it is, restored after the test."""
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))


def test_a_registered_outside_intervention_runs_through_the_mitigation_study(tmp_path, registry):
    mg.interventions.register(Squared)
    assert mg.interventions.available()[-1] == "reweight-squared"
    cfg = mg.studies.SuiteConfig(tasks="cone", models="diffusion-mlp", n_train=128, train_steps=20, batch_size=32,
                                 width=8, n_samples=100, n_null=20, bins=8, seeds=(0,), workers=1)
    (r,) = ms.mitigation_study(cfg, interventions="reweight-squared", n_predict=300, n_depth=40,
                               store=ArtifactStore(tmp_path), progress=False)
    assert list(r.treated) == ["reweight-squared"] and r.treated["reweight-squared"].intervention == "reweight-squared"
    np.testing.assert_array_equal(r.predicted["reweight-squared"], r.transition @ r.training_masses["reweight-squared"])
    table = ms.outcome_table([r])
    assert list(table["intervention"]) == ["none", "reweight-squared"]
    assert table[["TV", "TV reduction", "predicted TV"]].notna().all().all()
    assert [v.total for v in mg.studies.claims.claim_c5([r])] == [0, 0, 0]   # no role: no claim counts it


def test_registering_a_taken_name_an_unknown_role_or_after_is_an_error(registry):
    class Again(Squared):
        name = "resample"

    class Odd(Squared):
        role = "dropout"

    class Later(Squared):
        after = "dropout"

    with pytest.raises(ValueError, match=r"intervention name 'resample' is empty or already registered; "
                                         r"registered: \['reweight', 'resample'"):
        mg.interventions.register(Again)
    with pytest.raises(ValueError, match=r"unknown role 'dropout' of intervention 'reweight-squared'; "
                                         r"valid: \['reweighting', 'conditioning', 'kernel-informed'\] or None"):
        mg.interventions.register(Odd)
    with pytest.raises(ValueError, match=r"intervention 'reweight-squared' comes after 'dropout', which is not "
                                         r"registered"):
        mg.interventions.register(Later)
    with pytest.raises(TypeError, match="register expects an Intervention subclass"):
        mg.interventions.register(object)


def test_an_unknown_intervention_is_named_with_the_registered_ones():
    with pytest.raises(ValueError, match=r"unknown intervention 'dropout'; available: \['reweight', "):
        mg.interventions.get("dropout")
