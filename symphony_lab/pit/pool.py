"""The pool manager as Python users meet it.

The Pit's ``PoolManager`` does the work; this subclass adds what belongs on the
Python side: event records, the pluggable health check, the asyncio acquire,
and a reaper thread that runs wall-clock timers on time.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Coroutine, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, Self, Unpack

from symphony_lab.pit import _pit
from symphony_lab.pit._pit import Health, InstanceState, Lease, Reason
from symphony_lab.pit.errors import PoolError

if TYPE_CHECKING:
    from symphony_lab.pit._pit import PoolOptions


class PoolEvent(NamedTuple):
    """One lifecycle transition of one instance."""

    seq: int
    time: float
    function: str
    instance: int
    from_state: InstanceState
    to_state: InstanceState
    reason: Reason

    @classmethod
    def of(cls, raw: tuple[int, float, str, int, str, str, str]) -> PoolEvent:
        seq, time, function, instance, src, dst, reason = raw
        return cls(
            seq, time, function, instance, InstanceState(src), InstanceState(dst), Reason(reason)
        )


HealthCheck = Callable[[str, int], "Health | str"]
"""``check(function, instance) -> Health``: called by ``check_health()``."""


class PoolManager(_pit.PoolManager):
    """Keeps instances of functions warm or cold within a memory budget.

    ``clock="wall"`` runs on real time; ``clock="virtual"`` on a clock that only
    ``advance``/``advance_to`` move, for simulators (Function Quest). With
    ``predictive=True`` instances that recent demand says will be needed are
    kept past their idle timeout; ``prewarm_suggested()`` warms more ahead of
    demand. ``on_event`` is called with each :class:`PoolEvent`.
    ``health_check(function, instance)`` is what ``check_health()`` asks.
    On the wall clock a daemon thread runs the timers every
    ``reaper_interval`` seconds (``None``: only when the pool is called).
    """

    def __new__(
        cls,
        *,
        on_event: Callable[[PoolEvent], object] | None = None,
        health_check: HealthCheck | None = None,
        reaper_interval: float | None = 1.0,
        **options: Unpack[PoolOptions],
    ) -> Self:
        wrapped = None if on_event is None else _event_forwarder(on_event)
        return super().__new__(cls, on_event=wrapped, **options)

    def __init__(
        self,
        *,
        on_event: Callable[[PoolEvent], object] | None = None,
        health_check: HealthCheck | None = None,
        reaper_interval: float | None = 1.0,
        **options: Unpack[PoolOptions],
    ) -> None:
        # The core's settings (``options``) were taken by ``__new__``; their
        # one definition is the binding's, described in ``_pit.pyi``.
        self.health_check = health_check
        # Only a reaper needs a stop signal; simulators make many pools.
        self._stop_reaper: threading.Event | None = None
        if reaper_interval is not None and not reaper_interval > 0:
            raise ValueError(f"reaper_interval must be > 0 or None, got {reaper_interval}")
        if reaper_interval is not None and not self.is_virtual:
            self._stop_reaper = threading.Event()
            threading.Thread(
                target=_reap,
                args=(weakref.ref(self), reaper_interval, self._stop_reaper),
                name="symphony-lab-pool-reaper",
                daemon=True,
            ).start()

    def events(self, since: int = 0) -> list[PoolEvent]:
        """Retained lifecycle transitions with ``seq >= since``, oldest first."""
        return [PoolEvent.of(e) for e in self._events(since)]

    def check_health(self) -> dict[int, Health]:
        """Asks ``health_check`` about every hot instance and records the
        verdicts; unhealthy instances fail and go cold. Returns the verdicts."""
        if self.health_check is None:
            raise ValueError("no health_check was given to this PoolManager")
        verdicts: dict[int, Health] = {}
        for instance, function in self._hot_instances():
            verdict = Health(self.health_check(function, instance))
            self.set_health(instance, verdict.value)
            verdicts[instance] = verdict
        return verdicts

    def acquire_async(self, function: str, timeout: float | None = None) -> AsyncAcquire:
        """The asyncio ``acquire``: ``lease = await pool.acquire_async(f)`` or
        ``async with pool.acquire_async(f) as lease``. Waiting does not block
        the event loop; cancelling the task withdraws the request."""
        return AsyncAcquire(self, function, timeout)

    def shutdown(self, timeout: float | None = None) -> None:
        if self._stop_reaper is not None:
            self._stop_reaper.set()
        super().shutdown(timeout)


def _event_forwarder(on_event: Callable[[PoolEvent], object]) -> Callable[[tuple[Any, ...]], None]:
    def forward(raw: tuple[Any, ...]) -> None:
        on_event(PoolEvent.of(raw))

    return forward


def _reap(pool_ref: weakref.ref[PoolManager], interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        pool = pool_ref()
        if pool is None or pool.closed:
            return
        pool.tick()
        del pool


class AsyncAcquire(Coroutine[Any, Any, Lease]):
    """What ``acquire_async`` returns: a coroutine (``await`` it, or hand it to
    ``asyncio.create_task``) and an async context manager that releases the
    lease on exit."""

    def __init__(self, pool: PoolManager, function: str, timeout: float | None) -> None:
        self._pool = pool
        self._function = function
        self._timeout = timeout
        self._coro: Coroutine[Any, Any, Lease] | None = None
        self._lease: Lease | None = None

    def _inner(self) -> Coroutine[Any, Any, Lease]:
        if self._coro is None:
            self._coro = self._acquire()
        return self._coro

    def __await__(self) -> Generator[Any, None, Lease]:
        return self._inner().__await__()

    def send(self, value: Any) -> Any:
        return self._inner().send(value)

    def throw(self, *args: Any) -> Any:
        return self._inner().throw(*args)

    def close(self) -> None:
        if self._coro is not None:
            self._coro.close()

    async def __aenter__(self) -> Lease:
        self._lease = await self._inner()
        return self._lease

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._lease is not None:
            self._lease.__exit__(exc_type, exc, tb)

    async def _acquire(self) -> Lease:
        pool = self._pool
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(woken.set)

        lease, ticket = pool._enqueue(self._function, self._timeout, wake)
        try:
            while lease is None:
                assert ticket is not None
                # On the wall clock nobody else may run the timers (a timeout,
                # a cooldown ending), so wake for the next one, and at least
                # once a second for leases handed back by the garbage collector.
                delay = None if pool.is_virtual else min(pool._next_timer() or 1.0, 1.0)
                try:
                    await asyncio.wait_for(woken.wait(), delay)
                except TimeoutError:
                    pool.tick()
                woken.clear()
                lease = pool._take(self._function, ticket)
        except BaseException:
            if ticket is not None and lease is None:
                pool._cancel(ticket)
            raise
        try:
            if not pool.is_virtual:
                while (left := lease.ready_at - pool.now) > 0:
                    await asyncio.sleep(left)
                pool.tick()
            if lease.state == "failed":
                raise PoolError(f"the instance of '{self._function}' failed while it warmed up")
        except BaseException:
            lease.release()
            raise
        return lease


__all__ = [
    "AsyncAcquire",
    "Health",
    "HealthCheck",
    "InstanceState",
    "Lease",
    "PoolEvent",
    "PoolManager",
    "Reason",
]
