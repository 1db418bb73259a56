"""Where a result came from: library version, source hash, git revision, notebook and profile."""
from __future__ import annotations

import hashlib
import os
import subprocess
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def library_hash() -> str:
    """sha256 over every ``.py`` file of ``misgen_lib`` (path and content), so editing the
    library changes every key that depends on it."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@lru_cache(maxsize=1)
def git_revision() -> str:
    """Short git revision of the checkout holding the library, with ``+dirty`` when the work
    tree differs from it; ``"unknown"`` outside a git checkout."""
    try:
        root = PACKAGE_DIR.parent
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def current_run() -> dict[str, str]:
    """The notebook and profile being executed, as set by the runner in the environment
    (``MISGEN_NOTEBOOK``, ``MISGEN_PROFILE``); interactive use reports ``interactive``."""
    return {
        "notebook": os.environ.get("MISGEN_NOTEBOOK", "interactive"),
        "profile": os.environ.get("MISGEN_PROFILE", "interactive"),
        "revision": git_revision(),
    }
