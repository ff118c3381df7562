"""Arbiter: policies, bandit convergence, admission with fairness and aging, locks."""

import random
import threading
import time
from collections import Counter

import numpy as np
import pytest

from symphony_lab.pit import (
    POLICIES,
    Arbiter,
    ArbiterError,
    LockError,
    LockTimeout,
    Priority,
    UnknownNameError,
    Verdict,
)


def arbiter(policy: str, names: str = "abcd", **kw: object) -> Arbiter:
    a = Arbiter(policy=policy, seed=7, **kw)  # type: ignore[arg-type]
    for name in names:
        a.add_candidate(name)
    return a


def test_priority_round_robin_and_weighted_random() -> None:
    a = Arbiter(policy="priority")
    a.add_candidate("backup", priority=1)
    a.add_candidate("main", priority=5)
    assert {a.choose() for _ in range(5)} == {"main"}
    assert a.choose(among=["backup"]) == "backup"

    rr = arbiter("round_robin")
    assert [rr.choose() for _ in range(6)] == list("abcdab")

    w = Arbiter(policy="weighted_random", seed=1)
    w.add_candidate("light", weight=1.0)
    w.add_candidate("heavy", weight=3.0)
    counts = Counter(w.candidates[i] for i in w.choose_many(40_000))
    assert counts["heavy"] / 40_000 == pytest.approx(0.75, abs=0.01)


def test_least_loaded_and_quality_first() -> None:
    a = arbiter("least_loaded", "ab")
    assert [a.choose(), a.choose()] == ["a", "b"]  # each choice is in flight
    a.record("a", True)  # a comes back
    assert a.choose() == "a"
    assert a.candidate_stats("b")["in_flight"] == 1

    q = arbiter("quality_first", "ab")
    for _ in range(10):
        q.record("a", True, quality=0.5)
        q.record("b", True, quality=0.9)
    assert q.choose() == "b"
    stats = q.candidate_stats("b")
    assert stats["successes"] == 10
    assert stats["mean_quality"] == pytest.approx(0.9)


@pytest.mark.parametrize(("policy", "bound"), [("thompson", 150.0), ("ucb1", 400.0)])
def test_bandits_find_the_best_of_ten_arms(policy: str, bound: float) -> None:
    probs = [0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 0.55, 0.6, 0.7, 0.9]
    random.Random(3).shuffle(probs)
    best = max(probs)
    for seed in range(3):
        a = Arbiter(policy=policy, seed=seed)
        for k in range(10):
            a.add_candidate(f"arm{k}")
        rng = random.Random(100 + seed)
        regret = 0.0
        late_best = 0
        rounds = 5000
        for t in range(rounds):
            arm = int(a.choose()[3:])
            regret += best - probs[arm]
            if t >= rounds - 1000 and probs[arm] == best:
                late_best += 1
            a.record(f"arm{arm}", rng.random() < probs[arm])
        assert regret <= bound, (policy, seed, regret)
        assert late_best >= 800, (policy, seed, late_best)


def test_same_seed_same_choices_and_batches_match_single_choices() -> None:
    for policy in POLICIES:
        one, two = arbiter(policy), arbiter(policy)
        for a in (one, two):
            a.record("c", True, quality=0.8)
            a.record("b", False)
        singles = [one.choose() for _ in range(200)]
        batch = [two.candidates[i] for i in two.choose_many(200)]
        assert singles == batch, policy


def test_record_many_is_all_or_nothing() -> None:
    a = arbiter("thompson", "ab")
    a.record_many(["a", "b", "a"], [True, False, True], quality=[0.5, 1.0, 0.7])
    assert a.candidate_stats("a")["successes"] == 2
    a.record_many(np.array([1, 1]), np.array([True, True]))
    assert a.candidate_stats("b")["successes"] == 2
    with pytest.raises(ValueError, match="quality"):
        a.record_many(["a", "b"], [True, True], quality=[0.5, 1.5])
    assert a.candidate_stats("a")["successes"] == 2
    with pytest.raises(UnknownNameError, match="unknown candidate 'zz'"):
        a.record_many(["zz"], [True])


def test_admission_grants_defers_and_denies_with_reasons() -> None:
    a = Arbiter(clock="virtual")
    a.add_resource("gpu", 4, conflict="model_contention")
    a.add_resource("budget", 10, conflict="cost_limit")
    first = a.submit("alice", "gpu", 3, priority="high")
    assert first.verdict is Verdict.GRANTED
    assert "'gpu'" in first.rationale
    assert "alice" in first.rationale
    second = a.submit("bob", "gpu", 2)
    assert second.verdict is Verdict.DEFERRED
    assert "1 of 4 free, 2 needed" in second.rationale
    assert second.conflict == "model_contention"
    assert a.submit("carol", "gpu", 5).verdict is Verdict.DENIED
    granted = a.release(first.request)
    assert [d.request for d in granted] == [second.request]
    assert granted[0].verdict is Verdict.GRANTED
    assert a.submit("alice", "budget", 7).verdict is Verdict.GRANTED
    spent = a.submit("alice", "budget", 7)
    assert spent.verdict is Verdict.DENIED
    assert spent.conflict == "cost_limit"
    assert "budget" in spent.rationale
    with pytest.raises(UnknownNameError):
        a.release(first.request)


