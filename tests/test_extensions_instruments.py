"""The instruments shipped with the package (embed, classifier, llm) on one
real Stage: the packaged MiniLM offline, a torch classifier whose weights are
artifacts, and the LLM adapter against a local OpenAI-compatible server."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from openai_server import UNKNOWN_MODEL, OpenAIServer

from symphony_lab.pit import ArtifactStore, network_isolation
from symphony_lab.stage import ExtensionCallError, RestartPolicy, Stage

API_KEY = "sk-test-0123"


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(api_key=API_KEY) as s:
        yield s


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ArtifactStore:
    return ArtifactStore(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def stage(store: ArtifactStore, server: OpenAIServer) -> Iterator[Stage]:
    """One Stage for the three: loading torch and the model is the expensive part."""
    llm = {"base_url": server.url, "api_key": API_KEY, "model": "default-model"}
    folders = ["embed", "classifier", "llm"]
    with Stage(folders, store=store, call_timeout=60, config={"llm": llm}) as s:
        yield s


def call_error(stage: Stage, target: str, args: dict[str, Any]) -> ExtensionCallError:
    with pytest.raises(ExtensionCallError) as info:
        stage.call(target, args)
    return info.value


# -- embed ---------------------------------------------------------------------
def test_embed_gives_normalized_384_vectors(stage: Stage) -> None:
    vectors = np.array(stage.call("embed.embed", {"texts": ["a cat", "a dog", ""]}))
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert stage.call("embed.embed", {"texts": []}) == []


def test_embed_similar_sentences_score_higher(stage: Stage) -> None:
    def sim(a: str, b: str) -> float:
        return stage.call("embed.similarity", {"a": a, "b": b})

    cat = "A cat is sleeping on the sofa."
    assert sim(cat, "A kitten naps on the couch.") > sim(cat, "The central bank raised rates.")
    assert sim(cat, cat) == pytest.approx(1.0, abs=1e-4)
    queries = ["How do I bake bread?", "Who won the football match?"]
    docs = ["The team scored twice in the final.", "Knead the dough and let it rise."]
    matrix = np.array(stage.call("embed.similarity", {"a": queries, "b": docs}))
    assert matrix.shape == (2, 2)
    assert matrix.argmax(axis=1).tolist() == [1, 0]


def test_embed_runs_offline(stage: Stage) -> None:
    embed = stage["embed"]
    environ = Path(f"/proc/{embed.pid}/environ").read_bytes().split(b"\0")
    assert b"HF_HUB_OFFLINE=1" in environ
    assert b"TRANSFORMERS_OFFLINE=1" in environ
    assert b"OMP_NUM_THREADS=1" in environ
    # Where the kernel allows it, the process has no network at all.
    assert embed.supervisor.isolate_network == (network_isolation() is None)


def test_embed_as_artifact(stage: Stage, store: ArtifactStore) -> None:
    texts = ["first text", "second text"]
    digest = stage.call("embed.embed", {"texts": texts, "as_artifact": True})
    stored = np.load(io.BytesIO(store.get_by_hash(digest)), allow_pickle=False)
    assert stored.dtype == np.float32
    np.testing.assert_allclose(stored, stage.call("embed.embed", {"texts": texts}), atol=1e-6)
    assert store.info(digest)["kind"] == "embeddings"


def test_embed_bad_input(stage: Stage) -> None:
    err = call_error(stage, "embed.embed", {"texts": "not a list"})
    assert err.remote_type == "TypeError"
    assert "texts must be a list of strings, got str" in str(err)
    err = call_error(stage, "embed.similarity", {"a": ["x", 2], "b": "y"})
    assert "item 1 is int" in str(err)


# -- classifier ----------------------------------------------------------------
SPORT = ["match", "goal", "team", "coach", "season", "striker", "referee", "league"]
FOOD = ["recipe", "oven", "flour", "sauce", "garlic", "simmer", "butter", "dough"]
FILLER = ["the", "a", "today", "really", "with", "new", "our", "again"]


def toy_texts(words: list[str], start: int, n: int) -> list[str]:
    """``n`` sentences of two topic words among filler, different for each ``start``."""
    pairs = list(itertools.combinations(words, 2))
    return [
        f"{FILLER[i % 8]} {a} {FILLER[(i * 3) % 8]} {b}"
        for i, (a, b) in enumerate(pairs[start : start + n])
    ]


def test_classifier_learns_a_separable_task(stage: Stage, store: ArtifactStore) -> None:
    texts = toy_texts(SPORT, 0, 16) + toy_texts(FOOD, 0, 16)
    labels = ["sport"] * 16 + ["food"] * 16
    args = {"texts": texts, "labels": labels, "epochs": 60}
    trained = stage.call("classifier.train", args)
    assert trained["classes"] == ["food", "sport"]
    assert trained["train_accuracy"] == 1.0
    info = store.info(trained["hash"])
    assert (info["kind"], info["producer"]) == ("classifier", "classifier")
    held_out = toy_texts(SPORT, 16, 12) + toy_texts(FOOD, 16, 12)
    truth = ["sport"] * 12 + ["food"] * 12
    predicted = stage.call("classifier.predict", {"texts": held_out, "model": trained["hash"]})
    accuracy = np.mean([p == t for p, t in zip(predicted, truth, strict=True)])
    assert accuracy >= 0.9
    # Seeded and single-threaded: the same data gives the same weights, hence the same hash.
    assert stage.call("classifier.train", args)["hash"] == trained["hash"]
    assert stage.call("classifier.train", {**args, "seed": 1})["hash"] != trained["hash"]


def test_classifier_integer_labels(stage: Stage) -> None:
    texts = toy_texts(SPORT, 0, 8) + toy_texts(FOOD, 0, 8)
    trained = stage.call("classifier.train", {"texts": texts, "labels": [1] * 8 + [0] * 8})
    assert trained["classes"] == [0, 1]
    predicted = stage.call("classifier.predict", {"texts": texts[:2], "model": trained["hash"]})
    assert predicted == [1, 1]


def test_classifier_bad_input(stage: Stage, store: ArtifactStore) -> None:
    err = call_error(stage, "classifier.train", {"texts": ["a", "b"], "labels": ["x"]})
    assert err.remote_type == "ValueError"
    assert "as long as texts (2)" in str(err)
    err = call_error(stage, "classifier.train", {"texts": ["a", "b"], "labels": ["x", "x"]})
    assert "at least two classes" in str(err)
    not_a_model = store.put_blob(b"not torch", kind="blob")
    err = call_error(stage, "classifier.predict", {"texts": ["a"], "model": not_a_model})
    assert err.remote_type == "ValueError"
    assert f"artifact {not_a_model} is not a classifier" in str(err)
    err = call_error(stage, "classifier.predict", {"texts": ["a"], "model": "f" * 64})
    assert err.remote_type == "UnknownArtifact"


# -- llm -----------------------------------------------------------------------
def test_llm_chat_sends_an_openai_request(stage: Stage, server: OpenAIServer) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a colour."},
    ]
    reply = stage.call(
        "llm.chat",
        {"messages": messages, "model": "gpt-test", "temperature": 0.25, "max_tokens": 16},
    )
    assert reply == "echo: Name a colour."
    sent = server.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert sent["json"] == {
        "model": "gpt-test",
        "messages": messages,
        "temperature": 0.25,
        "max_tokens": 16,
    }


def test_llm_complete_uses_the_configured_model(stage: Stage, server: OpenAIServer) -> None:
    text = stage.call("llm.complete", {"prompt": "Once upon a time", "max_tokens": 3})
    assert text == "continued: Once upon"
    sent = server.requests[-1]
    assert sent["path"] == "/v1/completions"
    assert sent["json"] == {"model": "default-model", "prompt": "Once upon a time", "max_tokens": 3}


def test_llm_http_errors_carry_status_and_message(stage: Stage) -> None:
    hello = [{"role": "user", "content": "hi"}]
    err = call_error(stage, "llm.chat", {"messages": hello, "model": UNKNOWN_MODEL})
    assert err.remote_type == "LLMHTTPError"
    assert "HTTP 404" in str(err)
    assert f"The model `{UNKNOWN_MODEL}` does not exist" in str(err)
    err = call_error(stage, "llm.chat", {"messages": [{"content": "no role"}]})
    assert err.remote_type == "ValueError"
    assert "messages[0]" in str(err)


@contextmanager
def llm_alone(config: dict[str, Any]) -> Iterator[Stage]:
    with Stage(["llm"], config={"llm": config}, restart=RestartPolicy(max_restarts=0)) as s:
        yield s


def test_llm_wrong_key_unreachable_server_and_no_config(server: OpenAIServer) -> None:
    hello = {"messages": [{"role": "user", "content": "hi"}], "model": "m"}
    with llm_alone({"base_url": server.url, "api_key": "sk-wrong"}) as stage:
        err = call_error(stage, "llm.chat", hello)
        assert err.remote_type == "LLMHTTPError"
        assert f"POST {server.url}/chat/completions returned HTTP 401" in str(err)
        assert "Incorrect API key provided" in str(err)
        assert server.requests[-1]["headers"]["Authorization"] == "Bearer sk-wrong"
    with llm_alone({"base_url": "http://127.0.0.1:9/v1", "timeout": 5}) as stage:
        err = call_error(stage, "llm.complete", {"prompt": "x", "model": "m"})
        assert err.remote_type == "ConnectionError"
        assert "http://127.0.0.1:9/v1/completions" in str(err)
    with llm_alone({}) as stage:
        err = call_error(stage, "llm.chat", hello)
        assert err.remote_type == "LLMConfigError"
        assert "no base_url" in str(err)
