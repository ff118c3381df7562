"""A small OpenAI-compatible HTTP server for tests (aiohttp, on 127.0.0.1).

It answers ``POST /v1/chat/completions`` and ``POST /v1/completions`` with
the shapes of the OpenAI API, echoing the input so that tests can tell what
reached it, and records every request. Errors take OpenAI's shape too:
401 for a wrong key, 400 for a malformed request, 404 for an unknown model.

It runs its own event loop in a daemon thread, so synchronous tests (and
extension processes over real TCP) can talk to it.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from types import TracebackType
from typing import Any

from aiohttp import web

UNKNOWN_MODEL = "no-such-model"


def _error(status: int, message: str, kind: str, code: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status)


def _usage(prompt: str, completion: str) -> dict[str, int]:
    p, c = len(prompt.split()), len(completion.split())
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _truncate(text: str, max_tokens: int | None) -> tuple[str, str]:
    """``text`` cut to ``max_tokens`` words, and OpenAI's finish_reason for it."""
    words = text.split()
    if max_tokens is not None and len(words) > max_tokens:
        return " ".join(words[:max_tokens]), "length"
    return text, "stop"


class OpenAIServer:
    """``with OpenAIServer(api_key="k") as server:`` serves on ``server.url`` (``.../v1``)."""

    def __init__(self, api_key: str = "test-key") -> None:
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self.url = ""
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> OpenAIServer:
        self._thread.start()
        port = asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        self.url = f"http://127.0.0.1:{port}/v1"
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _serve(self) -> int:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return int(self._runner.addresses[0][1])

    # -- handlers ------------------------------------------------------------
    async def _checked(self, request: web.Request) -> dict[str, Any] | web.Response:
        """The request's JSON body, or the error response OpenAI would give."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        self.requests.append({"path": request.path, "headers": dict(request.headers), "json": body})
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        if not isinstance(body, dict):
            return _error(400, "The request body is not a JSON object.", "invalid_request_error")
        if not isinstance(body.get("model"), str):
            return _error(400, "you must provide a model parameter", "invalid_request_error")
        if body["model"] == UNKNOWN_MODEL:
            return _error(
                404,
                f"The model `{UNKNOWN_MODEL}` does not exist.",
                "invalid_request_error",
                "model_not_found",
            )
        return body

    async def _chat(self, request: web.Request) -> web.Response:
        body = await self._checked(request)
        if isinstance(body, web.Response):
            return body
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "'messages' must be a non-empty array", "invalid_request_error")
        prompt = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        text, finish = _truncate(f"echo: {prompt}", body.get("max_tokens"))
        return web.json_response(
            {
                "id": f"chatcmpl-{next(self._ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "logprobs": None,
                        "finish_reason": finish,
                    }
                ],
                "usage": _usage(prompt, text),
            }
        )

    async def _completions(self, request: web.Request) -> web.Response:
        body = await self._checked(request)
        if isinstance(body, web.Response):
            return body
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            return _error(400, "'prompt' must be a string", "invalid_request_error")
        text, finish = _truncate(f"continued: {prompt}", body.get("max_tokens"))
        return web.json_response(
            {
                "id": f"cmpl-{next(self._ids)}",
                "object": "text_completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
                "usage": _usage(prompt, text),
            }
        )
