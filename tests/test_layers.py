"""The library's layering, checked from the source: tasks -> models -> kernel -> interventions ->
studies (the kernel takes tasks as arguments and imports neither ``tasks`` nor ``plots``; the
``misgen predict`` command that joins them lives above, in ``misgen_lib.predict_command``), the
runner imports no science, the shared vocabulary imports nothing, no import cycle between
modules, and notebooks define no functions."""
import ast
import re
from pathlib import Path

from misgen_lib.provenance import imported_names, module_name

PACKAGE = Path(__file__).resolve().parents[1] / "misgen_lib"
NOTEBOOKS = PACKAGE.parent / "notebooks"
SCIENCE = ("tasks", "models", "kernel", "interventions", "studies")
#: what each layer may not import (higher layers, and the pipeline)
FORBIDDEN = {"tasks": ("models", "kernel", "interventions", "studies", "runner"),
             "models": ("tasks", "kernel", "interventions", "studies", "runner"),
             "kernel": ("tasks", "plots", "interventions", "studies", "runner"),
             "interventions": ("studies", "runner"), "studies": ("runner",), "runner": SCIENCE}


MODULES = {module_name(p): imported_names(p) for p in PACKAGE.rglob("*.py")}


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_layers_import_only_downwards():
    bad = sorted((m, i) for m, deps in MODULES.items() for i in deps
                 if layer(m) in FORBIDDEN and layer(i) in FORBIDDEN[layer(m)])
    assert not bad, f"layer breaks (module, import): {bad}"


def test_no_import_cycle_between_modules():
    """Modules only (a package's ``__init__`` re-exports its modules and is not a node)."""
    packages = {module_name(p) for p in PACKAGE.rglob("__init__.py")}
    graph = {m: {d for d in deps if d in MODULES and d not in packages and d != m}
             for m, deps in MODULES.items() if m not in packages}
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for d in sorted(graph[m]):
            assert state.get(d) != 1, f"import cycle: {' -> '.join(stack + [m, d])}"
            if d not in state:
                visit(d, stack + [m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert len(graph) > 30 and any(graph.values())   # the checker sees the library and its edges


def test_notebooks_define_no_functions():
    offenders = {p.name: re.findall(r"^\s*(?:def|class) (\w+)", p.read_text(), re.M)
                 for p in NOTEBOOKS.glob("[0-9][0-9]_*.md")}
    assert not {k: v for k, v in offenders.items() if v}, offenders


def test_the_vocabulary_imports_nothing():
    """``misgen_lib.vocabulary`` holds the names runner and science share; both import it, so it
    imports nothing itself (no layer, not even the standard library)."""
    tree = ast.parse((PACKAGE / "vocabulary.py").read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    users = {layer(m) for m, deps in MODULES.items() if "misgen_lib.vocabulary" in deps}
    assert {"runner", "studies"} <= users, users     # where the two meet


def test_the_chapters_module_only_states_results():
    """``studies.chapters`` formats what the study modules computed: it imports neither the
    kernel, the tasks, the metrics, the models nor the interventions (only the studies)."""
    science = ("misgen_lib.kernel", "misgen_lib.tasks", "misgen_lib.metrics", "misgen_lib.models",
               "misgen_lib.interventions", "misgen_lib.seeds", "misgen_lib.priors")
    bad = sorted(i for i in MODULES["misgen_lib.studies.chapters"] if i.startswith(science))
    assert not bad, f"studies.chapters computes through {bad}"
