"""DeepWiki's wiki cache routes over `wikismith.wiki.store.WikiStore`: `GET|POST|DELETE /api/wiki_cache`,
`GET /api/processed_projects`, `POST /export/wiki`. Shapes are DeepWiki's (shared/deepwiki-compat.md §1.3).

Safer than DeepWiki without changing the shapes: names holding path separators, `..` or control characters
are refused with 400 (the store sanitises names as well); bodies are parsed by pydantic's JSON parser, which
refuses what could not be written back out (a lone UTF-16 surrogate), with 422 as any other invalid body; no
credential is stored or returned; file work runs off the event loop. Auth as DeepWiki's: a save needs no
DeepWiki auth code (its front end sends none), a delete does (see `auth`); gateway keys, when set, protect both.

Concise and comprehensive wikis coexist (DeepWiki overwrote one with the other): the POST body's
`comprehensive` flag (which the DeepWiki front end already sends) and an optional `comprehensive` query
parameter on GET and DELETE pick the variant. A GET answers the variant asked for (none: the comprehensive one)
when there is one, else the other, as DeepWiki answers the one wiki it has; the `x-wikismith-variant` header
says which (`comprehensive` or `concise`). A DELETE without a variant removes both (the one entry
`/api/processed_projects` lists for them, with its `variants`). See `wikismith.wiki.store`.
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from wikismith.server.deps import ServerState, read_body, state
from wikismith.server.errors import HTTPProblem
from wikismith.server.schemas import openapi_body, parse_body
from wikismith.wiki.store import (
    RepoInfo,
    WikiCacheData,
    WikiPage,
    WikiStore,
    WikiStructure,
    export_filename,
    export_json,
    export_markdown,
)

router = APIRouter(tags=["DeepWiki wiki cache"])
_NAME_RE = re.compile(r"(?!\.\.?\Z)[^/\\\x00-\x1f\x7f]{1,200}")  # whole names only: `fullmatch`
Name = Annotated[str, Query(min_length=1, max_length=200)]
Variant = Annotated[bool | None, Query(description="true: the comprehensive wiki, false: the concise one")]
_JSON = "application/json"


class WikiCacheRequest(BaseModel):
    """DeepWiki's `WikiCacheRequest` plus the front end's `comprehensive` flag (absent: comprehensive)."""

    model_config = ConfigDict(extra="ignore")
    repo: RepoInfo
    language: str = Field(min_length=1, max_length=32)
    wiki_structure: WikiStructure
    generated_pages: dict[str, WikiPage] = {}
    provider: str = ""
    model: str = ""
    comprehensive: bool | None = None


class WikiExportRequest(BaseModel):
    repo_url: str = Field(min_length=1, max_length=2048)
    pages: list[WikiPage]
    format: Literal["markdown", "json"]


def store(server: ServerState) -> WikiStore:
    existing = server.extras.get("wiki_store")
    if existing is None:
        existing = server.extras["wiki_store"] = WikiStore(server.settings.data.wikicache)
    assert isinstance(existing, WikiStore)
    return existing


def _language(server: ServerState, language: str) -> str:
    """DeepWiki quietly serves the default language for an unsupported one (GET and POST)."""
    lang = server.config.lang
    return language if language in lang.supported_languages else lang.default


def _check_names(**names: str) -> None:
    for field, value in names.items():
        if not _NAME_RE.fullmatch(value):
            raise HTTPProblem(
                400, f"{field} {value[:80]!r} is not a valid name (no path separators, '..' or control characters)",
                code="invalid_name", param=field,
            )  # fmt: skip


@router.get("/api/wiki_cache", response_model=WikiCacheData | None)
async def get_cache(
    request: Request, owner: Name, repo: Name, repo_type: Name, language: Name, comprehensive: Variant = None
) -> Response:
    """The cached wiki (the variant asked for, else the other, named in `x-wikismith-variant`), or `null` (200)
    when there is none, as DeepWiki answers."""
    server = state(request)
    _check_names(owner=owner, repo=repo, repo_type=repo_type, language=language)
    lang = _language(server, language)
    found = await asyncio.to_thread(store(server).find, owner, repo, repo_type, lang, comprehensive)
    if found is None:
        return Response(b"null", media_type=_JSON)
    variant = "concise" if found.comprehensive is False else "comprehensive"
    return Response(found.to_json(), media_type=_JSON, headers={"x-wikismith-variant": variant})


@router.post("/api/wiki_cache", openapi_extra=openapi_body(WikiCacheRequest))
async def put_cache(request: Request) -> dict[str, str]:
    server = state(request)
    server.auth.save(request.headers)
    body = parse_body(WikiCacheRequest, await read_body(request), status=422)
    info = body.repo
    _check_names(owner=info.owner, repo=info.repo, repo_type=info.type, language=body.language)
    data = WikiCacheData(
        wiki_structure=body.wiki_structure,
        generated_pages=body.generated_pages,
        repo=info,
        provider=body.provider,
        model=body.model,
    )
    language = _language(server, body.language)
    variant = True if body.comprehensive is None else body.comprehensive
    await asyncio.to_thread(store(server).put, info.owner, info.repo, info.type, language, data, variant)
    return {"message": "Wiki cache saved successfully"}


@router.delete("/api/wiki_cache")
async def delete_cache(
    request: Request,
    owner: Name,
    repo: Name,
    repo_type: Name,
    language: Name,
    authorization_code: Annotated[str | None, Query(max_length=1000)] = None,
    comprehensive: Variant = None,
) -> dict[str, str]:
    server = state(request)
    _check_names(owner=owner, repo=repo, repo_type=repo_type, language=language)
    if language not in server.config.lang.supported_languages:
        raise HTTPProblem(400, "Language is not supported", code="unsupported_language", param="language")
    server.auth.write(request.headers, authorization_code)
    if not await asyncio.to_thread(store(server).delete, owner, repo, repo_type, language, comprehensive):
        raise HTTPProblem(404, "Wiki cache not found", code="not_found")
    return {"message": f"Wiki cache for {owner}/{repo} ({language}) deleted successfully"}


@router.get("/api/processed_projects")
async def processed_projects(request: Request) -> Response:
    projects = await asyncio.to_thread(store(state(request)).list_projects)
    body: list[dict[str, Any]] = [p.model_dump(by_alias=True) for p in projects]
    return Response(orjson.dumps(body), media_type=_JSON)


@router.post("/export/wiki", openapi_extra=openapi_body(WikiExportRequest))
async def export_wiki(request: Request) -> Response:
    body = parse_body(WikiExportRequest, await read_body(request), status=422)
    filename = export_filename(body.repo_url, body.format)
    if body.format == "markdown":
        content, media = export_markdown(body.repo_url, body.pages), "text/markdown"
    else:
        content, media = export_json(body.repo_url, body.pages), _JSON
    headers = {"content-disposition": f"attachment; filename={filename}"}
    return Response(content, media_type=media, headers=headers)
