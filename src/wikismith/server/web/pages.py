"""The app's reading pages: home (`/` for browsers), a wiki's pages, its search, export, delete and source view.

API clients asking for `/` (no `text/html` in Accept) keep DeepWiki's JSON welcome.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from wikismith.server.deps import ServerState, read_body, state
from wikismith.server.errors import HTTPProblem
from wikismith.server.routes import config as config_routes
from wikismith.server.routes.wiki import store
from wikismith.server.web import sources, wikis
from wikismith.server.web.reading import Reading
from wikismith.server.web.render import RenderCache
from wikismith.server.web.views import PageProblem, problem_page, view, wants_html
from wikismith.wiki.store import export_filename, export_json, export_markdown

router = APIRouter(include_in_schema=False)
Lang = Annotated[str | None, Query(max_length=32)]
Mode = Annotated[str | None, Query(pattern="^(comprehensive|concise)$")]
_WIKI = "/wiki/{repo_type}/{owner}/{repo}"


def same_origin(request: Request) -> None:
    """Refuse a form posted from another site (a browser sends `Origin` with every POST)."""
    origin = request.headers.get("origin")
    if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host", ""):
        raise HTTPProblem(403, "cross-site form posts are refused", code="cross_site")


@router.get("/")
async def home(request: Request, q: Annotated[str, Query(max_length=200)] = "") -> Any:
    if not wants_html(request):
        return await config_routes.root(request)
    server = state(request)
    entries = await wikis.list_wikis(server)
    if q:
        needle = q.lower()
        entries = [e for e in entries if needle in f"{e.key.name} {e.title} {e.location} {e.model}".lower()]
    models = await config_routes.models_config(request)
    jobs = server.jobs.list()[:5] if server.jobs is not None else []
    return view(request, "home.html", nav="home", wikis=entries, q=q, models=models, lang=server.config.lang,
                needs_key=bool(server.auth.keys), needs_code=server.auth.code_required, jobs=jobs,
                roots=[str(r) for r in server.local_roots])  # fmt: skip


async def reading(
    request: Request, repo_type: str, owner: str, repo: str, lang: str | None, mode: str | None
) -> Reading:
    """The wiki asked for, or PageProblem(404) saying what there is instead."""
    return await asyncio.to_thread(
        open_reading, state(request), wikis.WikiKey.parse(repo_type, owner, repo), lang, mode
    )


def open_reading(server: ServerState, key: wikis.WikiKey, lang: str | None, mode: str | None) -> Reading:
    """`reading`, blocking (files are read): one hop to a worker thread per request, not one per step."""
    found = wikis.variants(server, key)
    default_language = server.config.lang.default
    variant = wikis.choose(found, lang, mode, default_language)
    data = wikis.load(server, key, variant) if variant is not None else None
    if variant is None or data is None:
        have = ", ".join(f"{v.language} ({'comprehensive' if v.comprehensive else 'concise'})" for v in found)
        detail = f"It exists in: {have}." if have else "There is no cached wiki for this repository."
        raise PageProblem(404, f"No wiki for {key.name}", detail)
    default = wikis.choose(found, None, None, default_language) or variant
    repository = sources.repository(server.settings, data)
    cache = server.extras.setdefault("web_render_cache", RenderCache())
    return Reading(key, variant, default, tuple(found), data, repository, cache)


def _page(server: ServerState, key: wikis.WikiKey, page_id: str, lang: str | None, mode: str | None) -> Any:
    """The wiki, the page asked for (None: there is none) and its rendering, in one worker-thread hop."""
    wiki = open_reading(server, key, lang, mode)
    pages = wiki.pages
    page = next((p for p in pages if p.id == page_id), None) if page_id else (pages[0] if pages else None)
    return wiki, page, wiki.render(page) if page is not None else None


@router.get(_WIKI)
@router.get(_WIKI + "/{page_id}")
async def wiki_page(
    request: Request, repo_type: str, owner: str, repo: str, page_id: str = "", lang: Lang = None, variant: Mode = None
) -> Response:
    server = state(request)
    key = wikis.WikiKey.parse(repo_type, owner, repo)
    try:
        wiki, page, rendered = await asyncio.to_thread(_page, server, key, page_id, lang, variant)
    except PageProblem as problem:
        return problem_page(request, problem)
    if page is None:
        what = f"This wiki has no page {page_id!r}." if page_id else "This wiki has no generated pages yet."
        return problem_page(request, PageProblem(404, "No such page", what))
    pages = wiki.pages
    index = pages.index(page)
    models = await config_routes.models_config(request)
    following = pages[index + 1] if index + 1 < len(pages) else None
    return view(request, "reader.html", nav="wikis", wiki=wiki, page=page, rendered=rendered,
                previous=pages[index - 1] if index else None, next=following,
                models=models, lang=server.config.lang, needs_key=bool(server.auth.keys),
                needs_code=server.auth.code_required, default_model=wiki_model(wiki, server))  # fmt: skip


def wiki_model(wiki: Reading, server: ServerState) -> str:
    """The model to ask with: the wiki's own when the configuration knows it, else the default."""
    data = wiki.data
    name = "/".join(p for p in (data.provider, data.model) if p)
    return name if name and server.known_target(name) else server.config.resolve().name


