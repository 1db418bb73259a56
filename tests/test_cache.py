"""The artifact cache (misgen_lib/cache.py): keys by content, hit/miss, verification, concurrent
writers and quarantines, the access log."""
from __future__ import annotations

import multiprocessing as mp
import shutil
import warnings

import numpy as np
import pytest

from misgen_lib.cache import ArtifactStore, default_root, entry_exists, key_of, read_access_log
from misgen_lib.vocabulary import CACHE_LOG_ENV


def _counting(files):
    calls = []

    def compute():
        calls.append(1)
        return dict(files)
    return compute, calls


def test_miss_then_hit_and_inputs_select_the_entry(tmp_path):
    store = ArtifactStore(tmp_path)
    compute, calls = _counting({"a.bin": b"\x00\x01", "meta.json": b"{}"})
    first = store.get_or_compute("model", {"seed": 0, "n": 10}, compute)
    second = store.get_or_compute("model", {"n": 10, "seed": 0}, compute)  # key order irrelevant
    assert first == second == {"a.bin": b"\x00\x01", "meta.json": b"{}"} and len(calls) == 1
    store.get_or_compute("model", {"seed": 1, "n": 10}, compute)
    assert len(calls) == 2
    assert key_of({"seed": 0, "n": 10}) != key_of({"seed": 0, "n": 11})


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete_file", "delete_manifest", "garble_manifest"])
def test_corrupt_entry_is_reported_quarantined_and_recomputed(tmp_path, damage):
    store = ArtifactStore(tmp_path)
    files = {"weights.bin": bytes(range(256)) * 4}
    compute, calls = _counting(files)
    store.get_or_compute("model", {"x": 1}, compute)
    entry = store.path("model", key_of({"x": 1}))
    target = entry / "weights.bin"
    if damage == "flip":
        data = bytearray(target.read_bytes())
        data[100] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:500])
    elif damage == "delete_file":
        target.unlink()
    elif damage == "delete_manifest":
        (entry / "MANIFEST.json").unlink()
    else:
        (entry / "MANIFEST.json").write_text('{"files": ')
    with pytest.warns(UserWarning, match="corrupt cache entry detected and recomputed"):
        again = store.get_or_compute("model", {"x": 1}, compute)
    assert again == files and len(calls) == 2
    assert (entry.parent / f"{entry.name}.corrupt-0").is_dir()  # kept for inspection
    assert store.load("model", key_of({"x": 1})) == files  # the new entry verifies


def test_invalid_file_name_is_rejected_and_leaves_nothing(tmp_path):
    store = ArtifactStore(tmp_path)
    with pytest.raises(ValueError, match="invalid artifact file name 'a/b'"):
        store.get_or_compute("model", {"x": 1}, lambda: {"a/b": b""})
    assert not list((tmp_path / "model").iterdir())


def test_env_variable_sets_the_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MISGEN_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert default_root() == tmp_path / "elsewhere"
    assert ArtifactStore().root == tmp_path / "elsewhere"


def _writer(root, barrier, worker, queue):
    store = ArtifactStore(root)
    barrier.wait()
    files = store.get_or_compute("model", {"shared": True}, lambda: {
        "weights.bin": bytes([7]) * 200_000, "writer.txt": b"same content"})
    queue.put((worker, files["weights.bin"] == bytes([7]) * 200_000, len(files)))


def test_concurrent_writers_of_one_entry_all_succeed_and_leave_a_valid_entry(tmp_path):
    ctx = mp.get_context("fork")
    n = 6
    barrier, queue = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(tmp_path, barrier, i, queue)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    results = sorted(queue.get(timeout=5) for _ in range(n))
    assert results == [(i, True, 2) for i in range(n)]
    store = ArtifactStore(tmp_path)
    key = key_of({"shared": True})
    assert store.load("model", key)["writer.txt"] == b"same content"
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [key]  # no temp folders left


def test_numpy_arrays_are_keyed_by_content_not_by_their_abbreviated_text():
    a = np.zeros(5000)
    b = a.copy()
    b[2500] = 1.0
    assert str(a) == str(b)   # numpy abbreviates both to the same text
    assert key_of({"x": a}) != key_of({"x": b})
    assert key_of({"x": a}) == key_of({"x": a.copy()})
    assert key_of({"x": a}) != key_of({"x": a.astype(np.float32)})  # dtype is part of the key
    assert key_of({"n": np.int64(3)}) == key_of({"n": 3})


