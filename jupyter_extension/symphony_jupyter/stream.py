"""A run's events, live over a WebSocket: ``/symphony/api/runs/<id>/stream``.

A client that connects late gets the history first (every event from line
``?start=N``, 0 by default), then the live tail, read from the run's files
by line cursor: each line is sent once, in order, whatever the timing.
Messages, each a JSON object:

- ``{"type": "event", "line": n, "event": {...}}``: line ``n`` of ``events.jsonl``;
- ``{"type": "status", "status": s, "error": e}``: the run's status, when it changes;
- ``{"type": "end", "status": s, "error": e}``: the run ended and every event
  was sent; the server then closes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from symphony_lab.runs import FINISHED, RunError, RunManager, UnknownRun

#: Seconds between reads of a live run's files.
POLL_S = 0.2


class StreamHandler(WebSocketMixin, JupyterHandler, WebSocketHandler):
    auth_resource = "symphony"

    def initialize(self, manager: RunManager) -> None:
        self.manager = manager
        self._task: asyncio.Task[None] | None = None

    async def get(self, *args: Any, **kwargs: Any) -> None:
        # Checked before the upgrade, as Jupyter's own sockets check: a
        # WebSocket handshake cannot follow a login redirect.
        user = self.current_user
        if not user:
            raise web.HTTPError(403)
        if not self.authorizer.is_authorized(self, user, "read", self.auth_resource):
            raise web.HTTPError(403)
        run_id = kwargs["run_id"]
        try:
            self.manager.folder(run_id)
        except UnknownRun as e:
            raise web.HTTPError(404, str(e)) from None
        except RunError as e:
            raise web.HTTPError(400, str(e)) from None
        raw = self.get_argument("start", "0")
        if not raw.isdigit():
            raise web.HTTPError(400, f"start must be an integer >= 0, got {raw!r}")
        self.run_id, self.start = run_id, int(raw)
        await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        self._task = asyncio.ensure_future(self._follow())

    def on_close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def on_message(self, message: str | bytes) -> None:
        pass  # the stream only talks

    async def _follow(self) -> None:
        line, status = self.start, None
        try:
            while True:
                rec = await asyncio.to_thread(self.manager.get, self.run_id)
                events, following = await asyncio.to_thread(
                    self.manager.events, self.run_id, start=line
                )
                for event in events:
                    await self._send({"type": "event", "line": line, "event": event})
                    line += 1
                line = following  # past any fragment the reader passed over
                if rec.status != status:
                    status = rec.status
                    await self._send({"type": "status", "status": status, "error": rec.error})
                # The record says ended only after the worker wrote its last
                # event, and the events were read after the record: all sent.
                if rec.status in FINISHED:
                    await self._send({"type": "end", "status": rec.status, "error": rec.error})
                    self.close()
                    return
                await asyncio.sleep(POLL_S)
        except (WebSocketClosedError, asyncio.CancelledError):
            return

    async def _send(self, message: dict[str, Any]) -> None:
        await self.write_message(json.dumps(message))