@router.get(_WIKI + "/-/search")
async def search(
    request: Request, repo_type: str, owner: str, repo: str,
    q: Annotated[str, Query(max_length=300)] = "", lang: Lang = None, variant: Mode = None,
) -> Response:  # fmt: skip
    try:
        wiki = await reading(request, repo_type, owner, repo, lang, variant)
    except PageProblem as problem:
        return problem_page(request, problem)
    hits = wikis.search(wiki.pages, q) if q.strip() else []
    return view(request, "search.html", nav="wikis", wiki=wiki, q=q, hits=hits)


@router.get(_WIKI + "/-/export")
async def export(
    request: Request, repo_type: str, owner: str, repo: str,
    format: Annotated[str, Query(pattern="^(markdown|json)$")] = "markdown", lang: Lang = None, variant: Mode = None,
) -> Response:  # fmt: skip
    try:
        wiki = await reading(request, repo_type, owner, repo, lang, variant)
    except PageProblem as problem:
        return problem_page(request, problem)
    fmt: Any = format
    url = wiki.location
    body = export_markdown(url, wiki.pages) if fmt == "markdown" else export_json(url, wiki.pages)
    media = "text/markdown; charset=utf-8" if fmt == "markdown" else "application/json"
    headers = {"content-disposition": f'attachment; filename="{export_filename(url, fmt)}"'}
    return Response(body, media_type=media, headers=headers)


@router.post(_WIKI + "/-/delete")
async def delete(request: Request, repo_type: str, owner: str, repo: str) -> Response:
    """The reader's delete form (DeepWiki's DELETE /api/wiki_cache, with its auth code when it is on)."""
    same_origin(request)
    server = state(request)
    form = {k: v[0] for k, v in parse_qs((await read_body(request)).decode("utf-8", "replace")).items()}
    key = wikis.WikiKey.parse(repo_type, owner, repo)
    language = form.get("lang", "")
    if language not in server.config.lang.supported_languages:
        return problem_page(request, PageProblem(400, "Cannot delete", "Unknown language."))
    try:
        server.auth.write(request.headers, form.get("authorization_code"))
    except HTTPProblem as problem:
        return problem_page(request, PageProblem(problem.status, "Not deleted", problem.message))
    comprehensive = {"comprehensive": True, "concise": False}.get(form.get("variant", ""))
    args = (key.owner, key.repo, key.repo_type, language, comprehensive)
    if not await asyncio.to_thread(store(server).delete, *args):
        return problem_page(request, PageProblem(404, "Not deleted", "That wiki was not in the cache."))
    return RedirectResponse("/?deleted=" + key.name, status_code=303)


@router.get(_WIKI + "/-/source/{path:path}")
async def source(
    request: Request, repo_type: str, owner: str, repo: str, path: str,
    lines: Annotated[str | None, Query(pattern=r"^\d{1,7}(-\d{1,7})?$")] = None,
    lang: Lang = None, variant: Mode = None,
) -> Response:  # fmt: skip
    try:
        wiki = await reading(request, repo_type, owner, repo, lang, variant)
        if wiki.repository is None:
            raise PageProblem(404, "Source not available", _unavailable(wiki))
        file = await asyncio.to_thread(sources.read_source, wiki.repository.root, path)
    except sources.SourceRefused as refused:
        return problem_page(request, PageProblem(refused.status, "Source not shown", str(refused)))
    except PageProblem as problem:
        return problem_page(request, problem)
    start, _, end = (lines or "").partition("-")
    first, last = (int(start), int(end or start)) if start else (None, None)
    code = await asyncio.to_thread(_numbered, file, first, last)
    forge = wiki.repository.forge_url(file.path, first, last)
    return view(request, "source.html", nav="wikis", wiki=wiki, file=file, code=code, first=first, last=last,
                forge=forge)  # fmt: skip


def _unavailable(wiki: Reading) -> str:
    if wiki.data.repo is not None and wiki.data.repo.local_path:
        return (
            "This wiki's directory is neither under WIKISMITH_LOCAL_ROOTS nor indexed in this server's data "
            "directory, so its files are not served."
        )
    return "This wiki's repository has not been cloned into this server's data directory."


def _numbered(file: sources.SourceFile, first: int | None, last: int | None) -> str:
    """The file highlighted, one `<span id="L-n">` per line, the cited lines marked."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import TextLexer, get_lexer_for_filename
    from pygments.util import ClassNotFound

    if len(file.text) > 400_000:  # too big to colour quickly: still numbered and marked
        lexer: Any = TextLexer()
    else:
        try:
            lexer = get_lexer_for_filename(file.path, stripnl=False, ensurenl=False)
        except ClassNotFound:
            lexer = TextLexer()
    marked = list(range(first, (last or first) + 1)) if first else []
    formatter = HtmlFormatter(linespans="L", hl_lines=marked, cssclass="hl numbered", wrapcode=True)
    return str(highlight(file.text, lexer, formatter))