def test_a_value_that_cannot_be_keyed_by_content_is_an_error():
    class Opaque:
        pass
    with pytest.raises(TypeError, match="cannot key a value of type Opaque by its content"):
        key_of({"x": Opaque()})


def _corrupt(store, kind, key):
    (store.path(kind, key) / "weights.bin").write_bytes(b"garbage")


GOOD = {"weights.bin": b"good" * 100}


def _race(tmp_path, monkeypatch, other_process):
    """A corrupt entry; process A's first check of it fails, and before A acts on that,
    ``other_process(store_b)`` runs (once). Returns A's result and how often A computed."""
    store, other = ArtifactStore(tmp_path), ArtifactStore(tmp_path)
    store.get_or_compute("model", {"x": 1}, lambda: GOOD)
    key = key_of({"x": 1})
    _corrupt(store, "model", key)
    real_load, raced = ArtifactStore.load, []

    def load_then_race(kind, k):
        try:
            return real_load(store, kind, k)
        finally:
            if not raced:
                raced.append(1)
                other_process(other)
    monkeypatch.setattr(store, "load", load_then_race)
    compute, calls = _counting(GOOD)
    files = store.get_or_compute("model", {"x": 1}, compute)
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [key, f"{key}.corrupt-0"]
    assert ArtifactStore(tmp_path).load("model", key) == GOOD
    return files, len(calls)


def test_quarantine_leaves_alone_a_good_entry_another_process_just_wrote(tmp_path, monkeypatch):
    """B moves the corrupt entry aside and writes a good one: A uses it, never moves it aside."""
    def repair(other):
        with pytest.warns(UserWarning, match="corrupt cache entry detected and recomputed"):
            other.get_or_compute("model", {"x": 1}, lambda: GOOD)
    assert _race(tmp_path, monkeypatch, repair) == (GOOD, 0)


def test_quarantine_of_an_entry_another_process_already_moved_aside_recomputes(tmp_path, monkeypatch):
    """B moves the corrupt entry aside between A's check and A's move: no FileNotFoundError."""
    def move_aside(other):
        with pytest.warns(UserWarning, match="moved aside"):
            assert other.get_or_compute("model", {"x": 1}, None) is None
    assert _race(tmp_path, monkeypatch, move_aside) == (GOOD, 1)


def _repairer(root, barrier, queue):
    store = ArtifactStore(root)
    barrier.wait()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        files = store.get_or_compute("model", {"shared": True}, lambda: {"weights.bin": b"good"})
    queue.put(files["weights.bin"])


def test_concurrent_processes_meeting_one_corrupt_entry_all_succeed(tmp_path):
    store = ArtifactStore(tmp_path)
    store.get_or_compute("model", {"shared": True}, lambda: {"weights.bin": b"good"})
    key = key_of({"shared": True})
    _corrupt(store, "model", key)
    ctx = mp.get_context("fork")
    n = 6
    barrier, queue = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_repairer, args=(tmp_path, barrier, queue)) for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * n
    assert [queue.get(timeout=5) for _ in range(n)] == [b"good"] * n
    assert store.load("model", key) == {"weights.bin": b"good"}
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [key, f"{key}.corrupt-0"]


def test_accesses_are_logged_when_the_runner_asks(tmp_path, monkeypatch):
    log = tmp_path / "access.log"
    monkeypatch.setenv(CACHE_LOG_ENV, str(log))
    store = ArtifactStore(tmp_path / "cache")
    store.get_or_compute("model", {"x": 1}, lambda: {"a": b"1"})   # saved
    store.get_or_compute("model", {"x": 1}, lambda: {"a": b"1"})   # loaded
    assert store.load("model", key_of({"x": 2})) is None           # absent: not logged
    refs = read_access_log(log)
    assert refs == [{"root": str((tmp_path / "cache").resolve()), "kind": "model", "key": key_of({"x": 1})}]
    assert entry_exists(refs[0])
    shutil.rmtree(tmp_path / "cache")
    assert not entry_exists(refs[0])
