"""``symphony kit serve``: a registry over HTTP, for a team.

Routes (tornado, as Jupyter's server uses; the JupyterLab package mounts the
same handlers under ``/symphony/registry`` when ``c.SymphonyKit.registry_dir``
names a registry)::

    GET /index.json, /index.json.minisig       the signed index
    GET /packages/NAME/VERSION.symph[.minisig] a package and its signature
    GET /search?q=WORDS&limit=N                ranked hits, as JSON
    GET /info/NAME                             every version, as JSON
    PUT /packages                              publish: the package as the body, its
                                               signature (base64) in X-Symphony-Signature;
                                               needs "Authorization: Bearer TOKEN"

Reading needs a token too when the registry is not public. Errors are JSON
(``{"error": ...}``) with a status that says whose fault it was.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Any

import tornado.web

from symphony_lab.kit.errors import AuthError, PackageError, RegistryError
from symphony_lab.kit.registry import RegistryStore
from symphony_lab.pit import KitError, SignatureError

#: The largest package a PUT may carry.
MAX_BODY = 256 * 2**20


class _Handler(tornado.web.RequestHandler):
    def initialize(self, store: RegistryStore) -> None:
        self.store = store

    def check_xsrf_cookie(self) -> None:
        # Clients send a token in a header, which a browser never adds on its
        # own; cookies authorise nothing here, so a server that turns XSRF
        # checks on (Jupyter's) has nothing to check.
        return

    def _token(self) -> str | None:
        auth = self.request.headers.get("Authorization", "")
        return auth.removeprefix("Bearer ").strip() or None

    def prepare(self) -> None:
        if self.request.method == "GET" and not self.store.public_read:
            self._check(self._token())

    def _check(self, token: str | None) -> None:
        try:
            self.store.check_token(token)
        except AuthError as e:
            raise tornado.web.HTTPError(401 if token is None else 403, reason=str(e)) from None

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": self._reason}))

    def _json(self, value: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))

    def _fail(self, status: int, e: Exception) -> None:
        raise tornado.web.HTTPError(status, reason=str(e).replace("\n", " ")) from None


class IndexHandler(_Handler):
    def get(self, signature: str) -> None:
        data, sig = self.store.index()
        if signature:
            self.set_header("Content-Type", "text/plain")
            self.finish(sig)
        else:
            self.set_header("Content-Type", "application/json")
            self.finish(data)


class PackageHandler(_Handler):
    def get(self, name: str, version: str, signature: str) -> None:
        try:
            data, sig = self.store.package(name, version)
        except RegistryError as e:
            self._fail(404, e)
        self.set_header("Content-Type", "text/plain" if signature else "application/gzip")
        self.finish(sig if signature else data)


class PublishHandler(_Handler):
    def put(self) -> None:
        self._check(self._token())
        try:
            sig = base64.b64decode(
                self.request.headers.get("X-Symphony-Signature", ""), validate=True
            ).decode()
        except (binascii.Error, UnicodeDecodeError) as e:
            self._fail(400, ValueError(f"X-Symphony-Signature is not base64: {e}"))
        if not sig:
            self._fail(
                400, ValueError("no X-Symphony-Signature header: packages are published signed")
            )
        try:
            info = self.store.publish(self.request.body, sig)
        except SignatureError as e:
            self._fail(403, e)
        except (PackageError, KitError) as e:
            self._fail(409 if "published already" in str(e) else 400, e)
        self.set_status(201)
        self._json({"name": info.name, "version": info.version, "sha256": info.digest})


class SearchHandler(_Handler):
    def get(self) -> None:
        query = self.get_argument("q", "")
        try:
            limit = max(1, min(100, int(self.get_argument("limit", "20"))))
        except ValueError:
            self._fail(400, ValueError("limit must be a whole number"))
        self._json([h.__dict__ for h in self.store.search(query, limit)])


class InfoHandler(_Handler):
    def get(self, name: str) -> None:
        versions = self.store.versions(name)
        if not versions:
            self._fail(404, RegistryError(f"no package named {name!r}"))
        self._json(versions)


def routes(
    store: RegistryStore, prefix: str = ""
) -> list[tuple[str, type[_Handler], dict[str, Any]]]:
    kw = {"store": store}
    return [
        (rf"{prefix}/index\.json(\.minisig)?", IndexHandler, kw),
        (
            rf"{prefix}/packages/([a-z][a-z0-9_-]*)/([0-9A-Za-z.+-]+)\.symph(\.minisig)?",
            PackageHandler,
            kw,
        ),
        (rf"{prefix}/packages", PublishHandler, kw),
        (rf"{prefix}/search", SearchHandler, kw),
        (rf"{prefix}/info/([a-z][a-z0-9_-]*)", InfoHandler, kw),
    ]


def serve(store: RegistryStore, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serves ``store`` until interrupted; says so once it listens."""

    async def main() -> None:
        app = tornado.web.Application(routes(store))
        app.listen(port, address=host, max_body_size=MAX_BODY)
        print(f"serving registry {store.name!r} on http://{host}:{port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
