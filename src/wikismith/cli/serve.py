"""`wikismith serve`: the DeepWiki-compatible API and the OpenAI-compatible gateway, with uvicorn
(uvloop and httptools when installed). `GET /health` answers once the server is ready."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from wikismith.cli.runtime import EXIT_CONFIG_ERROR, fail, load


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def _available(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8001,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
) -> None:
    """Serve DeepWiki's API and an OpenAI-compatible /v1 gateway over the configured providers."""
    import uvicorn

    from wikismith.server.logs import configure_logging

    if log_level.lower() not in ("debug", "info", "warning", "error"):
        fail(f"--log-level must be debug, info, warning or error, not {log_level!r}", EXIT_CONFIG_ERROR)
    settings, config = load()  # fail fast (exit 2) on a configuration error, before binding the port
    configure_logging(log_level)
    options = {
        "host": host,
        "port": port,
        "loop": "uvloop" if _available("uvloop") else "asyncio",
        "http": "httptools" if _available("httptools") else "h11",
        "log_config": None,
        "access_log": False,  # the app logs each request itself, with its request id
        "log_level": log_level.lower(),
        "timeout_graceful_shutdown": 10,
    }
    if workers > 1:  # each worker process builds its own app (and router) from the environment
        from wikismith.server.metrics import shared_directory

        os.environ["WIKISMITH_LOG_LEVEL"] = log_level.lower()
        with shared_directory(os.environ, workers):  # /metrics sums the workers' counts
            uvicorn.run("wikismith.server.app:app_from_env", factory=True, workers=workers, **options)  # type: ignore[arg-type]
        return
    from wikismith.config.models import ConfigError
    from wikismith.server import create_app

    try:
        app = create_app(settings, config)
    except ConfigError as exc:  # a server setting (WIKISMITH_MAX_JOBS, WIKISMITH_METRICS_AUTH, …)
        fail(str(exc), EXIT_CONFIG_ERROR)
    uvicorn.run(app, **options)  # type: ignore[arg-type]
