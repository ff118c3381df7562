"""Large artifacts without copies: streaming put/get from and to paths and
file-like objects, and raw blobs read through a memory map."""

import gc
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from symphony_lab.pit import ArtifactStore, CorruptArtifact

MIB = 1 << 20
INLINE_MAX = 16 << 10


def text_like(n: int, seed: int = 0) -> bytes:
    """Compressible (16 letters): zstd stores it in about half."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 16, n, dtype=np.uint8) + ord("a")).tobytes()


def random_bytes(n: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def temp_files(store: ArtifactStore) -> list[str]:
    return sorted(os.listdir(store.root / "tmp"))


class ReadOnly:
    """A file-like object with only ``read``, giving short reads."""

    def __init__(self, data: bytes, most: int) -> None:
        self.data = memoryview(data)
        self.at = 0
        self.most = most

    def read(self, n: int) -> bytes:
        n = min(n, self.most)
        out = bytes(self.data[self.at : self.at + n])
        self.at += len(out)
        return out


class Breaking(io.RawIOBase):
    """Gives ``good`` bytes, then raises."""

    def __init__(self, good: int) -> None:
        self.good = good

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        if self.good <= 0:
            raise ValueError("the source broke")
        n = min(len(b), self.good)
        b[:n] = b"x" * n
        self.good -= n
        return n


def test_put_file_from_a_path_a_bytesio_and_an_open_file(tmp_path: Path) -> None:
    data = text_like(64 * MIB)
    src = tmp_path / "big.txt"
    src.write_bytes(data)
    store = ArtifactStore(tmp_path / "s", durable=False)
    h, v = store.put_file(src, name="big", kind="text", tags=["large"])
    assert v == 1
    assert store.put_file(str(src)) == (h, None)
    assert store.put_file(io.BytesIO(data), name="big") == (h, 2)
    with src.open("rb") as f:
        assert store.put_file(f, name="big") == (h, 3)
    assert store.put_blob(data) == h, "the hash a plain put gives"
    info = store.info(h)
    assert (info["size"], info["encoding"], info["inline"]) == (len(data), "zstd", False)
    assert info["kind"] == "text"
    assert info["tags"] == ["large"]
    assert info["stored_size"] < len(data) * 0.6
    assert temp_files(store) == []

    dest = tmp_path / "out" / "copy.txt"
    dest.parent.mkdir()
    assert store.get_file(h, dest) == len(data)
    assert dest.read_bytes() == data
    assert sorted(os.listdir(dest.parent)) == ["copy.txt"], "no temporary file stays"
    out = io.BytesIO()
    assert store.get_file(h, out) == len(data)
    assert out.getvalue() == data

    # The streamed blob is a plain zstd frame: the command line reads it.
    path = store.object_path(h)
    assert path is not None
    assert path.suffix == ".zst"
    unpacked = subprocess.run(["zstd", "-d", "-c", str(path)], capture_output=True, check=True)
    assert unpacked.stdout == data


@pytest.mark.parametrize(
    "n", [0, 100, INLINE_MAX - 1, INLINE_MAX, INLINE_MAX + 1, MIB - 1, MIB, MIB + 1, 3 * MIB + 5]
)
def test_sizes_round_trip_through_every_kind_of_source(tmp_path: Path, n: int) -> None:
    store = ArtifactStore(tmp_path / "s")
    for data, encoding in [(text_like(n, n), "zstd"), (random_bytes(n, n), "raw")]:
        h, _ = store.put_file(io.BytesIO(data))
        assert store.put_file(ReadOnly(data, most=70_001)) == (h, None)
        assert store.put_blob(data) == h
        assert store.get_by_hash(h) == data
        out = io.BytesIO()
        assert store.get_file(h, out) == n
        assert out.getvalue() == data
        assert store.get_file(h, tmp_path / "dest") == n
        assert (tmp_path / "dest").read_bytes() == data
        assert bytes(memoryview(store.get_buffer(h))) == data
        info = store.info(h)
        assert info["inline"] == (n <= INLINE_MAX)
        if n >= 1024:
            assert info["encoding"] == encoding
    assert temp_files(store) == []
    assert store.verify()["corrupt"] == []


def test_get_buffer_maps_raw_blobs_read_only(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    # Random int32 (token ids, say): incompressible, so stored raw.
    weights = np.random.default_rng(1).integers(-(2**31), 2**31, 2 * MIB, dtype=np.int32)
    h, _ = store.put_file(io.BytesIO(weights.tobytes()), name="tokens")
    assert store.info(h)["encoding"] == "raw"
    buf = store.get_buffer(h)
    assert buf.mapped
    assert len(buf) == weights.nbytes
    view = memoryview(buf)
    assert view.readonly
    assert view.nbytes == weights.nbytes
    assert view.tobytes() == weights.tobytes()
    with pytest.raises(TypeError):
        view[0] = 1
    array = np.frombuffer(buf, dtype=np.int32)
    assert not array.flags.writeable
    assert np.array_equal(array, weights)
    # No copy: every view of the buffer is the same memory.
    again = np.frombuffer(buf, dtype=np.uint8)
    assert again.ctypes.data == array.ctypes.data
    # The mapping outlives the store and the buffer object itself.
    del store, buf, view, again
    gc.collect()
    assert np.array_equal(array, weights)


def test_get_buffer_decodes_compressed_and_inline_blobs(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    packed = text_like(2 * MIB)
    small = b"tiny"
    for data in (packed, small):
        h = store.put_blob(data)
        buf = store.get_buffer(h)
        assert not buf.mapped
        assert bytes(memoryview(buf)) == data
    assert len(memoryview(store.get_buffer(store.put_blob(b"")))) == 0


def test_a_corrupt_raw_blob_raises_and_writes_nothing(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    data = random_bytes(4 * MIB, 7)
    h, _ = store.put_file(io.BytesIO(data))
    path = store.object_path(h)
    assert path is not None
    assert path.suffix == ".raw"
    with path.open("r+b") as f:
        f.seek(3 * MIB)
        byte = f.read(1)
        f.seek(3 * MIB)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(CorruptArtifact, match="is corrupt"):
        store.get_buffer(h)
    dest = tmp_path / "dest.bin"
    with pytest.raises(CorruptArtifact, match="is corrupt"):
        store.get_file(h, dest)
    assert not dest.exists()
    assert sorted(os.listdir(tmp_path)) == ["s"], "no temporary file beside dest"
    out = io.BytesIO()
    with pytest.raises(CorruptArtifact):
        store.get_file(h, out)
    assert out.getvalue() == b"", "a file object gets no byte of a corrupt blob"
    assert store.verify()["corrupt"] == [h]


def test_errors_of_python_sources_and_destinations_come_through(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    with pytest.raises(ValueError, match="the source broke"):
        store.put_file(Breaking(3 * MIB), name="broken")
    with pytest.raises(KeyError):
        store.resolve("broken")
    assert temp_files(store) == []
    text = tmp_path / "t.txt"
    text.write_text("words " * 10_000)
    with text.open() as f, pytest.raises(TypeError):
        store.put_file(f)
    with pytest.raises(TypeError, match="put_blob"):
        store.put_file(b"bytes are data, not a path")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        store.put_file(tmp_path / "missing")

    h = store.put_blob(random_bytes(2 * MIB))

    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b: object) -> int:
            raise OSError(28, "no room here")

    with pytest.raises(OSError, match="no room here"):
        store.get_file(h, Full())
    with pytest.raises(FileNotFoundError):
        store.get_file(h, tmp_path / "no" / "such" / "folder")
    with pytest.raises(ValueError, match="64-digit hex"):
        store.get_file("abc", io.BytesIO())


KILLED_SCRIPT = """
import sys, time
from symphony_lab.pit import ArtifactStore

