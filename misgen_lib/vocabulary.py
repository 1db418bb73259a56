"""The names the book pipeline (``misgen_lib.runner``) and the library share, spelled once.

The runner imports no science and the science imports no runner; where the two meet (a profile
the runner passes to a chapter and the chapter passes to ``studies.config``, a claim a chapter
records and the claims page lists, an environment variable one side sets and the other reads)
both import the name from here. This module imports nothing, so every layer may import it
(``tests/test_layers.py``); an unknown profile or claim id is an error on either side
(``tests/test_vocabulary.py``).
"""

#: the build profiles, in the order the book lists them: ci (tests: tiny and fast), default (the
#: book on a 2-core CPU), paper (full scale, for a GPU)
PROFILES = ("ci", "default", "paper")

#: the paper's claims, as the design numbers them (rules and verdicts: ``studies.claims``)
CLAIM_IDS = ("C1", "C2", "C3", "C4", "C5a", "C5b", "C5c", "C6", "C7")

# Environment variables (all begin with MISGEN_; none other is read or set anywhere).
CACHE_DIR_ENV = "MISGEN_CACHE_DIR"            # root of the artifact cache (default: .misgen_cache)
CACHE_LOG_ENV = "MISGEN_CACHE_LOG"            # file the cache appends its accesses to (the runner sets it)
CELL_TIMEOUT_ENV = "MISGEN_CELL_TIMEOUT"      # seconds a notebook cell may run (0: no limit)
CLAIMS_DIR_ENV = "MISGEN_CLAIMS_DIR"          # folder claims.record writes verdicts to (the runner sets it)
FIGURE_DIR_ENV = "MISGEN_FIGURE_DIR"          # folder figures.show saves PNGs to (the runner sets it)
INFERENCE_ENV = "MISGEN_INFERENCE"            # how models sample and probe: auto (default), eager or compiled
TRAINING_ENV = "MISGEN_TRAINING"              # how models train: auto (default), eager or compiled
KERNEL_LOG_ENV = "MISGEN_KERNEL_LOG"          # file a notebook kernel's own output goes to (the runner sets it)
NOTEBOOK_ENV = "MISGEN_NOTEBOOK"              # stem of the notebook being executed (the runner sets it)
PROFILE_ENV = "MISGEN_PROFILE"                # profile label of that execution (the runner sets it)
PROGRESS_FILE_ENV = "MISGEN_PROGRESS_FILE"    # file progress bars write to (the runner echoes it)
SCHEDULER_ENV = "MISGEN_SCHEDULER"            # Dask scheduler address for jobs.run (misgen build --scheduler)
REQUIRE_BROWSER_ENV = "MISGEN_REQUIRE_BROWSER"  # tests only: the browser test fails instead of skipping
SCREENSHOT_DIR_ENV = "MISGEN_SCREENSHOT_DIR"  # tests only: where the browser test saves screenshots
READER_BOOK_ENV = "MISGEN_READER_BOOK"        # tests only: a checkout whose built book the book tests check too

#: every environment variable above
ENVIRONMENT = (CACHE_DIR_ENV, CACHE_LOG_ENV, CELL_TIMEOUT_ENV, CLAIMS_DIR_ENV, FIGURE_DIR_ENV, INFERENCE_ENV, KERNEL_LOG_ENV,
               NOTEBOOK_ENV, PROFILE_ENV, PROGRESS_FILE_ENV, SCHEDULER_ENV, TRAINING_ENV, REQUIRE_BROWSER_ENV, SCREENSHOT_DIR_ENV,
               READER_BOOK_ENV)


def check_profile(profile: str) -> str:
    """``profile`` if it is one of ``PROFILES``; else a ``ValueError`` naming it and the valid ones."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    return profile


def check_claim(claim: str) -> str:
    """``claim`` if it is one of ``CLAIM_IDS``; else a ``ValueError`` naming it and the valid ids."""
    if claim not in CLAIM_IDS:
        raise ValueError(f"unknown claim id {claim!r}; valid claim ids: {', '.join(CLAIM_IDS)}")
    return claim
