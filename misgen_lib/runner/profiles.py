"""Notebooks of the book and their profiles.

A chapter is ``notebooks/NN_name.md`` (jupytext MyST) with a profile file
``notebooks/profiles/NN_name.yaml``::

    depends: [02_misgeneralization]   # optional: upstream notebooks whose artifacts it consumes
    ci: {n_train: 200}                # small: the tests
    default: {}                       # the book on a 2-core CPU (= the parameters cell)
    paper: {n_train: 20000, device: cuda}

The three profiles share one code path; only parameter values differ. Every profile value is
validated against the notebook's ``parameters`` cell when the notebook is loaded, and the
``default`` profile must agree with the cell's defaults, so running the notebook by hand gives
the book's numbers.

Composed configuration: a notebook whose cell declares a parameter named ``profile`` receives the
build's profile name in it (unless the profile file or an override sets it), so sizes shared by
several chapters live once, in the library's named configurations (for the experiments,
``misgen_lib.studies.config``), selected by profile; the profile file then holds only what is the
chapter's own.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import yaml

from ..vocabulary import PROFILES, check_profile
from .parameters import Choices, Parameter, ParameterError, parameters_cell, parse_parameters, check_values

#: a cell parameter of this name receives the build's profile name (composed configuration)
PROFILE_PARAMETER = "profile"
PROFILE_KEYS = (*PROFILES, "depends")
NOTEBOOK_NAME = re.compile(r"^(\d\d)_[A-Za-z0-9_]+\.md$")


class NotebookSpecError(ValueError):
    """A notebook, its profile file or its dependencies are malformed."""


class ProfileLoader(yaml.SafeLoader):
    """Safe YAML, stricter: a duplicate key or a key that is not a string is an error (PyYAML
    keeps the last value, or builds a dict that breaks later), and ``1e-3`` is a float as in
    YAML 1.2 (PyYAML's YAML 1.1 reads it as the string ``'1e-3'``)."""


def _construct_mapping(loader: ProfileLoader, node: yaml.MappingNode) -> dict:
    mapping = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        problem = (f"key {key!r} ({type(key).__name__}) is not a name; keys must be strings"
                   if not isinstance(key, str) else f"duplicate key {key!r}" if key in mapping else None)
        if problem:
            raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


ProfileLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
ProfileLoader.add_implicit_resolver(  # floats with an exponent but no dot: 1e-3, 2E5
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def read_text(path: Path) -> str:
    """A source file's text; not UTF-8 is a ``NotebookSpecError`` naming the file and byte."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise NotebookSpecError(f"{path}: not UTF-8 text (byte {data[err.start]:#04x} at offset "
                                f"{err.start}); save the file as UTF-8") from None


@dataclass
class NotebookSpec:
    """One chapter: its source, parsed parameters and profiles."""
    stem: str
    path: Path
    source: str
    notebook: nbformat.NotebookNode
    parameters: list[Parameter]
    profiles: dict[str, dict[str, Any]]
    depends: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        for cell in self.notebook.cells:
            if cell.cell_type == "markdown":
                for line in cell.source.splitlines():
                    if line.startswith("# "):
                        return line[2:].strip()
        return self.stem

    def merged_parameters(self, profile: str, overrides: dict[str, Any] | None = None,
                          choices: dict[str, Choices] | None = None) -> dict:
        """The cell defaults, then the profile's values, then ``overrides``, validated: their
        types, the ``profile`` parameter's value, and the values of ``choices``."""
        try:
            check_profile(profile)
        except ValueError as err:
            raise NotebookSpecError(str(err)) from None
        merged = {p.name: p.default for p in self.parameters}
        if PROFILE_PARAMETER in merged:
            merged[PROFILE_PARAMETER] = profile
        merged.update(self.profiles[profile])
        choices = {PROFILE_PARAMETER: Choices(PROFILES), **(choices or {})}
        merged.update(check_values(overrides or {}, self.parameters, self.stem, choices))
        return merged


def profile_path(notebook_path: Path) -> Path:
    return notebook_path.parent / "profiles" / f"{notebook_path.stem}.yaml"


def _load_profiles(path: Path, params: list[Parameter], stem: str) -> tuple[dict, list[str]]:
    if not path.exists():
        raise NotebookSpecError(f"{stem}: profile file {path} is missing; create it with the keys "
                                f"{', '.join(PROFILES)} (each a mapping of parameter overrides, "
                                "may be {}) and an optional 'depends:' list")
    try:
        raw = yaml.load(read_text(path), Loader=ProfileLoader)
    except yaml.YAMLError as err:
        raise NotebookSpecError(f"{path}: not a valid profile file: {err}") from err
    if not isinstance(raw, dict):
        raise NotebookSpecError(f"{path}: expected a mapping with keys {', '.join(PROFILE_KEYS)}, "
                                f"got {raw!r}")
    unknown = sorted(set(raw) - set(PROFILE_KEYS))
    missing = [p for p in PROFILES if p not in raw]
    if unknown or missing:
        raise NotebookSpecError(f"{path}: unknown keys {unknown}, missing profiles {missing}; "
                                f"valid keys: {', '.join(PROFILE_KEYS)}")
    profiles = {}
    for name in PROFILES:
        values = {} if raw[name] is None else raw[name]   # "ci:" with nothing after it
        if not isinstance(values, dict):
            raise NotebookSpecError(f"{path}: profile {name!r} must be a mapping of parameter "
                                    f"overrides (may be {{}}), got {values!r}")
        try:
            profiles[name] = check_values(values, params, f"{path} profile {name!r}")
        except ParameterError as err:
            raise NotebookSpecError(str(err)) from err
    defaults = {p.name: p.default for p in params}
    if defaults.get(PROFILE_PARAMETER, "default") != "default":
        raise NotebookSpecError(f"{stem}: parameter {PROFILE_PARAMETER!r} receives the build's profile "
                                f"name; its cell default must be 'default', got "
                                f"{defaults[PROFILE_PARAMETER]!r}")
    differing = {k: v for k, v in profiles["default"].items() if defaults[k] != v}
    if differing:
        raise NotebookSpecError(
            f"{path}: the 'default' profile must equal the parameters cell, but sets "
            + ", ".join(f"{k}={v!r} (cell: {defaults[k]!r})" for k, v in differing.items())
            + "; change the cell's default instead")
    depends = [] if raw.get("depends") is None else raw["depends"]
    if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
        raise NotebookSpecError(f"{path}: 'depends' must be a list of notebook stems, got {depends!r}")
    return profiles, depends


def load_notebook(path: Path) -> NotebookSpec:
    """Read a chapter source and its profile file, validating both."""
    path = Path(path)
    source = read_text(path)
    notebook = jupytext.reads(source, fmt="md:myst")
    try:
        params = parse_parameters(parameters_cell(notebook, path.name).source, path.name)
    except ParameterError as err:
        raise NotebookSpecError(str(err)) from err
    profiles, depends = _load_profiles(profile_path(path), params, path.stem)
    return NotebookSpec(path.stem, path, source, notebook, params, profiles, depends)


def discover(notebooks_dir: Path) -> list[NotebookSpec]:
    """Every ``NN_name.md`` of ``notebooks_dir`` in order, with dependencies checked: each
    ``depends`` entry must name an earlier notebook."""
    paths = sorted(p for p in Path(notebooks_dir).glob("*.md") if NOTEBOOK_NAME.match(p.name))
    specs = [load_notebook(p) for p in paths]
    seen: list[str] = []
    for spec in specs:
        bad = [d for d in spec.depends if d not in seen]
        if bad:
            raise NotebookSpecError(f"{spec.stem}: depends on {bad}, which are not earlier notebooks; "
                                    f"earlier notebooks: {seen or 'none'}")
        seen.append(spec.stem)
    return specs


def find(specs: list[NotebookSpec], name: str) -> NotebookSpec:
    """A notebook by stem (``02_misgeneralization``), number (``02``) or path."""
    stem = Path(name).stem
    matches = [s for s in specs if s.stem == stem or s.stem.split("_", 1)[0] == stem]
    if len(matches) != 1:
        raise NotebookSpecError(f"no notebook {name!r}; available: "
                                f"{', '.join(s.stem for s in specs) or 'none'}")
    return matches[0]
