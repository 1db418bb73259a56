"""The experiments the chapters run, on top of the science layers (tasks -> models -> kernel ->
interventions): the tasks and their curated datasets (``tasks_study``), the task x model suite
(``suite``), its named configurations (``config``), the kernel studies (``kernel_study``), the
mitigation study (``mitigation_study``), the paper's claims as computed verdicts (``claims``),
where the drift is made (``anatomy``), where it comes from (``origins``), whether it survives
training (``scaling``) and how the chapters state the results (``chapters``).

    cfg = mg.studies.suite_config("synthetic", profile="default")
    result = mg.studies.run_suite(cfg)                      # trains, or loads from the cache
    print(mg.studies.claim_c1(result, plausible_factor=2.0).sentence())
"""
from . import claims, config, kernel_study, suite, tasks_study  # noqa: F401
from .claims import Verdict, claim_c1, claim_c2, claim_c3, claim_c4, claim_c6, claim_c7  # noqa: F401
from .config import suite_config  # noqa: F401
from .kernel_study import FAMILY_OF_CLASS, before_training_study, empirical_study, probe_study  # noqa: F401
from .suite import SuiteConfig, SuiteEntry, SuiteResult, run_suite, summary_table  # noqa: F401
