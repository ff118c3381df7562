"""The marketplace over REST, under ``/symphony/api/kit``: Orchestra Kit in
the Jupyter server.

    GET  kit/search?q=WORDS            the configured registries' hits, newest version each
    GET  kit/installed                 what the kit installed, with the newest available
    POST kit/review {targets, upgrade} the changes an install would make, verified, with
                                       the permissions each asks for
    POST kit/jobs {targets, upgrade, accept}
                                       starts the install; ``accept`` holds the review texts
                                       the user accepted, and nothing else is accepted
    GET  kit/jobs/ID                   its progress: each step heard, of how many
    POST kit/installed/NAME/rollback|uninstall

An install runs in a thread of its own, one at a time per server. A package
whose permissions differ from the reviewed text is refused, so what the user
accepted is exactly what is installed.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from symphony_jupyter.base import Busy, ServiceHandler
from symphony_jupyter.extensions import ExtensionService
from symphony_lab.kit import Kit, permission_lines
from symphony_lab.pit import KitError, kit_sort_versions
from symphony_lab.sdk.manifest import load_manifest

NAME = r"(?P<name>[a-z][a-z0-9_-]*)"
#: The jobs a server remembers; the oldest finished ones go first.
KEEP_JOBS = 32


@dataclass
class Job:
    id: str
    targets: list[str]
    upgrade: bool
    state: str = "running"
    total: int = 0
    steps: list[dict[str, str]] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    error: str | None = None


class KitService:
    def __init__(self, home: Path | None, extensions: ExtensionService) -> None:
        self.home = home
        self.extensions = extensions
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def kit(self, job: Job | None = None) -> Kit:
        # Made for each request: registries added from a terminal count at once.
        def heard(step: str, name: str) -> None:
            if job is not None:
                with self._lock:
                    job.steps.append({"step": step, "package": name})

        return Kit(self.home, on_step=heard)

    def search(self, query: str, limit: int) -> dict[str, Any]:
        kit = self.kit()
        installed = kit.installed()
        offers, errors = kit.search(query, limit)
        hits = [
            {**asdict(o), "installed": installed[o.name].version if o.name in installed else None}
            for o in offers
        ]
        return {"hits": hits, "errors": errors}

    def installed(self) -> dict[str, Any]:
        kit = self.kit()
        errors = []
        try:
            available = kit.available()
        except (KitError, OSError) as e:
            available, errors = {}, [str(e)]
        out = []
        for ext in kit.installed().values():
            versions = kit_sort_versions([ext.version, *available.get(ext.name, {})])
            out.append(
                {
                    "name": ext.name,
                    "version": ext.version,
                    "previous": ext.previous,
                    "key_id": ext.key_id,
                    "sha256": ext.digest,
                    "newest": versions[-1],
                    "permissions": permission_lines(load_manifest(ext.folder)),
                }
            )
        return {"installed": out, "errors": errors}

    def review(self, targets: list[str], upgrade: bool) -> dict[str, Any]:
        reviews = self.kit().review(*targets, upgrade=upgrade)
        return {"changes": [asdict(r) for r in reviews]}

    def start(self, targets: list[str], upgrade: bool, accept: list[str]) -> dict[str, Any]:
        job = Job(uuid.uuid4().hex[:12], targets, upgrade)
        with self._lock:
            if any(j.state == "running" for j in self._jobs.values()):
                raise Busy("another install is running here; wait for it to finish")
            self._jobs[job.id] = job
            done = [j for j in self._jobs.values() if j.state != "running"]
            for old in done[: max(0, len(self._jobs) - KEEP_JOBS)]:
                del self._jobs[old.id]
        threading.Thread(target=self._run, args=(job, set(accept)), daemon=True).start()
        return self.job(job.id)

    def _run(self, job: Job, accept: set[str]) -> None:
        kit = self.kit(job)
        try:
            plan = kit.plan(*job.targets, upgrade=job.upgrade)
            with self._lock:
                # Four steps a package, and the lock once.
                job.total = 4 * len(plan) + 1
            changes = kit.install(
                *job.targets, upgrade=job.upgrade, confirm=lambda text: text in accept
            )
        except Exception as e:  # whatever stops it is the job's answer, not the thread's
            why = str(e) if isinstance(e, KitError) else f"{type(e).__name__}: {e}"
            with self._lock:
                job.state, job.error = "failed", why
            return
        with self._lock:
            job.state, job.changes = "done", changes

    def job(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise LookupError(f"no install job {job_id!r} here")
            return asdict(job)

    def rollback(self, name: str) -> dict[str, Any]:
        version = self.kit().rollback(name)
        return {"name": name, "version": version}

    def uninstall(self, name: str) -> dict[str, Any]:
        # Its files go: a process of it started here goes first.
        with contextlib.suppress(LookupError):  # not started here
            self.extensions.stop(name)
        self.kit().uninstall(name)
        return {"name": name, "uninstalled": True}


class KitHandler(ServiceHandler):
    # Kit's errors are ValueErrors: answered 400, with the message naming the cause.
    def initialize(self, service: KitService) -> None:
        self.service = service

    def targets(self, data: dict[str, Any]) -> list[str]:
        targets = self.field(data, "targets", list)
        if not targets or not all(isinstance(t, str) and t for t in targets):
            raise web.HTTPError(400, "targets: expected a list of NAME or NAME@RANGE")
        if any(t.endswith(".symph") or "/" in t for t in targets):
            raise web.HTTPError(400, "targets: name packages of a registry, not files")
        return list(targets)


class SearchHandler(KitHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        query = self.get_argument("q", "")
        await self.answer(self.service.search, query, self.number("limit", 20, most=100))


class InstalledHandler(KitHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self.answer(self.service.installed)


class ReviewHandler(KitHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        data = self.body()
        upgrade = self.field(data, "upgrade", bool, False)
        await self.answer(self.service.review, self.targets(data), upgrade)


class JobsHandler(KitHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        data = self.body()
        upgrade = self.field(data, "upgrade", bool, False)
        accept = self.field(data, "accept", list, [])
        if not all(isinstance(a, str) for a in accept):
            raise web.HTTPError(400, "accept: expected a list of the review texts accepted")
        self.set_status(202)
        await self.answer(self.service.start, self.targets(data), upgrade, accept)


class JobHandler(KitHandler):
    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        await self.answer(self.service.job, job_id)


class RollbackHandler(KitHandler):
    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        await self.answer(self.service.rollback, name)


class UninstallHandler(KitHandler):
    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        await self.answer(self.service.uninstall, name)


def routes(base: str, service: KitService) -> list[tuple[str, type, dict[str, Any]]]:
    options = {"service": service}
    kit = f"{base}/kit"
    return [
        (f"{kit}/search", SearchHandler, options),
        (f"{kit}/installed", InstalledHandler, options),
        (f"{kit}/review", ReviewHandler, options),
        (f"{kit}/jobs", JobsHandler, options),
        (rf"{kit}/jobs/(?P<job_id>[0-9a-f]{{12}})", JobHandler, options),
        (f"{kit}/installed/{NAME}/rollback", RollbackHandler, options),
        (f"{kit}/installed/{NAME}/uninstall", UninstallHandler, options),
    ]
