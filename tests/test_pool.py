"""PoolManager: lifecycle, waiting, eviction, health, shutdown, threads, asyncio."""

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from symphony_lab.pit import (
    Health,
    InstanceState,
    Lease,
    LeaseError,
    PoolClosed,
    PoolError,
    PoolEvent,
    PoolManager,
    PoolTimeout,
    Reason,
    UnknownFunctionError,
)


def virtual(**kw: object) -> PoolManager:
    return PoolManager(clock="virtual", **kw)  # type: ignore[arg-type]


def moves(pool: PoolManager) -> list[tuple[str, str, str]]:
    return [(e.from_state, e.to_state, e.reason) for e in pool.events()]


def test_full_lifecycle_on_a_virtual_clock() -> None:
    pool = virtual()
    pool.register("llm", warmup=2.0, cooldown=1.0, idle_timeout=10.0, memory=4)
    lease = pool.acquire("llm")
    assert lease.cold_start
    assert lease.ready_at == 2.0
    assert lease.state == "warming"
    pool.advance(2.0)
    assert lease.state == "busy"
    lease.release()
    again = pool.acquire("llm")
    assert not again.cold_start
    assert again.instance == lease.instance
    again.release()
    pool.advance(10.0)
    assert pool.instances("llm") == [(lease.instance, "cooling", "unknown")]
    assert pool.stats()["memory_used"] == 4
    pool.advance(1.0)
    assert pool.instances("llm") == [(lease.instance, "cold", "unknown")]
    assert pool.stats()["memory_used"] == 0
    assert moves(pool) == [
        ("cold", "warming", "user_request"),
        ("warming", "busy", "user_request"),
        ("idle", "cooling", "idle_timeout"),
        ("cooling", "cold", "idle_timeout"),
    ]
    times = [e.time for e in pool.events()]
    assert times == [0.0, 2.0, 12.0, 13.0]
    stats = pool.stats()
    assert (stats["hits"], stats["misses"], stats["hit_rate"]) == (1, 1, 0.5)
    assert stats["transitions"]["idle->cooling"] == 1
    assert stats["reasons"]["idle_timeout"] == 2


def test_failure_from_warming_hot_and_cooling_goes_cold() -> None:
    pool = virtual()
    pool.register("tool", max_instances=3, warmup=1.0, cooldown=5.0, idle_timeout=1.0)
    warming = pool.acquire("tool")
    busy = pool.acquire("tool")
    cooling = pool.acquire("tool")
    pool.advance(1.0)
    cooling.release()
    pool.advance(1.5)  # idle 1 s, then cooling for 5 s
    states = {i: s for i, s, _ in pool.instances("tool")}
    assert states[cooling.instance] == "cooling"
    pool.set_health(cooling.instance, "unhealthy")
    assert dict((i, s) for i, s, _ in pool.instances("tool"))[cooling.instance] == "cold"
    busy.fail()
    assert busy.state == "released"
    assert not busy.held
    with pytest.raises(LeaseError, match="already released"):
        busy.release()
    warming.release()
    failed = [
        (e.from_state, e.to_state, e.reason)
        for e in pool.events()
        if "failed" in (e.from_state, e.to_state)
    ]
    assert failed == [
        ("cooling", "failed", "health_check_failure"),
        ("failed", "cold", "error_recovery"),
        ("busy", "failed", "error_recovery"),
        ("failed", "cold", "error_recovery"),
    ]
    assert pool.stats()["failures"] == 2


def test_health_check_is_pluggable() -> None:
    seen: list[tuple[str, int]] = []

    def check(function: str, instance: int) -> Health:
        seen.append((function, instance))
        return Health.UNHEALTHY if instance == 1 else Health.DEGRADED

    pool = virtual(health_check=check)
    pool.register("a", max_instances=2)
    a0, a1 = pool.acquire("a"), pool.acquire("a")
    a1.release()
    verdicts = pool.check_health()
    assert verdicts == {0: Health.DEGRADED, 1: Health.UNHEALTHY}
    assert sorted(seen) == [("a", 0), ("a", 1)]
    assert pool.instances("a") == [(0, "busy", "degraded"), (1, "cold", "unknown")]
    a0.release()
    with pytest.raises(ValueError, match="unknown health 'sick'"):
        pool.set_health(0, "sick")
    with pytest.raises(ValueError, match="no health_check"):
        virtual().check_health()


