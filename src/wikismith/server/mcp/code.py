"""The code tools: `ask_question` (the RAG answer through `wikismith.chat.chat_stream`, the one chat flow the
HTTP routes and the CLI use) and `search_code` (retrieval alone, no model call).

Both open the repository and build or update its index on first use (cached per process in the runtime's
`IndexCache`); progress is reported through `report(done, total, message)`, a no-op when the client sent no
progress token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from wikismith.chat import ChatInput, ChatTurn, ContextDropped, Sources, chat_stream, cited_chunks, prepare_index
from wikismith.llm.events import TextDelta
from wikismith.rag.types import ScoredChunk
from wikismith.server.mcp.names import Target
from wikismith.server.mcp.runtime import Runtime

Report = Callable[[float, float, str], Awaitable[None]]
MAX_K = 50
_STEPS = 3.0


def _input(target: Target, text: str, model: str | None = None, language: str | None = None) -> ChatInput:
    return ChatInput(
        repo=target.source,
        repo_type=target.type,
        messages=[ChatTurn(role="user", content=text)],
        model=model,
        language=language,
    )


def cited_lines(chunks: Sequence[ScoredChunk]) -> list[str]:
    """`path:start-end` per chunk, best first, without repeats."""
    return list(dict.fromkeys(f"{c.chunk.path}:{c.chunk.start_line}-{c.chunk.end_line}" for c in chunks))


async def ask(
    runtime: Runtime, target: Target, question: str, report: Report, *, model: str | None, language: str | None
) -> str:
    """The answer, then `Sources:` with the chunks it cites (all retrieved ones when it cites none)."""
    inp = _input(target, question, model, language or runtime.default_language)
    await report(0, _STEPS, f"opening and indexing {target.shown}")
    sources: tuple[ScoredChunk, ...] = ()
    answer: list[str] = []
    notes: list[str] = []
    events = chat_stream(
        runtime.router, runtime.settings, runtime.config, inp, local_roots=runtime.local_roots, cache=runtime.cache
    )
    async for event in events:
        if isinstance(event, Sources):
            sources = event.chunks
            await report(1, _STEPS, f"retrieved {len(sources)} excerpts; asking the model")
        elif isinstance(event, ContextDropped):
            notes.append("(The question did not fit with the retrieved code: answered without it.)")
        elif isinstance(event, TextDelta):
            if not answer:
                await report(2, _STEPS, "the model is answering")
            answer.append(event.text)
    await report(_STEPS, _STEPS, "answered")
    text = "".join(answer).strip()
    lines = cited_lines(cited_chunks(text, sources) or sources)
    listed = "\n".join(f"- {line}" for line in lines) or "- (none retrieved)"
    return "\n\n".join([*notes, text or "(the model gave an empty answer)", f"Sources:\n{listed}"]) + "\n"


def _fence(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}\n{text.rstrip()}\n{fence}"


async def search(runtime: Runtime, target: Target, query: str, k: int, report: Report) -> str:
    """The `k` chunks nearest `query`: `path:start-end`, symbol, score and text each, best first."""
    await report(0, 2, f"opening and indexing {target.shown}")
    inp = _input(target, query)
    index = await prepare_index(
        runtime.settings, runtime.config, inp, local_roots=runtime.local_roots, cache=runtime.cache
    )
    await report(1, 2, f"searching {len(index.chunks)} chunks")
    hits = await index.retrieve(query, max(1, min(k, MAX_K)))
    await report(2, 2, f"{len(hits)} found")
    if not hits:
        return f"nothing in {target.shown} matches {query!r} ({len(index.files)} files indexed)\n"
    parts = [f"{len(hits)} excerpts of {target.shown} for {query!r}, best first:"]
    for rank, hit in enumerate(hits, 1):
        c = hit.chunk
        symbol = f" · symbol {c.symbol}" if c.symbol else ""  # the code map's, "" outside any symbol
        parts.append(f"{rank}. {c.path}:{c.start_line}-{c.end_line}{symbol} · score {hit.score:.3f}\n{_fence(c.text)}")
    return "\n\n".join(parts) + "\n"
