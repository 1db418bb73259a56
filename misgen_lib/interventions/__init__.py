"""Interventions against physical misgeneralization: the science a user applies to a task and
model class of their own, and the registered interventions that the mitigations chapter
(``studies.mitigation_study``) runs on the book's tasks.

* ``weights``: reweighting weights ``p*/p_hat_A`` of a first model A, and resampling with them;
* ``precompensation``: model A's kernel as a q-space transition matrix, the outcome it predicts
  for a training distribution, and a training prior pre-compensated for the kernel;
* ``transforms``: coordinates in which a task's measurement is linear;
* ``fidelity``: how far a conditional model's samples land from the quantity asked for;
* ``base``: ``Intervention`` (plans one treated model and its predicted outcome), its ``Context``
  and ``Plan``, and the registry (``register``, ``get``, ``available``);
* ``builtin``: the book's six: ``reweight``, ``resample``, ``resample-2``, ``condition``,
  ``precompensate``, ``transform``.

    w = mg.interventions.reweighting_weights(data.q, q_hat_a, prior, edges)
    print(mg.interventions.available())           # the registered interventions
"""
from .base import ROLES, Context, Intervention, Plan, available, get, register  # noqa: F401
from .fidelity import fidelity  # noqa: F401
from .precompensation import (PRECOMPENSATION_METHODS, histogram_prior, precompensate,  # noqa: F401
                              predicted_outcome, transition_matrix)
from .transforms import TRANSFORMS, Transform, for_task, transformed, unit_or_x_axis  # noqa: F401
from .weights import resample, reweighting_weights, weighted_masses  # noqa: F401
from . import builtin  # noqa: F401,E402  (registers the book's interventions)
