"""misgen: reproducible companion to *Mechanisms of Misgeneralization in Physical Sequence
Modeling* (Nishi et al., 2026, arXiv 2605.20299).

    import misgen_lib as mg
    task = mg.tasks.get("sine")
    data = task.curate(n=2000, prior=mg.priors.Uniform(*task.q_range), seed=0)
"""
__version__ = "0.1.0"

from . import priors, provenance, cache, tasks, metrics, models, kernel, figures  # noqa: E402,F401
from . import suite  # noqa: E402,F401
