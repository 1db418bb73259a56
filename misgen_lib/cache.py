"""Content-addressed artifact cache for expensive results (datasets, trained models).

An entry is a folder ``<root>/<kind>/<key>/`` holding named files and ``MANIFEST.json`` with the
sha256 and size of each file and the JSON description of the inputs that produced it. ``key`` is
the sha256 of that description, so the same inputs always land in the same entry. Inputs are
keyed by content: numpy arrays by dtype, shape and the sha256 of their bytes (never by their
abbreviated ``str()``); a value that cannot be keyed by content is an error.

* Writes are atomic: files go to a temporary sibling folder that is renamed into place, so a
  reader never sees half an entry. Two builds computing the same entry at once both succeed; the
  first rename wins and the second discards its copy.
* Loads are verified: a missing file, a wrong size or a wrong hash (a truncated or corrupt entry)
  is reported with a warning, the entry is moved aside to ``<key>.corrupt-<n>`` (nothing is
  deleted) and the result is recomputed (or, with no ``compute``, reported missing). Moving aside
  holds a per-entry lock (``<root>/.locks``) and re-checks the entry under it, so concurrent
  processes never move aside a good entry another one just wrote.
* Accesses are logged when ``$MISGEN_CACHE_LOG`` names a file: one JSON line (root, kind, key)
  per entry loaded or saved. The book's runner sets it to learn which entries a notebook used.

The root is ``$MISGEN_CACHE_DIR`` if set, else ``.misgen_cache`` in the current repository root,
else ``~/.cache/misgen``.
"""
from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path, PurePath
from typing import Callable

import numpy as np

from .vocabulary import CACHE_DIR_ENV, CACHE_LOG_ENV

MANIFEST = "MANIFEST.json"


class CorruptEntry(RuntimeError):
    """A cache entry failed verification."""


def _by_content(obj):
    """JSON form of the values ``json`` cannot encode itself."""
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            return {"ndarray": obj.tolist()}
        data = np.ascontiguousarray(obj)
        return {"ndarray": {"dtype": data.dtype.str, "shape": list(data.shape),
                            "sha256": hashlib.sha256(data.tobytes()).hexdigest()}}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, PurePath):
        return obj.as_posix()
    raise TypeError(f"cannot key a value of type {type(obj).__name__} by its content "
                    f"({obj!r:.80}); pass JSON values, numpy arrays or paths")


def stable_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_by_content)


def key_of(inputs: dict) -> str:
    """sha256 of the canonical JSON form of ``inputs``."""
    return hashlib.sha256(stable_json(inputs).encode()).hexdigest()


def default_root() -> Path:
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parent.parent
    if (repo / "pyproject.toml").exists():
        return repo / ".misgen_cache"
    return Path.home() / ".cache" / "misgen"


def read_access_log(path: Path) -> list[dict[str, str]]:
    """The distinct entries (``{"root", "kind", "key"}``) of an access log, in first-use order."""
    if not Path(path).exists():
        return []
    seen = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            ref = json.loads(line)
            seen.setdefault((ref["root"], ref["kind"], ref["key"]), ref)
    return list(seen.values())


def entry_exists(ref: dict[str, str]) -> bool:
    """Whether the entry ``ref`` (a line of the access log) is still in its store."""
    return (ArtifactStore(ref["root"]).path(ref["kind"], ref["key"]) / MANIFEST).is_file()


class ArtifactStore:
    """``log=False``: accesses are not written to the runner's access log (for a throw-away
    store, e.g. a parallel worker's, whose entries are carried back and saved elsewhere)."""

    def __init__(self, root: str | Path | None = None, log: bool = True):
        self.root = Path(root) if root is not None else default_root()
        self.log = log

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def _log_access(self, kind: str, key: str) -> None:
        log = os.environ.get(CACHE_LOG_ENV) if self.log else None
        if log:
            line = json.dumps({"root": str(self.root.resolve()), "kind": kind, "key": key})
            with open(log, "a") as f:   # one short append: atomic between processes
                f.write(line + "\n")

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
        except CorruptEntry:
            raise
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise CorruptEntry(f"{entry}: unreadable entry ({type(err).__name__}: {err})") from err
        self._log_access(kind, key)
        return files

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
                json.dump(manifest, f, indent=1, default=_by_content)
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
        self._log_access(kind, key)
        return entry

    def entries(self) -> list[tuple[str, str, dict[str, bytes], dict]]:
        """Every entry as ``(kind, key, files, inputs)``, verified: what a worker sends back so
        that another store can ``save`` it (no shared disk needed)."""
        out = []
        for manifest in sorted(self.root.glob(f"*/*/{MANIFEST}")):
            kind, key = manifest.parent.parent.name, manifest.parent.name
            out.append((kind, key, self.load(kind, key), json.loads(manifest.read_text())["inputs"]))
        return out

    @contextmanager
    def _entry_lock(self, kind: str, key: str):
        """An exclusive lock on one entry, between processes (``fcntl.flock``)."""
        locks = self.root / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        with open(locks / f"{kind}-{key}", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield   # closing the file releases the lock

    def load_or_quarantine(self, kind: str, key: str) -> tuple[dict[str, bytes] | None, str | None]:
        """``(files, None)`` for a good entry, ``(None, None)`` for an absent one and
        ``(None, problem)`` for a corrupt one, which is moved aside to ``<key>.corrupt-<n>``
        (kept for inspection, never deleted). Under the entry's lock the entry is checked again,
        so an entry another process repaired or moved aside meanwhile is left alone."""
        try:
            return self.load(kind, key), None
        except CorruptEntry:
            pass
        with self._entry_lock(kind, key):
            try:
                return self.load(kind, key), None
            except CorruptEntry as err:
                entry, n = self.path(kind, key), 0
                while (target := entry.with_name(f"{key}.corrupt-{n}")).exists():
                    n += 1
                os.rename(entry, target)
                return None, f"{err}; moved to {target}"

    def get_or_compute(self, kind: str, inputs: dict,
                       compute: Callable[[], dict[str, bytes]] | None) -> dict[str, bytes] | None:
        """The cached files for ``inputs``, computed and stored when absent or corrupt; with
        ``compute=None``, ``None`` when absent or corrupt (a corrupt entry is still moved aside)."""
        key = key_of(inputs)
        files, problem = self.load_or_quarantine(kind, key)
        if problem:
            action = "recomputed" if compute is not None else "moved aside (not recomputed here)"
            warnings.warn(f"corrupt cache entry detected and {action}: {problem}", stacklevel=2)
        if files is None and compute is not None:
            files = compute()
            self.save(kind, key, files, inputs)
        return files

    def get_or_compute_arrays(self, kind: str, inputs: dict,
                              compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """``get_or_compute`` of ``compute()``'s named arrays, in their order: one ``<name>.npy``
        file each (an ``.npz`` would stamp its write time into the bytes), loaded again bit for bit."""
        def files():
            out = {}
            for name, array in compute().items():
                buf = io.BytesIO()
                np.save(buf, array)
                out[f"{name}.npy"] = buf.getvalue()
            return out
        stored = self.get_or_compute(kind, inputs, files)
        return {name.removesuffix(".npy"): np.load(io.BytesIO(data)) for name, data in stored.items()}


def default_store() -> ArtifactStore:
    return ArtifactStore()
