"""The data deviation kernel: the local errors a model class adds around data, estimated from a
trained model's samples (``estimate``) or chosen before training (``prior``), pushed through a
task's measurement to predict the recovered distribution (``predict``), and checked against an
observed drift (``validate``).

    kernel = mg.kernel.estimate(task, data, x_hat)                   # empirical residual bank
    kernel = mg.kernel.family("correlated", scale=0.05, length=3)      # or a-priori family
    pred = mg.kernel.predict(task, kernel, prior, n=20000, seed=2)    # predicted per-bin change
    print(mg.kernel.validate(pred, drift).summary())                   # with its noise ceiling

    depth = mg.kernel.deepest_local(model, data).depth                 # the declared locality rule
    kernel = mg.kernel.probe(model, depth)                             # the model's own local errors
    view = mg.kernel.qspace_view(pred)                                 # b(q), s(q), continuity equation
    print(mg.kernel.validate_seed_mean(pred, drifts_over_seeds).summary())
"""
from .apriori import calibrate, families, family, scale_from_data, white_of_locality  # noqa: F401
from .base import DeviationKernel, GaussianForm, locality_index  # noqa: F401
from .empirical import ResidualBank, StationaryGaussian, estimate  # noqa: F401
from .predict import Prediction, predict  # noqa: F401
from .probe import (DepthChoice, LOCALITY_BUDGET, ProbeKernel, calibrated, deepest_local,  # noqa: F401
                    probe, process_depths, resolve_mode, within_budget)
from .projection import Projection, project  # noqa: F401
from .qspace import QSpaceView, qspace_view  # noqa: F401
from .seed_mean import SeedAgreement, seed_agreement, seed_mean_drift, validate_seed_mean  # noqa: F401
from .validate import Ceiling, Validation, noise_ceiling, truth_estimate, validate  # noqa: F401
