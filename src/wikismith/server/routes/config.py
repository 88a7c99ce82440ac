"""DeepWiki's small configuration routes (`/models/config`, `/lang/config`, `/auth/*`, `/health`, `/`) and
Prometheus' `/metrics`. Shapes are DeepWiki's (shared/deepwiki-compat.md §1.3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from wikismith.server.deps import state
from wikismith.server.metrics import CONTENT_TYPE
from wikismith.server.schemas import AuthCode, Health, LanguageConfig, ModelsConfig

router = APIRouter(tags=["DeepWiki configuration"])


@router.get("/")
async def root(request: Request) -> dict[str, Any]:
    """DeepWiki's welcome: the routes grouped by their first path segment (docs routes left out)."""
    endpoints: dict[str, list[str]] = {}
    for path, operations in request.app.openapi()["paths"].items():
        if path == "/":
            continue
        group = path.strip("/").split("/")[0].replace("_", " ").title()
        endpoints.setdefault(group, []).extend(f"{method.upper()} {path}" for method in operations)
    return {"message": "Welcome to Streaming API", "version": "1.0.0", "endpoints": endpoints}


@router.get("/health", response_model=Health)
async def health() -> dict[str, str]:
    """Answers once the app is started (the router is built in the lifespan, before serving)."""
    return {"status": "healthy", "timestamp": datetime.now(UTC).isoformat(), "service": "deepwiki-api"}


@router.get("/lang/config", response_model=LanguageConfig)
async def lang_config(request: Request) -> dict[str, Any]:
    lang = state(request).config.lang
    return {"supported_languages": dict(lang.supported_languages), "default": lang.default}


@router.get("/auth/status")
async def auth_status(request: Request) -> dict[str, bool]:
    return {"auth_required": state(request).auth.code_required}


@router.post("/auth/validate")
async def auth_validate(request: Request, body: AuthCode) -> dict[str, bool]:
    return {"success": state(request).auth.code_valid(body.code)}


@router.get("/models/config", response_model=ModelsConfig)
async def models_config(request: Request) -> dict[str, Any]:
    """Providers with their configured models, named from the catalogue when it knows them."""
    server = state(request)
    cached = server.extras.get("models_config")
    if cached is not None:
        return dict(cached)
    generator = server.config.generator
    catalogue = server.router.catalogue
    providers = []
    for pid, cfg in generator.providers.items():
        models = []
        for mid in cfg.models:
            info = catalogue.get(f"{pid}/{mid}")
            models.append({"id": mid, "name": (info.name if info is not None and info.name else mid)})
        name = cfg.name or pid.capitalize()
        providers.append({"id": pid, "name": name, "models": models, "supportsCustomModel": cfg.supports_custom_model})
    body = {"providers": providers, "defaultProvider": generator.default_provider}
    server.extras["models_config"] = body
    return body


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus' text format; behind the gateway keys when `WIKISMITH_METRICS_AUTH=1`."""
    server = state(request)
    if server.auth.metrics:
        server.auth.bearer(request.headers)
    return Response(server.metrics.render(), media_type=CONTENT_TYPE)
