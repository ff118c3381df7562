"""Calls to one supervised extension over its bus connection: synchronous,
pipelined and asyncio, each ending in the value, the extension's own error,
or the exception that says how its process ended."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from symphony_lab.pit import (
    BusClosed,
    BusConnection,
    BusError,
    BusTimeout,
    CallCancelled,
    RemoteError,
)
from symphony_lab.stage.errors import (
    ExtensionCallError,
    ExtensionCrashed,
    ExtensionError,
    ExtensionOOM,
)
from symphony_lab.stage.supervisor import Supervisor


class RpcClient:
    """Routes calls to the extension ``supervisor`` keeps running; waits
    through a restart for it to be healthy."""

    def __init__(self, supervisor: Supervisor) -> None:
        self._supervisor = supervisor
        self.name = supervisor.name
        self._executor: ThreadPoolExecutor | None = None

    def close(self) -> None:
        """Ends the worker threads of asyncio calls."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _fail(self, generation: int, function: str, err: BusError) -> ExtensionError:
        """The exception for a call whose connection broke."""
        exit_ = self._supervisor.exit_of(generation, wait=0.5)
        if exit_ is None:
            # The process still runs but the bus is broken (garbage frames): end it.
            self._supervisor.kill(generation, "protocol", str(err))
            exit_ = self._supervisor.exit_of(generation, wait=5.0)
        if exit_ is None:
            return ExtensionCrashed(f"call of {self.name}.{function} failed: {err}", self.name)
        seen = "" if isinstance(err, BusClosed) else str(err)
        return exit_.error(self.name, function, seen)

    def call(
        self, function: str, args: Any = None, *, timeout: float | None = None, priority: int = 0
    ) -> Any:
        """Calls ``function(args)`` in the extension: a dict of arguments, a list, or None."""
        conn, generation = self._supervisor.ready(timeout)
        try:
            return conn.call(function, args, timeout=timeout, priority=priority)
        except BusError as e:
            raise self._translate(generation, function, timeout, e) from None

    def call_many(
        self, function: str, args_list: list[Any], *, timeout: float | None = None
    ) -> list[Any]:
        """Pipelined calls of one function; answers in order."""
        conn, generation = self._supervisor.ready(timeout)
        try:
            return conn.call_many(function, args_list, timeout=timeout)
        except BusError as e:
            raise self._translate(generation, function, timeout, e) from None

    async def acall(
        self, function: str, args: Any = None, *, timeout: float | None = None, priority: int = 0
    ) -> Any:
        """``call`` for asyncio: waits on a worker thread; cancelling the task
        cancels the call in the extension too."""
        loop = asyncio.get_running_loop()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=max(8, 4 * self._supervisor.manifest.resources.max_concurrency),
                thread_name_prefix=f"stage-{self.name}-acall",
            )
        conn, generation = await loop.run_in_executor(
            self._executor, self._supervisor.ready, timeout
        )
        # Sending can wait on a full socket: not on the event loop's thread.
        call_id = await loop.run_in_executor(
            self._executor,
            lambda: conn.submit(function, args, timeout=timeout, priority=priority),
        )
        try:
            return await loop.run_in_executor(
                self._executor, self._wait, conn, call_id, function, timeout, generation
            )
        except asyncio.CancelledError:
            with contextlib.suppress(BusError):
                conn.cancel(call_id)
            raise

    def _wait(
        self,
        conn: BusConnection,
        call_id: int,
        function: str,
        timeout: float | None,
        generation: int,
    ) -> Any:
        try:
            return conn.wait(call_id, timeout)
        except BusError as e:
            raise self._translate(generation, function, timeout, e) from None

    def _translate(
        self, generation: int, function: str, timeout: float | None, e: BusError
    ) -> BaseException:
        """What a caller of ``function`` sees for a bus error: the extension's
        own error, a timeout (the extension is ended: its handler cannot be
        interrupted), or how the process ended."""
        if isinstance(e, CallCancelled):
            return asyncio.CancelledError()  # the awaiting task was cancelled: nothing failed
        if isinstance(e, RemoteError):
            return self._remote(function, e)
        if isinstance(e, BusTimeout):
            self._supervisor.kill(generation, "timeout", f"{function} ran longer than {timeout} s")
            return self._fail(generation, function, BusClosed("timeout"))
        return self._fail(generation, function, e)

    def _remote(self, function: str, e: RemoteError) -> ExtensionError:
        if e.remote_type == "MemoryError":
            exit_ = self._supervisor.exit_of(self._supervisor.generation, wait=2.0)
            if exit_ is not None:
                return exit_.error(self.name, function)
            return ExtensionOOM(f"call of {self.name}.{function} ran out of memory", self.name)
        return ExtensionCallError(
            f"{self.name}.{function} raised {e.remote_type}: {e.message}",
            self.name,
            e.remote_type,
            e.remote_traceback,
        )
