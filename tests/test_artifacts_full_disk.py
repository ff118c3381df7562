"""A full disk: a put raises StoreFull, and nothing stored before is lost.

The disk is a 3 MiB tmpfs mounted in a user and mount namespace of its own
(``unshare -rm``), so the test needs no privileges and leaves nothing
mounted behind it.
"""

import json
import subprocess
import sys
from pathlib import Path

FILL = r"""
import io, json, os, random, subprocess, sys
from symphony_lab.pit import ArtifactStore, StoreFull

root = os.path.join(sys.argv[1], "store")
store = ArtifactStore(root)
rng = random.Random(5)
done = []  # (name, version, hash, seed, size) of every put that returned


def blob(seed, size):
    return random.Random(seed).randbytes(size)


def put(i):
    # Turn by turn: small inline blobs and larger files, named and not,
    # through put, put_many, put_blob and the streaming put_file.
    seed, how = 1000 + i, i % 5
    size = rng.randrange(200, 12_000) if how in (0, 3) else rng.randrange(20_000, 400_000)
    data = blob(seed, size)
    name = f"artifact-{i % 4}"
    if how in (0, 1):
        h, v = store.put(name, data, kind="test")
    elif how == 2:
        h, v = store.put_file(io.BytesIO(data), name=name)
    elif how == 3:
        (h, v), = store.put_many([(name, data)])
    else:
        h, v = store.put_blob(data), None
    done.append((name, v, h, seed, size))


def put_small(i):
    name, seed = f"small-{i % 3}", 1000 + i
    h, v = store.put(name, blob(seed, 3000))
    done.append((name, v, h, seed, 3000))


def fill(step):
    for i in range(len(done), 100_000):
        try:
            step(i)
        except Exception as e:
            return {
                "type": type(e).__name__,
                "is_store_full": isinstance(e, StoreFull),
                "message": str(e),
                "puts": len(done),
            }
    return {"type": None, "is_store_full": False, "message": "never full", "puts": len(done)}


# Until a blob's file does not fit; then small blobs, kept in the index,
# until the index cannot grow either.
full = fill(put)
full_index = fill(put_small)

# More puts on the full disk, of each kind: each fails the same way.
later = []
for how, attempt in [
    ("put", lambda: store.put("late", blob(1, 600_000))),
    ("put_file", lambda: store.put_file(io.BytesIO(blob(2, 3 << 20)), name="late")),
    ("put_many", lambda: store.put_many([blob(3, 500_000)])),
]:
    try:
        attempt()
        later.append([how, "stored"])
    except Exception as e:
        later.append([how, type(e).__name__, isinstance(e, StoreFull), str(e)])


def check(store):
    wrong = []
    for name, v, h, seed, size in done:
        data = blob(seed, size)
        if store.get_by_hash(h) != data or (v is not None and store.get(name, v) != data):
            wrong.append(h)
    return wrong


report = store.verify()
result = {
    "full": full,
    "full_index": full_index,
    "later": later,
    "wrong": check(store),
    "verify": report,
    "distinct": len({h for *_, h, _, _ in done}),
    "tmp": os.listdir(os.path.join(root, "tmp")),
}
del store
# Opened again, by another process, on the still full disk.
reopened = subprocess.run(
    [sys.executable, "-c", sys.argv[2], root, json.dumps(done)],
    capture_output=True, text=True, timeout=60,
)
result["reopened"] = reopened.stdout.strip() or reopened.stderr[-2000:]
result["df"] = subprocess.run(["df", "-k", sys.argv[1]], capture_output=True, text=True).stdout
print("RESULT " + json.dumps(result))
"""

REOPEN = r"""
import json, random, sys
from symphony_lab.pit import ArtifactStore

store = ArtifactStore(sys.argv[1])
done = json.loads(sys.argv[2])
bad = [h for name, v, h, seed, size in done
       if store.get_by_hash(h) != random.Random(seed).randbytes(size)
       or (v is not None and store.get(name, v) != random.Random(seed).randbytes(size))]
report = store.verify()
clean = not bad and not report["missing"] and not report["corrupt"]
print("ok" if clean else f"bad {bad} {report}")
"""


def test_a_full_disk_raises_store_full_and_keeps_what_was_stored(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        run = subprocess.run(
            [
                "unshare",
                "-rm",
                "sh",
                "-c",
                'mount -t tmpfs -o size=3m tmpfs "$1" || exit 97; exec "$2" -c "$3" "$1" "$4"',
                "sh",
                str(disk),
                sys.executable,
                FILL,
                REOPEN,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except FileNotFoundError as e:
        raise AssertionError(
            f"this test needs unshare (util-linux) to make a tiny disk: {e}"
        ) from e
    assert run.returncode != 97, (
        "could not mount a 3 MiB tmpfs in a user and mount namespace (unshare -rm); "
        f"this test needs unprivileged user namespaces: {run.stderr}"
    )
    assert run.returncode == 0, (
        f"unshare -rm or the script in it failed ({run.returncode}): {run.stderr[-3000:]}"
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, run.stdout + run.stderr
    result = json.loads(lines[0].removeprefix("RESULT "))
    full = result["full"]
    assert full["is_store_full"], full
    assert "the disk is full" in full["message"], full
    assert full["puts"] >= 10, f"the disk filled too soon: {full}"
    # Then small blobs, kept in the index, until SQLite finds the disk full.
    index = result["full_index"]
    assert index["is_store_full"], index
    assert index["puts"] > full["puts"], index
    assert "the metadata index" in index["message"], index
    assert "the disk is full" in index["message"], index
    for how, *outcome in result["later"]:
        assert outcome[0] == "StoreFull", (how, outcome)
        assert outcome[1], (how, outcome)
        assert "the disk is full" in outcome[2], (how, outcome)
    assert result["wrong"] == [], "every put that returned reads back as it was"
    assert result["verify"]["missing"] == []
    assert result["verify"]["corrupt"] == []
    assert result["verify"]["checked"] == result["distinct"]
    assert result["tmp"] == [], "no temporary file stays in tmp/"
    assert result["reopened"] == "ok", result["reopened"]
