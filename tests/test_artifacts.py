"""The artifact store: content addressing, versions, lineage, damage, several writers."""

import multiprocessing as mp
import os
import subprocess
from pathlib import Path

import pytest

from symphony_lab.pit import (
    ArtifactError,
    ArtifactStore,
    CorruptArtifact,
    StoreFormatError,
    UnknownArtifact,
)

TEXT = b"the quick brown fox jumps over the lazy dog. " * 400


def test_names_versions_and_content_stored_once(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    h1, v1 = store.put("report", TEXT, kind="report", media_type="text/plain")
    h2, v2 = store.put("report", bytearray(b"second"))
    h3, v3 = store.put("report", memoryview(TEXT))
    assert (v1, v2, v3) == (1, 2, 3)
    assert h1 == h3 != h2
    assert store.get("report") == TEXT
    assert store.get("report", 2) == b"second"
    assert store.get_by_hash(h2) == b"second"
    assert [(v, h) for v, h, _ in store.history("report")] == [(1, h1), (2, h2), (3, h1)]
    assert h1 in store
    assert "not a hash" not in store
    info = store.info(h1)
    assert (info["size"], info["encoding"], info["kind"]) == (len(TEXT), "zstd", "report")
    assert info["access_count"] == 1  # read once, as version 3
    with pytest.raises(UnknownArtifact, match="artifact 'report' has no version 7"):
        store.get("report", 7)
    with pytest.raises(ValueError, match="versions count from 1, got -1"):
        store.get("report", -1)
    with pytest.raises(UnknownArtifact, match="no artifact named 'nope'"):
        store.get("nope")
    with pytest.raises(ValueError, match="64-digit hex"):
        store.get_by_hash("abc")


def test_lineage_tags_and_find(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    data = store.put_blob(b"raw", kind="table")
    clean = store.put_blob(
        b"clean", kind="table", producer="cleaner", inputs=[data], tags=["training"], quality=0.9
    )
    model = store.put_blob(b"weights", kind="model", producer="trainer", inputs=[clean])
    assert store.lineage(model) == [(model, clean), (clean, data)]
    assert store.find(kind="table") == [data, clean]
    assert store.find(tag="training") == [clean]
    assert store.find(producer="trainer", kind="model") == [model]
    assert store.info(clean)["quality"] == 0.9


def test_blobs_read_back_with_the_zstd_tool_and_the_index_with_sqlite3(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s", level=19)
    h, _ = store.put("doc", TEXT, kind="text")
    path = store.object_path(h)
    assert path is not None
    assert path.suffix == ".zst"
    assert path.parent.name == h[:2]
    out = subprocess.run(["zstd", "-d", "-c", str(path)], capture_output=True, check=True)
    assert out.stdout == TEXT
    rows = subprocess.run(
        ["sqlite3", str(tmp_path / "s" / "index.sqlite"), "SELECT name, version FROM refs"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert rows.stdout.strip() == "doc|1"
    # From another process: Python's sqlite3 in this one would be a second copy
    # of SQLite, blind to the store's locks.
    mode = subprocess.run(
        ["sqlite3", str(tmp_path / "s" / "index.sqlite"), "PRAGMA journal_mode"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert mode.stdout.strip() == "wal"


def test_small_blobs_live_in_the_index_and_still_read_back_with_zstd(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    small = b"a small report. " * 200  # 3.2 KB: compressed, inline
    h = store.put_blob(small)
    info = store.info(h)
    assert info["inline"]
    assert info["encoding"] == "zstd"
    assert store.object_path(h) is None
    frame = tmp_path / "small.zst"
    subprocess.run(
        [
            "sqlite3",
            str(tmp_path / "s" / "index.sqlite"),
            f"SELECT writefile('{frame}', data) FROM artifacts WHERE hash = '{h}'",
        ],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(["zstd", "-d", "-c", str(frame)], capture_output=True, check=True)
    assert out.stdout == small


def test_put_many_pins_and_deletes(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    out = store.put_many([b"one", bytearray(b"two"), ("named", b"three"), ("named", b"four")])
    assert [v for _, v in out] == [None, None, 1, 2]
    assert store.get("named") == b"four"
    one, two = out[0][0], out[1][0]
    with pytest.raises(TypeError, match="buffers or"):
        store.put_many([42])  # type: ignore[list-item]
    store.pin(one, "keep for the paper")
    assert store.pins()[0][:2] == (one, "keep for the paper")
    with pytest.raises(ArtifactError, match="pinned"):
        store.delete(one)
    with pytest.raises(ArtifactError, match="named v1"):
        store.delete(out[2][0])
    child = store.put_blob(b"made from two", inputs=[two])
    with pytest.raises(ArtifactError, match="was made from it"):
        store.delete(two)
    store.delete(child)
    store.delete(two)
    with pytest.raises(UnknownArtifact, match="deleted"):
        store.get_by_hash(two)
    assert store.unpin(one)
    assert not store.unpin(one)
    assert store.delete_ref("named") == 2
    with pytest.raises(UnknownArtifact):
        store.get("named")
    assert out[2][0] in store  # the content stays until collected


def test_damage_raises_and_verify_reports_it(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    good = store.put_blob(b"fine " * 100)
    bad = store.put_blob(TEXT)
    gone = store.put_blob(os.urandom(20_000))  # raw, and large enough for a file
    path = store.object_path(bad)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    store.object_path(gone).unlink()
    store = ArtifactStore(tmp_path / "s")  # nothing in memory: reads the damaged files
    with pytest.raises(CorruptArtifact, match=bad):
        store.get_by_hash(bad)
    with pytest.raises(CorruptArtifact, match="missing"):
        store.get_by_hash(gone)
    report = store.verify()
    assert report == {"checked": 3, "missing": [gone], "corrupt": [bad]}
    assert store.get_by_hash(good) == b"fine " * 100  # the rest is untouched


def test_folders_that_are_not_stores_are_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(StoreFormatError, match="not an artifact store"):
        ArtifactStore(tmp_path)
    newer = tmp_path / "newer"
    newer.mkdir()
    (newer / "FORMAT").write_text("symphony-artifacts 42\n")
    with pytest.raises(StoreFormatError, match="format version 42"):
        ArtifactStore(newer)
    with pytest.raises(ValueError, match="zstd level"):
        ArtifactStore(tmp_path / "x", level=0)
    store = ArtifactStore(tmp_path / "ok")
    with pytest.raises(ValueError, match="name"):
        store.put("", b"x")
    with pytest.raises(TypeError):
        store.put("a", "text is not bytes")  # type: ignore[arg-type]


def _writer(root: str, worker: int, n: int) -> None:
    store = ArtifactStore(root, durable=False)
    for i in range(n):
        store.put(
            f"shared-{i % 3}", f"worker {worker} item {i} ".encode() * 50, producer=str(worker)
        )


def _opener(root: str) -> None:
    ArtifactStore(root).put("x", b"y")


def test_several_processes_create_one_store_at_once(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    for attempt in range(5):
        root = str(tmp_path / f"s{attempt}")
        procs = [ctx.Process(target=_opener, args=(root,)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
            assert p.exitcode == 0
        assert len(ArtifactStore(root).history("x")) == 4


def test_several_processes_write_one_store(tmp_path: Path) -> None:
    root = str(tmp_path / "s")
    ArtifactStore(root)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(root, w, 25)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = ArtifactStore(root)
    versions = [len(store.history(f"shared-{k}")) for k in range(3)]
    assert sum(versions) == 100
    for k in range(3):
        assert [v for v, _, _ in store.history(f"shared-{k}")] == list(range(1, versions[k] + 1))
    for w in range(4):
        assert len(store.find(producer=str(w))) == 25
    assert store.verify()["checked"] == 100
    assert not store.verify()["corrupt"]
    assert not os.listdir(Path(root) / "tmp")
