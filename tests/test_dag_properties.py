"""Property tests on random DAGs with networkx as the oracle."""

import graphlib
import itertools

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_lab.pit import CycleError, DagTracker


@st.composite
def dags(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]], list[float]]:
    """A random DAG: edges only go forward in a hidden random order of the nodes."""
    n = draw(st.integers(1, 30))
    rank = draw(st.permutations(range(n)))
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=80))
    edges = [(a, b) if rank[a] < rank[b] else (b, a) for a, b in pairs if a != b]
    costs = draw(st.lists(st.floats(0, 100), min_size=n, max_size=n))
    return n, edges, costs


def build(
    n: int, edges: list[tuple[int, int]], costs: list[float]
) -> tuple[DagTracker, nx.DiGraph]:
    t = DagTracker()
    t.add_tasks(list(range(n)), costs=costs)
    t.add_edges(edges)
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges)
    return t, g


@settings(max_examples=150, deadline=None)
@given(dags())
def test_order_and_reachability_match_networkx(dag: tuple) -> None:
    t, g = build(*dag)
    order = t.topological_order()
    assert sorted(order) == list(g.nodes)
    position = {v: i for i, v in enumerate(order)}
    assert all(position[a] < position[b] for a, b in g.edges)
    assert set(t.edges()) == set(g.edges)
    for v in g.nodes:
        assert t.ancestors(v) == nx.ancestors(g, v)
        assert t.descendants(v) == nx.descendants(g, v)


@settings(max_examples=150, deadline=None)
@given(dags())
def test_critical_path_is_the_heaviest_path(dag: tuple) -> None:
    n, edges, costs = dag
    t, g = build(n, edges, costs)
    best = {}
    for v in nx.topological_sort(g):
        best[v] = costs[v] + max((best[p] for p in g.predecessors(v)), default=0.0)
    total, path = t.critical_path()
    assert abs(total - max(best.values())) <= 1e-9 * max(1.0, total)
    assert nx.is_path(g, path)
    assert abs(sum(costs[v] for v in path) - total) <= 1e-9 * max(1.0, total)


@settings(max_examples=150, deadline=None)
@given(dags(), st.data())
def test_an_edge_is_refused_exactly_when_it_closes_a_cycle(dag: tuple, data: st.DataObject) -> None:
    n, edges, costs = dag
    t, g = build(n, edges, costs)
    for _ in range(10):
        a = data.draw(st.integers(0, n - 1))
        b = data.draw(st.integers(0, n - 1))
        closes = a == b or nx.has_path(g, b, a)
        try:
            t.add_edge(a, b)
        except CycleError as err:
            assert closes
            cycle = err.cycle
            assert cycle[0] == cycle[-1] == a
            assert cycle[1] == b
            assert all(g.has_edge(u, v) for u, v in itertools.pairwise(cycle[1:]))
        else:
            assert not closes
            g.add_edge(a, b)
    assert set(t.edges()) == set(g.edges)


@settings(max_examples=100, deadline=None)
@given(dags())
def test_batch_drain_gives_the_topological_generations(dag: tuple) -> None:
    t, g = build(*dag)
    sorter = graphlib.TopologicalSorter({v: set(g.predecessors(v)) for v in g.nodes})
    sorter.prepare()
    ours, theirs = [], []
    while t.is_active():
        batch = t.get_ready()
        ours.append(set(batch))
        t.done(*batch)
    while sorter.is_active():
        batch = sorter.get_ready()
        theirs.append(set(batch))
        sorter.done(*batch)
    assert ours == theirs == [set(x) for x in nx.topological_generations(g)]
    assert t.counts()["done"] == len(g)


@settings(max_examples=100, deadline=None)
@given(dags(), st.data())
def test_one_task_at_a_time_respects_every_edge(dag: tuple, data: st.DataObject) -> None:
    t, g = build(*dag)
    finished: set[int] = set()
    while t.is_active():
        running = t.take_ready(data.draw(st.integers(1, 3)))
        for v in running:
            assert set(g.predecessors(v)) <= finished
        for v in running:
            t.done(v)
            finished.add(v)
    assert finished == set(g.nodes)
