"""``python -m symphony_lab.sdk.check MANIFEST``: does the code match the manifest?

``symphony ext check`` runs this in a subprocess of its own, so that importing
an extension's module (which may load a model, or fail half-way) cannot touch
the command's process. It imports the entry as the runtime would, then checks
that every function the manifest lists is defined with a matching signature
and that the hooks it names exist. It prints one JSON object:
``{"problems": [...], "functions": {name: signature}}``; each problem is a
line that names the function, the value and what was expected.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable
from typing import Any

from symphony_lab.sdk import ExtensionFunction
from symphony_lab.sdk.manifest import Function, Manifest, ManifestError, load_manifest
from symphony_lab.sdk.runtime import BadExtension, collect

#: Keyword arguments a motif's functions are called with (see widgets.MotifView).
MOTIF_ARGS = ("state",)


def _takes(sig: inspect.Signature) -> tuple[set[str], set[str], bool]:
    """Names the function can take by keyword, those it requires, and
    whether it takes any keyword (``**kwargs``). ``ctx`` is the SDK's."""
    params = [p for p in sig.parameters.values() if p.name != "ctx"]
    named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    required = {p.name for p in params if p.name in named and p.default is p.empty}
    return named, required, any(p.kind is p.VAR_KEYWORD for p in params)


def function_problems(spec: Function, impl: ExtensionFunction, kind: str) -> list[str]:
    """How ``impl`` fails to match its manifest entry ``spec``."""
    sig = inspect.signature(impl.fn)
    shown = f"{spec.name}{sig}"
    out = []
    if impl.kind != kind:
        out.append(
            f"function {spec.name!r}: decorated @{impl.kind} but the manifest's kind is {kind!r}"
        )
    named, required, any_keyword = _takes(sig)
    schema = spec.input_schema or {}
    # ``inputs`` lists the arguments that are artifacts; the others (a
    # pattern, a message) come from the goal, so only an input schema or a
    # motif's call fixes every argument the function will be given.
    complete: set[str] | None = None
    if kind == "motif":
        complete = set(MOTIF_ARGS) | {"event"}
    elif "properties" in schema:
        complete = set(schema["properties"])
    passed = set(spec.inputs) | (complete or set())
    if not any_keyword:
        for name in sorted(passed - named - ({"event"} if kind == "motif" else set())):
            out.append(
                f"function {spec.name!r}: the manifest passes {name!r}, which {shown} does not take"
            )
    if complete is not None:
        for name in sorted(required - complete):
            what = (
                "a motif is called with state (and event)"
                if kind == "motif"
                else (f"input_schema's properties are {sorted(complete)}")
            )
            out.append(f"function {spec.name!r}: {shown} requires {name!r}, but {what}")
    return out


def problems(manifest: Manifest) -> tuple[list[str], dict[str, str]]:
    """Everything wrong between ``manifest`` and its code, and the signatures found."""
    if manifest.entry is None:
        return [], {}
    try:
        module, table = collect(manifest)
    except BadExtension as e:
        return [str(e)], {}
    out: list[str] = []
    for spec in manifest.functions:
        out += function_problems(spec, table[spec.name], manifest.kind)
    for hook, name in manifest.hooks.model_dump().items():
        if name is None:
            continue
        target: Callable[..., Any] | None = getattr(module, name, None)
        if not callable(target):
            out.append(f"hooks.{hook}: {manifest.entry} defines no function {name!r}")
    signatures = {n: f"{n}{inspect.signature(f.fn)}" for n, f in table.items()}
    return out, signatures


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m symphony_lab.sdk.check path/to/symphony.toml", file=sys.stderr)
        return 2
    try:
        found, signatures = problems(load_manifest(argv[0]))
    except ManifestError as e:
        found, signatures = [str(e)], {}
    print(json.dumps({"problems": found, "functions": signatures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