def test_lru_eviction_under_the_memory_budget() -> None:
    pool = virtual(memory_budget=100)
    for name in "abc":
        pool.register(name, memory=40, idle_timeout=None)
    for name in "ab":
        pool.acquire(name).release()
        pool.advance(1.0)
    pool.acquire("a").release()  # b is now the least recently used
    pool.acquire("c").release()
    evicted = [
        e.function
        for e in pool.events()
        if e.reason == Reason.RESOURCE_PRESSURE and e.to_state == "cooling"
    ]
    assert evicted == ["b"]
    assert pool.stats()["evictions"] == 1
    assert pool.stats()["memory_used"] == 80


def test_queue_times_out_on_the_wall_clock() -> None:
    pool = PoolManager(reaper_interval=None)
    pool.register("gpu")
    held = pool.acquire("gpu")
    started = time.monotonic()
    with pytest.raises(PoolTimeout, match=r"no instance of 'gpu' became available within 0\.2"):
        pool.acquire("gpu", timeout=0.2)
    assert 0.19 <= time.monotonic() - started < 2.0
    assert isinstance(PoolTimeout("x"), TimeoutError)
    held.release()
    assert pool.stats()["timeouts"] == 1


def test_a_waiter_gets_the_released_instance_in_fifo_order() -> None:
    pool = PoolManager(reaper_interval=None)
    pool.register("gpu")
    held = pool.acquire("gpu")
    order: list[int] = []

    def worker(k: int) -> None:
        with pool.acquire("gpu", timeout=10):
            order.append(k)

    threads = []
    for k in range(4):
        threads.append(threading.Thread(target=worker, args=(k,)))
        threads[-1].start()
        while pool.stats()["waiting"] < k + 1:
            time.sleep(0.001)
    held.release()
    for t in threads:
        t.join(10)
    assert order == [0, 1, 2, 3]


def test_warmup_blocks_on_the_wall_clock() -> None:
    pool = PoolManager(reaper_interval=None)
    pool.register("model", warmup=0.15)
    started = time.monotonic()
    with pool.acquire("model") as lease:
        assert time.monotonic() - started >= 0.149
        assert lease.state == "busy"
        assert lease.cold_start
    assert not lease.held


def test_virtual_timeout_zero_and_waiting_on_another_thread() -> None:
    pool = virtual()
    pool.register("f", idle_timeout=None)
    held = pool.acquire("f")
    with pytest.raises(PoolTimeout):
        pool.acquire("f", timeout=0)
    assert pool.try_acquire("f") is None
    got: list[float] = []

    def waiter() -> None:
        with pytest.raises(PoolTimeout):
            pool.acquire("f", timeout=5.0)  # five virtual seconds
        got.append(pool.now)

    t = threading.Thread(target=waiter)
    t.start()
    while pool.stats()["waiting"] == 0:
        time.sleep(0.001)
    pool.advance(4.0)
    assert t.is_alive()
    pool.advance(1.0)
    t.join(5)
    assert got == [5.0]
    held.release()


def test_many_threads_never_share_an_instance() -> None:
    pool = PoolManager(memory_budget=6, reaper_interval=None)
    pool.register("a", max_instances=3, memory=2)
    pool.register("b", max_instances=2, memory=2, idle_timeout=0.0)
    owners: dict[tuple[str, int], int] = {}
    lock = threading.Lock()
    errors: list[str] = []

    def worker(k: int) -> None:
        for i in range(300):
            with pool.acquire("ab"[(i + k) % 2], timeout=30) as lease:
                key = (lease.function, lease.instance)
                with lock:
                    if key in owners:
                        errors.append(f"{key} leased by {owners[key]} and {k}")
                    owners[key] = k
                time.sleep(0)
                with lock:
                    del owners[key]

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    stats = pool.stats()
    assert stats["leased"] == 0
    assert stats["acquires"] == stats["releases"] == 3000
    assert stats["memory_used"] <= 6


