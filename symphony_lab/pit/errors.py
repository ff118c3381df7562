"""Exception classes raised by the Pit (the binding raises these).

They live in Python so that they can subclass the standard library's own
classes: a ``CycleError`` is a ``graphlib.CycleError``, a ``StateError`` a
``ValueError``, so code written for the standard library catches them unchanged.
"""

import graphlib


class PitError(Exception):
    """Base class of every error raised by the Pit."""


class CycleError(PitError, graphlib.CycleError):
    """An edge would close a cycle.

    ``args[0]`` is the message; ``args[1]`` the cycle as a list of keys whose
    first and last items are the same task, as ``graphlib.CycleError`` gives it.
    """

    @property
    def cycle(self) -> list[int | str]:
        return list(self.args[1])


class StateError(PitError, ValueError):
    """A task cannot make the requested transition from its current state."""


class TaskNotFoundError(PitError, KeyError, ValueError):
    """No task has the given key.

    A ``KeyError`` as a lookup, and a ``ValueError`` as ``graphlib`` raises
    for a node that was never added, so code written for either catches it.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DuplicateTaskError(PitError, ValueError):
    """A task with this key already exists."""


class CheckpointError(PitError, ValueError):
    """A checkpoint is truncated, corrupt, of another version, or cannot be written."""


class PoolError(PitError):
    """The pool manager cannot do what was asked (a clock misuse, for one)."""


class PoolTimeout(PoolError, TimeoutError):
    """No instance became available before the acquire's timeout."""


class PoolClosed(PoolError, RuntimeError):
    """The pool is shutting down or shut down."""


class LeaseError(PoolError, ValueError):
    """A lease was released twice, or handed to a pool that did not issue it."""


class UnknownFunctionError(PoolError, KeyError):
    """No function, instance or candidate is registered under this name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ArbiterError(PitError):
    """The arbiter cannot decide: no candidates to choose from, for one."""


class UnknownNameError(ArbiterError, KeyError):
    """No candidate, resource, request or lock goes by this name or id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class LockError(ArbiterError, ValueError):
    """A lock on named resources was released twice."""


class LockTimeout(ArbiterError, TimeoutError):
    """Locks on named resources could not be had before the timeout."""


class ArtifactError(PitError):
    """The artifact store failed (its index could not be read or written)."""


class UnknownArtifact(ArtifactError, KeyError):
    """No artifact with this hash, or no such name or version."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CorruptArtifact(ArtifactError, ValueError):
    """An artifact's stored bytes do not match its hash (or are missing):
    reading it never returns wrong bytes."""


class StoreFormatError(ArtifactError, ValueError):
    """The folder is not an artifact store, or one of a newer format."""


class StaleError(ArtifactError):
    """The stale manager could not archive, or could not get its roots."""


class StoreFull(ArtifactError, OSError):
    """The disk (or a quota) filled up during a write: that put did not
    happen, and everything stored before it is intact."""


class BusError(PitError):
    """The Stage's IPC bus failed: a bad frame, a closed socket, a timeout."""


class FrameError(BusError, ValueError):
    """A frame is truncated, oversized or malformed; the message says which and where."""


class ProtocolMismatch(BusError):
    """Host and extension speak bus protocols whose major versions differ."""


class BusTimeout(BusError, TimeoutError):
    """No answer on the bus before the deadline."""


class BusClosed(BusError, ConnectionError):
    """The bus connection is closed; the message gives the reason."""


class CallCancelled(BusError):
    """The call was cancelled, or its answer was already taken, before this wait."""


class RemoteError(BusError):
    """The extension answered a call with an error.

    ``remote_type``, ``message`` and ``remote_traceback`` come from the extension.
    """

    def __init__(self, remote_type: str, message: str, remote_traceback: str = "") -> None:
        super().__init__(f"{remote_type}: {message}")
        self.remote_type = remote_type
        self.message = message
        self.remote_traceback = remote_traceback


__all__ = [
    "ArbiterError",
    "ArtifactError",
    "BusClosed",
    "BusError",
    "BusTimeout",
    "CallCancelled",
    "CheckpointError",
    "CorruptArtifact",
    "CycleError",
    "DuplicateTaskError",
    "FrameError",
    "LeaseError",
    "LockError",
    "LockTimeout",
    "PitError",
    "PoolClosed",
    "PoolError",
    "PoolTimeout",
    "ProtocolMismatch",
    "RemoteError",
    "StaleError",
    "StateError",
    "StoreFormatError",
    "StoreFull",
    "TaskNotFoundError",
    "UnknownArtifact",
    "UnknownFunctionError",
    "UnknownNameError",
]


class KitError(PitError, ValueError):
    """Orchestra Kit's core refused a version, a requirement, a resolution or a signature."""


class RequirementError(KitError):
    """A version or a version requirement does not parse; the message quotes it."""


class ResolutionError(KitError):
    """No set of versions satisfies every requirement; the message explains why, in
    PubGrub's words, naming the packages and versions in conflict."""


class SignatureError(KitError):
    """A signature or a key is malformed, or the signature does not match the bytes."""


class UnknownKeyError(SignatureError):
    """The signature was made by a key other than the one (or ones) trusted."""
