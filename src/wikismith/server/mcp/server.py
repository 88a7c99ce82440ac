"""The MCP server (the official SDK's `MCPServer`): DeepWiki's tools over wikismith's own layers, and each cached
wiki page as a resource. No protocol code of ours: the SDK frames, validates and dispatches.

Tools (argument `repoName`: see `names.resolve_repo`):
    read_wiki_structure(repoName, language?)       sections and pages: ids, titles, one line each
    read_wiki_contents(repoName, page?, language?) one page, or all pages (bounded, with a note when cut)
    ask_question(repoName, question, model?, language?)   the RAG answer through the router, sources as path:a-b
    search_code(repoName, query, k?)               retrieved chunks with path, lines, symbol; no model call
    generate_wiki(repoName, model?, language?, comprehensive?, wait?)   a generation job (see `generation`)
    wiki_status(repoName)                          the latest job's state and pages, and whether a wiki is cached
Resources: `wikismith://{owner}/{repo}/{page_id}` (Markdown), listed for every cached wiki.

Every expected failure (unknown repository, no wiki yet, a repository that cannot be opened, a model error, bad
arguments) is a tool result with `isError: true` whose text says what to do; the session carries on.
"""

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.types import Resource, ToolAnnotations
from pydantic import Field, ValidationError

from wikismith.config.models import ConfigError
from wikismith.jobs import JobConflict, JobQueue, JobRejected
from wikismith.llm.errors import LLMError
from wikismith.rag.source import SourceError
from wikismith.redact import redact
from wikismith.server.mcp import code, generation, wikis
from wikismith.server.mcp.names import Target, UnknownRepo, cached_repo, resolve_repo
from wikismith.server.mcp.runtime import Runtime, RuntimeSource

INSTRUCTIONS = (
    "wikismith: generated wikis, code search and Q&A over code repositories (yours, private ones, offline). "
    "Name a repository by owner/repo, its URL, or a local directory (path or name). Start with "
    "read_wiki_structure, then read_wiki_contents for the pages you need; ask_question answers with cited "
    "sources; search_code finds code without a model call. With no wiki yet, call generate_wiki."
)
RepoName = Annotated[
    str,
    Field(description="owner/repo, a repository URL, a local directory's path, or its name when unambiguous"),
]
Language = Annotated[str | None, Field(description="language code (lang.json); default: the server's default")]
_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_MODEL = ToolAnnotations(read_only_hint=True, open_world_hint=True)


@contextlib.contextmanager
def tool_errors(repo: str | None = None) -> Iterator[None]:
    """Expected failures as tool errors (`isError`) with their message, redacted; anything else is the SDK's.
    `repo`: the repository being opened, named in a SourceError's message."""
    try:
        yield
    except ToolError:
        raise
    except SourceError as exc:
        raise ToolError(redact(f"cannot open {repo}: {exc}" if repo else str(exc))) from None
    except ValidationError as exc:
        message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise ToolError(redact(message)) from None
    except (UnknownRepo, wikis.NoWiki, wikis.NoPage, ConfigError, JobRejected, JobConflict, ValueError) as exc:
        raise ToolError(redact(str(exc))) from None
    except LLMError as exc:
        wait = f"; retry after {exc.retry_after:.0f}s" if exc.retry_after else ""
        raise ToolError(redact(f"the model call failed: {exc}{wait}")) from None


def _reporter(ctx: Context) -> code.Report:
    async def report(done: float, total: float, message: str) -> None:
        await ctx.report_progress(done, total, message)

    return report


