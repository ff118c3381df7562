"""DagTracker behaviour through the Python API: building, states, queries, interop."""

import graphlib
import pickle

import networkx as nx
import numpy as np
import pytest

from symphony_lab.pit import (
    CycleError,
    DagTracker,
    DuplicateTaskError,
    StateError,
    TaskNotFoundError,
)


def diamond() -> DagTracker:
    t = DagTracker()
    for key, cost in [("fetch", 1.0), ("parse", 2.0), ("embed", 5.0), ("index", 1.0)]:
        t.add_task(key, cost=cost)
    t.add_edges([("fetch", "parse"), ("fetch", "embed"), ("parse", "index"), ("embed", "index")])
    return t


def test_new_tasks_are_ready_until_an_edge_arrives() -> None:
    t = DagTracker()
    t.add_task("a")
    t.add_task("b")
    assert t.ready() == ["a", "b"]
    assert t.add_edge("a", "b") is True
    assert t.add_edge("a", "b") is False
    assert t.state("b") == "pending"
    assert t.ready() == ["a"]
    assert len(t) == 2
    assert t.edge_count == 1
    assert "a" in t
    assert "zzz" not in t
    assert 3.5 not in t


def test_done_returns_newly_ready_tasks_in_order() -> None:
    t = diamond()
    assert t.take_ready() == ["fetch"]
    assert t.done("fetch") == ["parse", "embed"]
    assert t.take_ready(1) == ["parse"]
    assert t.done("parse") == []
    assert t.state("embed") == "ready"
    t.start("embed")
    assert t.done("embed") == ["index"]
    assert t.counts() == {
        "pending": 0,
        "ready": 1,
        "running": 0,
        "done": 3,
        "failed": 0,
        "skipped": 0,
        "cancelled": 0,
    }


def test_done_many_is_all_or_nothing() -> None:
    t = DagTracker()
    t.add_tasks(range(4))
    t.add_edges([0, 1], [2, 3])
    t.take_ready()
    with pytest.raises(StateError, match=r"task 2: done\(\) cannot move it from pending to done"):
        t.done_many([0, 1, 2])
    assert t.counts()["running"] == 2
    assert t.counts()["done"] == 0
    with pytest.raises(StateError, match="from done to done"):
        t.done_many([0, 0])
    assert sorted(t.done_many(np.array([0, 1]))) == [2, 3]


def test_fail_with_skip_and_retry_brings_descendants_back() -> None:
    t = diamond()
    t.take_ready()
    t.fail("fetch", policy="skip")
    assert [t.state(k) for k in ["parse", "embed", "index"]] == ["skipped"] * 3
    assert not t.is_active()
    t.retry("fetch")
    assert t.state("fetch") == "ready"
    assert [t.state(k) for k in ["parse", "embed", "index"]] == ["pending"] * 3


def test_fail_with_block_keeps_descendants_pending() -> None:
    t = diamond()
    t.take_ready()
    t.fail("fetch")
    assert t.state("parse") == "pending"
    assert not t.is_active()
    t.retry("fetch")
    t.take_ready()
    assert t.done("fetch") == ["parse", "embed"]


def test_cancel_skips_descendants_but_not_siblings() -> None:
    t = diamond()
    t.done(*t.take_ready())
    t.cancel("parse")
    assert t.state("parse") == "cancelled"
    assert t.state("index") == "skipped"
    assert t.state("embed") == "ready"


def test_illegal_transitions_name_task_and_both_states() -> None:
    t = diamond()
    cases = [
        (lambda: t.done("fetch"), "task 'fetch': done() cannot move it from ready to done"),
        (lambda: t.start("parse"), "task 'parse': start() cannot move it from pending to running"),
        (lambda: t.retry("fetch"), "task 'fetch': retry() cannot move it from ready to ready"),
        (lambda: t.fail("index"), "task 'index': fail() cannot move it from pending to failed"),
    ]
    for call, message in cases:
        with pytest.raises(StateError) as err:
            call()
        assert str(err.value) == message
        assert isinstance(err.value, ValueError)
    t.done(*t.take_ready())
    with pytest.raises(StateError, match="cancel\\(\\) cannot move it from done to cancelled"):
        t.cancel("fetch")


