"""What every route of the workbench's services shares: Jupyter's auth
resource, the work done off the event loop, errors as JSON that name the
problem (a missing thing 404, a bad request 400, too many at once 429, too
slow 504), and the checks of a request's body and numbers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from jupyter_server.base.handlers import APIHandler
from tornado import web

T = TypeVar("T")
#: Jupyter's authorizer checks this resource for every route.
AUTH_RESOURCE = "symphony"


class Busy(RuntimeError):
    """Too many of this at once: try again later."""


class ServiceHandler(APIHandler):
    auth_resource = AUTH_RESOURCE
    #: Errors of the service that mean the request was wrong (ValueError always).
    bad_request: ClassVar[tuple[type[BaseException], ...]] = ()

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` off the event loop, its errors as JSON answers."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except Busy as e:
            raise web.HTTPError(429, str(e)) from None
        except LookupError as e:
            raise web.HTTPError(404, str(e).strip("'\"")) from None
        except ValueError as e:
            raise web.HTTPError(400, str(e)) from None
        except Exception as e:
            if isinstance(e, self.bad_request):
                raise web.HTTPError(400, str(e)) from None
            if isinstance(e, TimeoutError):
                raise web.HTTPError(504, str(e)) from None
            if isinstance(e, OSError):
                raise web.HTTPError(500, f"{type(e).__name__}: {e}") from None
            raise

    async def answer(self, fn: Callable[..., Any], *args: Any) -> None:
        """:meth:`call`, its result sent as JSON."""
        self.finish(json.dumps(await self.call(fn, *args)))

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError as e:  # not JSON, or not UTF-8
            raise web.HTTPError(400, f"the body is not JSON: {e}") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "the body must be a JSON object")
        return data

    def field(self, data: dict[str, Any], name: str, kind: type, default: Any = None) -> Any:
        """``data[name]``, which must be a ``kind`` (a bool is not an int)."""
        value = data.get(name, default)
        wrong = value is None or not isinstance(value, kind)
        if wrong or isinstance(value, bool) != (kind is bool):
            raise web.HTTPError(400, f"{name}: expected {kind.__name__}, got {value!r}")
        return value

    def number(self, name: str, default: int, most: int | None = None) -> int:
        """The query argument ``name``: a whole number from 0 (to ``most``)."""
        raw = self.get_argument(name, str(default))
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
            raise web.HTTPError(400, f"{name} must be an integer from 0 to 10^18, got {raw!r}")
        value = int(raw)
        if most is not None and value > most:
            raise web.HTTPError(400, f"{name} must be at most {most}, got {value}")
        return value
