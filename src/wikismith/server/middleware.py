"""One pure-ASGI middleware for what every request needs: a request id, the body size limit, metrics and an
access log line. Pure ASGI (not `BaseHTTPMiddleware`) so it costs a few microseconds and never buffers a stream.

- `x-request-id`: taken from the request when it is a short token, else generated; echoed on the response and
  available to log records as `request_id` (a context variable, see `RequestIdFilter`).
- Body limit: a `Content-Length` above the limit is refused with 413 before anything is read; a chunked body is
  counted as it is read and refused the same way when it passes the limit.
- The access log has the path without its query string (DeepWiki sends `authorization_code` in the query).
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
from collections.abc import Mapping
from random import getrandbits
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wikismith.server.errors import HTTPProblem, problem_response
from wikismith.server.fastpath import Endpoint, dispatch
from wikismith.server.metrics import Metrics

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
access_log = logging.getLogger("wikismith.server.access")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (for formats such as `%(request_id)s`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class _BodyTooLarge(HTTPException):
    """Raised from `receive`; an HTTPException so FastAPI's own body parsing re-raises it as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body: int,
        routes: frozenset[str],
        fast: Mapping[tuple[str, str], Endpoint] | None = None,
    ) -> None:
        self.app = app
        self.fast = dict(fast or {})
        self.metrics = metrics
        self.max_body = max_body
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            request_id_var.set(self._request_id(scope))
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = self._request_id(scope)
        token = request_id_var.set(rid)
        status = 499  # nginx's "client closed request": the request ended with no response at all
        sent_start = False
        deepwiki = not scope["path"].startswith("/v1/")
        rid_header = (b"x-request-id", rid.encode())

        async def send_wrapper(message: Message) -> None:
            nonlocal status, sent_start
            if message["type"] == "http.response.start":
                status = message["status"]
                sent_start = True
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        try:
            length = self._content_length(scope)
            if length is not None and length > self.max_body:
                raise _BodyTooLarge(self.max_body)
            receive = self._limited(receive) if length is None else receive
            endpoint = self.fast.get((scope["method"], scope["path"]))
            if endpoint is not None:
                await dispatch(endpoint, scope, receive, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        except _BodyTooLarge:
            if sent_start:
                raise
            problem = HTTPProblem(413, f"request body larger than {self.max_body} bytes", code="payload_too_large")
            await problem_response(problem, deepwiki=deepwiki)(scope, receive, send_wrapper)
        except Exception:
            status = status if sent_start else 500
            raise
        finally:
            took = time.perf_counter() - started
            path = scope["path"]
            route = path if path in self.routes else "other"
            self.metrics.observe_request(route, scope["method"], status, took)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info("%s %s %d %.1fms", scope["method"], path, status, took * 1000)
            request_id_var.reset(token)

    def _limited(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _BodyTooLarge(self.max_body)
            return message

        return counted

    @staticmethod
    def _content_length(scope: Scope) -> int | None:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return None
        return None

    @staticmethod
    def _request_id(scope: Scope) -> str:
        headers: Any = scope.get("headers", ())
        for name, value in headers:
            if name == b"x-request-id":
                given: str = value.decode("latin-1")
                if _VALID_ID.match(given):
                    return given
                break
        return f"{getrandbits(64):016x}"  # 16 hex digits; not a secret, so no system call (os.urandom, uuid4)