def test_waiting_requests_age_so_none_starves() -> None:
    a = Arbiter(clock="virtual", aging_interval=10.0)
    a.add_resource("cpu", 1)
    holder = a.submit("stream", "cpu", 1)
    low = a.submit("batch", "cpu", 1, priority="background")
    assert low.verdict is Verdict.DEFERRED
    current = holder.request
    granted_low_at = None
    for _ in range(100):
        a.advance(1.0)
        a.submit("stream", "cpu", 1)  # a steady stream of normal requests
        for d in a.release(current):
            current = d.request
            if d.requester == "batch":
                granted_low_at = a.now
                assert d.priority in (Priority.NORMAL, Priority.HIGH, Priority.CRITICAL)
        if granted_low_at is not None:
            break
    assert granted_low_at is not None
    assert granted_low_at <= 30.0


def test_weighted_fair_sharing_has_a_starvation_bound() -> None:
    a = Arbiter(clock="virtual", aging_interval=1e9)
    a.add_resource("model", 1)
    weights = {"a": 1.0, "b": 2.0, "c": 4.0}
    for name, w in weights.items():
        a.set_weight(name, w)
    current = a.submit("c", "model", 1).request
    for name in weights:
        for _ in range(3):
            a.submit(name, "model", 1)
    order = []
    for _ in range(700):
        (granted,) = a.release(current)
        current = granted.request
        order.append(granted.requester)
        a.submit(granted.requester, "model", 1)  # stay backlogged
    # Every requester is served within every window of 7 grants (the DRR round).
    for start in range(len(order) - 7):
        assert set(order[start : start + 7]) == set(weights), start
    counts = Counter(order)
    for name, w in weights.items():
        assert counts[name] / len(order) == pytest.approx(w / 7, abs=0.01)
    stats = a.stats()
    assert stats["requesters"]["c"]["granted"] == counts["c"] + 1  # + the first grant
    assert stats["gini"] < 0.01


def test_locks_never_grant_two_writers() -> None:
    a = Arbiter()
    inside: dict[str, list[str]] = {"x": [], "y": [], "z": []}
    guard = threading.Lock()
    errors: list[str] = []

    def worker(k: int) -> None:
        rng = random.Random(k)
        for _ in range(200):
            names = rng.sample(["x", "y", "z"], rng.randint(1, 2))
            mode = "exclusive" if rng.random() < 0.5 else "shared"
            with a.lock({n: mode for n in names}, owner=f"w{k}", timeout=30):
                with guard:
                    for n in names:
                        holders = inside[n]
                        if "exclusive" in holders or (mode == "exclusive" and holders):
                            errors.append(f"{n}: {mode} beside {holders}")
                        holders.append(mode)
                time.sleep(0)
                with guard:
                    for n in names:
                        inside[n].remove(mode)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert a.holders("x") == ([], None)
    assert a.locks_waiting == 0


def test_lock_timeout_and_misuse() -> None:
    a = Arbiter()
    held = a.lock(["artifact"], owner="writer")
    assert a.try_lock(["artifact"], owner="other") is None
    with pytest.raises(LockTimeout, match=r"could not lock 'artifact' \(shared\) for 'reader'"):
        a.lock({"artifact": "shared"}, owner="reader", timeout=0.1)
    assert a.holders("artifact") == ([], "writer")
    # Opposite orders, all-or-nothing: no deadlock.
    held.release()
    with pytest.raises(LockError, match="already released"):
        held.release()
    one = a.lock(["p", "q"], owner="one")
    got: list[str] = []
    t = threading.Thread(
        target=lambda: got.append(a.lock(["q", "p"], owner="two", timeout=10).owner)
    )
    t.start()
    time.sleep(0.05)
    one.release()
    t.join(10)
    assert got == ["two"]


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="unknown policy 'thomson'; expected one of: priority"):
        Arbiter(policy="thomson")
    a = Arbiter()
    with pytest.raises(ArbiterError, match="no candidates"):
        a.choose()
    a.add_candidate("a")
    with pytest.raises(ValueError, match="candidate 'a' already exists"):
        a.add_candidate("a")
    with pytest.raises(ValueError, match="weight"):
        a.add_candidate("b", weight=-1.0)
    with pytest.raises(UnknownNameError, match="unknown candidate 'b'"):
        a.choose(among=["b"])
    with pytest.raises(UnknownNameError, match="unknown candidate 'b'"):
        a.record("b", True)
    with pytest.raises(ValueError, match="latency"):
        a.record("a", True, latency=-1.0)
    with pytest.raises(ValueError, match="unknown policy 'fastest'"):
        a.policy = "fastest"
    with pytest.raises(UnknownNameError, match="unknown resource 'gpu'"):
        a.submit("me", "gpu", 1)
    a.add_resource("gpu", 1)
    with pytest.raises(ValueError, match="priority"):
        a.submit("me", "gpu", 1, priority="urgent")
    with pytest.raises(ValueError, match="amount"):
        a.submit("me", "gpu", -1)
    with pytest.raises(ValueError, match="conflict"):
        a.add_resource("ram", 1, conflict="bad_vibes")
    with pytest.raises(UnknownNameError, match="42"):
        a.release(42)
    with pytest.raises(ValueError, match="mode"):
        a.lock({"x": "rw"})
    with pytest.raises(ValueError, match="resource 'x' appears twice"):
        a.lock([("x", "shared"), ("x", "exclusive")])
    with pytest.raises(ValueError, match="aging_interval"):
        Arbiter(aging_interval=0)


def test_a_dropped_lock_lets_a_waiter_in() -> None:
    a = Arbiter()
    held = [a.lock(["doc"], owner="gone")]
    got: list[str] = []
    t = threading.Thread(target=lambda: got.append(a.lock(["doc"], owner="next", timeout=5).owner))
    t.start()
    while a.locks_waiting == 0:
        time.sleep(0.001)
    started = time.monotonic()
    held.clear()
    t.join(5)
    assert got == ["next"]
    assert time.monotonic() - started < 0.5
