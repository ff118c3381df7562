"""The local backend: an extension in a supervised process on this machine.

:class:`ExtensionProcess` puts the two halves together behind the
:class:`~symphony_lab.stage.backend.Backend` protocol: the
:class:`~symphony_lab.stage.supervisor.Supervisor` keeps the process alive
(spawn, heartbeats, restarts), the :class:`~symphony_lab.stage.client.RpcClient`
runs the calls. Calls in flight when the process dies end with the exception
that says why: :class:`ExtensionCrashed`, :class:`ExtensionTimeout` or
:class:`ExtensionOOM`.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

from symphony_lab.sdk.manifest import Manifest
from symphony_lab.stage.backend import HostOptions, State
from symphony_lab.stage.client import RpcClient
from symphony_lab.stage.exits import Exit
from symphony_lab.stage.supervisor import Supervisor


class ExtensionProcess:
    """Starts, watches and restarts one extension; routes calls to it."""

    def __init__(self, manifest: Manifest, options: HostOptions) -> None:
        self.manifest = manifest
        self.name = manifest.name
        self.start_timeout = options.start_timeout
        self.supervisor = Supervisor(manifest, options)
        self.client = RpcClient(self.supervisor)

    def __repr__(self) -> str:
        return f"<ExtensionProcess {self.name} {self.state} pid={self.pid}>"

    # -- what the supervisor knows -------------------------------------------
    @property
    def state(self) -> State:
        return self.supervisor.state

    @property
    def pid(self) -> int | None:
        return self.supervisor.pid

    @property
    def restarts(self) -> int:
        return self.supervisor.restarts

    @property
    def pending(self) -> int:
        """Calls sent to the process and not yet answered."""
        conn = self.supervisor.connection
        return conn.pending if conn is not None else 0

    @property
    def exits(self) -> deque[Exit]:
        """How the last runs of the process ended, oldest first."""
        return self.supervisor.exits

    @property
    def failure(self) -> str:
        """Why the extension was given up, once it is ``failed``."""
        return self.supervisor.failure

    @property
    def log_path(self) -> Path:
        return self.supervisor.log_path

    @property
    def hello(self) -> dict[str, Any]:
        """What the extension said of itself at its handshake."""
        return self.supervisor.hello

    # -- lifecycle -----------------------------------------------------------
    def start(self, wait: bool = True) -> None:
        self.supervisor.start(wait)

    def wait_ready(self, timeout: float | None = None) -> None:
        self.supervisor.ready(timeout)

    def stop(self, grace: float = 5.0) -> None:
        self.supervisor.stop(grace)
        self.client.close()

    # -- calls ---------------------------------------------------------------
    def call(
        self, function: str, args: Any = None, *, timeout: float | None = None, priority: int = 0
    ) -> Any:
        """Calls ``function(args)`` in the extension: a dict of arguments, a list, or None."""
        return self.client.call(function, args, timeout=timeout, priority=priority)

    def call_many(
        self, function: str, args_list: list[Any], *, timeout: float | None = None
    ) -> list[Any]:
        """Pipelined calls of one function; answers in order."""
        return self.client.call_many(function, args_list, timeout=timeout)

    async def acall(
        self, function: str, args: Any = None, *, timeout: float | None = None, priority: int = 0
    ) -> Any:
        """``call`` for asyncio; cancelling the awaiting task cancels the call."""
        return await self.client.acall(function, args, timeout=timeout, priority=priority)
