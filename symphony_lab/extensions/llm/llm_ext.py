"""The ``llm`` instrument: chat and text completions from an OpenAI-compatible server.

Any server that speaks ``POST {base_url}/chat/completions`` and
``{base_url}/completions`` works (OpenAI, vLLM, llama.cpp, Ollama, ...).
``base_url`` and ``api_key`` come from the Stage config or, failing that,
``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` in the process environment (the
Stage passes only the manifest's ``[env]``, so config is the usual way).
Configuration is checked, not the server: the extension starts without one,
and a call says what is missing or what the server answered.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import httpx

from symphony_lab.sdk import instrument

SETTINGS = ("base_url", "api_key", "model", "timeout")
_settings: dict[str, Any] = {"timeout": 60.0}
_client: httpx.Client | None = None
_lock = threading.Lock()


class LLMConfigError(RuntimeError):
    """The adapter lacks a setting it needs (base URL, model)."""


class LLMHTTPError(RuntimeError):
    """The server answered with an HTTP error; ``status`` and ``body`` say which."""

    def __init__(self, message: str, status: int, body: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class LLMResponseError(ValueError):
    """The server answered 200 with something that is not an OpenAI-shaped response."""


def _setting(name: str, env: str) -> Any:
    value = _settings.get(name)
    return value if value is not None else os.environ.get(env)


def _http() -> httpx.Client:
    global _client
    with _lock:
        if _client is None:
            _client = httpx.Client(timeout=float(_settings["timeout"]))
        return _client


def _error_detail(response: httpx.Response) -> str:
    """The server's own message when it sent OpenAI's error shape, else the body."""
    try:
        payload = response.json()
        message = payload["error"]["message"]
        if isinstance(message, str):
            return message
    except (ValueError, KeyError, TypeError):
        pass
    return response.text[:2000] or "(empty body)"


def post(path: str, payload: dict[str, Any]) -> dict[str, Any]:
    """POSTs ``payload`` to ``{base_url}/{path}`` and returns the JSON answer."""
    base = _setting("base_url", "OPENAI_BASE_URL")
    if not base:
        raise LLMConfigError(
            "no base_url: configure the llm extension with Stage(config={'llm': "
            "{'base_url': 'http://host:port/v1', 'api_key': ...}}) or set OPENAI_BASE_URL"
        )
    url = f"{str(base).rstrip('/')}/{path}"
    key = _setting("api_key", "OPENAI_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = _http().post(url, json=payload, headers=headers)
    except httpx.TimeoutException:
        raise TimeoutError(f"POST {url}: no answer within {_settings['timeout']} s") from None
    except httpx.HTTPError as e:
        raise ConnectionError(f"POST {url} failed: {type(e).__name__}: {e}") from None
    if response.status_code >= 400:
        body = response.text
        raise LLMHTTPError(
            f"POST {url} returned HTTP {response.status_code} {response.reason_phrase}: "
            f"{_error_detail(response)}",
            response.status_code,
            body,
        )
    try:
        answer = response.json()
    except ValueError:
        raise LLMResponseError(
            f"POST {url} returned HTTP {response.status_code} but not JSON: {response.text[:500]!r}"
        ) from None
    if not isinstance(answer, dict) or not answer.get("choices"):
        raise LLMResponseError(f"POST {url}: the answer has no choices: {str(answer)[:500]}")
    return answer


def _request(model: str | None, **options: Any) -> dict[str, Any]:
    chosen = model or _setting("model", "OPENAI_MODEL")
    if not chosen:
        raise LLMConfigError("no model: pass model=... or configure a default 'model'")
    return {"model": chosen, **{k: v for k, v in options.items() if v is not None}}


def _messages(messages: object) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list of {'role', 'content'} dicts")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or "content" not in m:
            raise ValueError(f"messages[{i}] must be a dict with 'role' and 'content', got {m!r}")
    return messages


@instrument
def chat(
    messages: list[dict[str, Any]],
    model: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    stop: list[str] | None = None,
) -> str:
    """The assistant's reply to ``messages`` (OpenAI chat format)."""
    payload = _request(
        model,
        messages=_messages(messages),
        temperature=temperature,
        max_tokens=max_tokens,
        stop=stop,
    )
    answer = post("chat/completions", payload)
    try:
        content = answer["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LLMResponseError(
            f"chat answer without choices[0].message.content: {str(answer)[:500]}"
        ) from None
    return content or ""


@instrument
def complete(
    prompt: str,
    model: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    stop: list[str] | None = None,
) -> str:
    """The text the model continues ``prompt`` with (the legacy completions API)."""
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a string, got {type(prompt).__name__}")
    payload = _request(
        model, prompt=prompt, temperature=temperature, max_tokens=max_tokens, stop=stop
    )
    answer = post("completions", payload)
    try:
        return str(answer["choices"][0]["text"])
    except (KeyError, IndexError, TypeError):
        raise LLMResponseError(
            f"completion answer without choices[0].text: {str(answer)[:500]}"
        ) from None


@chat.configure
def _configure(config: dict[str, Any]) -> None:
    """Takes ``base_url``, ``api_key``, ``model`` and ``timeout``; an unknown
    key is an error rather than a silently ignored typo."""
    global _client
    unknown = set(config) - set(SETTINGS)
    if unknown:
        raise ValueError(
            f"unknown llm setting(s) {', '.join(sorted(unknown))}; known: {', '.join(SETTINGS)}"
        )
    with _lock:
        _settings.update(config)
        if _client is not None:
            _client.close()
            _client = None
