"""Where a result came from: library version, source hash, git revision, notebook and profile."""
from __future__ import annotations

import ast
import hashlib
import os
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from .vocabulary import NOTEBOOK_ENV, PROFILE_ENV

PACKAGE_DIR = Path(__file__).resolve().parent
#: the installed packages whose version can change a result (keys of cached results include them)
RESULT_PACKAGES = ("torch", "numpy", "scipy")


#: every kind of artifact in the cache and the library code its key hashes (``code_hash``: the
#: import closure of these modules, relative to ``misgen_lib``). A model adds its class's modules
#: (``models.training.code_modules``), a group of seeds trained vectorised the vectorised
#: trainer's; a notebook hashes the modules its code imports
#: (``runner.build.plan``); samples hash none: their key is their model's key and how it ran
#: (``TrainedModel.inference_numerics``), and sampling is the model class's code.
ARTIFACT_CODE = {
    "model": ("models.training",),
    "model, trained vectorised": ("models.vectorised",),
    "checkpointed-run": ("models.checkpoints",),
    "samples": (),
    "probe-depths": ("kernel", "tasks", "metrics"),
    "probe-predictions": ("kernel", "tasks", "metrics"),
    "suite-evaluation": ("studies.evaluation",),
    "notebooks": (),
}

#: library modules that record, name, store or report results and compute none of them: the
#: cache and its keys (this module), the shared names, the progress bars. They import only each
#: other (a test checks it), so no code that computes a result hides behind them, and editing
#: them (a new claim's name, a progress message) re-keys nothing. ``code_closure`` neither hashes
#: nor follows them.
BOOKKEEPING = ("misgen_lib.provenance", "misgen_lib.vocabulary", "misgen_lib.cache", "misgen_lib.progress")


def module_file(name: str) -> Path | None:
    """The file of library module or package ``name`` (dotted, relative to ``misgen_lib`` or
    absolute), or None if it is no module of the library (an attribute, another package)."""
    parts = name.split(".")
    if parts[0] == PACKAGE_DIR.name:
        parts = parts[1:]
    base = PACKAGE_DIR.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if parts and path.is_file():
            return path
    return None


def module_name(path: Path) -> str:
    """The absolute dotted name of the library file ``path`` (a package by its ``__init__``)."""
    parts = Path(path).resolve().relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path) -> set[str]:
    """Absolute names of the ``misgen_lib`` modules, packages or attributes that the file
    ``path`` imports, at any depth (lazy imports inside functions count too)."""
    stat = path.stat()
    return set(_imported_names(path, stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=None)
def _imported_names(path: Path, mtime_ns: int, size: int) -> frozenset[str]:
    """``imported_names`` of ``path`` as it was at ``(mtime_ns, size)``: parsed once per version."""
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            out.add(target)
            out.update(f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return frozenset(m for m in out if m.split(".")[0] == PACKAGE_DIR.name)


def code_closure(*roots: str) -> list[Path]:
    """The library files that the modules ``roots`` (dotted, relative to ``misgen_lib``) are made
    of: the roots and, transitively, every library module they import. A package that encloses
    the importing module is not followed (its ``__init__`` only re-exports), one imported by name
    (``from .. import models``) is; ``BOOKKEEPING`` modules are neither followed nor included."""
    bookkeeping = {module_file(m) for m in BOOKKEEPING}
    todo = [module_file(r) for r in roots]
    missing = [r for r, f in zip(roots, todo) if f is None]
    if missing:
        raise ValueError(f"code_closure: no such module of misgen_lib: {missing}")
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        here = module_name(path)
        for name in imported_names(path):
            dep = module_file(name)
            if dep is not None and dep not in bookkeeping and not (
                    dep.name == "__init__.py" and here.startswith(name + ".")):
                todo.append(dep)
    return sorted(seen)


def code_hash(*roots: str) -> str:
    """sha256 over the files (path and content) of ``code_closure(*roots)``: editing any module
    that ``roots`` run changes it, editing one they do not import does not."""
    digest = hashlib.sha256()
    for path in code_closure(*roots):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def kind_hash(kind: str, *more: str) -> str:
    """``code_hash`` of artifact ``kind``'s modules (``ARTIFACT_CODE``) and ``more``."""
    if kind not in ARTIFACT_CODE:
        raise ValueError(f"unknown artifact kind {kind!r}; kinds: {list(ARTIFACT_CODE)}")
    return code_hash(*ARTIFACT_CODE[kind], *more)


@lru_cache(maxsize=1)
def git_revision() -> str:
    """Short git revision of the checkout holding the library, with ``+dirty`` when the work
    tree differs from it (untracked files that git does not ignore included); ``"unknown"``
    outside a git checkout."""
    try:
        root = PACKAGE_DIR.parent
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=normal"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    """Installed versions of :data:`RESULT_PACKAGES` (``"absent"`` for one not installed)."""
    versions = {}
    for name in RESULT_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


@lru_cache(maxsize=1)
def cpu() -> dict:
    """This host's CPU: its model name and its bfloat16 units (the ``/proc/cpuinfo`` flags
    ``avx512_bf16`` and ``amx_bf16``; oneDNN picks its bfloat16 kernels by them), for cache keys of
    host-dependent numerics and for the benchmarks' tables."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}   # the last processor's lines
    flags = set(fields.get("flags", "").split())
    return {"model": fields.get("model name") or platform.processor() or "unknown CPU",
            "bf16_units": sorted(flags & {"avx512_bf16", "amx_bf16"})}


def host_description() -> str:
    """This host's CPU and its bfloat16 units in words, e.g. ``"Intel(R) Xeon(R) Processor
    (bfloat16 units: amx_bf16, avx512_bf16)"``, for the run manifest and the Reproduce page."""
    units = cpu()["bf16_units"]
    return f"{cpu()['model']} (bfloat16 units: {', '.join(units) if units else 'none'})"


def current_run() -> dict[str, str]:
    """The notebook and profile being executed, as set by the runner in the environment
    (``MISGEN_NOTEBOOK``, ``MISGEN_PROFILE``); interactive use reports ``interactive``."""
    return {
        "notebook": os.environ.get(NOTEBOOK_ENV, "interactive"),
        "profile": os.environ.get(PROFILE_ENV, "interactive"),
        "revision": git_revision(),
    }
