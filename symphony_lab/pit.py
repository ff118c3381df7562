"""The Pit: the Rust core of symphony-lab, called in-process.

Members so far: :class:`DagTracker`.
"""

from symphony_lab._pit import CHECKPOINT_VERSION, DagTracker
from symphony_lab.errors import (
    CheckpointError,
    CycleError,
    DuplicateTaskError,
    PitError,
    StateError,
    TaskNotFoundError,
)

__all__ = [
    "CHECKPOINT_VERSION",
    "CheckpointError",
    "CycleError",
    "DagTracker",
    "DuplicateTaskError",
    "PitError",
    "StateError",
    "TaskNotFoundError",
]
