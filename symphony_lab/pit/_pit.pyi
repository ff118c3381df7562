"""Type stubs for the compiled Pit (``symphony_lab.pit._pit``), checked
against it by mypy's stubtest in the test suite."""

import os
import pathlib
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from types import TracebackType
from typing import (
    Any,
    BinaryIO,
    Literal,
    Self,
    TypeAlias,
    TypedDict,
    Unpack,
    final,
    type_check_only,
)

from typing_extensions import disjoint_base

if sys.version_info >= (3, 12):
    from collections.abc import Buffer
else:
    from typing_extensions import Buffer

import networkx
import numpy as np
import numpy.typing as npt

_Key: TypeAlias = int | str
_Keys: TypeAlias = Sequence[_Key] | Iterable[_Key] | npt.NDArray[np.integer[Any]]
_Floats: TypeAlias = Sequence[float] | npt.NDArray[np.floating[Any] | np.integer[Any]]
_TaskStateName: TypeAlias = Literal[
    "pending", "ready", "running", "done", "failed", "skipped", "cancelled"
]

__all__ = [
    "BUS_PROTOCOL",
    "CHECKPOINT_VERSION",
    "Arbiter",
    "ArbiterPolicy",
    "ArtifactBuffer",
    "ArtifactStore",
    "BusConnection",
    "BusEndpoint",
    "BusListener",
    "Conflict",
    "DagTracker",
    "Eviction",
    "Health",
    "InstanceState",
    "Lease",
    "PackageIndex",
    "PoolManager",
    "Priority",
    "QuestEpisode",
    "Reason",
    "ResourceLock",
    "StaleManager",
    "StalePlan",
    "TaskState",
    "VNode",
    "VdomRoot",
    "Verdict",
    "__version__",
    "decode_frame",
    "deny_exec",
    "encode_frame",
    "h",
    "kit_check_requirement",
    "kit_key_id",
    "kit_keygen",
    "kit_matches",
    "kit_sign",
    "kit_signer",
    "kit_sort_versions",
    "kit_verify",
    "network_isolation",
    "quest_expected",
    "quest_h_add",
    "quest_solve",
    "sandbox_support",
    "spawn_process",
]

__version__: str
CHECKPOINT_VERSION: int

# -- enums: built at import from the Rust enums ----------------------------------

class TaskState(StrEnum):
    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

class InstanceState(StrEnum):
    COLD = "cold"
    WARMING = "warming"
    IDLE = "idle"
    BUSY = "busy"
    COOLING = "cooling"
    FAILED = "failed"

class Reason(StrEnum):
    USER_REQUEST = "user_request"
    IDLE_TIMEOUT = "idle_timeout"
    HEALTH_CHECK_FAILURE = "health_check_failure"
    RESOURCE_PRESSURE = "resource_pressure"
    PREDICTIVE_PREWARM = "predictive_prewarm"
    SCHEDULED_COOLDOWN = "scheduled_cooldown"
    ERROR_RECOVERY = "error_recovery"

class Health(StrEnum):
    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"

class Eviction(StrEnum):
    LRU = "lru"
    LFU = "lfu"
    LARGEST = "largest"

class ArbiterPolicy(StrEnum):
    PRIORITY = "priority"
    ROUND_ROBIN = "round_robin"
    WEIGHTED_RANDOM = "weighted_random"
    LEAST_LOADED = "least_loaded"
    QUALITY_FIRST = "quality_first"
    UCB1 = "ucb1"
    THOMPSON = "thompson"

class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"
    BACKGROUND = "background"

class Conflict(StrEnum):
    MODEL_CONTENTION = "model_contention"
    MEMORY_PRESSURE = "memory_pressure"
    CPU_SATURATION = "cpu_saturation"
    COST_LIMIT = "cost_limit"

class Verdict(StrEnum):
    GRANTED = "granted"
    DENIED = "denied"
    DEFERRED = "deferred"

