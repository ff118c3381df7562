"""REST routes of the workbench, under ``/symphony/api/``: runs here, artifacts,
extensions and the marketplace in their modules; a team registry, when
configured, under ``/symphony/registry/``."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join
from tornado import web

from symphony_jupyter._version import __version__
from symphony_jupyter.artifacts import ArtifactService
from symphony_jupyter.artifacts import routes as artifact_routes
from symphony_jupyter.base import ServiceHandler
from symphony_jupyter.extensions import ExtensionService
from symphony_jupyter.extensions import routes as extension_routes
from symphony_jupyter.kit import KitService
from symphony_jupyter.kit import routes as kit_routes
from symphony_jupyter.quest import QuestService
from symphony_jupyter.quest import routes as quest_routes
from symphony_jupyter.stream import StreamHandler
from symphony_lab.kit.registry import RegistryStore
from symphony_lab.kit.serve import routes as registry_routes
from symphony_lab.runs import RunManager

RUN = r"(?P<run_id>[^/]+)"
CONTENT_TYPES = {
    "csv": "text/csv",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "txt": "text/plain",
}


class RunsHandler(ServiceHandler):
    def initialize(self, manager: RunManager) -> None:
        self.manager = manager


class InfoHandler(RunsHandler):
    """Where the workbench keeps things (the settings that name paths are the
    server's: ``c.SymphonyRuns.runs_dir``, ``c.SymphonyArtifacts.store_dir``)."""

    def initialize(self, manager: RunManager, store_dir: str = "") -> None:
        self.manager = manager
        self.store_dir = store_dir

    @web.authenticated
    @authorized
    async def get(self) -> None:
        info = {
            "version": __version__,
            "runs_dir": str(self.manager.runs_dir),
            "store_dir": self.store_dir,
        }
        self.finish(json.dumps(info))


class RunListHandler(RunsHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        runs = await self.call(self.manager.listing)
        self.finish(json.dumps({"runs": runs}))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        data = self.body()
        unknown = sorted(set(data) - {"kind", "params"})
        if unknown:
            raise web.HTTPError(400, f"unknown fields {unknown}; expected kind and params")
        rec = await self.call(self.manager.start, data.get("kind", ""), data.get("params", {}))
        self.set_status(201)
        self.finish(json.dumps(rec.to_dict()))


class RunHandler(RunsHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        rec = await self.call(self.manager.get, run_id)
        self.finish(json.dumps(rec.to_dict()))


class EventsHandler(RunsHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        start = self.number("start", 0)
        events, following = await self.call(self.manager.events, run_id, start=start)
        self.finish(json.dumps({"events": events, "next": following}))


class LogsHandler(RunsHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        tail = self.number("tail", 20_000)
        text = await self.call(self.manager.logs, run_id, tail=tail)
        self.finish(json.dumps({"log": text}))


class FileHandler(RunsHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str, name: str) -> None:
        data = await self.call(self.manager.read_file, run_id, name)
        kind = CONTENT_TYPES.get(name.rsplit(".", 1)[-1], "application/octet-stream")
        self.set_header("X-Content-Type-Options", "nosniff")
        base = urllib.parse.quote(name.rsplit("/", 1)[-1])
        self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{base}")
        self.finish(data, set_content_type=kind)


class CancelHandler(RunsHandler):
    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        rec = await self.call(self.manager.cancel, run_id)
        self.finish(json.dumps(rec.to_dict()))


class ResumeHandler(RunsHandler):
    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        rec = await self.call(self.manager.resume, run_id)
        self.finish(json.dumps(rec.to_dict()))


def setup_handlers(
    web_app: Any,
    manager: RunManager,
    artifacts: ArtifactService,
    extensions: ExtensionService,
    quest: QuestService,
    kit: KitService,
    registry: RegistryStore | None,
) -> None:
    if registry is not None:
        # Clients of a registry authenticate with its own tokens, as with symphony kit serve.
        prefix = url_path_join(web_app.settings["base_url"], "symphony", "registry")
        web_app.add_handlers(".*$", registry_routes(registry, prefix))
    api = url_path_join(web_app.settings["base_url"], "symphony", "api")
    base = url_path_join(api, "runs")
    options = {"manager": manager}
    web_app.add_handlers(
        ".*$",
        [
            (
                url_path_join(api, "info"),
                InfoHandler,
                {**options, "store_dir": str(artifacts.store_dir)},
            ),
            *artifact_routes(api, artifacts),
            *extension_routes(api, extensions),
            *quest_routes(api, quest),
            *kit_routes(api, kit),
            (base, RunListHandler, options),
            (url_path_join(base, RUN), RunHandler, options),
            (url_path_join(base, RUN, "events"), EventsHandler, options),
            (url_path_join(base, RUN, "logs"), LogsHandler, options),
            (url_path_join(base, RUN, "files", r"(?P<name>.+)"), FileHandler, options),
            (url_path_join(base, RUN, "cancel"), CancelHandler, options),
            (url_path_join(base, RUN, "resume"), ResumeHandler, options),
            (url_path_join(base, RUN, "stream"), StreamHandler, options),
        ],
    )
