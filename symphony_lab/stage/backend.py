"""How the Stage reaches one extension: the backend seam.

A :class:`Backend` hosts one extension and runs its calls. Today's is
:class:`~symphony_lab.stage.process.ExtensionProcess`, a supervised local
process; another (a Ray actor keeping the same supervision on whichever node
runs it) plugs in through ``Stage(backend=...)``, and goal runs, melodies and
motifs work unchanged on it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from symphony_lab.sdk.manifest import Manifest
from symphony_lab.stage.sandbox import SandboxReport


class State(enum.StrEnum):
    """Where an extension is in its life."""

    CREATED = "created"
    STARTING = "starting"
    RUNNING = "running"
    HEALTHY = "healthy"
    STOPPING = "stopping"
    TERMINATED = "terminated"
    CRASHED = "crashed"
    FAILED = "failed"


@dataclass(frozen=True)
class RestartPolicy:
    """Backoff doubles from ``backoff`` up to ``backoff_max`` seconds; more than
    ``max_restarts`` restarts within ``period`` seconds give the extension up."""

    backoff: float = 0.1
    backoff_max: float = 10.0
    max_restarts: int = 5
    period: float = 60.0


@dataclass(frozen=True)
class HostOptions:
    """What the Stage gives every backend it makes: where to work, the
    shared ArtifactStore, supervision settings and callbacks."""

    root: Path
    store: str | None = None
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    heartbeat_interval: float = 1.0
    heartbeat_timeout: float = 5.0
    start_timeout: float = 60.0
    #: Cut the network of extensions that do not ask for it (where the kernel allows).
    isolate_network: bool = True
    #: What the kernel enforces here; None runs extensions without the sandbox.
    sandbox: SandboxReport | None = None
    #: Per extension: paths the user grants beyond its manifest,
    #: ``{"read": [...], "write": [...]}``.
    grants: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    #: Per extension: what its ``configure`` hooks receive.
    config: dict[str, dict[str, Any]] = field(default_factory=dict)
    on_event: Callable[[str, Any], None] | None = None
    on_state: Callable[[str, State], None] | None = None
    #: Runs an extension's call through the host (``ctx.call``):
    #: ``on_call(target, args) -> result``, once its permission was checked.
    on_call: Callable[[str, Any], Any] | None = None


class Backend(Protocol):
    """One hosted extension, as the Stage uses it."""

    name: str
    manifest: Manifest
    start_timeout: float

    @property
    def state(self) -> State: ...

    @property
    def restarts(self) -> int: ...

    @property
    def pending(self) -> int:
        """Calls sent and not yet answered."""
        ...

    def start(self, wait: bool = True) -> None:
        """Starts hosting; with ``wait``, returns once the extension is healthy."""
        ...

    def wait_ready(self, timeout: float | None = None) -> None:
        """Returns once the extension is healthy; raises why it will not be."""
        ...

    def stop(self, grace: float = 5.0) -> None: ...

    def call(
        self, function: str, args: Any = None, *, timeout: float | None = None, priority: int = 0
    ) -> Any: ...

    def call_many(
        self, function: str, args_list: list[Any], *, timeout: float | None = None
    ) -> list[Any]: ...

    async def acall(
        self, function: str, args: Any = None, *, timeout: float | None = None, priority: int = 0
    ) -> Any: ...


#: Makes the backend of one extension; ``ExtensionProcess`` is one.
BackendFactory = Callable[[Manifest, HostOptions], Backend]
