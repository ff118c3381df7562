"""Exception classes raised by the Pit.

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


class TaskNotFoundError(PitError, KeyError):
    """No task has the given key."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DuplicateTaskError(PitError, ValueError):
    """A task with this key already exists."""


class CheckpointError(PitError, ValueError):
    """A checkpoint is truncated, corrupt, of another version, or cannot be written."""


__all__ = [
    "CheckpointError",
    "CycleError",
    "DuplicateTaskError",
    "PitError",
    "StateError",
    "TaskNotFoundError",
]
