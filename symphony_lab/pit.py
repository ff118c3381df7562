"""The Pit: the Rust core of symphony-lab, called in-process.

Members so far: :class:`DagTracker`, :class:`PoolManager`, :class:`Arbiter`,
:class:`ArtifactStore`.
"""

from symphony_lab._pit import CHECKPOINT_VERSION, ArtifactStore, DagTracker
from symphony_lab.arbiter import Arbiter, Conflict, Decision, Priority, ResourceLock, Verdict
from symphony_lab.errors import (
    ArbiterError,
    ArtifactError,
    CheckpointError,
    CorruptArtifact,
    CycleError,
    DuplicateTaskError,
    LeaseError,
    LockError,
    LockTimeout,
    PitError,
    PoolClosed,
    PoolError,
    PoolTimeout,
    StateError,
    StoreFormatError,
    StoreFull,
    TaskNotFoundError,
    UnknownArtifact,
    UnknownFunctionError,
    UnknownNameError,
)
from symphony_lab.pool import Health, InstanceState, Lease, PoolEvent, PoolManager, Reason

__all__ = [
    "CHECKPOINT_VERSION",
    "Arbiter",
    "ArbiterError",
    "ArtifactError",
    "ArtifactStore",
    "CheckpointError",
    "Conflict",
    "CorruptArtifact",
    "CycleError",
    "DagTracker",
    "Decision",
    "DuplicateTaskError",
    "Health",
    "InstanceState",
    "Lease",
    "LeaseError",
    "LockError",
    "LockTimeout",
    "PitError",
    "PoolClosed",
    "PoolError",
    "PoolEvent",
    "PoolManager",
    "PoolTimeout",
    "Priority",
    "Reason",
    "ResourceLock",
    "StateError",
    "StoreFormatError",
    "StoreFull",
    "TaskNotFoundError",
    "UnknownArtifact",
    "UnknownFunctionError",
    "UnknownNameError",
    "Verdict",
]
