"""The arbitration engine as Python users meet it.

The Pit's ``Arbiter`` does the work; this subclass gives decisions as named
tuples, batches as numpy arrays, and locks from a dict or a list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from symphony_lab.pit import _pit
from symphony_lab.pit._pit import ArbiterPolicy, Conflict, Priority, ResourceLock, Verdict
from symphony_lab.pit.errors import UnknownNameError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: The choice policies, by name.
POLICIES = tuple(ArbiterPolicy)


class Decision(NamedTuple):
    """What was decided about one request, and why, in words."""

    request: int
    verdict: Verdict
    rationale: str
    requester: str
    resource: str
    conflict: Conflict
    amount: float
    #: The effective priority when decided: the base raised by waiting.
    priority: Priority
    waited: float

    @classmethod
    def of(cls, raw: tuple[int, str, str, str, str, str, float, str, float]) -> Decision:
        request, verdict, rationale, requester, resource, conflict, amount, priority, waited = raw
        return cls(
            request,
            Verdict(verdict),
            rationale,
            requester,
            resource,
            Conflict(conflict),
            amount,
            Priority(priority),
            waited,
        )


LockItems = Mapping[str, str] | Iterable[tuple[str, str]] | Iterable[str]


def _items(items: LockItems) -> list[tuple[str, str]]:
    """``{"a": "shared"}``, ``[("a", "shared")]`` or ``["a"]`` (exclusive)."""
    if isinstance(items, str):
        raise TypeError("lock items must be a mapping or a list of names or (name, mode) pairs")
    if isinstance(items, Mapping):
        return [(str(k), str(v)) for k, v in items.items()]
    out = []
    for item in items:
        if isinstance(item, str):
            out.append((item, "exclusive"))
        else:
            name, mode = item
            out.append((name, mode))
    return out


class Arbiter(_pit.Arbiter):
    """Decides who runs what.

    - Choice among alternatives: ``add_candidate``, ``choose``,
      ``choose_many``, ``record``; policies ``priority``, ``round_robin``,
      ``weighted_random``, ``least_loaded``, ``quality_first``, ``ucb1`` and
      ``thompson`` (Beta-Bernoulli success times quality).
    - Admission: ``add_resource``, ``submit`` (granted, denied or deferred,
      with a rationale), ``release``, ``cancel``, ``tick``; waiting requests
      age a priority level per ``aging_interval`` seconds; weighted fair
      sharing across requesters (deficit round robin), its Gini in ``stats()``.
    - Locks on named resources: ``lock`` / ``try_lock``, shared or exclusive.

    ``clock="virtual"`` runs admission on a clock that ``advance`` moves.
    Same ``seed``, same choices.
    """

    def choose_many(self, n: int) -> npt.NDArray[np.uint32]:
        """``n`` choices with no outcomes in between, as candidate indices
        (``arbiter.candidates[i]`` is the name)."""
        # numpy only for the batch calls: extension processes import the Pit
        # and start faster without it.
        import numpy as np

        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        return np.frombuffer(self._choose_many(n), dtype="<u4")

    def record_many(
        self,
        candidates: Sequence[int | str] | npt.NDArray[np.integer[Any]],
        success: Sequence[bool] | npt.NDArray[np.bool_],
        *,
        latency: Sequence[float] | npt.NDArray[np.floating[Any]] | None = None,
        cost: Sequence[float] | npt.NDArray[np.floating[Any]] | None = None,
        quality: Sequence[float] | npt.NDArray[np.floating[Any]] | None = None,
    ) -> None:
        """Records many outcomes at once, all or none; ``candidates`` are
        indices or names."""
        import numpy as np  # see choose_many

        names = {name: i for i, name in enumerate(self.candidates)}
        index = [
            names[c] if isinstance(c, str) and c in names else c
            for c in np.asarray(candidates).tolist()
        ]
        if any(isinstance(c, str) for c in index):
            unknown = next(c for c in index if isinstance(c, str))
            raise UnknownNameError(f"unknown candidate '{unknown}'")
        n = len(index)

        def column(values: Any, default: float) -> list[Any]:
            return [default] * n if values is None else np.asarray(values).tolist()

        self._record_many(
            index,
            np.asarray(success, dtype=bool).tolist(),
            column(latency, 0.0),
            column(cost, 0.0),
            column(quality, 1.0),
        )

    def submit(
        self,
        requester: str,
        resource: str,
        amount: float = 1.0,
        *,
        priority: Priority | str = Priority.NORMAL,
    ) -> Decision:
        """Asks for ``amount`` of ``resource``: granted now, deferred until a
        release makes room (in priority and fair-share order), or denied
        when it can never be met."""
        return Decision.of(self._submit(requester, resource, amount, str(priority)))

    def release(self, request: int) -> list[Decision]:
        """Gives a granted request's amount back; returns the requests it let in."""
        return [Decision.of(d) for d in self._release(request)]

    def cancel(self, request: int) -> list[Decision]:
        """Withdraws a waiting request; returns the requests that let in."""
        return [Decision.of(d) for d in self._cancel(request)]

    def tick(self) -> list[Decision]:
        """Re-applies aging; returns requests granted by it."""
        return [Decision.of(d) for d in self._tick()]

    def advance(self, dt: float) -> list[Decision]:
        """Moves a virtual clock on by ``dt`` seconds; returns requests granted
        by the aging that brought."""
        if not dt >= 0:
            raise ValueError(f"dt must be >= 0, got {dt}")
        return [Decision.of(d) for d in self._advance_to(self.now + dt)]

    def stats(self) -> dict[str, Any]:
        """Per requester: weight, submitted, granted, denied, deferred,
        cancelled, served, total and max wait; and ``gini``, the Gini
        coefficient of served amount per unit of weight (0 is perfectly fair)."""
        rows, gini = self._stats()
        return {"requesters": {row["name"]: row for row in rows}, "gini": gini}

    def lock(
        self, items: LockItems, *, owner: str = "", timeout: float | None = None
    ) -> ResourceLock:
        """Locks named resources (artifacts, files) all at once: a mapping of
        name to ``shared``/``exclusive``, pairs, or bare names (exclusive).
        Waits in FIFO order behind conflicting requests up to ``timeout``
        seconds, then raises ``LockTimeout``. Use as a context manager."""
        return self._lock(_items(items), owner=owner, timeout=timeout)

    def try_lock(self, items: LockItems, *, owner: str = "") -> ResourceLock | None:
        """``lock`` without waiting: ``None`` if the set cannot be had now."""
        return self._try_lock(_items(items), owner=owner)


__all__ = [
    "POLICIES",
    "Arbiter",
    "ArbiterPolicy",
    "Conflict",
    "Decision",
    "Priority",
    "ResourceLock",
    "Verdict",
]
