"""`wikismith search <repo> "query"`: the chunks retrieval gives the model for a query, with no model call."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from wikismith.cli.options import FILTERS, SOURCE, EmbedderOption, FilterChoice, SourceChoice, grouped
from wikismith.cli.runtime import EXIT_CONFIG_ERROR, fail, load, run

if TYPE_CHECKING:
    from collections.abc import Sequence

    from wikismith.chat import ChatInput
    from wikismith.config.models import AppConfig
    from wikismith.config.settings import Settings
    from wikismith.rag import ScoredChunk

MAX_K = 100


def register(app: typer.Typer) -> None:
    app.command("search")(search)


@grouped
def search(
    repo: Annotated[str, typer.Argument(help="A local directory or an https:// repository URL.")],
    query: Annotated[str, typer.Argument(help="What to look for, in words or identifiers.")],
    k: Annotated[int, typer.Option("-k", "--top", min=1, max=MAX_K, help="How many chunks.")] = 8,
    source: SourceChoice = SOURCE,
    embedder: EmbedderOption = None,
    filters: FilterChoice = FILTERS,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Print the chunks retrieved for a query (path, lines, symbol, score, text), as chat and pages get them."""
    from wikismith.cli.ask import chat_input

    settings, config = load()
    if not query.strip():
        fail("the query is empty: say what to look for", EXIT_CONFIG_ERROR)
    inp = chat_input(repo, query, source, filters, embedder)
    hits = run(_search(settings, config, inp, query, k))
    if as_json:
        import orjson

        typer.echo(orjson.dumps([_row(hit) for hit in hits], option=orjson.OPT_INDENT_2).decode())
    else:
        sys.stdout.write(format_hits(hits))


async def _search(settings: Settings, config: AppConfig, inp: ChatInput, query: str, k: int) -> Sequence[ScoredChunk]:
    from wikismith.chat import PROCESS_CACHE, prepare_index
    from wikismith.rag import SourceError

    try:
        index = await prepare_index(settings, config, inp)
        return await index.retrieve(query, k)
    except SourceError as exc:
        fail(str(exc))
    finally:
        await PROCESS_CACHE.aclose()


def _row(hit: ScoredChunk) -> dict[str, object]:
    c = hit.chunk
    return {
        "path": c.path,
        "start_line": c.start_line,
        "end_line": c.end_line,
        "symbol": c.symbol or None,
        "score": round(hit.score, 4),
        "text": c.text,
    }


def format_hits(hits: Sequence[ScoredChunk]) -> str:
    """One block per chunk, best first: `rank. path:start-end · symbol · score`, then its text indented."""
    if not hits:
        return "nothing retrieved\n"
    blocks = []
    for rank, hit in enumerate(hits, 1):
        c = hit.chunk
        symbol = f" · {c.symbol}" if c.symbol else ""
        body = "\n".join(f"    {line}" for line in c.text.rstrip("\n").splitlines())
        blocks.append(f"{rank}. {c.path}:{c.start_line}-{c.end_line}{symbol} · score {hit.score:.3f}\n{body}")
    return "\n\n".join(blocks) + "\n"
