"""The chapters' parameters in the library's terms, for the ``misgen`` command: the valid values
of the parameters that name registered things (``misgen run`` refuses any other before a kernel
starts) and the task x model suite's sizes that a chapter's ``profile`` selects (``misgen
params``). The book pipeline (``runner``) imports no science, so this module, above the layers
like ``predict_command``, reads the registries and ``studies.config`` and hands the pipeline
plain data. Its science imports happen inside the functions: the command pays only for what
it uses.
"""
from __future__ import annotations

import re

from .runner.parameters import Choices
from .vocabulary import PROFILES

#: what ``suite_config("NAME", profile)`` in a chapter's code names: the suites it trains or loads
SUITE_CALL = re.compile(r"suite_config\(\s*[\"']([\w-]+)[\"']")
#: the ``SuiteConfig`` fields that size a suite, in the order ``misgen params`` shows them
SIZE_FIELDS = ("tasks", "models", "seeds", "n_train", "train_steps", "batch_size", "width", "n_samples",
               "n_null", "device")


def choices() -> dict[str, Choices]:
    """Parameter name -> its valid values, from the registries (tasks, maze layouts, named
    priors, interventions)."""
    from . import interventions, priors, tasks
    from .tasks.maze_layouts import LAYOUTS
    task_names = Choices(tuple(tasks.available()), many=True)
    return {"tasks": task_names, "origin_tasks": task_names, "maze_layout": Choices(tuple(sorted(LAYOUTS))),
            "prior": Choices(tuple(priors.NAMED)),
            "interventions": Choices(tuple(interventions.available()), many=True)}


def suite_sizes(source: str) -> str:
    """For each suite a chapter's ``source`` names, its sizes and each task x class's training
    steps at every profile: one line each, a single value when the profiles agree."""
    from .studies.config import suite_config
    lines = []
    for suite in dict.fromkeys(SUITE_CALL.findall(source)):
        configs = [suite_config(suite, profile) for profile in PROFILES]
        rows = [(name, [_text(getattr(c, name)) for c in configs]) for name in SIZE_FIELDS]
        rows += [(f"steps {task} x {model}", [str(c.model_config(model, task).train_steps) for c in configs])
                 for task in configs[1].tasks for model in configs[1].models]
        width = max(len(label) for label, _ in rows)
        lines.append(f"  suite {suite!r} (misgen_lib/studies/config.py), per profile "
                     f"({', '.join(PROFILES)}):")
        lines += [f"    {label:<{width}}  " + (values[0] if len(set(values)) == 1 else " | ".join(values))
                  for label, values in rows]
    return "\n".join(lines)


def _text(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
