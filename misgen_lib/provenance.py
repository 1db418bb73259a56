"""Where a result came from: library version, source hash, git revision, notebook and profile."""
from __future__ import annotations

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


def library_hash(*parts: str) -> str:
    """sha256 over the ``.py`` files (path and content) of ``misgen_lib``, or only of the given
    sub-packages/modules (e.g. ``library_hash("models")``), so editing that code changes every key
    that depends on it and editing unrelated code (a plot, the kernel) does not."""
    digest = hashlib.sha256()
    roots = [PACKAGE_DIR / p for p in parts] or [PACKAGE_DIR]
    missing = [str(r) for r in roots if not r.exists()]
    if missing:
        raise ValueError(f"library_hash: no such part of misgen_lib: {missing}")
    files = sorted({f for r in roots for f in ([r] if r.is_file() else r.rglob("*.py"))})
    for path in files:
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


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
