"""Content-addressed artifact cache for expensive results (datasets, trained models).

An entry is a folder ``<root>/<kind>/<key>/`` holding named files and ``MANIFEST.json`` with the
sha256 and size of each file and the JSON description of the inputs that produced it. ``key`` is
the sha256 of that description, so the same inputs always land in the same entry.

* Writes are atomic: files go to a temporary sibling folder that is renamed into place, so a
  reader never sees half an entry. Two builds computing the same entry at once both succeed; the
  first rename wins and the second discards its copy.
* Loads are verified: a missing file, a wrong size or a wrong hash (a truncated or corrupt entry)
  is reported with a warning, the entry is moved aside to ``<key>.corrupt-<n>`` (nothing is
  deleted) and the result is recomputed.

The root is ``$MISGEN_CACHE_DIR`` if set, else ``.misgen_cache`` in the current repository root,
else ``~/.cache/misgen``.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Callable

MANIFEST = "MANIFEST.json"


class CorruptEntry(RuntimeError):
    """A cache entry failed verification."""


def stable_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def key_of(inputs: dict) -> str:
    """sha256 of the canonical JSON form of ``inputs``."""
    return hashlib.sha256(stable_json(inputs).encode()).hexdigest()


def default_root() -> Path:
    env = os.environ.get("MISGEN_CACHE_DIR")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parent.parent
    if (repo / "pyproject.toml").exists():
        return repo / ".misgen_cache"
    return Path.home() / ".cache" / "misgen"


class ArtifactStore:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_root()

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def load(self, kind: str, key: str) -> dict[str, bytes] | None:
        """The entry's files, or ``None`` if absent. Raises ``CorruptEntry`` if verification fails."""
        entry = self.path(kind, key)
        if not entry.exists():
            return None
        try:
            manifest = json.loads((entry / MANIFEST).read_text())
            files = {}
            for name, meta in manifest["files"].items():
                data = (entry / name).read_bytes()
                if len(data) != meta["size"] or hashlib.sha256(data).hexdigest() != meta["sha256"]:
                    raise CorruptEntry(f"{entry / name}: size or sha256 does not match the manifest")
                files[name] = data
            return files
        except CorruptEntry:
            raise
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise CorruptEntry(f"{entry}: unreadable entry ({type(err).__name__}: {err})") from err

    def save(self, kind: str, key: str, files: dict[str, bytes], inputs: dict | None = None) -> Path:
        """Write an entry atomically; if another writer got there first, keep theirs."""
        entry = self.path(kind, key)
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key[:12]}.", dir=entry.parent))
        try:
            manifest = {"inputs": inputs or {}, "files": {}}
            for name, data in files.items():
                if name == MANIFEST or "/" in name:
                    raise ValueError(f"invalid artifact file name {name!r}")
                (tmp / name).write_bytes(data)
                manifest["files"][name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            with open(tmp / MANIFEST, "w") as f:
                json.dump(manifest, f, indent=1, default=str)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.rename(tmp, entry)
            except OSError:
                if not entry.exists():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)  # a concurrent writer finished first
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return entry

    def quarantine(self, kind: str, key: str) -> Path:
        """Move a bad entry aside (kept for inspection, never deleted)."""
        entry = self.path(kind, key)
        n = 0
        while (target := entry.with_name(f"{key}.corrupt-{n}")).exists():
            n += 1
        os.rename(entry, target)
        return target

    def get_or_compute(self, kind: str, inputs: dict, compute: Callable[[], dict[str, bytes]]
                       ) -> dict[str, bytes]:
        """Return the cached files for ``inputs``, computing and storing them when absent or corrupt."""
        key = key_of(inputs)
        try:
            files = self.load(kind, key)
        except CorruptEntry as err:
            moved = self.quarantine(kind, key)
            warnings.warn(f"corrupt cache entry detected and recomputed: {err}; moved to {moved}",
                          stacklevel=2)
            files = None
        if files is None:
            files = compute()
            self.save(kind, key, files, inputs)
        return files


def default_store() -> ArtifactStore:
    return ArtifactStore()
