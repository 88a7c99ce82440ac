"""The FastAPI app factory: DeepWiki's API, the OpenAI-compatible gateway and `/metrics`, over one router.

    app = create_app(settings, config)          # the lifespan builds the router and closes it on shutdown
    app = create_app(settings, config, router=r)  # tests: a router over scripted clients (closed by the caller)

Environment (read from `settings.env`): WIKISMITH_CORS_ORIGINS (comma-separated origins; `*` allows any origin
but then never with credentials; unset: no CORS headers), WIKISMITH_METRICS_AUTH (`1`: `/metrics` needs a gateway
key), WIKISMITH_CATALOGUE_REFRESH (`0`: do not fetch the live model catalogue at startup), and the limits in
`deps.ServerLimits`; WIKISMITH_METRICS_DIR (several workers: where each writes its counts for /metrics to sum;
`serve --workers N` makes one per run); WIKISMITH_MAX_JOBS (generation jobs run at once, default 1).

The lifespan owns the generation jobs (`wikismith.jobs`): opened at startup (resuming those a stopped server left
running), closed at shutdown (running ones are marked interrupted, to be resumed by the next start).

At startup the model catalogue is refreshed in the background (when its cache is stale and an aggregator is
configured), bounded by `_REFRESH_TIMEOUT`; serving never waits for it and a failure only logs a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from wikismith.config.models import AppConfig, ConfigError
from wikismith.config.settings import Settings
from wikismith.jobs import FileJobStore, JobContext, JobQueue, StoreBusy, max_jobs_setting
from wikismith.llm.base import Embedder
from wikismith.llm.errors import LLMError
from wikismith.redact import redact
from wikismith.router import Router, build_router
from wikismith.server import embeddings, web
from wikismith.server.auth import Auth
from wikismith.server.deps import ServerLimits, ServerState, settle_heap
from wikismith.server.errors import (
    HTTPProblem,
    config_error_response,
    llm_error_response,
    problem_response,
)
from wikismith.server.fastpath import fast_routes
from wikismith.server.mcp import http as mcp_http
from wikismith.server.metrics import Metrics
from wikismith.server.middleware import EdgeMiddleware
from wikismith.server.routes import chat, jobs, local, openai, wiki
from wikismith.server.routes import config as config_routes
from wikismith.server.streaming import ClientGone

log = logging.getLogger("wikismith.server")

_REFRESH_TIMEOUT = 10.0
_CLIENT_CLOSED = 499  # nginx's "client closed request", as the edge middleware records a request left unanswered
_FALSE = frozenset({"0", "false", "no", "off"})


def _deepwiki(request: Request) -> bool:
    return not request.url.path.startswith("/v1/")


def _install_error_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPProblem)
        return problem_response(exc, deepwiki=_deepwiki(request))

    async def on_llm_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LLMError)
        log.info("model call failed: %s", exc)
        return llm_error_response(exc, deepwiki=_deepwiki(request))

    async def on_config_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ConfigError)
        return config_error_response(exc, deepwiki=_deepwiki(request))

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        loc = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
        message = f"invalid request: {loc}: {errors[0]['msg']}" if errors else "invalid request"
        # OpenAI answers a malformed body with 400; FastAPI (and so DeepWiki's clients) expect 422.
        status = 422 if _deepwiki(request) else 400
        problem = HTTPProblem(status, message, code="invalid_request", param=loc or None)
        return problem_response(problem, deepwiki=_deepwiki(request))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        problem = HTTPProblem(exc.status_code, str(exc.detail), headers=exc.headers)
        return problem_response(problem, deepwiki=_deepwiki(request))

    async def on_client_gone(request: Request, exc: Exception) -> Response:
        # The client left before its request was whole: there is nobody to answer, and nothing failed. The
        # response is never sent (uvicorn drops it); its status is what the access log and metrics record.
        return Response(status_code=_CLIENT_CLOSED)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        problem = HTTPProblem(500, "internal server error (see the server log for this request id)", code="internal")
        return problem_response(problem, deepwiki=_deepwiki(request))

    app.add_exception_handler(HTTPProblem, on_problem)
    app.add_exception_handler(LLMError, on_llm_error)
    app.add_exception_handler(ConfigError, on_config_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(ClientGone, on_client_gone)
    app.add_exception_handler(ClientDisconnect, on_client_gone)  # Starlette's, from `request.body()`/`form()`
    app.add_exception_handler(Exception, on_unexpected)


def _cors(app: FastAPI, settings: Settings) -> None:
    raw = settings.env.get("WIKISMITH_CORS_ORIGINS", "")
    origins = [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]
    if not origins:
        return
    wildcard = "*" in origins
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"] if wildcard else origins,
        allow_credentials=not wildcard,  # `*` with credentials would let any site act as the user
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["authorization", "content-type", "x-request-id", "x-deepwiki-auth-code"],
        expose_headers=["x-wikismith-target", "x-wikismith-variant", "x-request-id", "retry-after"],
    )


async def _refresh_catalogue(server: ServerState, timeout: float) -> None:
    """Fetch the live model catalogue once (the router skips a fresh cache); never raises."""
    try:
        if await asyncio.wait_for(server.router.refresh_catalogue(), timeout):
            server.extras.pop("models_config", None)  # names may have changed
            log.info("model catalogue refreshed: %d models", len(server.router.catalogue.models()))
    except TimeoutError:
        log.warning("model catalogue refresh gave up after %.0fs; the cached or shipped list stays", timeout)
    except Exception as exc:  # offline, a bad answer: the cached or shipped list stays in use
        log.warning("model catalogue refresh failed: %s", redact(str(exc)))


def _start_refresh(server: ServerState) -> asyncio.Task[None] | None:
    if server.settings.env.get("WIKISMITH_CATALOGUE_REFRESH", "").strip().lower() in _FALSE:
        return None
    return asyncio.create_task(_refresh_catalogue(server, _REFRESH_TIMEOUT), name="catalogue-refresh")


async def _publish_metrics(metrics: Metrics, every: float = 1.0) -> None:
    """With several workers: this worker's counts to the shared directory, every second (see `metrics`)."""
    while True:
        await asyncio.sleep(every)
        _publish(metrics)


