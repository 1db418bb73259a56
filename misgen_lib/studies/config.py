"""Named suite configurations, composed: the base (``SuiteConfig``'s field defaults), a named
suite's overrides, then the profile's overrides (as Diffuser's ``config/`` does). Each size lives
in exactly one place; chapters select a configuration by name and profile.

    cfg = suite_config("synthetic", profile="ci")     # what chapters 02-04 train and load
    cfg = suite_config("applied", seeds=(0, 1, 2))     # keyword overrides go last

Profiles: ``ci`` (tests: tiny and fast), ``default`` (the book on a 2-core CPU), ``paper``
(full scale, for a GPU). The book runner passes its profile to every chapter's ``profile``
parameter.
"""
from __future__ import annotations

from .. import vocabulary
from .suite import SuiteConfig

#: overrides of the base configuration per named suite
SUITES: dict[str, dict] = {
    # chapters 02-04: the synthetic tasks with every model class (the base)
    "synthetic": {},
    # chapter 05: the applied tasks with two model classes (their training budget, two thirds of
    # the base's, is ``SuiteConfig.task_step_scale``: see the chapter's note)
    "applied": {"tasks": ("maze", "pendulum"), "models": ("diffusion-unet", "transformer")},
    # chapter 06: the interventions, on one synthetic and the two applied tasks with the diffusion
    # U-Net, at the budget of chapters 02 and 05 (its untreated models are theirs: cache hits);
    # 1000 samples per model so that the 45 models' samples fit the chapter's CPU budget
    "mitigations": {"tasks": ("cone", "maze", "pendulum"), "models": ("diffusion-unet",),
                    "n_samples": 1000},
}

#: overrides per profile, applied after the suite's: one entry per ``vocabulary.PROFILES``, in its
#: order (tests/test_vocabulary.py)
PROFILES: dict[str, dict] = {
    "ci": {"n_train": 200, "train_steps": 20, "n_samples": 200, "width": 8, "n_null": 50, "seeds": (0, 1)},
    "default": {},
    "paper": {"device": "cuda", "n_train": 20000, "train_steps": 20000, "batch_size": 256,
              "width": 64, "n_samples": 10000, "threads": 0,
              "task_step_scale": {}},   # on a GPU every task trains for the full budget
}


def suite_config(suite: str = "synthetic", profile: str = "default", **overrides) -> SuiteConfig:
    """The ``SuiteConfig`` of named ``suite`` at ``profile``, with keyword ``overrides`` last."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; valid: {sorted(SUITES)}")
    vocabulary.check_profile(profile)
    return SuiteConfig(**{**SUITES[suite], **PROFILES[profile], **overrides})
