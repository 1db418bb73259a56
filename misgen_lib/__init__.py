"""misgen: reproducible companion to *Mechanisms of Misgeneralization in Physical Sequence
Modeling* (Nishi et al., 2026, arXiv 2605.20299).

Layers: ``tasks`` (measurements, curation) -> ``models`` (training) -> ``kernel`` (data deviation
kernels, predictions) -> ``interventions`` (fixes against misgeneralization, registered) ->
``studies`` (the experiments the chapters run, claim verdicts); beside
them ``priors``, ``metrics``, ``plots``, ``figures``, ``seeds``, ``checks`` and the artifact
``cache``; the book pipeline (``runner``, science-free) and the ``misgen`` command (``cli``).

    import misgen_lib as mg
    task = mg.tasks.get("sine")
    data = task.curate(n=2000, prior=mg.priors.Uniform(*task.q_range), seed=0)
"""
__version__ = "0.1.0"

import importlib  # noqa: E402

#: imported on first use (``mg.models`` pulls in torch, which a notebook that only plots, or the
#: ``misgen`` command, need not pay for)
SUBMODULES = ("checks", "seeds", "priors", "provenance", "cache", "tasks", "metrics", "models", "kernel",
              "interventions", "figures", "plots", "studies", "jobs", "progress")


def __getattr__(name: str):
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}; its modules: {list(SUBMODULES)}")


def __dir__():
    return sorted({*globals(), *SUBMODULES})