def test_shutdown_drains_leases_first() -> None:
    pool = PoolManager(reaper_interval=None)
    pool.register("f")
    lease = pool.acquire("f")
    failures: list[BaseException] = []

    def queued() -> None:
        try:
            pool.acquire("f", timeout=30)
        except PoolClosed as e:
            failures.append(e)

    q = threading.Thread(target=queued)
    q.start()
    while pool.stats()["waiting"] == 0:
        time.sleep(0.001)
    threading.Timer(0.2, lease.release).start()
    started = time.monotonic()
    pool.shutdown(timeout=10)
    assert time.monotonic() - started >= 0.19
    q.join(5)
    assert len(failures) == 1
    assert pool.closed
    assert pool.instances("f") == [(0, "cold", "unknown")]
    assert moves(pool)[-2:] == [
        ("busy", "cooling", "scheduled_cooldown"),
        ("cooling", "cold", "scheduled_cooldown"),
    ]
    with pytest.raises(PoolClosed, match="shut down"):
        pool.acquire("f")


def test_shutdown_times_out_with_a_lease_out() -> None:
    pool = PoolManager(reaper_interval=None)
    pool.register("f")
    lease = pool.acquire("f")
    with pytest.raises(
        PoolTimeout, match=r"shutdown waited 0\.100 s and 1 lease\(s\) are still out"
    ):
        pool.shutdown(timeout=0.1)
    lease.release()


def test_events_reach_the_callback() -> None:
    got: list[PoolEvent] = []
    pool = virtual(on_event=got.append)
    pool.register("f", warmup=1.0)
    pool.acquire("f").release()
    pool.advance(1.0)
    assert [(e.from_state, e.to_state) for e in got] == [("cold", "warming"), ("warming", "idle")]
    assert got == pool.events()
    assert got[1].to_state is InstanceState.IDLE


def test_prediction_suggests_and_prewarms() -> None:
    pool = virtual(predictive=True, prewarm_horizon=30.0)
    pool.register("f", max_instances=4, warmup=5.0, idle_timeout=1.0)
    assert pool.suggest_prewarm() == {}
    for _ in range(3):
        leases = [pool.acquire("f") for _ in range(3)]
        pool.advance(6.0)
        for lease in leases:
            lease.release()
        pool.advance(4.0)
    assert pool.function_stats("f")["desired"] == 3
    assert pool.function_stats("f")["idle"] == 3  # kept past the idle timeout
    pool.cool(0)
    assert pool.suggest_prewarm() == {"f": 1}
    assert pool.prewarm_suggested() == 1
    assert pool.function_stats("f")["warming"] == 1
    assert pool.stats()["reasons"]["predictive_prewarm"] == 1


def test_async_acquire() -> None:
    pool = PoolManager(reaper_interval=None)
    pool.register("f", max_instances=2, warmup=0.05)
    active = 0
    peak = 0

    async def job() -> None:
        nonlocal active, peak
        async with pool.acquire_async("f", timeout=10) as lease:
            assert lease.state == "busy"
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.01)
            active -= 1

    async def main() -> None:
        await asyncio.gather(*(job() for _ in range(20)))
        # A timeout while both instances are held.
        a = await pool.acquire_async("f")
        b = await pool.acquire_async("f")
        with pytest.raises(PoolTimeout):
            await pool.acquire_async("f", timeout=0.05)
        # Cancelling a waiting task withdraws its request.
        task = asyncio.ensure_future(pool.acquire_async("f"))
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool.stats()["waiting"] == 0
        a.release()
        b.release()

    asyncio.run(main())
    assert peak == 2
    assert pool.stats()["leased"] == 0