class WikiServer(MCPServer[Any]):
    """`MCPServer` whose resource list also holds every cached wiki page (a template alone is not listed)."""

    def __init__(self, source: RuntimeSource, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime = source

    async def list_resources(self) -> list[Resource]:
        runtime = self.runtime()
        pages = await asyncio.to_thread(wikis.listed_pages, runtime.store, runtime.default_language)
        listed = [
            Resource(uri=p.uri, name=p.name, title=p.title, description=p.description, mime_type="text/markdown")
            for p in pages
        ]
        return [*await super().list_resources(), *listed]


async def _target(runtime: Runtime, repo_name: str) -> Target:
    return await asyncio.to_thread(resolve_repo, repo_name, runtime.store, runtime.local_roots)


async def _found(runtime: Runtime, repo_name: str, language: str | None) -> wikis.Found:
    target = await _target(runtime, repo_name)
    lang = runtime.language(language)
    return await asyncio.to_thread(wikis.find_wiki, runtime.store, target, lang, runtime.default_language)


def _wiki_tools(server: WikiServer) -> None:
    source = server.runtime

    async def read_wiki_structure(repoName: RepoName, language: Language = None) -> str:
        """The wiki's sections and pages of a repository: ids, titles and one line about each page."""
        with tool_errors():
            return wikis.structure_text(await _found(source(), repoName, language))

    async def read_wiki_contents(
        repoName: RepoName,
        page: Annotated[str | None, Field(description="a page id (or title); omit for every page")] = None,
        language: Language = None,
    ) -> str:
        """One page of the repository's wiki (Markdown), or all pages up to a bound, with a note when cut."""
        with tool_errors():
            return wikis.contents_text(await _found(source(), repoName, language), page)

    server.add_tool(read_wiki_structure, annotations=_READ, structured_output=False)
    server.add_tool(read_wiki_contents, annotations=_READ, structured_output=False)


def _code_tools(server: WikiServer) -> None:
    source = server.runtime

    async def ask_question(
        repoName: RepoName,
        question: Annotated[str, Field(min_length=1, description="the question about the repository's code")],
        ctx: Context,
        model: Annotated[str | None, Field(description="a router model name (provider/model, a route)")] = None,
        language: Language = None,
    ) -> str:
        """Answer a question about a repository from its code (retrieval + a model), citing path:start-end."""
        with tool_errors():
            runtime = source()
            target = await _target(runtime, repoName)
            lang = runtime.language(language)
        with tool_errors(target.source):
            return await code.ask(runtime, target, question, _reporter(ctx), model=model, language=lang)

    async def search_code(
        repoName: RepoName,
        query: Annotated[str, Field(min_length=1, description="what to look for, in words or identifiers")],
        ctx: Context,
        k: Annotated[int, Field(ge=1, le=code.MAX_K, description="how many excerpts")] = 8,
    ) -> str:
        """The repository's code excerpts nearest a query (path, lines, symbol, text); no model is called."""
        with tool_errors():
            runtime = source()
            target = await _target(runtime, repoName)
        with tool_errors(target.source):
            return await code.search(runtime, target, query, k, _reporter(ctx))

    server.add_tool(ask_question, annotations=_MODEL, structured_output=False)
    server.add_tool(search_code, annotations=_READ, structured_output=False)


def _queue(runtime: Runtime, target: Target) -> JobQueue:
    if runtime.jobs is None:
        raise ToolError(f"{runtime.jobs_off}; run `wikismith generate {target.source}` instead")
    return runtime.jobs


def _generation_tools(server: WikiServer) -> None:
    source = server.runtime

    async def generate_wiki(
        repoName: RepoName,
        ctx: Context,
        model: Annotated[str | None, Field(description="a router model name (default: the configured one)")] = None,
        language: Language = None,
        comprehensive: Annotated[bool, Field(description="8-12 pages in sections (else 4-6 pages)")] = False,
        wait: Annotated[bool, Field(description="follow the job to its end, with progress (minutes)")] = False,
    ) -> str:
        """Generate (or continue) the repository's wiki as a job; joins the job already running for that wiki."""
        with tool_errors():
            runtime = source()
            target = await _target(runtime, repoName)
            queue = _queue(runtime, target)
            spec = generation.spec_for(target, model, runtime.language(language), comprehensive)
            return await generation.start(runtime, queue, target, spec, _reporter(ctx), wait=wait)

    async def wiki_status(repoName: RepoName) -> str:
        """How the repository's latest generation job stands (pages done, failures), and whether a wiki is cached."""
        with tool_errors():
            runtime = source()
            target = await _target(runtime, repoName)
            return await generation.status(runtime, _queue(runtime, target), target)

    server.add_tool(generate_wiki, annotations=ToolAnnotations(open_world_hint=True), structured_output=False)
    server.add_tool(wiki_status, annotations=_READ, structured_output=False)


def _page_resource(server: WikiServer) -> None:
    source = server.runtime

    async def wiki_page(owner: str, repo: str, page_id: str) -> str:
        """A page of a cached wiki, in Markdown."""
        runtime = source()
        try:
            target = await asyncio.to_thread(cached_repo, runtime.store, owner, repo, runtime.local_roots)
            found = await asyncio.to_thread(wikis.find_wiki, runtime.store, target, None, runtime.default_language)
            return wikis.page_of(found.data, page_id).content or "(this page has not been generated yet)"
        except (UnknownRepo, wikis.NoWiki, wikis.NoPage) as exc:
            raise ResourceNotFoundError(redact(str(exc))) from None

    server.resource("wikismith://{owner}/{repo}/{page_id}", name="wiki-page", mime_type="text/markdown")(wiki_page)


def build_server(source: RuntimeSource) -> WikiServer:
    """The MCP server over the runtime `source` gives (called per request: the app's state comes later)."""
    from wikismith import __version__

    # log_level: the SDK calls logging.basicConfig with it, which only acts when nothing configured logging yet
    # (our entry points all do): then it should not turn on INFO for every library.
    server = WikiServer(source, name="wikismith", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING")
    _wiki_tools(server)
    _code_tools(server)
    _generation_tools(server)
    _page_resource(server)
    return server
