"""The stale manager: rules, mark-and-sweep, archive and restore, fsspec
targets, DAG roots, the background thread, and several processes at once."""

import json
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

import fsspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from symphony_lab.pit import (
    ArtifactError,
    ArtifactStore,
    DagTracker,
    FsspecArchive,
    StaleError,
    StaleManager,
    StalePolicy,
    UnknownArtifact,
    plan_frame,
)

BIG = os.urandom(40_000)  # over the inline limit: a file in objects/


def test_plan_explains_and_run_archives_then_restore_brings_back(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    raw = store.put_blob(b"raw input", kind="table")
    model = store.put_blob(BIG, kind="model", inputs=[raw], quality=0.8, tags=["x"])
    kept, _ = store.put("report", b"a named report")
    trained = store.put_blob(b"episodes", tags=["training"])
    gc = StaleManager(store, StalePolicy(grace=0.0, max_age=0.0), archive=tmp_path / "archive")
    time.sleep(0.01)
    plan = gc.plan()
    assert plan.counts == {"keep": 2, "archive": 2, "delete": 0}
    assert plan.explain(kept) == ("keep", "ref")
    assert plan.explain(trained) == ("keep", "training data")
    assert plan.explain(model) == ("archive", "max_age")
    frame = plan_frame(plan)
    assert list(frame.columns) == ["hash", "decision", "rule", "value", "stored_size"]
    assert len(frame) == 4
    assert store.get_by_hash(model) == BIG, "a plan changes nothing"

    report = gc.run()
    assert (report.archived, report.deleted, report.kept) == (2, 0, 2)
    assert report.freed_bytes > 40_000
    with pytest.raises(UnknownArtifact, match=r"archived .*restore"):
        store.get_by_hash(model)
    assert (tmp_path / "archive" / "meta" / model[:2] / f"{model[2:]}.json").exists()
    with pytest.raises(UnknownArtifact, match=r"input .* rule 'max_age' did archive"):
        store.put_blob(b"made from the archived model", inputs=[model])
    gc.restore(model)
    assert store.get_by_hash(model) == BIG
    info = store.info(model)
    assert (info["kind"], info["quality"], info["inputs"], info["tags"]) == (
        "model",
        0.8,
        [raw],
        ["x"],
    )
    assert store.verify()["corrupt"] == []
    with pytest.raises(UnknownArtifact, match="not in"):
        gc.restore("ab" * 32)


def test_any_fsspec_target_archives(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    big = store.put_blob(BIG)
    small = store.put_blob(b"small " * 100)
    gc = StaleManager(
        store, StalePolicy(grace=0.0, max_age=0.0), archive="memory://gc-test/archive"
    )
    assert isinstance(gc.archive, FsspecArchive)
    time.sleep(0.01)
    assert gc.run().archived == 2
    mem = fsspec.filesystem("memory")
    assert mem.exists(f"/gc-test/archive/objects/{big[:2]}/{big[2:]}.raw")
    assert mem.exists(f"/gc-test/archive/meta/{small[:2]}/{small[2:]}.json")
    gc.restore(big)
    gc.restore(small)
    assert store.get_by_hash(big) == BIG
    assert store.get_by_hash(small) == b"small " * 100


def test_roots_from_live_dags_checkpoints_and_callables(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    a, b, c, d = (store.put_blob(f"output {i}".encode()) for i in range(4))
    parent = store.put_blob(b"parent")
    child = store.put_blob(b"child", inputs=[parent])
    dag = DagTracker()
    dag.add_task("train", payload={"outputs": [a], "note": f"made model_{child.upper()}.pt"})
    checkpoint = DagTracker()
    checkpoint.add_task("eval", payload=json.dumps({"outputs": [b]}).encode())
    (tmp_path / "run.ckpt").write_bytes(checkpoint.to_bytes())
    gc = StaleManager(
        store,
        StalePolicy(grace=0.0, max_age=0.0, action="delete"),
        roots=[dag, tmp_path / "run.ckpt", lambda: [c]],
    )
    time.sleep(0.01)
    plan = gc.plan()
    assert plan.explain(a) == ("keep", "dag root")
    assert plan.explain(child) == ("keep", "dag root")
    assert plan.explain(parent) == ("keep", "lineage")
    assert plan.explain(b) == ("keep", "dag root")
    assert plan.explain(c) == ("keep", "dag root")
    assert plan.explain(d) == ("delete", "max_age")
    dag.add_task("more", payload=d)  # the live DAG grows: read again at the next plan
    assert gc.plan().explain(d) == ("keep", "dag root")
    broken = StaleManager(store, StalePolicy(action="delete"), roots=[lambda: ["not a hash"]])
    with pytest.raises(StaleError, match="64-digit hex"):
        broken.plan()


def test_bad_policies_and_archives_are_refused(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    with pytest.raises(ValueError, match="no archive was given"):
        StaleManager(store, StalePolicy())
    with pytest.raises(ValueError, match="max_age"):
        StaleManager(store, StalePolicy(max_age=-1, action="delete"))
    with pytest.raises(ValueError, match="action"):
        StaleManager(store, StalePolicy(action="shred"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weight"):
        StaleManager(store, StalePolicy(weights=(0, 0, 0, 0), action="delete"))
    gc = StaleManager(store, StalePolicy(action="delete"))
    with pytest.raises(UnknownArtifact, match="no archive"):
        gc.restore("ab" * 32)
    with pytest.raises(ValueError, match="interval"):
        gc.start(0)


def test_the_background_thread_runs_until_stopped(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    with StaleManager(store, StalePolicy(grace=0.0, max_age=0.0), archive=tmp_path / "a") as gc:
        gc.start(0.02)
        assert gc.running
        with pytest.raises(ValueError, match="already running"):
            gc.start(1.0)
        h = store.put_blob(b"soon archived")
        deadline = time.monotonic() + 10
        while (h in store or gc.background_runs < 3) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert h not in store
        assert gc.background_error is None
    assert not gc.running
    runs = gc.background_runs
    time.sleep(0.1)
    assert gc.background_runs == runs


def _writer(root: str, worker: int, n: int) -> None:
    store = ArtifactStore(root, durable=False)
    for i in range(n):
        parent = store.put_blob(f"parent {worker}-{i}".encode())
        store.put(f"w{worker}", f"child {worker}-{i}".encode(), inputs=[parent])
        store.put_blob(f"garbage {worker}-{i}".encode())


def _collector(root: str, stop_after: float) -> None:
    store = ArtifactStore(root, durable=False)
    # A second of grace: a writer links a parent to its child well within it.
    gc = StaleManager(store, StalePolicy(grace=1.0, max_age=0.0, action="delete"))
    end = time.monotonic() + stop_after
    while time.monotonic() < end:
        gc.run()


def test_collecting_while_other_processes_write_never_loses_a_reachable_artifact(
    tmp_path: Path,
) -> None:
    root = str(tmp_path / "s")
    ArtifactStore(root)
    ctx = mp.get_context("spawn")
    writers = [ctx.Process(target=_writer, args=(root, w, 150)) for w in range(3)]
    collectors = [ctx.Process(target=_collector, args=(root, 6.0)) for _ in range(2)]
    for p in writers + collectors:
        p.start()
    for p in writers + collectors:
        p.join(120)
        assert p.exitcode == 0
    store = ArtifactStore(root)
    for w in range(3):
        history = store.history(f"w{w}")
        assert len(history) == 150
        for _, h, _ in history:
            assert store.get_by_hash(h).startswith(b"child")
            (_, parent) = store.lineage(h)[0]
            assert store.get_by_hash(parent).startswith(b"parent")
    assert store.verify() == {"checked": store.verify()["checked"], "missing": [], "corrupt": []}


# Random histories of puts, names, pins and deletions; then a collection that
# lets everything unprotected go. What is reachable must all read back.
op = st.one_of(
    st.tuples(st.just("put"), st.lists(st.integers(0, 50), max_size=3)),
    st.tuples(st.just("name"), st.integers(0, 3), st.lists(st.integers(0, 50), max_size=3)),
    st.tuples(st.just("pin"), st.integers(0, 50)),
    st.tuples(st.just("unpin"), st.integers(0, 50)),
    st.tuples(st.just("delete_ref"), st.integers(0, 3)),
    st.tuples(st.just("delete"), st.integers(0, 50)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=1, max_size=40), big=st.booleans())
# Deleting an input of a named artifact: refused (found in a fresh clone's run).
@example(ops=[("put", []), ("put", []), ("name", 0, [1]), ("delete", 1)], big=False)
def test_nothing_reachable_is_ever_collected(ops: list[tuple], big: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = ArtifactStore(Path(tmp) / "s", durable=False)
        made: list[str] = []
        inputs: dict[str, list[str]] = {}
        refs: dict[str, list[str]] = {}
        pins: set[str] = set()
        gone: set[str] = set()

        def data(i: int) -> bytes:
            body = f"artifact {i} ".encode()
            return body * 3000 if big and i % 2 else body

        for o in ops:
            live = [h for h in made if h not in gone]
            pick = [live[i % len(live)] for i in o[-1]] if live and o[0] in ("put", "name") else []
            if o[0] == "put":
                h = store.put_blob(data(len(made)), inputs=pick)
                made.append(h)
                inputs[h] = list(dict.fromkeys(pick))
            elif o[0] == "name":
                h, _ = store.put(f"n{o[1]}", data(len(made)), inputs=pick)
                made.append(h)
                inputs[h] = list(dict.fromkeys(pick))
                refs.setdefault(f"n{o[1]}", []).append(h)
            elif live and o[0] in ("pin", "unpin", "delete"):
                h = live[o[1] % len(live)]
                if o[0] == "pin":
                    store.pin(h)
                    pins.add(h)
                elif o[0] == "unpin":
                    store.unpin(h)
                    pins.discard(h)
                elif (
                    h not in pins
                    and not any(h in v for v in refs.values())
                    and not any(h in inputs[x] for x in made if x not in gone)
                ):
                    store.delete(h)
                    gone.add(h)
                else:
                    with pytest.raises(ArtifactError, match="in use"):
                        store.delete(h)
            elif o[0] == "delete_ref" and f"n{o[1]}" in refs:
                store.delete_ref(f"n{o[1]}")
                del refs[f"n{o[1]}"]
        reachable: set[str] = set()
        stack = [h for v in refs.values() for h in v] + list(pins)
        while stack:
            h = stack.pop()
            if h not in reachable:
                reachable.add(h)
                stack.extend(inputs[h])
        time.sleep(0.002)
        StaleManager(store, StalePolicy(grace=0.0, max_age=0.0, action="delete")).run()
        for h in reachable:
            assert h not in gone
            assert store.get_by_hash(h) == data(made.index(h))
        for h in set(made) - reachable:
            assert h not in store
        assert store.verify() == {"checked": len(reachable), "missing": [], "corrupt": []}