@final
class DagTracker:
    """A DAG of tasks with states, a ready set and incremental cycle refusal."""

    def __new__(cls) -> Self: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[_Key]: ...
    def __contains__(self, key: object, /) -> bool: ...
    @property
    def edge_count(self) -> int: ...

    # building
    def add_task(self, key: _Key, *, cost: float = 0.0, payload: object | None = None) -> None: ...
    def add_tasks(self, keys: _Keys, *, costs: _Floats | None = None) -> None: ...
    def add_edge(self, src: _Key, dst: _Key) -> bool: ...
    def add_edges(
        self,
        src: _Keys | Iterable[tuple[_Key, _Key]] | npt.NDArray[np.integer[Any]],
        dst: _Keys | None = None,
    ) -> int: ...
    def add(self, node: _Key, *predecessors: _Key) -> None: ...

    # states
    def state(self, key: _Key) -> _TaskStateName: ...
    def cost(self, key: _Key) -> float: ...
    def payload(self, key: _Key) -> object | None: ...
    def counts(self) -> dict[_TaskStateName, int]: ...
    def state_codes(self) -> bytes: ...
    def ready(self) -> list[_Key]: ...
    def take_ready(self, n: int | None = None) -> list[_Key]: ...
    def start(self, key: _Key) -> None: ...
    def done(self, key: _Key | None = None, *more: _Key) -> list[_Key]: ...
    def done_many(self, keys: _Keys) -> list[_Key]: ...
    def fail(self, key: _Key, policy: Literal["block", "skip"] = "block") -> None: ...
    def retry(self, key: _Key) -> None: ...
    def cancel(self, key: _Key) -> None: ...

    # graphlib.TopologicalSorter protocol
    def prepare(self) -> None: ...
    def is_active(self) -> bool: ...
    def __bool__(self) -> bool: ...
    def get_ready(self) -> tuple[_Key, ...]: ...
    def static_order(self) -> list[_Key]: ...

    # queries
    def topological_order(self) -> list[_Key]: ...
    def ancestors(self, key: _Key) -> set[_Key]: ...
    def descendants(self, key: _Key) -> set[_Key]: ...
    def predecessors(self, key: _Key) -> list[_Key]: ...
    def successors(self, key: _Key) -> list[_Key]: ...
    def critical_path(self) -> tuple[float, list[_Key]]: ...
    def keys(self) -> list[_Key]: ...
    def edges(self) -> list[tuple[_Key, _Key]]: ...
    def layout(self) -> dict[str, Any]: ...
    def subgraph(self, keys: _Keys) -> DagTracker: ...

    # serialisation
    def to_bytes(self) -> bytes: ...
    def save(self, path: str | os.PathLike[str]) -> None: ...
    @staticmethod
    def load(path: str | os.PathLike[str]) -> DagTracker: ...
    @staticmethod
    def from_bytes(data: bytes | bytearray | memoryview) -> DagTracker: ...
    def __reduce__(self) -> tuple[Any, tuple[bytes]]: ...
    def to_json(self) -> str: ...
    def to_networkx(self) -> networkx.DiGraph[_Key]: ...

_InstanceStateName: TypeAlias = Literal["cold", "warming", "idle", "busy", "cooling", "failed"]
_HealthName: TypeAlias = Literal["healthy", "degraded", "unhealthy", "unknown"]
_RawEvent: TypeAlias = tuple[int, float, str, int, str, str, str]

@type_check_only
class PoolOptions(TypedDict, total=False):
    """The pool's settings, as keyword arguments, with their defaults:
    ``memory_budget=None`` (no limit), ``eviction="lru"``, ``clock="wall"``,
    ``start=0.0``, ``rate_tau=60.0``, ``prewarm_horizon=30.0``,
    ``prewarm_threshold=1.0``, ``predictive=False``, ``event_capacity=10_000``.
    The Python subclass passes them through without repeating them."""

    memory_budget: int | None
    eviction: Literal["lru", "lfu", "largest"] | str
    clock: Literal["wall", "virtual"] | str
    start: float
    rate_tau: float
    prewarm_horizon: float
    prewarm_threshold: float
    predictive: bool
    event_capacity: int

