"""The process side of a Python extension: ``python -m symphony_lab.sdk.runtime MANIFEST``.

The Stage starts this in the extension's own process. It imports the
manifest's entry, checks that every function the manifest lists is defined,
connects to the socket named in ``SYMPHONY_BUS``, and serves calls on
``resources.max_concurrency`` threads until the host asks it to stop.

Before anything of the extension's runs, the runtime seals the process: unless
the manifest allows ``[permissions.system] execute``, running a program is
refused by the kernel (seccomp) and, where Python can see the attempt, with a
``PermissionError`` naming the call.

Exit codes the host reads: 0 after a shutdown, :data:`EXIT_OOM` after a
``MemoryError`` (the process may be in any state, so it does not go on),
:data:`EXIT_BAD_EXTENSION` when the extension cannot start at all.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import Any

from symphony_lab.pit import BusEndpoint, ProtocolMismatch, deny_exec
from symphony_lab.sdk import ExtensionFunction
from symphony_lab.sdk.context import Context
from symphony_lab.sdk.manifest import Manifest, ManifestError, load_manifest

EXIT_OOM = 86
EXIT_BAD_EXTENSION = 87
# Calls the host makes on every extension; never the name of a user function.
RESERVED = ("__activate__", "__deactivate__", "__health__", "__ping__")


# The audit events of every way Python starts another program.
_EXEC_EVENTS = frozenset({"os.exec", "os.posix_spawn", "os.spawn", "os.system", "subprocess.Popen"})


class BadExtension(Exception):
    """The extension cannot start; the message says why."""


def seal(extension: str) -> None:
    """Forbids running programs from here on (see the module's docstring)."""
    deny_exec()

    def refuse(event: str, args: tuple[Any, ...]) -> None:
        if event in _EXEC_EVENTS:
            raise PermissionError(
                f"extension {extension!r} may not run programs ({event} {args[0]!r}): "
                "[permissions.system] execute is denied (seccomp refuses execve)"
            )

    sys.addaudithook(refuse)


def collect(manifest: Manifest) -> tuple[ModuleType, dict[str, ExtensionFunction]]:
    """Imports the entry and maps every manifest function to its implementation."""
    assert manifest.entry is not None
    module_name, _, attr = manifest.entry.partition(":")
    if manifest.folder is not None and str(manifest.folder) not in sys.path:
        sys.path.insert(0, str(manifest.folder))
    try:
        module = importlib.import_module(module_name)
    except Exception as e:
        raise BadExtension(f"cannot import entry module {module_name!r}: {e!r}") from e
    source: Any = getattr(module, attr) if attr else module
    if isinstance(source, ExtensionFunction):
        found = [source]
    elif isinstance(source, (list, tuple)):
        found = [f for f in source if isinstance(f, ExtensionFunction)]
    else:
        found = [f for f in vars(source).values() if isinstance(f, ExtensionFunction)]
    table = {f.name: f for f in found}
    missing = [f.name for f in manifest.functions if f.name not in table]
    if missing:
        raise BadExtension(
            f"symphony.toml lists {', '.join(missing)} but {manifest.entry} defines no "
            f"@operator/@instrument of that name (found: {', '.join(sorted(table)) or 'none'})"
        )
    listed = {f.name for f in manifest.functions}
    return module, {n: f for n, f in table.items() if n in listed or not manifest.functions}


class Server:
    """Dispatches the calls of one extension."""

    def __init__(
        self, manifest: Manifest, module: ModuleType, table: dict[str, ExtensionFunction]
    ) -> None:
        self.manifest = manifest
        self.module = module
        self.table = table
        self.endpoint: BusEndpoint | None = None
        self.schemas = {
            f.name: (f.input_schema, f.output_schema)
            for f in manifest.functions
            if f.input_schema or f.output_schema
        }

    def hook(self, which: str) -> Callable[..., Any] | None:
        name = getattr(self.manifest.hooks, which)
        if name is None:
            return None
        fn: object = getattr(self.module, name, None)
        if not callable(fn):
            raise BadExtension(f"hook {which} = {name!r} is not a function in the entry module")
        return fn

    def run_hook(self, which: str, *args: Any) -> None:
        fn = self.hook(which)
        if fn is not None:
            fn(*args)

    def reserved(self, name: str, args: Any) -> Any:
        if name == "__ping__":
            return None
        if name == "__activate__":
            config = (args or {}).get("config", {}) if isinstance(args, dict) else {}
            for f in self.table.values():
                if f.configurer is not None:
                    f.configurer(config)
            self.run_hook("on_activate")
            return None
        if name == "__deactivate__":
            self.run_hook("on_deactivate")
            return None
        # __health__
        return {n: bool(f.health_checker()) for n, f in self.table.items() if f.health_checker}

    def call(self, call_id: int, name: str, args: Any) -> Any:
        if name in RESERVED:
            return self.reserved(name, args)
        f = self.table.get(name)
        if f is None:
            raise LookupError(
                f"extension {self.manifest.name!r} has no function {name!r} "
                f"(it offers: {', '.join(sorted(self.table))})"
            )
        schemas = self.schemas.get(name)
        if f.input_validator is not None:
            f.input_validator(args)
        if schemas and schemas[0]:
            # Imported on first use: it takes about a second, which an
            # extension without schemas should not pay at every start.
            import jsonschema

            jsonschema.validate(args, schemas[0])
        kwargs: dict[str, Any] = {}
        if f.wants_ctx:
            kwargs["ctx"] = Context(self.manifest.name, call_id, self.endpoint)
        if args is None:
            result = f.fn(**kwargs)
        elif isinstance(args, dict):
            result = f.fn(**args, **kwargs)
        elif isinstance(args, list):
            result = f.fn(*args, **kwargs)
        else:
            result = f.fn(args, **kwargs)
        if f.output_validator is not None:
            f.output_validator(result)
        if schemas and schemas[1]:
            import jsonschema  # see above

            jsonschema.validate(result, schemas[1])
        return result

    def serve(self) -> None:
        """Takes batches of calls until shutdown; answers each batch in one write."""
        ep = self.endpoint
        assert ep is not None
        # With several handlers each takes one call at a time, so a slow call
        # never holds quick ones back; a lone handler takes batches.
        take = 1 if self.manifest.resources.max_concurrency > 1 else 64
        busy = False
        while True:
            batch = ep.next(take, busy)
            if batch is None:
                return
            busy = True
            done = []
            for call_id, name, args in batch:
                try:
                    done.append((call_id, self.call(call_id, name, args)))
                except MemoryError:
                    ep.fail(call_id, "MemoryError", "the extension ran out of memory")
                    os._exit(EXIT_OOM)
                except BaseException as e:  # the host gets every failure, typed
                    ep.fail(call_id, type(e).__name__, str(e), traceback.format_exc())
            if done:
                ep.respond(done)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m symphony_lab.sdk.runtime path/to/symphony.toml", file=sys.stderr)
        return 2
    if os.environ.get("SYMPHONY_DENY_EXEC") == "1":
        seal(os.environ.get("SYMPHONY_EXTENSION", "?"))
    try:
        manifest = load_manifest(argv[0])
        if manifest.entry is None:
            raise BadExtension("the manifest names an executable, not a Python entry")
        module, table = collect(manifest)
        server = Server(manifest, module, table)
        server.run_hook("on_load")
    except (BadExtension, ManifestError) as e:
        print(f"symphony extension: {e}", file=sys.stderr)
        return EXIT_BAD_EXTENSION
    bus = os.environ.get("SYMPHONY_BUS")
    if not bus:
        print("symphony extension: SYMPHONY_BUS is not set (run it from a Stage)", file=sys.stderr)
        return EXIT_BAD_EXTENSION
    hello = {
        "name": manifest.name,
        "version": manifest.version,
        "kind": manifest.kind,
        "pid": os.getpid(),
        "functions": sorted(table),
    }
    try:
        server.endpoint = BusEndpoint.connect(bus, hello, timeout=30.0)
    except ProtocolMismatch as e:
        print(f"symphony extension: {e}", file=sys.stderr)
        return EXIT_BAD_EXTENSION
    workers = [
        threading.Thread(target=server.serve, name=f"handler-{i}", daemon=True)
        for i in range(1, manifest.resources.max_concurrency)
    ]
    for w in workers:
        w.start()
    server.serve()
    for w in workers:
        w.join()
    server.run_hook("on_unload")
    server.endpoint.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