class Slow:
    def __init__(self):
        self.calls = 0

    def read(self, n):
        self.calls += 1
        if self.calls == 3:
            # The temporary file exists by now: say so, and hang.
            print("writing", flush=True)
            time.sleep(120)
        return b"z" * n

ArtifactStore(sys.argv[1]).put_file(Slow())
"""


def test_temporary_files_of_a_killed_writer_are_removed_when_the_store_is_opened(
    tmp_path: Path,
) -> None:
    root = tmp_path / "s"
    store = ArtifactStore(root)
    kept = store.put_blob(random_bytes(2 * MIB))
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_SCRIPT, str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "writing\n"
        left = temp_files(store)
        assert left == [f"stream.{writer.pid}-0.tmp"], left
    finally:
        writer.kill()
        writer.wait()
    # A live writer's files stay: this process's own, say.
    mine = root / "tmp" / f"stream.{os.getpid()}-999.tmp"
    mine.write_bytes(b"partial")
    again = ArtifactStore(root)
    assert temp_files(again) == [mine.name]
    assert again.get_by_hash(kept) == random_bytes(2 * MIB)
    mine.unlink()


MEMORY_SCRIPT = """
import io, json, sys, tracemalloc
import numpy as np
from symphony_lab.pit import ArtifactStore

def peak_rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) << 10 for line in f if line.startswith("VmHWM"))

def reset_peak():
    # Linux: the peak resident set size starts again from the current one.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")

root, src = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(3)
data = (rng.integers(0, 16, 64 << 20, dtype=np.uint8) + ord("a")).tobytes()
with open(src, "wb") as f:
    f.write(data)
store = ArtifactStore(root, durable=False)
# Warm up: the writer thread, the zstd context, the first chunks.
store.put_file(io.BytesIO(data[: 4 << 20]))

def growth(step):
    reset_peak()
    start = peak_rss()
    step()
    return peak_rss() - start

def get_to_file_object():
    with open(src + ".out2", "wb") as f:
        store.get_file(h, f)

tracemalloc.start()
h = store.put_file(io.BytesIO(data))[0]
traced = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
rss = {
    "put BytesIO": growth(lambda: store.put_file(io.BytesIO(data), name="from BytesIO")),
    "put path": growth(lambda: store.put_file(src, name="from path")),
    "get path": growth(lambda: store.get_file(h, src + ".out")),
    "get file object": growth(get_to_file_object),
}
print(json.dumps({"traced": traced, "rss_growth": rss}))
"""


def test_memory_stays_bounded_for_a_64_mib_blob(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(tmp_path / "s"), str(tmp_path / "src")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    # Python holds one 1 MiB chunk at a time, Rust a few: not the 64 MiB blob.
    assert result["traced"] < 4 * MIB, result
    for what, growth in result["rss_growth"].items():
        assert growth < 24 * MIB, (what, result)
    assert (tmp_path / "src.out").read_bytes() == (tmp_path / "src").read_bytes()
    assert (tmp_path / "src.out2").stat().st_size == 64 * MIB
