"""The SDK for extension authors.

Decorate plain functions; the Stage runs them in their own process::

    from symphony_lab.sdk import operator

    @operator
    def split(text: str, sep: str = "\\n") -> list[str]:
        return text.split(sep)

    @split.validate_input
    def _(args: dict) -> None:
        if not isinstance(args.get("text"), str):
            raise ValueError("text must be a string")

A function that takes a parameter named ``ctx`` gets a :class:`Context`: the
shared ArtifactStore (large data travels by hash, never through the socket),
events to the host, and whether the host cancelled the call.

The decorated object still calls like the function, so unit tests need no Stage.

This package is the extension's side of the contract, with the manifest
(:mod:`~symphony_lab.sdk.manifest`) and the process runtime
(:mod:`~symphony_lab.sdk.runtime`); it imports nothing of the host.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal, overload

from symphony_lab.sdk.context import Context
from symphony_lab.sdk.manifest import MANIFEST_NAME, Manifest, ManifestError, load_manifest

__all__ = [
    "MANIFEST_NAME",
    "Context",
    "ExtensionFunction",
    "Manifest",
    "ManifestError",
    "instrument",
    "load_manifest",
    "motif",
    "operator",
]

Kind = Literal["instrument", "operator", "motif"]

Hook = Callable[..., Any]


class ExtensionFunction:
    """A function offered on the Stage, with its optional hooks."""

    def __init__(self, fn: Callable[..., Any], kind: Kind, name: str) -> None:
        self.fn = fn
        self.kind = kind
        self.name = name
        self.wants_ctx = "ctx" in inspect.signature(fn).parameters
        self.input_validator: Hook | None = None
        self.output_validator: Hook | None = None
        self.configurer: Hook | None = None
        self.health_checker: Hook | None = None
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name}>"

    def _only(self, kind: str, hook: str) -> None:
        if self.kind != kind:
            raise TypeError(f"{hook} is a hook of {kind}s; {self.name} is an {self.kind}")

    # Operators check what goes in and comes out.
    def validate_input(self, f: Hook) -> Hook:
        """Registers ``f(args)``; raising rejects the call before it runs."""
        self._only("operator", "validate_input")
        self.input_validator = f
        return f

    def validate_output(self, f: Hook) -> Hook:
        """Registers ``f(result)``; raising turns the result into an error."""
        self._only("operator", "validate_output")
        self.output_validator = f
        return f

    # Instruments hold a model: configure it, and say whether it is well.
    def configure(self, f: Hook) -> Hook:
        """Registers ``f(config: dict)``, called when the Stage activates the extension."""
        self._only("instrument", "configure")
        self.configurer = f
        return f

    def health_check(self, f: Hook) -> Hook:
        """Registers ``f() -> bool``, asked before the extension counts as healthy."""
        self._only("instrument", "health_check")
        self.health_checker = f
        return f


def _decorator(kind: Kind, fn: Any, name: str | None) -> Any:
    def wrap(f: Callable[..., Any]) -> ExtensionFunction:
        if not callable(f):
            raise TypeError(f"@{kind} decorates a function, got {type(f).__name__}")
        return ExtensionFunction(f, kind, name or f.__name__)

    return wrap(fn) if fn is not None else wrap


@overload
def operator(fn: Callable[..., Any]) -> ExtensionFunction: ...
@overload
def operator(
    fn: None = None, *, name: str | None = None
) -> Callable[[Callable[..., Any]], ExtensionFunction]: ...
def operator(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Marks a tool function (deterministic code: files, text, tables, git)."""
    return _decorator("operator", fn, name)


@overload
def instrument(fn: Callable[..., Any]) -> ExtensionFunction: ...
@overload
def instrument(
    fn: None = None, *, name: str | None = None
) -> Callable[[Callable[..., Any]], ExtensionFunction]: ...
def instrument(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Marks a model-backed function (embeddings, classifiers, LLM calls)."""
    return _decorator("instrument", fn, name)


@overload
def motif(fn: Callable[..., Any]) -> ExtensionFunction: ...
@overload
def motif(
    fn: None = None, *, name: str | None = None
) -> Callable[[Callable[..., Any]], ExtensionFunction]: ...
def motif(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Marks a UI function: ``render(state) -> tree`` built with
    :func:`symphony_lab.sdk.ui.h`, or an event handler ``(state, event) -> state``."""
    return _decorator("motif", fn, name)
