"""The ``misgen`` command: one entry point that dispatches to the layers.

    misgen [--root DIR] build [--profile ci|default|paper] [--force] [--no-render]
    misgen [--root DIR] run NOTEBOOK [-p NAME VALUE ...] [--profile P] [--force] [--no-render]
    misgen [--root DIR] verify [NOTEBOOK ...]  re-execute built chapters, compare their results (nbval)
    misgen [--root DIR] params [NOTEBOOK]   parameters of a notebook (or all), types and profiles
    misgen predict ...                      kernel prediction before training (misgen predict --help)

``build``, ``run``, ``verify`` and ``params`` belong to the book pipeline (``misgen_lib.runner``, which imports
no science module); ``predict`` to ``misgen_lib.predict_command``, above the science layers (it
joins tasks, models, kernels and plots). Each command's modules are imported only when used.
"""
from __future__ import annotations

import sys

PIPELINE_COMMANDS = ("build", "run", "verify", "params", "reference", "compare")
SCIENCE_COMMANDS = ("predict",)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["predict"]:
        from .predict_command import main as predict_main
        return predict_main(argv[1:])
    from .runner.cli import main as pipeline_main
    return pipeline_main(argv, prog="misgen", extra_help=__doc__)


if __name__ == "__main__":
    sys.exit(main())
