"""The ArtifactStore over REST, under ``/symphony/api/artifacts``: a page of
it (newest first), full-text search, one artifact's metadata with its
lineage and names, its content for previews, pins.

Content is served as data, never as a page of this origin: types a browser
would run (HTML, SVG, XML, anything unknown) go out as attachments under a
sandboxing Content-Security-Policy; images and plain text go out as they are.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from symphony_jupyter.base import ServiceHandler
from symphony_lab.pit import ArtifactStore
from symphony_lab.pit.errors import ArtifactError, UnknownArtifact

HASH = r"(?P<hash_hex>[^/]+)"
#: Shown inline; everything else is an attachment.
INLINE = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "text/plain", "text/csv"})
MAX_PAGE = 500


class ArtifactService:
    """The store under ``store_dir``, opened on first use (the folder may
    appear after the server starts)."""

    def __init__(self, store_dir: Path) -> None:
        self.store_dir = store_dir
        self._store: ArtifactStore | None = None
        self._lock = threading.Lock()

    def store(self) -> ArtifactStore | None:
        with self._lock:
            if self._store is None and (self.store_dir / "index.sqlite").exists():
                self._store = ArtifactStore(self.store_dir)
            return self._store

    def page(self, offset: int, limit: int, kind: str | None) -> dict[str, Any]:
        store = self.store()
        if store is None:
            return {"store": str(self.store_dir), "total": 0, "items": [], "exists": False}
        total, items = store.page(offset, limit, kind=kind)
        return {"store": str(self.store_dir), "total": total, "items": items, "exists": True}

    def search(self, query: str, limit: int, kind: str | None) -> list[dict[str, Any]]:
        store = self.store()
        return [] if store is None else store.search(query, kind=kind, limit=limit)

    def detail(self, hash_hex: str) -> dict[str, Any]:
        store = self._need(hash_hex)
        info = store.info(hash_hex)
        pins = {h: reason for h, reason, _ in store.pins()}
        info["pinned"] = hash_hex in pins
        info["pin_reason"] = pins.get(hash_hex)
        info["lineage"] = [list(edge) for edge in store.lineage(hash_hex)]
        return info

    def content(self, hash_hex: str, max_bytes: int | None) -> tuple[bytes, str | None, int]:
        store = self._need(hash_hex)
        info = store.info(hash_hex)
        if max_bytes is None:
            return store.get_by_hash(hash_hex), info["media_type"], int(info["size"])
        # A preview of a large artifact reads its first bytes only (mapped, not loaded).
        buffer = store.get_buffer(hash_hex)
        # The stub declares the buffer protocol for Python >= 3.12 (where typing can say it).
        with memoryview(buffer) as view:  # type: ignore[arg-type,unused-ignore]
            return bytes(view[:max_bytes]), info["media_type"], len(view)

    def pin(self, hash_hex: str, reason: str | None) -> None:
        self._need(hash_hex).pin(hash_hex, reason)

    def unpin(self, hash_hex: str) -> bool:
        return self._need(hash_hex).unpin(hash_hex)

    def _need(self, hash_hex: str) -> ArtifactStore:
        store = self.store()
        if store is None:
            raise UnknownArtifact(f"no artifact store at {self.store_dir}")
        return store


class ArtifactsHandler(ServiceHandler):
    bad_request = (ArtifactError,)

    def initialize(self, service: ArtifactService) -> None:
        self.service = service


class ListHandler(ArtifactsHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        offset = self.number("offset", 0)
        limit = self.number("limit", 50, MAX_PAGE)
        kind = self.get_argument("kind", None) or None
        self.finish(json.dumps(await self.call(self.service.page, offset, limit, kind)))


class SearchHandler(ArtifactsHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        query = self.get_argument("q", "").strip()
        if not query:
            raise web.HTTPError(400, "q: the words to search for are missing")
        limit = self.number("limit", 20, MAX_PAGE)
        kind = self.get_argument("kind", None) or None
        hits = await self.call(self.service.search, query, limit, kind)
        self.finish(json.dumps({"hits": hits}))


class DetailHandler(ArtifactsHandler):
    @web.authenticated
    @authorized
    async def get(self, hash_hex: str) -> None:
        self.finish(json.dumps(await self.call(self.service.detail, hash_hex)))


class ContentHandler(ArtifactsHandler):
    @web.authenticated
    @authorized
    async def get(self, hash_hex: str) -> None:
        raw = self.get_argument("max_bytes", "")
        limit = self.number("max_bytes", 0) if raw else None
        data, media_type, size = await self.call(self.service.content, hash_hex, limit)
        kind = media_type or "application/octet-stream"
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-Artifact-Size", str(size))
        self.set_header("X-Artifact-Media-Type", kind)
        if kind not in INLINE:
            self.set_header("Content-Security-Policy", "sandbox")
            self.set_header("Content-Disposition", f'attachment; filename="{hash_hex[:16]}"')
            kind = "application/octet-stream"
        self.finish(data, set_content_type=kind)


class PinHandler(ArtifactsHandler):
    @web.authenticated
    @authorized
    async def post(self, hash_hex: str) -> None:
        body = self.body()
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise web.HTTPError(400, "reason must be a string")
        await self.call(self.service.pin, hash_hex, reason)
        self.finish(json.dumps({"hash": hash_hex, "pinned": True}))


class UnpinHandler(ArtifactsHandler):
    @web.authenticated
    @authorized
    async def post(self, hash_hex: str) -> None:
        was = await self.call(self.service.unpin, hash_hex)
        self.finish(json.dumps({"hash": hash_hex, "pinned": False, "was_pinned": was}))


def routes(base: str, service: ArtifactService) -> list[tuple[str, type, dict[str, Any]]]:
    options = {"service": service}
    return [
        (f"{base}/artifacts", ListHandler, options),
        (f"{base}/artifacts/search", SearchHandler, options),
        (f"{base}/artifacts/{HASH}", DetailHandler, options),
        (f"{base}/artifacts/{HASH}/content", ContentHandler, options),
        (f"{base}/artifacts/{HASH}/pin", PinHandler, options),
        (f"{base}/artifacts/{HASH}/unpin", UnpinHandler, options),
    ]
