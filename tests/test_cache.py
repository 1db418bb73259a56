"""The artifact cache (misgen_lib/cache.py): hit/miss, verification, concurrent writers."""
from __future__ import annotations

import multiprocessing as mp

import pytest

from misgen_lib.cache import ArtifactStore, default_root, key_of


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