def test_edge_into_a_started_task_is_refused() -> None:
    t = DagTracker()
    t.add_tasks(["a", "b"])
    t.start("b")
    with pytest.raises(StateError, match="cannot add edge 'a' -> 'b': task 'b' is already running"):
        t.add_edge("a", "b")
    assert t.edge_count == 0


def test_cycle_error_names_the_path_and_is_a_graphlib_cycle_error() -> None:
    t = DagTracker()
    t.add_tasks(["a", "b", "c"])
    t.add_edge("a", "b")
    t.add_edge("b", "c")
    with pytest.raises(graphlib.CycleError) as err:
        t.add_edge("c", "a")
    assert isinstance(err.value, CycleError)
    assert str(err.value.args[0]) == "edge would create a cycle: 'c' -> 'a' -> 'b' -> 'c'"
    assert err.value.cycle == ["c", "a", "b", "c"]
    with pytest.raises(CycleError, match="'a' -> 'a'"):
        t.add_edge("a", "a")


def test_a_batch_with_a_cycle_stores_nothing() -> None:
    t = DagTracker()
    t.add_tasks(range(1000))
    t.add_edges(np.arange(0, 998), np.arange(1, 999))
    before = (t.edges(), t.counts())
    for src, dst in [([5, 998, 10], [6, 999, 2]), (np.arange(1, 999), np.arange(0, 998))]:
        with pytest.raises(CycleError):
            t.add_edges(src, dst)
        assert (t.edges(), t.counts()) == before
        # The order may have been reshuffled by the accepted part, but stays valid.
        position = {k: i for i, k in enumerate(t.topological_order())}
        assert all(position[a] < position[b] for a, b in t.edges())