def test_bad_input_is_named() -> None:
    pool = virtual(memory_budget=10)
    with pytest.raises(UnknownFunctionError, match="unknown function 'nope'"):
        pool.acquire("nope")
    with pytest.raises(KeyError):
        pool.prewarm("nope")
    with pytest.raises(ValueError, match=r"memory_budget must be between 0 and \d+, got -1"):
        PoolManager(memory_budget=-1)
    with pytest.raises(ValueError, match="unknown eviction policy 'mru'"):
        PoolManager(eviction="mru")
    with pytest.raises(ValueError, match="clock must be 'wall' or 'virtual'"):
        PoolManager(clock="sundial")
    with pytest.raises(ValueError, match="function 'x': warmup must be finite and >= 0, got -1"):
        pool.register("x", warmup=-1.0)
    with pytest.raises(ValueError, match="max_instances must be between 1 and 1000000, got 0"):
        pool.register("x", max_instances=0)
    with pytest.raises(ValueError, match="max_instances must be between 1 and 1000000, got 1099"):
        pool.register("x", max_instances=2**40)
    with pytest.raises(ValueError, match="a function name must not be empty"):
        pool.register("")
    with pytest.raises(ValueError, match="exceeds the pool's memory_budget 10"):
        pool.register("x", memory=11)
    pool.register("x")
    with pytest.raises(ValueError, match="'x' is already registered"):
        pool.register("x")
    with pytest.raises(ValueError, match="timeout must be >= 0"):
        pool.acquire("x", timeout=-1)
    with pytest.raises(PoolError, match="only moves forward"):
        pool.advance_to(-1.0)
    with pytest.raises(PoolError, match="only a virtual clock can be advanced"):
        PoolManager(reaper_interval=None).advance(1.0)
    other = virtual()
    other.register("x")
    foreign = other.acquire("x")
    with pytest.raises(LeaseError, match="handed out by another PoolManager"):
        pool.release(foreign)
    foreign.release()
    with pytest.raises(LeaseError, match=r"lease #1 on 'x' instance 0 was already released"):
        other.release(foreign)
    with pytest.raises(ValueError, match="reaper_interval must be > 0"):
        PoolManager(reaper_interval=0)


def test_reaper_cools_idle_instances_on_the_wall_clock() -> None:
    pool = PoolManager(reaper_interval=0.02)
    pool.register("f", idle_timeout=0.05)
    pool.acquire("f").release()
    deadline = time.monotonic() + 5
    while pool.instances("f")[0][1] != "cold" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool.instances("f")[0][1] == "cold"
    pool.shutdown()


def test_every_lifecycle_transition_is_reachable_and_counted() -> None:
    pool = virtual()
    pool.register("f", max_instances=4, warmup=1.0, cooldown=1.0, idle_timeout=5.0)
    a = pool.acquire("f")  # cold -> warming -> busy
    pool.prewarm("f")  # cold -> warming -> idle
    pool.advance(1.0)
    pool.acquire("f").release()  # the prewarmed one: idle -> busy -> idle
    pool.cool(pool.instances("f")[1][0])  # idle -> cooling -> cold
    pool.advance(1.0)
    b = pool.acquire("f")
    pool.advance(1.0)
    pool.set_health(b.instance, "unhealthy")  # busy -> failed
    b.release()  # failed -> cold
    c = pool.acquire("f")
    pool.set_health(c.instance, "unhealthy")  # warming -> failed
    c.release()
    d = pool.acquire("f")
    pool.advance(1.0)
    d.release()
    pool.set_health(d.instance, "unhealthy")  # idle -> failed -> cold
    e = pool.acquire("f")
    pool.advance(1.0)
    e.release()
    pool.advance(5.0)  # idle -> cooling (timeout)
    pool.set_health(e.instance, "unhealthy")  # cooling -> failed
    pool.prewarm("f")
    threading.Timer(0.05, a.release).start()  # busy -> cooling, once shut
    pool.shutdown(timeout=10)  # warming -> cooling; waits for a
    pool.advance(1.0)
    expected = {
        "cold->warming",
        "warming->busy",
        "warming->idle",
        "idle->cooling",
        "warming->cooling",
        "busy->cooling",
        "cooling->cold",
        "busy->failed",
        "idle->failed",
        "warming->failed",
        "cooling->failed",
        "failed->cold",
    }
    assert set(pool.stats()["transitions"]) == expected
    assert all(s == "cold" for _, s, _ in pool.instances("f"))
    assert pool.stats()["memory_used"] == 0


