"""Full-text search over the artifact store: ranking, filters, removals, several processes."""

import multiprocessing as mp
import shutil
from pathlib import Path

import pytest

from symphony_lab.pit import ArtifactStore


def hashes(hits: list[dict]) -> list[str]:
    return [h["hash"] for h in hits]


def test_more_mentions_and_names_rank_first(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    once = store.put_blob(b"one gradient step, then it stopped", media_type="text/plain")
    often = store.put_blob(b"gradient after gradient: the gradient norm", media_type="text/plain")
    store.put_blob(b"nothing relevant at all", media_type="text/plain")
    hits = store.search("gradient")
    assert hashes(hits) == [often, once]
    assert hits[0]["score"] > hits[1]["score"] > 0
    named, _ = store.put("momentum", b"plain words about nothing in particular")
    mentions = store.put_blob(b"we kept the momentum at nine tenths for the first epochs of it")
    assert hashes(store.search("momentum")) == [named, mentions]
    assert hashes(store.search("gradient", limit=1)) == [often]


def test_hits_describe_artifacts_and_kind_filters(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    report, _ = store.put(
        "weekly", b"loss fell below one", kind="report", media_type="text/markdown"
    )
    log = store.put_blob(b"loss 0.93 at step 400", kind="log")
    assert sorted(hashes(store.search("loss"))) == sorted([report, log])
    [hit] = store.search("loss", kind="report")
    assert set(hit) == {"hash", "score", "kind", "media_type", "names"}
    assert (hit["hash"], hit["kind"], hit["media_type"], hit["names"]) == (
        report,
        "report",
        "text/markdown",
        ["weekly"],
    )
    assert isinstance(hit["score"], float)
    assert hashes(store.search("loss", kind="log")) == [log]
    assert store.search("loss", kind="nope") == []


def test_names_and_tags_are_searchable(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    weights = bytes([0, 159, 146, 150]) * 64
    h, _ = store.put(
        "checkpoints/resnet-50",
        weights,
        media_type="application/octet-stream",
        producer="train_resnet",
        tags=["baseline"],
    )
    assert hashes(store.search("resnet")) == [h]
    assert hashes(store.search("baseline")) == [h]
    assert hashes(store.search("tags:baseline")) == [h]
    store.put_blob(weights, tags=["golden"])
    assert hashes(store.search("golden")) == [h]
    store.delete_ref("checkpoints/resnet-50")
    assert hashes(store.search("checkpoints")) == []
    assert hashes(store.search("baseline")) == [h]


def test_deleted_artifacts_disappear(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    gone = store.put_blob(b"a note about zebras", media_type="text/plain")
    kept = store.put_blob(b"another note about zebras", media_type="text/plain")
    assert sorted(hashes(store.search("zebras"))) == sorted([gone, kept])
    store.delete(gone)
    assert hashes(store.search("zebras")) == [kept]
    # Deleting the index is safe: the next search rebuilds it.
    shutil.rmtree(tmp_path / "s" / "search")
    assert hashes(store.search("zebras")) == [kept]


def test_bad_queries_and_limits_raise(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    store.put_blob(b"some text")
    with pytest.raises(ValueError, match="nosuchfield:text"):
        store.search("nosuchfield:text")
    with pytest.raises(ValueError, match="limit"):
        store.search("text", limit=0)
    with pytest.raises(ValueError, match="empty"):
        store.search("   ")
    with pytest.raises(TypeError):
        store.search("text", "kind")  # type: ignore[misc]


def test_a_second_store_sees_the_first_ones_puts(tmp_path: Path) -> None:
    a = ArtifactStore(tmp_path / "s")
    b = ArtifactStore(tmp_path / "s")
    ha = a.put_blob(b"aardvark", media_type="text/plain")
    assert hashes(b.search("aardvark")) == [ha]
    hb = b.put_blob(b"bonobo", media_type="text/plain")
    assert hashes(a.search("bonobo")) == [hb]


PER_WORKER = 25


def _search_writer(root: str, worker: int) -> None:
    store = ArtifactStore(root, durable=False)
    for i in range(PER_WORKER):
        word = f"uniq{worker}x{i}"
        h = store.put_blob(
            f"worker {worker} wrote {word} as item {i}".encode(),
            media_type="text/plain",
            producer=f"w{worker}",
        )
        # Its own put is found at once, while the others write and search.
        assert hashes(store.search(word)) == [h], word


def test_several_processes_put_and_search_at_once(tmp_path: Path) -> None:
    root = str(tmp_path / "s")
    ArtifactStore(root)  # no search index yet: the workers race to make it
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_search_writer, args=(root, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = ArtifactStore(root)
    for w in range(4):
        for i in range(PER_WORKER):
            [hit] = store.search(f"uniq{w}x{i}")
            assert store.get_by_hash(hit["hash"]).decode().startswith(f"worker {w} wrote")
        assert len(store.search(f"producer:w{w}", limit=100)) == PER_WORKER
    assert len(store.search("worker", limit=1000)) == 4 * PER_WORKER
    assert not list((Path(root) / "tmp").iterdir())
