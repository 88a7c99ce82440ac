"""`wikismith ask <repo> "question"`: retrieve, stream an answer through the router, list the sources."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from wikismith.cli.options import (
    FILTERS,
    MODEL,
    SOURCE,
    EmbedderOption,
    FilterChoice,
    ModelChoice,
    SourceChoice,
    grouped,
)
from wikismith.cli.runtime import EXIT_CONFIG_ERROR, fail, language_code, load, open_router, run

if TYPE_CHECKING:
    from collections.abc import Sequence

    from wikismith.chat import ChatInput
    from wikismith.config.models import AppConfig
    from wikismith.config.settings import Settings
    from wikismith.rag import ScoredChunk


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)


@grouped
def ask(
    repo: Annotated[str, typer.Argument(help="A local directory or an https:// repository URL.")],
    question: Annotated[str, typer.Argument(help="The question about the repository.")],
    choice: ModelChoice = MODEL,
    source: SourceChoice = SOURCE,
    embedder: EmbedderOption = None,
    filters: FilterChoice = FILTERS,
    language: Annotated[
        str | None, typer.Option("--language", "-l", help="Answer language (lang.json code; default: its default).")
    ] = None,
    deep_research: Annotated[bool, typer.Option("--deep-research", help="DeepWiki's first research turn.")] = False,
) -> None:
    """Answer a question about a repository, streaming, and end with the cited sources (path:start-end)."""
    from wikismith.config.models import ConfigError

    settings, config = load()
    name = choice.resolve(config)
    try:  # refused as `generate` refuses it, rather than answered in English
        language = language_code(config, language)
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG_ERROR)
    text = f"[DEEP RESEARCH] {question}" if deep_research else question
    inp = chat_input(repo, text, source, filters, embedder, model=name, language=language)
    run(_ask(settings, config, inp))


def chat_input(
    repo: str,
    text: str,
    source: SourceChoice,
    filters: FilterChoice,
    embedder: str | None,
    *,
    model: str | None = None,
    language: str | None = None,
) -> ChatInput:
    """The chat request for one question about `repo`, from the command's options; exit 2 on bad input."""
    from pydantic import ValidationError

    from wikismith.chat import ChatInput, ChatTurn

    try:
        return ChatInput(
            repo=repo,
            repo_type=source.repo_type,
            access_token=source.access_token,
            ref=source.ref,
            messages=[ChatTurn(role="user", content=text)],
            model=model,
            language=language,
            embedder=embedder,
            excluded_dirs=filters.joined("exclude_dir"),
            excluded_files=filters.joined("exclude_file"),
            included_dirs=filters.joined("include_dir"),
            included_files=filters.joined("include_file"),
        )
    except ValidationError as exc:
        fail(str(exc.errors()[0]["msg"]).removeprefix("Value error, "), EXIT_CONFIG_ERROR)


async def _ask(settings: Settings, config: AppConfig, inp: ChatInput) -> None:
    from wikismith.chat import PROCESS_CACHE, AnswerChecked, ContextDropped, Sources, chat_stream, cited_chunks
    from wikismith.llm.events import TextDelta
    from wikismith.rag import SourceError

    sources: tuple[ScoredChunk, ...] = ()
    answer: list[str] = []
    checked: AnswerChecked | None = None
    try:
        async with open_router(config, settings) as router:
            async for event in chat_stream(router, settings, config, inp):
                if isinstance(event, Sources):
                    sources = event.chunks
                elif isinstance(event, ContextDropped):
                    print("(the question did not fit with the retrieved code; answering without it)", file=sys.stderr)
                elif isinstance(event, AnswerChecked):
                    checked = event
                elif isinstance(event, TextDelta):
                    answer.append(event.text)
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
    except SourceError as exc:
        fail(str(exc))
    finally:
        await PROCESS_CACHE.aclose()
    cited = cited_chunks("".join(answer), sources)
    if checked is not None:  # the sources of the symbols it names, checked against the code map
        cited = [*cited, *checked.check.cited]
        print(checked.check.line(), file=sys.stderr)
    sys.stdout.write("\n\n" + format_sources(cited or sources) + "\n")


def format_sources(chunks: Sequence[ScoredChunk]) -> str:
    """`Sources:` then one `path:start-end` per chunk (those the answer cited, else all retrieved), best first,
    without repeats."""
    seen = dict.fromkeys(f"{c.chunk.path}:{c.chunk.start_line}-{c.chunk.end_line}" for c in chunks)
    return "Sources:\n" + ("\n".join(f"- {s}" for s in seen) if seen else "- (none retrieved)")
