"""The router's face: the model catalogue as a table (`/models`, filtered and sorted by query parameters, and
in the browser as you type), the `compare` command in the browser (`POST /models/compare`, answers streamed
in columns as SSE), and the usage ledger as charts with the budgets (`/spend`, in `spend.py`).

Compare events: `text` {column, text}, then per model `result` {column, model, ok, ttft_ms, total_ms,
prompt_tokens, completion_tokens, cost, cost_is_estimate, finish_reason, served_by, error}, then `done`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from wikismith.config.models import ConfigError
from wikismith.llm.types import GenerationParams, Message, ModelInfo
from wikismith.router.compare import ColumnText, compare_stream
from wikismith.server.deps import ServerState, read_body, state
from wikismith.server.errors import HTTPProblem
from wikismith.server.schemas import parse_body
from wikismith.server.streaming import StreamResponse
from wikismith.server.web.pages import same_origin
from wikismith.server.web.views import sse, unknown_model, view

router = APIRouter(include_in_schema=False)
SORTS = {
    "name": lambda m: (m.name or m.id).lower(),
    "price": lambda m: (m.prompt_price is None, (m.prompt_price or 0) + (m.completion_price or 0)),
    "context": lambda m: -(m.context_length or 0),
}
MAX_COLUMNS = 4


def _per_million(price: float | None) -> str:
    return "–" if price is None else ("free" if price == 0 else f"${price * 1e6:,.2f}")


def _row(model: ModelInfo, configured: set[str]) -> dict[str, Any]:
    params = sorted(model.supported_parameters or ())
    capabilities = [c for c in ("tools", "reasoning", "response_format", "structured_outputs") if c in params]
    return {
        "id": model.id, "name": model.name or model.model, "provider": model.provider,
        "context": model.context_length, "prompt": _per_million(model.prompt_price),
        "completion": _per_million(model.completion_price), "price_sort": (model.prompt_price or 0) * 1e6,
        "capabilities": capabilities, "modality": model.modality or "", "configured": model.id in configured,
    }  # fmt: skip


def configured_models(server: ServerState) -> set[str]:
    return {f"{pid}/{mid}" for pid, cfg in server.config.generator.providers.items() for mid in cfg.models}


@router.get("/models")
async def models_page(
    request: Request,
    q: Annotated[str, Query(max_length=200)] = "",
    provider: Annotated[str, Query(max_length=100)] = "",
    min_context: Annotated[int | None, Query(ge=0)] = None,
    sort: Annotated[str, Query(pattern="^(name|price|context)$")] = "name",
) -> Response:
    server = state(request)
    everything = server.router.catalogue.models()
    rows = [m for m in everything if not provider or m.provider == provider]
    if q:
        needle = q.lower()
        rows = [m for m in rows if needle in m.id.lower() or needle in (m.name or "").lower()]
    if min_context:
        rows = [m for m in rows if (m.context_length or 0) >= min_context]
    rows.sort(key=SORTS[sort])
    configured = configured_models(server)
    providers = sorted({m.provider for m in everything})
    picks = sorted(configured) + [r for r in sorted(server.config.generator.routes)]
    return view(request, "models.html", nav="models", rows=[_row(m, configured) for m in rows], total=len(everything),
                q=q, provider=provider, min_context=min_context or "", sort=sort, providers=providers,
                picks=picks, max_columns=MAX_COLUMNS)  # fmt: skip


class CompareBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(min_length=1, max_length=100_000)
    models: list[str] = Field(min_length=1, max_length=MAX_COLUMNS)
    system: str | None = Field(None, max_length=20_000)
    max_tokens: int | None = Field(None, gt=0, le=32_000)


def _model_names(server: ServerState, names: list[str]) -> list[str]:
    """Router names for the columns; 404 naming the first the configuration does not know."""
    out = []
    for name in names:
        if name == "auto" or name in server.config.generator.routes:
            out.append(name)
            continue
        try:
            out.append(server.config.resolve_name(name).name)
        except ConfigError as exc:
            raise unknown_model(exc) from None
    return out


@router.post("/models/compare")
async def compare(request: Request) -> Response:
    same_origin(request)
    server = state(request)
    server.auth.bearer(request.headers)
    body = parse_body(CompareBody, await read_body(request), status=422)
    if not body.prompt.strip():
        raise HTTPProblem(422, "the prompt is empty", code="invalid_request", param="prompt")
    names = _model_names(server, body.models)
    system = [Message(role="system", content=body.system)] if body.system else []
    messages = [*system, Message(role="user", content=body.prompt)]
    params = GenerationParams(max_tokens=body.max_tokens)
    server.acquire_stream()
    return StreamResponse(_columns(server, names, messages, params), on_close=server.release_stream)


async def _columns(
    server: ServerState, names: list[str], messages: list[Message], params: GenerationParams
) -> AsyncIterator[bytes]:
    events = compare_stream(server.router, names, messages, params=params)
    try:
        async for event in events:
            if isinstance(event, ColumnText):
                yield sse("text", {"column": event.column, "text": event.text})
            else:
                yield sse("result", {"column": event.column, **event.result.as_dict()})
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    yield sse("done", {})
