"""The ``misgen`` command: one entry point that dispatches to the layers.

``build``, ``run``, ``verify``, ``params`` and ``record`` belong to the book pipeline
(``misgen_lib.runner``, which imports no science module); ``predict`` to
``misgen_lib.predict_command``, above the science layers (it joins tasks, models, kernels and
plots). What the pipeline needs to know of the science (the registered names a parameter may
take, a chapter's suite sizes) comes from ``misgen_lib.chapter_parameters``, handed over here.
Each command's modules are imported only when used.
"""
from __future__ import annotations

import sys

#: what ``misgen --help`` says before the list of commands
USAGE = """\
Build and check the companion book of "Mechanisms of Misgeneralization in Physical Sequence
Modeling". Each command has its own help: misgen COMMAND --help.

examples:
  misgen build --parallel 3          execute the chapters whose inputs changed, render the book
  misgen run 01 -p n 500             re-run chapter 01 with a changed parameter
  misgen params 02                   chapter 02's parameters and the suite sizes of each profile
  misgen verify                      re-execute the built chapters: do they state the same results?
  misgen record                      write the last build's run record to benchmarks/runs/
  misgen compare --chapters 01 02    compare the built chapters with the committed reference
  misgen predict --task cone --kernel white   a kernel's prediction before training
"""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["predict"]:
        from .predict_command import main as predict_main
        return predict_main(argv[1:])
    from . import chapter_parameters
    from .runner.cli import main as pipeline_main
    return pipeline_main(argv, prog="misgen", description=USAGE, choices=chapter_parameters.choices,
                         sizes=chapter_parameters.suite_sizes)


if __name__ == "__main__":
    sys.exit(main())