def _publish(metrics: Metrics) -> None:
    try:
        metrics.publish()
    except OSError as exc:  # a full or vanished directory costs the figures, never the serving
        log.warning("could not write the metrics file: %s", exc)


async def _open_jobs(server: ServerState, max_jobs: int) -> JobQueue | None:
    """The generation jobs, over the server's router and wiki cache, recorded under the data directory, opened
    (resuming what the last server left running); None when another server process runs them."""

    def embedder() -> Embedder:  # the chat's: one model loaded, one index per repository for both
        return chat.index_cache(server).embedder(server.config, None)

    context = JobContext(server.router, server.settings, server.config, wiki.store(server), embedder)
    queue = JobQueue(context, FileJobStore(server.settings.data.jobs), max_jobs=max_jobs)
    try:
        await queue.open()
    except StoreBusy as exc:  # `serve --workers N`, or a second server on the same WIKISMITH_HOME
        log.warning("generation jobs are off in this process: %s", exc)
        return None
    return queue


def create_app(settings: Settings, config: AppConfig, *, router: Router | None = None) -> FastAPI:
    """Raises ConfigError for a contradictory server setting (WIKISMITH_METRICS_AUTH without gateway keys)."""
    limits = ServerLimits.from_env(settings.env)
    shared = settings.env.get("WIKISMITH_METRICS_DIR", "").strip()
    metrics = Metrics(Path(shared) if shared else None)
    auth = Auth.from_settings(settings)
    if auth.metrics and not auth.keys:
        raise ConfigError("WIKISMITH_METRICS_AUTH=1 protects /metrics with the gateway keys: set WIKISMITH_API_KEYS")
    max_jobs = max_jobs_setting(settings.env)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = router is None
        active = build_router(config, settings) if router is None else router
        server = ServerState(settings, config, active, metrics, auth, limits)
        metrics.watch_limiter(active.limiter)
        metrics.watch_streams(lambda: server.streams)
        metrics.bound_targets(server.known_target)
        app.state.server = server
        server.jobs = await _open_jobs(server, max_jobs)
        refresh = _start_refresh(server)
        publishing = asyncio.create_task(_publish_metrics(metrics), name="metrics") if metrics.shared_dir else None
        settle_heap()  # the start-up heap is built: freeze it before the first request
        try:
            async with mcp_http.serving(app):
                yield
        finally:
            if server.jobs is not None:
                await server.jobs.aclose()  # running jobs are interrupted, to be resumed by the next server
            for task in (refresh, publishing):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            _publish(metrics)
            await embeddings.close_embedders(server)
            await chat.close_index_cache(server)
            if owned:
                await active.aclose()

    app = FastAPI(
        title="wikismith",
        version="0.1.0",
        description="DeepWiki-compatible API and an OpenAI-compatible gateway.",
        lifespan=lifespan,
        # wikismith exports its own Prometheus metrics; FastAPI's OpenTelemetry hooks would cost a provider
        # lookup per request even when nothing is configured.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
        docs_url=None,  # the web app serves /docs from its own copy of Swagger UI (FastAPI's loads a CDN)
        redoc_url=None,
    )
    _install_error_handlers(app)
    modules = (openai, config_routes, wiki, chat, local, jobs)
    routers = [*web.routers(), *(m.router for m in modules)]
    for api_router in routers:
        app.include_router(api_router)
    mcp_http.mount(app, auth, settings)  # `/mcp`: the MCP server over this app's state
    web.mount_assets(app)
    paths = frozenset(getattr(r, "path", "") for api_router in routers for r in api_router.routes) | {mcp_http.PATH}
    app.add_middleware(
        EdgeMiddleware, metrics=metrics, max_body=limits.max_body_bytes, routes=paths, fast=fast_routes()
    )
    _cors(app, settings)  # added last, so outermost: the edge's fast routes and its 413s get CORS headers too
    return app


def app_from_env() -> FastAPI:
    """The app for settings and configuration read from the environment (uvicorn's factory for --workers)."""
    from wikismith.config.models import load_config
    from wikismith.server.logs import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.env.get("WIKISMITH_LOG_LEVEL", "info"))
    return create_app(settings, load_config(settings.config_dir, settings.env))
