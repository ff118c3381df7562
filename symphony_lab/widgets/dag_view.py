"""The DAG inspector: a live, layered drawing of a :class:`DagTracker`.

>>> view = DagView(tracker, store=artifacts)   # display it in a cell
>>> view.refresh()            # send the states that changed (or: view.follow())
>>> DagView(checkpoints=[...])  # replay a recorded run with a slider

The layout is computed in the Pit (Sugiyama layering, barycentre sweeps);
the page draws on a canvas (zoom with the wheel, pan by dragging, search by
key, double-click to fold a task's descendants, click for details: the
task's cost, state, neighbours, payload, the artifacts it names with
previews from the store, and, for Conductor decisions, the action
probabilities in its payload).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from symphony_lab.pit import HASH_PATTERN, ArtifactStore, DagTracker
from symphony_lab.pit.dag_drawing import STATES, drawing
from symphony_lab.widgets.vdom_widget import _check_built, _esm


class DagView(anywidget.AnyWidget):
    """Shows ``tracker`` (or the first of ``checkpoints``, DAG checkpoints as
    bytes or paths, with a slider over them) and follows its states."""

    _esm = _esm("dag_view.js")
    graph = traitlets.Unicode("{}").tag(sync=True)
    step = traitlets.Int(0).tag(sync=True)
    steps = traitlets.Int(0).tag(sync=True)

    def __init__(
        self,
        tracker: DagTracker | None = None,
        *,
        checkpoints: Sequence[bytes | str | Path] | None = None,
        store: ArtifactStore | None = None,
        height: int = 480,
    ) -> None:
        if (tracker is None) == (checkpoints is None):
            raise ValueError("give a tracker or checkpoints (a recorded run), not both")
        _check_built("dag_view.js")
        super().__init__()
        self._checkpoints = [_load(c) for c in checkpoints] if checkpoints is not None else []
        if checkpoints is not None:
            if not self._checkpoints:
                raise ValueError("checkpoints is empty: a replay needs at least one")
            tracker = self._checkpoints[0]
            self.steps = len(self._checkpoints)
        assert tracker is not None
        self.tracker = tracker
        self.store = store
        self.height = height
        self._sent = np.frombuffer(tracker.state_codes(), dtype=np.uint8).copy()
        self._keys = tracker.keys()
        self.graph = self._graph_json()
        self._follow: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.on_msg(self._on_msg)
        self.observe(self._on_step, names="step")

    def _graph_json(self) -> str:
        graph = drawing(self.tracker, height=self.height)
        graph["states"] = self._sent.tolist()  # what the page was last told
        return json.dumps(graph)

    def refresh(self) -> int:
        """Sends the states that changed since the last refresh; returns how many."""
        with self._lock:
            now = np.frombuffer(self.tracker.state_codes(), dtype=np.uint8)
            if len(now) != len(self._sent):
                # Tasks were added (or a replay step has others): draw anew.
                self._keys = self.tracker.keys()
                self._sent = now.copy()
                self.graph = self._graph_json()
                return len(now)
            return self._send_changes(now)

    def _send_changes(self, now: np.ndarray) -> int:
        changed = np.flatnonzero(now != self._sent)
        if changed.size:
            self._sent[changed] = now[changed]
            # `at`: when the change left Python, so the page can time its arrival.
            self.send(
                {
                    "type": "states",
                    "ids": changed.tolist(),
                    "states": now[changed].tolist(),
                    "at": time.time(),
                }
            )
        return int(changed.size)

    def follow(self, interval: float = 0.2) -> None:
        """Refreshes every ``interval`` seconds on a thread until :meth:`stop`."""
        if self._follow is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(interval):
                self.refresh()

        self._follow = threading.Thread(target=loop, name="dag-view", daemon=True)
        self._follow.start()

    def stop(self) -> None:
        self._stop.set()
        if self._follow is not None:
            self._follow.join()
            self._follow = None
        self.refresh()

    def _on_step(self, change: dict[str, Any]) -> None:
        k = int(change["new"])
        if not 0 <= k < len(self._checkpoints):
            return
        # Exactly the checkpoint's states: same tasks, so only states change.
        self.tracker = self._checkpoints[k]
        self.refresh()

    def details(self, index: int) -> dict[str, Any]:
        """What the panel shows for task ``index`` (its place in ``keys()``)."""
        key = self._keys[index]
        t = self.tracker
        payload = t.payload(key)
        info: dict[str, Any] = {
            "key": str(key),
            "state": t.state(key),
            "cost": t.cost(key),
            "predecessors": [str(k) for k in t.predecessors(key)][:20],
            "successors": [str(k) for k in t.successors(key)][:20],
        }
        decoded = _decode(payload)
        if decoded is not None:
            info["payload"] = _short(decoded)
            if isinstance(decoded, dict):
                for field in ("function", "started", "finished", "seconds"):
                    if field in decoded:
                        info[field] = decoded[field]
                probs = decoded.get("probabilities") or decoded.get("action_probabilities")
                if isinstance(probs, dict):
                    info["probabilities"] = sorted(probs.items(), key=lambda kv: -float(kv[1]))[:10]
        if self.store is not None and decoded is not None:
            info["artifacts"] = [self._preview(h) for h in dict.fromkeys(_hashes(decoded))][:8]
        return info

    def _preview(self, hash_hex: str) -> dict[str, Any]:
        h = hash_hex.lower()
        assert self.store is not None
        if h not in self.store:
            return {"hash": h, "missing": True}
        meta = self.store.info(h)
        preview: dict[str, Any] = {
            "hash": h,
            "kind": meta["kind"],
            "size": meta["size"],
            "producer": meta["producer"],
        }
        if meta["size"] <= 1 << 20:
            data = self.store.get_by_hash(h)
            text: str | None
            try:
                text = data[:400].decode()
            except UnicodeDecodeError as e:
                # Cut inside a character, or binary: text only if it is text.
                text = data[: e.start].decode() if e.start >= 380 else None
            preview["text"] = text if text is not None else f"{meta['size']} bytes of binary data"
        return preview

    def _on_msg(self, _w: Any, content: dict[str, Any], _b: list[bytes]) -> None:
        if content.get("type") == "hello":
            # A view just mounted (a reload, a second display, shown after
            # changes): it gets every state as it is now.
            with self._lock:
                self.send(
                    {
                        "type": "states",
                        "ids": list(range(len(self._sent))),
                        "states": self._sent.tolist(),
                    }
                )
        elif content.get("type") == "select":
            index = int(content["index"])
            self.send({"type": "details", "index": index, "details": self.details(index)})


def _load(c: bytes | str | Path) -> DagTracker:
    data = c if isinstance(c, bytes | bytearray) else Path(c).read_bytes()
    return DagTracker.from_bytes(data)


def _decode(payload: object) -> Any:
    if isinstance(payload, bytes | bytearray):
        try:
            return json.loads(payload)
        except ValueError:
            return payload[:200].decode("latin-1")
    return payload


def _short(value: Any, depth: int = 0) -> Any:
    if isinstance(value, dict):
        return {str(k): _short(v, depth + 1) for k, v in list(value.items())[:30]}
    if isinstance(value, list | tuple):
        return [_short(v, depth + 1) for v in list(value)[:30]]
    if isinstance(value, str | int | float | bool) or value is None:
        return value if not isinstance(value, str) else value[:400]
    return repr(value)[:200]


def _hashes(value: Any) -> list[str]:
    return HASH_PATTERN.findall(json.dumps(value, default=str))


__all__ = ["STATES", "DagView"]
