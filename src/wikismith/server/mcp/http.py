"""The MCP server in the FastAPI app, at `/mcp` (streamable HTTP, the SDK's transport), over the app's own state.

    mount(app, auth, settings)              # in create_app: the route, behind the gateway keys when set
    async with serving(app): ...            # in the app's lifespan: the SDK's session manager runs meanwhile

Stateless (each request stands alone, so `serve --workers N` needs no shared sessions); a tool call's progress
notifications and result come back on its own response stream. When `WIKISMITH_API_KEYS` is set every request
needs `Authorization: Bearer <key>` (401 otherwise, as on `/v1`). DNS-rebinding protection (the SDK's): the
`Host` must be a loopback name or one listed in `WIKISMITH_MCP_ALLOWED_HOSTS` (comma-separated `host[:port]`,
`host:*` for any port, `*` for any host), and a browser's `Origin` a loopback one or one of
`WIKISMITH_CORS_ORIGINS`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from wikismith.config.settings import Settings
from wikismith.server.auth import Auth
from wikismith.server.deps import ServerState
from wikismith.server.errors import HTTPProblem, problem_response
from wikismith.server.mcp.runtime import Runtime
from wikismith.server.mcp.server import WikiServer, build_server

PATH = "/mcp"
_LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]", "127.0.0.1:*", "localhost:*", "[::1]:*"]
_LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
_LOOPBACK_ORIGINS += [o.removesuffix(":*") for o in _LOOPBACK_ORIGINS]


def _listed(settings: Settings, name: str) -> list[str]:
    return [item.strip().rstrip("/") for item in settings.env.get(name, "").split(",") if item.strip()]


def transport_security(settings: Settings) -> TransportSecuritySettings:
    hosts = _listed(settings, "WIKISMITH_MCP_ALLOWED_HOSTS")
    if "*" in hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    origins = [o for o in _listed(settings, "WIKISMITH_CORS_ORIGINS") if o != "*"]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*_LOOPBACK_HOSTS, *hosts],
        allowed_origins=[*_LOOPBACK_ORIGINS, *origins],
    )


class _KeyGuard:
    """The gateway keys in front of the SDK's app: a request without a valid one is answered 401 here."""

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                self.auth.bearer(Headers(scope=scope))
            except HTTPProblem as problem:
                await problem_response(problem, deepwiki=True)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def runtime_of(server: ServerState) -> Runtime:
    """The MCP tools' runtime over the app's state: its router, wiki store, index cache and local roots."""
    from wikismith.server.routes.chat import index_cache
    from wikismith.server.routes.wiki import store

    runtime = server.extras.get("mcp_runtime")
    if runtime is None:
        runtime = Runtime(
            server.settings,
            server.config,
            server.router,
            store(server),
            index_cache(server),
            server.local_roots,
            jobs=server.jobs,
            jobs_off="generation jobs are off in this server process (another process of this data directory runs"
            " them)",
        )
        server.extras["mcp_runtime"] = runtime
    assert isinstance(runtime, Runtime)
    return runtime


def mount(app: FastAPI, auth: Auth, settings: Settings) -> WikiServer:
    """Add `/mcp` to `app` (its state is read per request, once the lifespan has built it)."""
    server = build_server(lambda: runtime_of(app.state.server))
    inner = server.streamable_http_app(
        streamable_http_path=PATH, stateless_http=True, transport_security=transport_security(settings)
    )
    app.router.routes.append(Route(PATH, endpoint=_KeyGuard(inner, auth)))
    # Stateless, every request ends its own transport, which the SDK logs at INFO ("Terminating session: None"):
    # a second line per request beside our access log, saying nothing.
    logging.getLogger("mcp.server.streamable_http").setLevel(logging.WARNING)
    app.state.mcp_server = server
    return server


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[None]:
    """Run the SDK's session manager for the app's lifetime (no-op for an app without `/mcp`)."""
    server = getattr(app.state, "mcp_server", None)
    if not isinstance(server, WikiServer):
        yield
        return
    async with server.session_manager.run():
        yield