def test_bad_keys_and_arguments() -> None:
    t = DagTracker()
    t.add_task("a")
    with pytest.raises(DuplicateTaskError, match="task 'a' already exists"):
        t.add_task("a")
    with pytest.raises(DuplicateTaskError, match="task 'b' already exists"):
        t.add_tasks(["b", "c", "b"])
    assert len(t) == 1
    with pytest.raises(TaskNotFoundError, match="unknown task 'nope'") as err:
        t.add_edge("a", "nope")
    assert isinstance(err.value, KeyError)
    assert str(err.value) == "unknown task 'nope'"
    with pytest.raises(TypeError, match="task keys must be int or str, not float"):
        t.add_task(1.5)
    with pytest.raises(ValueError, match="cost of task 'x' must be a finite number >= 0, got -1"):
        t.add_task("x", cost=-1)
    with pytest.raises(ValueError, match="cost of task 'y' must be a finite number >= 0, got NaN"):
        t.add_tasks(["y"], costs=[float("nan")])
    with pytest.raises(TypeError, match="keys must hold integers"):
        t.add_tasks(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="must be 1-D"):
        t.add_tasks(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(TypeError, match="keys must be a list or array, not str"):
        t.add_tasks("abc")
    with pytest.raises(ValueError, match="2 sources but 1 targets"):
        t.add_edges(["a", "a"], ["a"])
    with pytest.raises(ValueError, match="an edge array must have shape"):
        t.add_edges(np.zeros((3, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="policy must be 'block' or 'skip'"):
        t.fail("a", policy="ignore")
    assert len(t) == 1


def test_numpy_keys_and_mixed_keys() -> None:
    t = DagTracker()
    t.add_tasks(np.arange(5, dtype=np.int32), costs=np.ones(5, dtype=np.float32))
    t.add_tasks(["x", 10])
    t.add_edges(np.array([[0, 1], [1, 2]], dtype=np.uint16))
    t.add_edge(np.int64(2), "x")
    assert t.successors(2) == ["x"]
    assert t.predecessors("x") == [2]
    assert t.keys() == list(t) == [0, 1, 2, 3, 4, "x", 10]
    assert t.cost(4) == 1.0


def test_graphlib_protocol_drop_in() -> None:
    deps = {"d": {"b", "c"}, "b": {"a"}, "c": {"a"}, "e": set()}

    def drain(ts: graphlib.TopologicalSorter | DagTracker) -> list[set[str]]:
        ts.prepare()
        batches = []
        while ts.is_active():
            ready = ts.get_ready()
            batches.append(set(ready))
            ts.done(*ready)
        return batches

    ours = DagTracker()
    for node, preds in deps.items():
        ours.add(node, *sorted(preds))
    assert drain(ours) == drain(graphlib.TopologicalSorter(deps))
    order = DagTracker()
    for node, preds in deps.items():
        order.add(node, *sorted(preds))
    static = order.static_order()
    assert sorted(static) == ["a", "b", "c", "d", "e"]
    assert static.index("a") < static.index("b") < static.index("d")


def test_queries() -> None:
    t = diamond()
    assert t.ancestors("index") == {"fetch", "parse", "embed"}
    assert t.descendants("fetch") == {"parse", "embed", "index"}
    assert t.critical_path() == (7.0, ["fetch", "embed", "index"])
    sub = t.subgraph(["embed", "index"])
    assert sub.keys() == ["embed", "index"]
    assert sub.state("embed") == "ready"
    assert sub.state("index") == "pending"
    assert DagTracker().critical_path() == (0.0, [])


def test_payloads_bytes_and_objects() -> None:
    t = DagTracker()
    blob = b"\x00\x01binary"
    t.add_task("raw", payload=blob)
    t.add_task("obj", payload={"prompt": "hi"})
    t.add_task("none")
    assert t.payload("raw") == blob
    assert t.payload("obj") == {"prompt": "hi"}
    assert t.payload("none") is None
    assert t.subgraph(["obj"]).payload("obj") == {"prompt": "hi"}


def test_to_json_and_networkx() -> None:
    import json

    t = diamond()
    doc = json.loads(t.to_json())
    assert [n["key"] for n in doc["nodes"]] == ["fetch", "parse", "embed", "index"]
    assert doc["nodes"][0] == {"id": 0, "key": "fetch", "state": "ready", "cost": 1.0}
    assert sorted(map(tuple, doc["edges"])) == [(0, 1), (0, 2), (1, 3), (2, 3)]
    g = t.to_networkx()
    assert isinstance(g, nx.DiGraph)
    assert set(g.edges) == {
        ("fetch", "parse"),
        ("fetch", "embed"),
        ("parse", "index"),
        ("embed", "index"),
    }
    assert g.nodes["embed"] == {"state": "pending", "cost": 5.0, "payload": None}


def test_pickle_round_trip() -> None:
    t = diamond()
    t.done(*t.take_ready())
    back = pickle.loads(pickle.dumps(t))
    assert back.to_bytes() == t.to_bytes()
    assert back.ready() == ["parse", "embed"]


def test_repr() -> None:
    assert repr(diamond()) == "DagTracker(tasks=4, edges=4, pending=3, ready=1)"


def test_graphlib_add_is_all_or_nothing() -> None:
    t = DagTracker()
    with pytest.raises(CycleError, match="'a' -> 'a'"):
        t.add("a", "a")
    assert len(t) == 0
    t.add("b", "a")
    t.start("a")
    t.take_ready()
    with pytest.raises(StateError, match="task 'a' is already running"):
        t.add("a", "new")
    assert "new" not in t
    assert t.keys() == ["b", "a"]
    assert t.ready() == []


def test_existing_edges_are_accepted_whatever_the_batch_size() -> None:
    for extra in (0, 100):
        t = DagTracker()
        t.add_tasks(["a", "b", *range(extra)])
        t.add_edge("a", "b")
        t.cancel("b")
        assert t.add_edges(["a"], ["b"]) == 0
        assert t.add_edge("a", "b") is False


def test_subgraph_keeps_object_payloads_with_repeated_keys() -> None:
    t = DagTracker()
    t.add_task("a")
    t.add_task("b", payload=[1])
    assert t.subgraph(["a", "a", "b"]).payload("b") == [1]


def test_subgraph_frees_tasks_skipped_by_a_task_left_out() -> None:
    t = diamond()
    t.take_ready()
    t.fail("fetch", policy="skip")
    sub = t.subgraph(["parse", "index"])
    assert sub.state("parse") == "ready"
    assert sub.state("index") == "pending"


def test_keys_whose_index_calls_back_into_the_tracker_do_not_deadlock() -> None:
    t = DagTracker()
    t.add_tasks(range(3))

    class Sneaky:
        def __index__(self) -> int:
            return len(t) - 1

    assert t.state(Sneaky()) == "ready"
    assert t.add_edge(0, Sneaky()) is True
