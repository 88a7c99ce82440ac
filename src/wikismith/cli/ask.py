"""`wikismith ask <repo> "question"`: retrieve, stream an answer through the router, list the sources."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from wikismith.cli.index import (
    EmbedderOption,
    ExcludeDirOption,
    ExcludeFileOption,
    IncludeDirOption,
    IncludeFileOption,
    RefOption,
    RepoTypeOption,
    TokenOption,
)
from wikismith.cli.runtime import (
    EXIT_CONFIG_ERROR,
    ModelOption,
    ModelProviderOption,
    ProviderOption,
    RouteOption,
    fail,
    load,
    model_name,
    open_router,
    run,
)

if TYPE_CHECKING:
    from wikismith.chat import ChatInput
    from wikismith.config.models import AppConfig
    from wikismith.config.settings import Settings
    from wikismith.rag import ScoredChunk


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)


def ask(
    repo: Annotated[str, typer.Argument(help="A local directory or an https:// repository URL.")],
    question: Annotated[str, typer.Argument(help="The question about the repository.")],
    provider: ProviderOption = None,
    model: ModelOption = None,
    model_provider: ModelProviderOption = None,
    route: RouteOption = None,
    ref: RefOption = None,
    repo_type: RepoTypeOption = None,
    access_token: TokenOption = None,
    embedder: EmbedderOption = None,
    exclude_dir: ExcludeDirOption = None,
    exclude_file: ExcludeFileOption = None,
    include_dir: IncludeDirOption = None,
    include_file: IncludeFileOption = None,
    language: Annotated[str, typer.Option("--language", "-l", help="Answer language (lang.json code).")] = "en",
    deep_research: Annotated[bool, typer.Option("--deep-research", help="DeepWiki's first research turn.")] = False,
) -> None:
    """Answer a question about a repository, streaming, and end with the cited sources (path:start-end)."""
    from pydantic import ValidationError

    from wikismith.chat import ChatInput, ChatTurn
    from wikismith.config.models import ConfigError

    settings, config = load()
    try:
        name = model_name(config, provider=provider, model=model, model_provider=model_provider, route=route)
        text = f"[DEEP RESEARCH] {question}" if deep_research else question
        inp = ChatInput(
            repo=repo,
            repo_type=repo_type,
            access_token=access_token,
            ref=ref,
            messages=[ChatTurn(role="user", content=text)],
            model=name,
            language=language,
            embedder=embedder,
            excluded_dirs="\n".join(exclude_dir or []) or None,
            excluded_files="\n".join(exclude_file or []) or None,
            included_dirs="\n".join(include_dir or []) or None,
            included_files="\n".join(include_file or []) or None,
        )
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG_ERROR)
    except ValidationError as exc:
        fail(str(exc.errors()[0]["msg"]), EXIT_CONFIG_ERROR)
    run(_ask(settings, config, inp))


async def _ask(settings: Settings, config: AppConfig, inp: ChatInput) -> None:
    from wikismith.chat import PROCESS_CACHE, ContextDropped, Sources, chat_stream
    from wikismith.llm.events import TextDelta
    from wikismith.rag import SourceError

    sources: tuple[ScoredChunk, ...] = ()
    try:
        async with open_router(config, settings) as router:
            async for event in chat_stream(router, settings, config, inp):
                if isinstance(event, Sources):
                    sources = event.chunks
                elif isinstance(event, ContextDropped):
                    print("(the question did not fit with the retrieved code; answering without it)", file=sys.stderr)
                elif isinstance(event, TextDelta):
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
    except SourceError as exc:
        fail(str(exc))
    finally:
        await PROCESS_CACHE.aclose()
    sys.stdout.write("\n\n" + format_sources(sources) + "\n")


def format_sources(chunks: tuple[ScoredChunk, ...]) -> str:
    """`Sources:` then one `path:start-end` per retrieved chunk, best first, without repeats."""
    seen = dict.fromkeys(f"{c.chunk.path}:{c.chunk.start_line}-{c.chunk.end_line}" for c in chunks)
    return "Sources:\n" + ("\n".join(f"- {s}" for s in seen) if seen else "- (none retrieved)")
