"""What a running extension function can reach besides its arguments."""

from __future__ import annotations

import os
import threading
from typing import Any

from symphony_lab.pit import ArtifactStore, BusEndpoint, RemoteError


class Context:
    """Handed to functions that take a ``ctx`` parameter.

    ``store`` is the Stage's ArtifactStore, opened on first use from the path
    the host passes in ``SYMPHONY_STORE``; ``put`` records this extension as
    the producer.
    """

    def __init__(self, extension: str, call_id: int, endpoint: BusEndpoint | None) -> None:
        self.extension = extension
        self.call_id = call_id
        self._endpoint = endpoint

    @property
    def store(self) -> ArtifactStore:
        return shared_store()

    def get(self, hash: str) -> bytes:
        return self.store.get_by_hash(hash)

    def put(
        self, data: bytes, *, kind: str = "blob", inputs: list[str] | None = None, **meta: Any
    ) -> str:
        meta.setdefault("producer", self.extension)
        return self.store.put_blob(data, kind=kind, inputs=inputs or [], **meta)

    def call(self, target: str, args: Any = None, *, timeout: float | None = 60.0) -> Any:
        """Calls ``target`` ("extension.function") through the Stage and returns
        its result. Only what ``[permissions.model] call`` lists is allowed; the
        Stage refuses the rest with a ``PermissionError`` naming both sides."""
        if self._endpoint is None:
            raise RuntimeError("ctx.call needs the Stage: this function runs outside one")
        try:
            return self._endpoint.call_host(target, args, timeout)
        except RemoteError as e:
            if e.remote_type == "PermissionError":
                raise PermissionError(e.message) from None
            raise

    def emit(self, event: dict[str, Any]) -> None:
        """Sends ``event`` to the host (progress, logs); it does not wait."""
        if self._endpoint is not None:
            self._endpoint.emit({"call": self.call_id, **event})

    @property
    def cancelled(self) -> bool:
        """True once the host gave up on this call: long loops should stop."""
        return self._endpoint is not None and self._endpoint.is_cancelled(self.call_id)


_STORE: ArtifactStore | None = None
_STORE_LOCK = threading.Lock()


def shared_store() -> ArtifactStore:
    """The process's one store (an extension process serves one Stage)."""
    with _STORE_LOCK:
        return _open_store()


def _open_store() -> ArtifactStore:
    global _STORE
    if _STORE is None:
        path = os.environ.get("SYMPHONY_STORE")
        if not path:
            raise RuntimeError(
                "no ArtifactStore: the Stage passes one in SYMPHONY_STORE (Stage(store=...))"
            )
        _STORE = ArtifactStore(path)
    return _STORE
