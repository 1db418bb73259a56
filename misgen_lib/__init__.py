"""misgen: reproducible companion to *Mechanisms of Misgeneralization in Physical Sequence
Modeling* (Nishi et al., 2026, arXiv 2605.20299).

Layers: ``tasks`` (measurements, curation) -> ``models`` (training) -> ``kernel`` (data deviation
kernels, predictions) -> ``studies`` (the experiments the chapters run, claim verdicts); beside
them ``priors``, ``metrics``, ``plots``, ``figures``, ``seeds``, ``checks`` and the artifact
``cache``; the book pipeline (``runner``, science-free) and the ``misgen`` command (``cli``).

    import misgen_lib as mg
    task = mg.tasks.get("sine")
    data = task.curate(n=2000, prior=mg.priors.Uniform(*task.q_range), seed=0)
"""
__version__ = "0.1.0"

from . import checks, seeds, priors, provenance, cache, tasks, metrics, models, kernel  # noqa: E402,F401
from . import figures, plots, studies  # noqa: E402,F401
