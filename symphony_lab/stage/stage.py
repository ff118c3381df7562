"""The Stage: the extensions of a kernel, each in its own supervised process.

::

    with Stage(["path/to/my-ext"], store="runs/store") as stage:
        stage.call("text.split", {"text": "a b", "sep": " "})

An extension is named by its folder, by the name it is installed under
(the ``symphony_lab.extensions`` entry points: ``Stage(["text", "embed"])``),
or by its manifest; ``Stage(builtin=True)`` adds every extension shipped
with symphony-lab. Each is hosted by a backend (``backend.py``): by default
a supervised local process. Extensions start in parallel; the Stage stops
them all at interpreter exit, and the kernel's death takes them with it (a
parent-death signal), so no process outlives the kernel.

Every extension runs in the kernel's sandbox (``sandbox.py``): it reaches
only the paths its manifest and the user's ``grants`` name. A kernel that
cannot enforce all of it stops the Stage, unless ``sandbox="degraded"`` (or
``SYMPHONY_SANDBOX=degraded``), which runs with what there is and says what
is missing.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import tempfile
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import EllipsisType
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from symphony_lab.kit import RECORD, check_installed
from symphony_lab.pit import Arbiter, ArtifactStore, InstanceState, PoolEvent, PoolManager
from symphony_lab.planning import Policy
from symphony_lab.sdk.manifest import Function, Manifest, ManifestError, load_manifest
from symphony_lab.stage import discovery
from symphony_lab.stage.backend import Backend, BackendFactory, HostOptions, RestartPolicy, State
from symphony_lab.stage.errors import ExtensionError
from symphony_lab.stage.perform import Melody, OnFailure, Performance, Performer
from symphony_lab.stage.process import ExtensionProcess
from symphony_lab.stage.sandbox import SandboxMode, SandboxReport, SandboxUnavailable, probe

log = logging.getLogger("symphony_lab.stage")

_LIVE: weakref.WeakSet[Stage] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for stage in list(_LIVE):
        stage.close()


def builtin_manifests() -> list[Path]:
    """Folders of the extensions shipped with the package."""
    return discovery.builtin()


def _shipped() -> list[Manifest]:
    """The shipped extensions whose Python requirements are installed; each
    left out is named, with the extra that installs what it needs."""
    usable = []
    for folder in builtin_manifests():
        m = load_manifest(folder)
        if missing := m.missing():
            warnings.warn(
                f"the shipped extension {m.name!r} is left out: it needs {', '.join(missing)} "
                f"(pip install 'symphony-lab[{m.name}]')",
                RuntimeWarning,
                stacklevel=3,
            )
        else:
            usable.append(m)
    return usable


def _manifest(source: str | Path | Manifest) -> Manifest:
    """A manifest from itself, a folder or file path, or an installed name.
    An extension Orchestra Kit installed is checked file by file against the
    digests of its signed package first (``IntegrityError`` names a changed file)."""
    if isinstance(source, Manifest):
        return source
    if isinstance(source, Path) or Path(source).exists() or "/" in source:
        return _checked(load_manifest(source))
    manifest = _checked(load_manifest(discovery.find(source)))
    if manifest.name != source:
        raise ManifestError(
            f"the extension installed as {source!r} calls itself {manifest.name!r} "
            "in its symphony.toml"
        )
    return manifest


def _retire(old: Backend, grace: float) -> None:
    """Stops a replaced backend once its calls in flight are answered."""
    deadline = time.monotonic() + grace
    while old.pending and time.monotonic() < deadline:
        time.sleep(0.01)
    old.stop()


class _Changed(FileSystemEventHandler):
    def __init__(self, hear: Callable[[FileSystemEvent], None]) -> None:
        self.hear = hear

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.hear(event)


class Watch:
    """Reloads one extension of a Stage when its files change."""

    def __init__(self, stage: Stage, name: str, folder: Path, debounce: float) -> None:
        self.stage, self.name, self.debounce = stage, name, debounce
        #: Each reload's outcome, newest last: None when it worked, else the error.
        self.reloads: list[BaseException | None] = []
        self.on_reload: Callable[[BaseException | None], None] | None = None
        self._changed = threading.Event()
        self._stopped = threading.Event()
        self._observer = Observer()
        self._observer.schedule(_Changed(self._event), str(folder), recursive=True)
        self._observer.start()
        self._thread = threading.Thread(target=self._loop, name=f"watch-{name}", daemon=True)
        self._thread.start()

    def _event(self, event: FileSystemEvent) -> None:
        # Reading a file (opened, closed without writing) is not a change;
        # nor are the bytecode caches the extension's own import writes.
        if event.is_directory or event.event_type not in (
            "created",
            "modified",
            "deleted",
            "moved",
            "closed",
        ):
            return
        path = str(event.src_path)
        if "__pycache__" in path or path.endswith((".pyc", "~", ".swp")):
            return
        self._changed.set()

    def _loop(self) -> None:
        while not self._stopped.is_set():
            if not self._changed.wait(0.1):
                continue
            # Editors write in bursts: reload once the files have settled.
            while self._changed.is_set() and not self._stopped.is_set():
                self._changed.clear()
                time.sleep(self.debounce)
            if self._stopped.is_set():
                return
            try:
                self.stage.reload(self.name)
                outcome: BaseException | None = None
            except Exception as e:  # any error of the edited code: reported, the old one serves
                outcome = e
            self.reloads.append(outcome)
            if self.on_reload is not None:
                self.on_reload(outcome)

    def stop(self) -> None:
        self._stopped.set()
        self._observer.stop()
        self._observer.join(timeout=5)
        self._thread.join(timeout=5)

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _checked(m: Manifest) -> Manifest:
    if m.folder is not None and (m.folder / RECORD).is_file():
        check_installed(m.folder)
    return m


class Stage:
    """Hosts extensions; ``call("extension.function", args)`` runs one of their functions."""

    def __init__(
        self,
        extensions: Iterable[str | Path | Manifest] = (),
        *,
        builtin: bool = False,
        backend: BackendFactory = ExtensionProcess,
        store: ArtifactStore | str | Path | None = None,
        root: str | Path | None = None,
        restart: RestartPolicy | None = None,
        heartbeat_interval: float = 1.0,
        heartbeat_timeout: float = 5.0,
        start_timeout: float = 60.0,
        call_timeout: float | None = 60.0,
        config: dict[str, dict[str, Any]] | None = None,
        on_event: Callable[[str, Any], None] | None = None,
        on_state: Callable[[str, State], None] | None = None,
        sandbox: SandboxMode | None = None,
        grants: dict[str, dict[str, list[str]]] | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        manifests = [*(_shipped() if builtin else []), *map(_manifest, extensions)]
        for m in manifests:
            if missing := m.missing():
                raise ManifestError(
                    f"extension {m.name!r} needs {', '.join(missing)}: pip install "
                    + " ".join(repr(r.split(" (")[0]) for r in missing)
                )
        names = [m.name for m in manifests]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ManifestError(f"two extensions are named {', '.join(dupes)}")
        _check_relations(manifests)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="symphony-stage-")
            root = self._tmp.name
        self.root = Path(root)
        self.store_path = _store_path(store)
        self.call_timeout = call_timeout
        if idle_timeout is not None and not idle_timeout > 0:
            raise ValueError(f"idle_timeout must be > 0 seconds or None, got {idle_timeout}")
        #: Seconds a goal run's extension may stay idle before the pool cools it
        #: and its process stops; the next call that needs it starts it again.
        self.idle_timeout = idle_timeout
        mode = sandbox or os.environ.get("SYMPHONY_SANDBOX", "strict")
        if mode not in ("strict", "degraded"):
            raise ValueError(f"sandbox must be 'strict' or 'degraded', not {mode!r}")
        # Said once, at start-up, rather than discovered later.
        self.sandbox: SandboxReport = probe(mode)  # type: ignore[arg-type]
        if not self.sandbox.complete:
            if mode == "strict":
                raise SandboxUnavailable(
                    f"{self.sandbox.line()}. Extensions would run with less protection than "
                    "their manifests promise: pass Stage(sandbox='degraded') or set "
                    "SYMPHONY_SANDBOX=degraded to run them anyway."
                )
            warnings.warn(self.sandbox.line(), RuntimeWarning, stacklevel=2)
        log.info("%s", self.sandbox.line())
        unknown = sorted(set(grants or {}) - {m.name for m in manifests})
        if unknown:
            raise ValueError(f"grants name extensions the Stage does not host: {unknown}")
        options = HostOptions(
            root=self.root,
            store=self.store_path,
            restart=restart or RestartPolicy(),
            heartbeat_interval=heartbeat_interval,
            heartbeat_timeout=heartbeat_timeout,
            start_timeout=start_timeout,
            isolate_network="namespaces" not in self.sandbox.missing,
            sandbox=self.sandbox,
            grants={
                name: {access: [str(p) for p in paths] for access, paths in g.items()}
                for name, g in (grants or {}).items()
            },
            config=dict(config or {}),
            on_event=on_event,
            on_state=on_state,
            on_call=_calls_through(weakref.ref(self)),
        )
        self._backend, self._options = backend, options
        self.extensions: dict[str, Backend] = {m.name: backend(m, options) for m in manifests}
        # Manifests are fixed for the Stage's life: its function table too.
        self._functions: dict[str, Function] = {
            f"{m.name}.{f.name}": f for m in manifests for f in m.functions
        }
        self._started = False
        self._lock = threading.Lock()
        # The backends started (by start or on demand): each starts once.
        self._woken: weakref.WeakSet[Backend] = weakref.WeakSet()
        self.pool: PoolManager | None = None
        self.arbiter: Arbiter | None = None
        _LIVE.add(self)

    # -- lifecycle -----------------------------------------------------------
    def start(self, wait: bool = True) -> Stage:
        """Starts every extension (in parallel); with ``wait``, until all are healthy."""
        with self._lock:
            if not self._started:
                self._started = True
                for ext in self.extensions.values():
                    if ext not in self._woken:
                        self._woken.add(ext)
                        ext.start(wait=False)
        if wait:
            errors = []
            for ext in self.extensions.values():
                try:
                    ext.wait_ready(ext.start_timeout)
                except ExtensionError as e:
                    errors.append(str(e))
            if errors:
                raise ExtensionError("some extensions did not start:\n" + "\n".join(errors))
        return self

    def close(self) -> None:
        """Stops every extension and removes the Stage's temporary folder."""
        threads = [
            threading.Thread(target=ext.stop, daemon=True)
            for ext in self.extensions.values()
            if ext.state is not State.TERMINATED
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        _LIVE.discard(self)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Stage:
        try:
            return self.start()
        except BaseException:
            self.close()  # the extensions that did start must not outlive the error
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the developer's loop ----------------------------------------------------
    def reload(self, name: str, *, drain: float | None = None) -> Backend:
        """Starts ``name`` afresh from its folder (manifest and code read again).

        The new process starts beside the old; once it is healthy, new calls
        go to it, and the old one stops when its calls in flight have been
        answered (or after ``drain`` seconds: the call timeout by default). A
        manifest that no longer loads, or a process that does not start,
        leaves the old one serving and raises why."""
        old = self[name]
        folder = old.manifest.folder
        if folder is None:
            raise ValueError(
                f"extension {name!r} was given as a Manifest, with no folder to reload"
            )
        manifest = _checked(load_manifest(folder))
        if manifest.name != name:
            raise ManifestError(f"{folder}: the manifest now names {manifest.name!r}, not {name!r}")
        # A bytecode cache records its source's mtime in whole seconds and its
        # size: an edit of the same size within a second would load the old code.
        for cached in folder.rglob("__pycache__/*.pyc"):
            cached.unlink(missing_ok=True)
        new = self._backend(manifest, self._options)
        if self._started:
            self._woken.add(new)
            new.start(wait=False)
            try:
                new.wait_ready(new.start_timeout)
            except BaseException:
                new.stop()
                raise
        with self._lock:
            self.extensions[name] = new
            self._functions = {
                k: f for k, f in self._functions.items() if not k.startswith(f"{name}.")
            } | {f"{name}.{f.name}": f for f in manifest.functions}
        grace = drain if drain is not None else (self.call_timeout or 60.0)
        threading.Thread(target=_retire, args=(old, grace), daemon=True).start()
        return new

    def park(self, name: str, *, drain: float | None = None) -> Backend:
        """Stops ``name``'s process and leaves a fresh backend in its place,
        which the next call starts: what the pool's cooling does to an
        extension idle past ``idle_timeout``. Calls in flight are answered
        first (for up to ``drain`` seconds: the call timeout by default)."""
        old = self[name]
        new = self._backend(old.manifest, self._options)
        with self._lock:
            self.extensions[name] = new
        grace = drain if drain is not None else (self.call_timeout or 60.0)
        threading.Thread(target=_retire, args=(old, grace), daemon=True).start()
        return new

    def _wake(self, ext: Backend) -> bool:
        """Starts ``ext`` if it was never started (a cold start, or one the
        pool cooled): once, whichever call or run gets there first. Returns
        whether this call started it."""
        if ext not in self._woken:
            with self._lock:
                if ext not in self._woken:
                    self._woken.add(ext)
                    if ext.state is State.CREATED:
                        ext.start(wait=False)
                        return True
        return False

    def _cool(self, event: PoolEvent) -> None:
        """The pool cooled an idle extension: its process stops."""
        if event.to_state is InstanceState.COOLING and event.function in self.extensions:
            threading.Thread(
                target=self.park, args=(event.function,), name="stage-park", daemon=True
            ).start()

    def watch(self, name: str, *, debounce: float = 0.3) -> Watch:
        """Reloads ``name`` whenever a file in its folder changes (watchdog);
        ``.stop()`` the returned watch, or use it as a context manager."""
        folder = self[name].manifest.folder
        if folder is None:
            raise ValueError(f"extension {name!r} was given as a Manifest, with no folder to watch")
        return Watch(self, name, folder, debounce)

    # -- lookup --------------------------------------------------------------
    def __getitem__(self, name: str) -> Backend:
        try:
            return self.extensions[name]
        except KeyError:
            raise KeyError(
                f"no extension {name!r} on this Stage "
                f"(it has: {', '.join(sorted(self.extensions))})"
            ) from None

    def __iter__(self) -> Iterator[Backend]:
        return iter(self.extensions.values())

    def functions(self) -> dict[str, Function]:
        """Every function on the Stage as ``"extension.function" -> spec``."""
        return dict(self._functions)

    def resolve(self, target: str) -> tuple[Backend, str]:
        ext_name, dot, function = target.partition(".")
        if not dot or not function:
            raise ValueError(f"call targets are 'extension.function', got {target!r}")
        ext = self[ext_name]
        # A manifest that lists no functions lets the extension's own table decide.
        if target not in self._functions and ext.manifest.functions:
            known = [f.name for f in ext.manifest.functions]
            raise KeyError(
                f"extension {ext_name!r} has no function {function!r} "
                f"(it has: {', '.join(sorted(known))})"
            )
        return ext, function

    # -- calls ---------------------------------------------------------------
    def call(
        self,
        target: str,
        args: Any = None,
        *,
        timeout: float | EllipsisType | None = ...,
        priority: int = 0,
    ) -> Any:
        """Runs ``extension.function`` with ``args`` (a dict of keyword
        arguments); ``timeout`` is the Stage's ``call_timeout`` unless given
        (``None``: no deadline)."""
        if not self._started:
            self.start()
        ext, function = self.resolve(target)
        self._wake(ext)
        return ext.call(function, args, timeout=self._timeout(timeout), priority=priority)

    async def acall(
        self,
        target: str,
        args: Any = None,
        *,
        timeout: float | EllipsisType | None = ...,
        priority: int = 0,
    ) -> Any:
        """``call`` for asyncio; cancelling the awaiting task cancels the call."""
        if not self._started:
            await asyncio.get_running_loop().run_in_executor(None, self.start)
        ext, function = self.resolve(target)
        self._wake(ext)
        return await ext.acall(function, args, timeout=self._timeout(timeout), priority=priority)

    def call_many(
        self, target: str, args_list: list[Any], *, timeout: float | EllipsisType | None = ...
    ) -> list[Any]:
        """Pipelined calls of one function; answers in order."""
        if not self._started:
            self.start()
        ext, function = self.resolve(target)
        self._wake(ext)
        return ext.call_many(function, args_list, timeout=self._timeout(timeout))

    def _timeout(self, timeout: float | EllipsisType | None) -> float | None:
        return self.call_timeout if isinstance(timeout, EllipsisType) else timeout

    def perform(
        self,
        goal: str | list[str],
        inputs: dict[str, Any],
        *,
        policy: Policy | None = None,
        args: dict[str, dict[str, Any]] | None = None,
        max_calls: int = 32,
        **options: Any,
    ) -> Performance:
        """Obtains ``goal`` kinds from ``inputs``, the exact planner (or
        ``policy``, a trained Conductor say) choosing each call; ``options``
        go to :class:`Performer` (``retries``, ``on_failure``, ``timeout``, ``store``,
        ``pool``, ``arbiter``)."""
        performer = self._performer(policy=policy, **options)
        return performer.perform(goal, inputs, args=args, max_calls=max_calls)

    def play(self, melody: Melody, inputs: dict[str, Any], **options: Any) -> Performance:
        """Runs a user-written DAG of calls; options go to :class:`Performer`."""
        return self._performer(**options).play(melody, inputs)

    def _performer(
        self,
        *,
        policy: Policy | None = None,
        store: ArtifactStore | None = None,
        pool: PoolManager | None = None,
        arbiter: Arbiter | None = None,
        retries: int = 1,
        on_failure: OnFailure = "fallback",
        timeout: float | None = 60.0,
    ) -> Performer:
        """By default one pool and one arbiter per Stage: leases and what the
        arbiter learnt carry over from run to run."""
        if self.pool is None:
            if self.idle_timeout is None:
                self.pool = PoolManager(reaper_interval=None)
            else:
                # Timers on time: an idle extension cools without a call to notice.
                interval = min(1.0, self.idle_timeout / 2)
                self.pool = PoolManager(reaper_interval=interval, on_event=self._cool)
        if self.arbiter is None:
            self.arbiter = Arbiter(policy="thompson")
        return Performer(
            self,
            store=store,
            policy=policy,
            pool=pool or self.pool,
            arbiter=arbiter or self.arbiter,
            retries=retries,
            on_failure=on_failure,
            timeout=timeout,
        )

    def states(self) -> dict[str, str]:
        return {name: str(ext.state) for name, ext in self.extensions.items()}

    def status(self) -> dict[str, Any]:
        """Each extension's state, and what the kernel enforces around them."""
        return {
            "extensions": self.states(),
            "sandbox": self.sandbox.line(),
            "sandbox_missing": self.sandbox.missing,
        }

    def __repr__(self) -> str:
        return f"<Stage {self.states()}>"


def _calls_through(stage: weakref.ref[Stage]) -> Callable[[str, Any], Any]:
    """What an extension's ``ctx.call`` runs: the call on its Stage (held
    weakly: the extensions' supervisors must not keep a closed Stage alive)."""

    def call(target: str, args: Any) -> Any:
        live = stage()
        if live is None:
            raise RuntimeError("the Stage is gone")
        return live.call(target, args)

    return call


def _store_path(store: ArtifactStore | str | Path | None) -> str | None:
    """The store's folder as an absolute path: extensions run in working
    folders of their own, where a relative one names another store."""
    if store is None:
        return None
    return str(Path(store.root if isinstance(store, ArtifactStore) else store).resolve())


def _check_relations(manifests: list[Manifest]) -> None:
    """``[conductor] depends_on`` must be on the Stage too, ``conflicts`` must not."""
    names = {m.name for m in manifests}
    problems = []
    for m in manifests:
        missing = sorted(set(m.conductor.depends_on) - names)
        if missing:
            problems.append(f"{m.name} depends on {', '.join(missing)}, not on this Stage")
        clash = sorted(set(m.conductor.conflicts) & names)
        if clash:
            problems.append(f"{m.name} conflicts with {', '.join(clash)}, also on this Stage")
    if problems:
        raise ManifestError("; ".join(problems))