def test_finalizers_that_release_during_a_call_do_not_deadlock(tmp_path: Path) -> None:
    # Allocating Python objects can run the cyclic collector, whose finalizers
    # may release leases on this very thread. Run it where a hang can be seen.
    script = tmp_path / "gc_release.py"
    script.write_text(
        textwrap.dedent(
            """
            import gc
            from symphony_lab.pit import PoolManager

            class Job:
                def __init__(self, lease):
                    self.lease = lease
                    self.me = self  # a cycle: only the collector frees it
                def __del__(self):
                    self.lease.release()

            gc.set_threshold(5, 1, 1)
            got = []
            pool = PoolManager(clock="virtual", on_event=got.append)
            pool.register("f", max_instances=50, warmup=1.0)
            for _ in range(200):
                leases = [pool.acquire("f") for _ in range(50)]
                for lease in leases:
                    Job(lease)
                del leases
                pool.advance(1.0)
                pool.events()
                try:
                    pool.acquire("nope")
                except KeyError:
                    pass
            gc.collect()
            print(pool.stats()["leased"], len(got) > 0)
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.split() == ["0", "True"]


def test_dropped_leases_go_back_to_the_pool() -> None:
    pool = virtual()
    pool.register("f")
    lease = pool.acquire("f")
    assert pool.stats()["leased"] == 1
    del lease
    assert pool.stats()["leased"] == 0
    assert pool.acquire("f", timeout=0).instance == 0


def test_huge_and_infinite_timeouts_wait_without_a_deadline() -> None:
    pool = PoolManager(reaper_interval=None)
    pool.register("f", idle_timeout=1e300)
    held = pool.acquire("f")
    got: list[Lease] = []
    refused: list[PoolClosed] = []

    def wait(timeout: float) -> None:
        try:
            got.append(pool.acquire("f", timeout=timeout))
        except PoolClosed as e:
            refused.append(e)

    waiters = [threading.Thread(target=wait, args=(t,)) for t in (float("inf"), 1e20)]
    for w in waiters:
        w.start()
        while pool.stats()["waiting"] < len(got) + waiters.index(w) + 1:
            time.sleep(0.001)
    held.release()
    waiters[0].join(10)
    assert len(got) == 1
    stats = pool.stats()
    assert (stats["leased"], stats["waiting"]) == (1, 1)
    with pytest.raises(PoolTimeout):
        pool.shutdown(timeout=0.05)  # one lease is out, the waiter is refused
    waiters[1].join(10)
    assert (len(got), len(refused)) == (1, 1)
    got[0].release()
    pool.shutdown(timeout=float("inf"))


def test_a_raising_event_callback_does_not_lose_the_lease() -> None:
    seen: list[object] = []

    def boom(event: PoolEvent) -> None:
        raise RuntimeError("callback failed")

    old = sys.unraisablehook
    sys.unraisablehook = seen.append
    try:
        pool = virtual(on_event=boom)
        pool.register("f")
        lease = pool.acquire("f")
        assert lease.state == "busy"
        lease.release()
    finally:
        sys.unraisablehook = old
    assert seen
    assert pool.stats()["leased"] == 0


def test_shutdown_cools_an_instance_released_while_warming() -> None:
    pool = virtual()
    pool.register("f", warmup=5.0, memory=10)
    lease = pool.acquire("f")
    threading.Timer(0.05, lease.release).start()
    pool.shutdown(timeout=10)
    assert pool.instances("f") == [(0, "cold", "unknown")]
    assert pool.stats()["memory_used"] == 0


def test_acquire_async_is_a_coroutine_for_create_task() -> None:
    pool = virtual()
    pool.register("f")

    async def main() -> str:
        task = asyncio.create_task(pool.acquire_async("f"))
        lease = await task
        lease.release()
        return lease.state

    assert asyncio.run(main()) == "released"


def test_a_dropped_lease_wakes_an_async_waiter() -> None:
    pool = virtual()
    pool.register("f")

    async def main() -> float:
        held: list[Lease] = [pool.acquire("f")]
        waiter = asyncio.create_task(pool.acquire_async("f"))
        await asyncio.sleep(0.01)
        started = time.monotonic()
        held.clear()  # the lease is dropped, not released
        lease = await asyncio.wait_for(waiter, 5)
        lease.release()
        return time.monotonic() - started

    assert asyncio.run(main()) < 0.5
