"""The ``parameters`` cell of a notebook: parse it, and validate overrides against it.

A notebook's first code cell is tagged ``parameters`` and holds flat, commented scalars::

    seed = 0          # random seed of the curated dataset
    n_train = 2000    # trajectories in the training set

Each line becomes a :class:`Parameter` (name, default, type, inline comment). Papermill
silently accepts any name; this module rejects unknown names and values whose type does not
match the default's (an ``int`` is accepted for a ``float`` and converted), naming the bad
ones and listing the valid parameters with their types. A string parameter that names
something (a profile, a task) may come with its :class:`Choices`, and a value outside them is
rejected too, with the valid values, before any kernel starts.
"""
from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass
from typing import Any

import nbformat

#: types a parameter default may have; ``None`` means "any value"
SCALAR_TYPES = (bool, int, float, str, type(None))


class ParameterError(ValueError):
    """Bad parameters cell, unknown parameter name or wrong-typed value."""


@dataclass(frozen=True)
class Parameter:
    name: str
    default: Any
    comment: str

    @property
    def type_name(self) -> str:
        return "any" if self.default is None else type(self.default).__name__

    def coerce(self, value: Any) -> Any:
        """``value`` converted to this parameter's type, or ``ParameterError``."""
        expected = type(self.default)
        if self.default is None:
            return value
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if type(value) is expected:
            return value
        raise ParameterError(f"{self.name} expects {self.type_name} (default {self.default!r}), "
                             f"got {value!r} ({type(value).__name__})")


@dataclass(frozen=True)
class Choices:
    """The valid values of a string parameter; ``many``: a comma-separated list of them."""
    values: tuple[str, ...]
    many: bool = False

    def check(self, name: str, value: Any) -> None:
        """``ParameterError`` naming ``value`` and the valid values unless it is one of them
        (every item of it, for ``many``)."""
        items = str(value).split(",") if self.many else [value]
        bad = [item.strip() for item in items if item.strip() not in self.values]
        if bad:
            what = "a comma-separated list of " if self.many else "one of "
            raise ParameterError(f"{name} must be {what}{', '.join(self.values)}; got {value!r}")


def parameters_cell(nb: nbformat.NotebookNode, where: str) -> nbformat.NotebookNode:
    """The first code cell, which must be tagged ``parameters``."""
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    if not code_cells or "parameters" not in code_cells[0].metadata.get("tags", []):
        raise ParameterError(f"{where}: the first code cell must be tagged 'parameters' "
                             "(MyST: ```{code-cell} ipython3 with :tags: [parameters])")
    return code_cells[0]


def _inline_comments(source: str) -> dict[int, str]:
    """Line number -> text of the comment on that line."""
    comments = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    return comments


def parse_parameters(source: str, where: str) -> list[Parameter]:
    """Parse ``name = literal  # comment`` lines; anything else is a ``ParameterError``."""
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ParameterError(f"{where}: parameters cell is not valid Python: {err}") from err
    comments = _inline_comments(source)
    params: dict[str, Parameter] = {}
    for stmt in tree.body:
        target = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else (
            stmt.target if isinstance(stmt, ast.AnnAssign) and stmt.value is not None else None)
        line = ast.get_source_segment(source, stmt)
        if not isinstance(target, ast.Name):
            raise ParameterError(f"{where}: line {stmt.lineno} of the parameters cell is not a flat "
                                 f"'name = value  # comment' assignment: {line!r}")
        try:
            value = ast.literal_eval(stmt.value)
        except ValueError as err:
            raise ParameterError(f"{where}: parameter {target.id} must be a literal scalar "
                                 f"(derived values go in the next cell), got {line!r}") from err
        if not isinstance(value, SCALAR_TYPES):
            raise ParameterError(f"{where}: parameter {target.id} must be a bool, int, float, str or "
                                 f"None, got {value!r} ({type(value).__name__})")
        comment = comments.get(stmt.end_lineno, "")
        if not comment:
            raise ParameterError(f"{where}: parameter {target.id} needs an inline '# comment' "
                                 "saying what it is (it becomes the parameter table)")
        if target.id in params:
            raise ParameterError(f"{where}: parameter {target.id} is assigned twice")
        params[target.id] = Parameter(target.id, value, comment)
    return list(params.values())


def describe(params: list[Parameter]) -> str:
    """One line per parameter: ``name: type = default  # comment``."""
    return "\n".join(f"  {p.name}: {p.type_name} = {p.default!r}  # {p.comment}" for p in params)


def check_values(overrides: dict[str, Any], params: list[Parameter], where: str,
                 choices: dict[str, Choices] | None = None) -> dict[str, Any]:
    """Overrides checked and converted to the parameters' types, and against their ``choices``
    where given. Raises one ``ParameterError`` naming every unknown name and bad value, with the
    list of valid parameters."""
    by_name = {p.name: p for p in params}
    problems, checked = [], {}
    not_names = [name for name in overrides if not isinstance(name, str)]
    if not_names:
        problems.append("parameter names must be strings, got "
                        + ", ".join(f"{n!r} ({type(n).__name__})" for n in not_names))
    unknown = [name for name in overrides if isinstance(name, str) and name not in by_name]
    if unknown:
        problems.append(f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    for name, value in overrides.items():
        if name in by_name:
            try:
                checked[name] = by_name[name].coerce(value)
                if name in (choices or {}):
                    choices[name].check(name, checked[name])
            except ParameterError as err:
                problems.append(str(err))
    if problems:
        raise ParameterError(f"{where}: " + "; ".join(problems)
                             + "\nvalid parameters:\n" + describe(params))
    return checked


def parse_cli_value(text: str) -> Any:
    """A ``-p NAME VALUE`` value: a Python literal (``3``, ``0.5``, ``True``, ``None``,
    ``'x'``), ``true``/``false``, or else the text itself as a string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return text
    return value if isinstance(value, SCALAR_TYPES) else text