@disjoint_base
class PoolManager:
    """Keeps instances of functions warm or cold within a memory budget."""

    def __new__(
        cls,
        *,
        on_event: Callable[[_RawEvent], object] | None = None,
        **options: Unpack[PoolOptions],
    ) -> Self: ...
    def register(
        self,
        name: str,
        *,
        max_instances: int = 1,
        warmup: float = 0.0,
        cooldown: float = 0.0,
        memory: int | None = None,
        idle_timeout: float | None = ...,
    ) -> None: ...
    def acquire(self, function: str, timeout: float | None = None) -> Lease: ...
    def try_acquire(self, function: str) -> Lease | None: ...
    def release(self, lease: Lease) -> None: ...
    def tick(self) -> None: ...
    @property
    def now(self) -> float: ...
    @property
    def is_virtual(self) -> bool: ...
    def advance(self, dt: float) -> float: ...
    def advance_to(self, t: float) -> float: ...
    def next_event_in(self) -> float | None: ...
    def set_health(self, instance: int, health: _HealthName | str) -> None: ...
    def cool(self, instance: int) -> bool: ...
    def instances(self, function: str) -> list[tuple[int, _InstanceStateName, _HealthName]]: ...
    @property
    def functions(self) -> list[str]: ...
    def hot_counts(self) -> list[int]: ...
    def stats(self) -> dict[str, Any]: ...
    def function_stats(self, function: str) -> dict[str, Any]: ...
    def suggest_prewarm(self) -> dict[str, int]: ...
    def prewarm(self, function: str, n: int = 1) -> int: ...
    def prewarm_suggested(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    def shutdown(self, timeout: float | None = None) -> None: ...
    def _enqueue(
        self, function: str, timeout: float | None, waker: Callable[[], object]
    ) -> tuple[Lease | None, int | None]: ...
    def _take(self, function: str, ticket: int) -> Lease | None: ...
    def _cancel(self, ticket: int) -> None: ...
    def _next_timer(self) -> float | None: ...
    def _events(self, since: int = 0) -> list[_RawEvent]: ...
    def _hot_instances(self) -> list[tuple[int, str]]: ...

@final
class Lease:
    """A held instance; a context manager that releases it on exit."""

    def release(self) -> None: ...
    def fail(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool: ...
    @property
    def function(self) -> str: ...
    @property
    def instance(self) -> int: ...
    @property
    def serial(self) -> int: ...
    @property
    def cold_start(self) -> bool: ...
    @property
    def ready_at(self) -> float: ...
    @property
    def waited(self) -> float: ...
    @property
    def pool(self) -> PoolManager: ...
    @property
    def held(self) -> bool: ...
    @property
    def state(self) -> Literal["warming", "busy", "failed", "released"]: ...

_RawDecision: TypeAlias = tuple[int, str, str, str, str, str, float, str, float]

@disjoint_base
class Arbiter:
    """Chooses among alternatives, admits requests, locks named resources."""

    def __new__(
        cls,
        *,
        policy: str = "thompson",
        seed: int = 0,
        aging_interval: float = 30.0,
        clock: Literal["wall", "virtual"] | str = "wall",
        start: float = 0.0,
    ) -> Self: ...
    @property
    def policy(self) -> str: ...
    @policy.setter
    def policy(self, policy: str) -> None: ...
    def add_candidate(
        self, name: str, *, weight: float = 1.0, priority: int = 0, prior_quality: float = 1.0
    ) -> int: ...
    @property
    def candidates(self) -> list[str]: ...
    def choose(self, among: Sequence[str] | None = None) -> str: ...
    def record(
        self,
        candidate: str,
        success: bool,
        *,
        latency: float = 0.0,
        cost: float = 0.0,
        quality: float = 1.0,
    ) -> None: ...
    def candidate_stats(self, candidate: str) -> dict[str, Any]: ...
    def add_resource(
        self, name: str, capacity: float, *, conflict: str = "model_contention"
    ) -> None: ...
    def set_weight(self, requester: str, weight: float) -> None: ...
    def free(self, resource: str) -> float: ...
    @property
    def waiting(self) -> int: ...
    @property
    def now(self) -> float: ...
    @property
    def is_virtual(self) -> bool: ...
    def holders(self, resource: str) -> tuple[list[str], str | None]: ...
    @property
    def locks_waiting(self) -> int: ...
    def _choose_many(self, n: int) -> bytes: ...
    def _record_many(
        self,
        index: list[int],
        success: list[bool],
        latency: list[float],
        cost: list[float],
        quality: list[float],
    ) -> None: ...
    def _submit(
        self, requester: str, resource: str, amount: float, priority: str
    ) -> _RawDecision: ...
    def _release(self, request: int) -> list[_RawDecision]: ...
    def _cancel(self, request: int) -> list[_RawDecision]: ...
    def _tick(self) -> list[_RawDecision]: ...
    def _stats(self) -> tuple[list[dict[str, Any]], float]: ...
    def _advance_to(self, t: float) -> list[_RawDecision]: ...
    def _lock(
        self, items: list[tuple[str, str]], *, owner: str = "", timeout: float | None = None
    ) -> ResourceLock: ...
    def _try_lock(
        self, items: list[tuple[str, str]], *, owner: str = ""
    ) -> ResourceLock | None: ...

@final
class ResourceLock:
    """Locks on named resources, held until released; a context manager."""

    def release(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool: ...
    @property
    def id(self) -> int: ...
    @property
    def owner(self) -> str: ...
    @property
    def items(self) -> list[tuple[str, Literal["shared", "exclusive"]]]: ...
    @property
    def held(self) -> bool: ...

@final
class ArtifactBuffer:
    """A blob's bytes as a read-only buffer (a raw blob's file memory-mapped)."""

    def __len__(self) -> int: ...
    @property
    def mapped(self) -> bool: ...
    if sys.version_info >= (3, 12):
        def __buffer__(self, flags: int, /) -> memoryview: ...

@final
class ArtifactStore:
    def __new__(
        cls,
        path: str | os.PathLike[str],
        *,
        level: int = 3,
        durable: bool = True,
        cache_bytes: int = ...,
    ) -> Self: ...
    def put(
        self,
        name: str,
        data: Buffer,
        *,
        kind: str | None = None,
        media_type: str | None = None,
        producer: str | None = None,
        inputs: list[str] = ...,
        quality: float | None = None,
        tags: list[str] = ...,
    ) -> tuple[str, int]: ...
    def put_blob(
        self,
        data: Buffer,
        *,
        kind: str | None = None,
        media_type: str | None = None,
        producer: str | None = None,
        inputs: list[str] = ...,
        quality: float | None = None,
        tags: list[str] = ...,
    ) -> str: ...
    def get(self, name: str, version: int | None = None) -> bytes: ...
    def get_by_hash(self, hash_hex: str) -> bytes: ...
    def resolve(self, name: str, version: int | None = None) -> str: ...
    def __contains__(self, hash_hex: object, /) -> bool: ...
    def info(self, hash_hex: str) -> dict[str, Any]: ...
    def history(self, name: str) -> list[tuple[int, str, float]]: ...
    def lineage(self, hash_hex: str) -> list[tuple[str, str]]: ...
    def find(
        self, *, kind: str | None = None, tag: str | None = None, producer: str | None = None
    ) -> list[str]: ...
    def page(
        self, offset: int = 0, limit: int = 50, *, kind: str | None = None
    ) -> tuple[int, list[dict[str, Any]]]: ...
    def verify(self) -> dict[str, Any]: ...
    def put_file(
        self,
        source: str | os.PathLike[str] | BinaryIO,
        *,
        name: str | None = None,
        kind: str | None = None,
        media_type: str | None = None,
        producer: str | None = None,
        inputs: list[str] = ...,
        quality: float | None = None,
        tags: list[str] = ...,
    ) -> tuple[str, int | None]: ...
    def get_file(self, hash_hex: str, dest: str | os.PathLike[str] | BinaryIO) -> int: ...
    def get_buffer(self, hash_hex: str) -> ArtifactBuffer: ...
    def search(
        self, query: str, *, kind: str | None = None, limit: int = 10
    ) -> list[dict[str, Any]]: ...
    def put_many(
        self,
        items: Sequence[Buffer | tuple[str | None, Buffer]],
        *,
        kind: str | None = None,
        media_type: str | None = None,
        producer: str | None = None,
        inputs: list[str] = ...,
        quality: float | None = None,
        tags: list[str] = ...,
    ) -> list[tuple[str, int | None]]: ...
    def pin(self, hash_hex: str, reason: str | None = None) -> None: ...
    def unpin(self, hash_hex: str) -> bool: ...
    def pins(self) -> list[tuple[str, str | None, float]]: ...
    def delete(self, hash_hex: str) -> None: ...
    def delete_ref(self, name: str) -> int: ...
    def object_path(self, hash_hex: str) -> pathlib.Path | None: ...
    @property
    def root(self) -> pathlib.Path: ...

@final
class StaleManager:
    def __new__(
        cls,
        store: ArtifactStore,
        *,
        grace: float = 3600.0,
        max_age: float | None = None,
        min_access_count: int | None = None,
        access_grace: float = 86400.0,
        min_quality: float | None = None,
        max_total_bytes: int | None = None,
        preserve_training: bool = True,
        training_tag: str = ...,
        keep_tags: list[str] = ...,
        keep_last_versions: int | None = None,
        weights: tuple[float, float, float, float] | None = None,
        half_life: float = ...,
        action: Literal["archive", "delete"] = "archive",
        archive_dir: str | os.PathLike[str] | None = None,
        archive: Any | None = None,
        roots: Callable[[], list[str]] | None = None,
    ) -> Self: ...
    def plan(self) -> StalePlan: ...
    def run(self) -> dict[str, Any]: ...
    def restore(self, hash_hex: str) -> None: ...
    def start(self, interval: float) -> None: ...
    def stop(self) -> None: ...
    @property
    def running(self) -> bool: ...
    @property
    def background_runs(self) -> int: ...
    @property
    def background_error(self) -> str | None: ...

@final
class StalePlan:
    def rows(
        self, decision: Literal["keep", "archive", "delete"] | None = None
    ) -> list[tuple[str, str, str, float, int]]: ...
    def explain(self, hash_hex: str) -> tuple[str, str]: ...
    @property
    def counts(self) -> dict[str, int]: ...
    @property
    def kept_bytes(self) -> int: ...
    @property
    def freed_bytes(self) -> int: ...
    @property
    def over_limit_bytes(self) -> int: ...
    def __len__(self) -> int: ...

@final
class VNode:
    def __new__(
        cls,
        kind: str,
        props: dict[str, Any] | None = None,
        children: Iterable[Any] | None = None,
        *,
        key: str | int | None = None,
        on: dict[str, Callable[..., Any]] | None = None,
    ) -> Self: ...
    @property
    def kind(self) -> str: ...
    @property
    def key(self) -> str | None: ...
    @property
    def props(self) -> dict[str, Any]: ...
    @property
    def children(self) -> list[VNode]: ...
    @property
    def events(self) -> list[str]: ...
    def __len__(self) -> int: ...
    def to_html(self) -> str: ...
    def to_json(self) -> str: ...
    def _repr_mimebundle_(
        self, include: Any | None = None, exclude: Any | None = None
    ) -> dict[str, Any]: ...

def h(
    kind: str,
    props: dict[str, Any] | None = None,
    *children: Any,
    key: str | int | None = None,
    on: dict[str, Callable[..., Any]] | None = None,
) -> VNode: ...

@final
class VdomRoot:
    def __new__(cls, registry: list[str] | None = None) -> Self: ...
    def render(self, node: VNode) -> str: ...
    def reset(self) -> None: ...
    def tree_json(self) -> str | None: ...
    def handler(self, id: int, event: str) -> Callable[..., Any] | None: ...

@final
class QuestEpisode:
    def __new__(
        cls,
        *,
        needs: list[int],
        consumes: list[int],
        produces: list[int],
        cost: list[float],
        warmup: list[float],
        latency: list[float],
        failure: list[float],
        essential: int,
        start: int,
        budget: float,
        names: list[str],
        allow_idle: bool = True,
    ) -> Self: ...
    def reset(self, pool: PoolManager, dag: DagTracker, seed: int) -> None: ...
    def step(self, action: int) -> tuple[float, bool, bool, bool, bool]: ...
    @property
    def held(self) -> int: ...
    @property
    def warm(self) -> int: ...
    @property
    def legal(self) -> int: ...
    @property
    def spent(self) -> float: ...
    @property
    def budget_left(self) -> float: ...
    @property
    def failures(self) -> int: ...
    @property
    def call_count(self) -> int: ...
    @property
    def calls(self) -> list[int]: ...
    @property
    def won(self) -> bool: ...
    def cost_to_go(self) -> list[float]: ...

def quest_solve(
    needs: list[int],
    consumes: list[int],
    produces: list[int],
    cost: list[float],
    warmup: list[float],
    essential: int,
    extras: list[tuple[int, float]],
    start: int,
    start_warm: int,
    budget: float,
    max_states: int | None = None,
    fast: float | None = None,
) -> tuple[list[int], float, float, int] | str | None: ...
def quest_expected(
    needs: list[int],
    consumes: list[int],
    produces: list[int],
    cost: list[float],
    warmup: list[float],
    failure: list[float],
    essential: int,
    extras: list[tuple[int, float]],
    start: int,
    start_warm: int,
    max_states: int,
) -> tuple[list[int], float, float, int] | str | None: ...
def quest_h_add(
    needs: list[int], produces: list[int], cost: list[float], essential: int, helds: list[int]
) -> list[float]: ...

# -- Orchestra Kit's core (pit-kit) ---------------------------------------------

@final
class PackageIndex:
    """Every version of every package a registry offers and what each requires."""

    def __new__(cls) -> Self: ...
    def add(self, name: str, version: str, requires: Mapping[str, str] = ...) -> None: ...
    def extend(self, rows: Iterable[tuple[str, str, Mapping[str, str]]]) -> None: ...
    def resolve(self, request: Mapping[str, str]) -> dict[str, str]: ...
    def __len__(self) -> int: ...

def kit_matches(requirement: str, version: str) -> bool: ...
def kit_check_requirement(requirement: str) -> None: ...
def kit_sort_versions(versions: Sequence[str]) -> list[str]: ...
def kit_keygen() -> tuple[str, str, str]: ...
def kit_sign(
    secret: str, data: bytes, trusted: str, untrusted: str = "signature from symphony kit"
) -> str: ...
def kit_verify(public: str, data: bytes, signature: str) -> str: ...
def kit_signer(signature: str) -> str: ...
def kit_key_id(public: str) -> str: ...

# -- the Stage's bus (pit-bus) ---------------------------------------------------

BUS_PROTOCOL: str

@final
class BusListener:
    """A listening Unix socket for one extension."""

    def __new__(cls, path: str | os.PathLike[str]) -> Self: ...
    @property
    def path(self) -> str: ...
    def accept(self, timeout: float, max_frame: int = ...) -> BusConnection: ...
    def close(self) -> None: ...

@final
class BusConnection:
    """The host's side: pipelined calls by correlation id."""

    def handshake(self, timeout: float) -> dict[str, Any]: ...
    def call(
        self, function: str, args: Any = None, *, timeout: float | None = None, priority: int = 0
    ) -> Any: ...
    def call_many(
        self,
        function: str,
        args_list: Iterable[Any],
        *,
        timeout: float | None = None,
        priority: int = 0,
    ) -> list[Any]: ...
    def submit(
        self, function: str, args: Any = None, *, timeout: float | None = None, priority: int = 0
    ) -> int: ...
    def wait(self, id: int, timeout: float | None = None) -> Any: ...
    def cancel(self, id: int) -> None: ...
    def heartbeat(self, timeout: float) -> dict[str, int]: ...
    def events(self, timeout: float | None = 0.0) -> list[Any]: ...
    def shutdown(self) -> None: ...
    def close(self, reason: str = "closed by the host") -> None: ...
    @property
    def closed(self) -> str | None: ...
    @property
    def pending(self) -> int: ...

@final
class BusEndpoint:
    """The extension's side: requests by priority, heartbeats answered while busy."""

    @staticmethod
    def connect(
        path: str | os.PathLike[str],
        hello: dict[str, Any],
        timeout: float = 10.0,
        max_frame: int = ...,
    ) -> BusEndpoint: ...
    def next(self, max: int = 64, busy: bool = False) -> list[tuple[int, str, Any]] | None: ...
    def respond(self, answers: list[tuple[int, Any]]) -> None: ...
    def fail(self, id: int, error_type: str, message: str, traceback: str = "") -> None: ...
    def emit(self, payload: Any) -> None: ...
    def is_cancelled(self, id: int) -> bool: ...
    def close(self) -> None: ...

def encode_frame(
    kind: int,
    id: int,
    payload: Any = None,
    meta: dict[str, Any] | None = None,
    priority: int = 0,
    deadline_ms: int = 0,
) -> bytes: ...
def decode_frame(
    data: bytes, max_frame: int = ...
) -> tuple[int, int, int, int, Any, dict[str, Any] | None]: ...
def spawn_process(
    argv: list[str],
    cwd: str,
    env: list[tuple[str, str]],
    log: str,
    *,
    address_space: int | None = None,
    cpu_seconds: int | None = None,
    open_files: int | None = None,
    processes: int | None = None,
    file_size: int | None = None,
    isolate_network: bool = False,
    read: list[str] | None = None,
    write: list[str] = ...,
    execute: list[str] = ...,
    deny_tcp: bool = False,
    cgroup: str | None = None,
    landlock: bool = True,
    seccomp: bool = True,
    scratch_bytes: int | None = None,
) -> int: ...
def network_isolation() -> str | None: ...
def sandbox_support() -> dict[str, Any]: ...
def deny_exec() -> None: ...
