"""The installed Stage extensions over REST, under ``/symphony/api/extensions``:
each one's manifest (functions, permissions, resources), whether its Python
requirements are met, and, for those started here, their live state and
restarts. The server hosts a Stage per started extension: supervised
processes of their own, stopped with the server."""

from __future__ import annotations

import threading
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from symphony_jupyter.base import ServiceHandler
from symphony_lab.sdk.manifest import ManifestError, load_manifest
from symphony_lab.stage import Stage, discovery
from symphony_lab.stage.errors import ExtensionError
from symphony_lab.stage.sandbox import SandboxUnavailable

NAME = r"(?P<name>[^/]+)"


class ExtensionService:
    def __init__(self) -> None:
        self._stages: dict[str, Stage] = {}
        self._lock = threading.Lock()

    def listing(self) -> dict[str, Any]:
        good, bad = discovery.scan()
        out = []
        for name, found in good.items():
            entry: dict[str, Any] = {"name": name, "distribution": found.distribution}
            try:
                manifest = load_manifest(found.folder)
            except ManifestError as e:
                out.append({**entry, "error": str(e), "state": "broken"})
                continue
            entry["manifest"] = manifest.model_dump(mode="json")
            entry["missing"] = manifest.missing()
            entry.update(self._live(name))
            out.append(entry)
        broken = [{"name": n, "error": str(e), "state": "broken"} for n, e in bad.items()]
        return {"extensions": out + broken}

    def _live(self, name: str) -> dict[str, Any]:
        with self._lock:
            stage = self._stages.get(name)
        if stage is None:
            return {"state": "not started", "restarts": 0}
        ext = stage[name]
        return {"state": str(ext.state), "restarts": ext.restarts, "sandbox": stage.sandbox.line()}

    def start(self, name: str) -> dict[str, Any]:
        # By installed name only: a Stage also takes folders, which a request
        # must never name.
        good, bad = discovery.scan()
        if name in bad:
            raise ValueError(str(bad[name]))
        if name not in good:
            raise LookupError(f"no extension {name!r} is installed (installed: {', '.join(good)})")
        with self._lock:
            if name in self._stages:
                raise ValueError(f"extension {name!r} is already started here")
            try:
                stage = Stage([good[name].folder])
            except (ManifestError, SandboxUnavailable) as e:
                raise ValueError(str(e)) from None
            self._stages[name] = stage
        try:
            stage.start()
        except ExtensionError as e:
            with self._lock:
                self._stages.pop(name, None)
            stage.close()
            raise ValueError(str(e)) from None
        return {"name": name, **self._live(name)}

    def stop(self, name: str) -> dict[str, Any]:
        with self._lock:
            stage = self._stages.pop(name, None)
        if stage is None:
            raise LookupError(f"extension {name!r} is not started here")
        stage.close()
        return {"name": name, "state": "stopped", "restarts": 0}

    def close(self) -> None:
        with self._lock:
            stages, self._stages = list(self._stages.values()), {}
        for stage in stages:
            stage.close()


class ExtensionsHandler(ServiceHandler):
    def initialize(self, service: ExtensionService) -> None:
        self.service = service


class ListHandler(ExtensionsHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self.answer(self.service.listing)


class StartHandler(ExtensionsHandler):
    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        await self.answer(self.service.start, name)


class StopHandler(ExtensionsHandler):
    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        await self.answer(self.service.stop, name)


def routes(base: str, service: ExtensionService) -> list[tuple[str, type, dict[str, Any]]]:
    options = {"service": service}
    return [
        (f"{base}/extensions", ListHandler, options),
        (f"{base}/extensions/{NAME}/start", StartHandler, options),
        (f"{base}/extensions/{NAME}/stop", StopHandler, options),
    ]
