"""Which sources an answer cites, and the identifier check of an answer against the repository's code map.

`cited_chunks(answer, chunks)`: the retrieved chunks of the files the answer names (by path or unique file name),
narrowed to the line ranges it gives.

`check_answer(answer, hits, codemap)` resolves every identifier the answer names (`identifiers.find_mentions`,
`Resolver`; without the repository-words fallback, so it reads no file) and lists the sources that back the
named symbols: the retrieved chunk that holds a named symbol (its `symbol` path, or lines covering its
definition), else the symbol's own definition lines from the map. A streamed answer cannot be rewritten, so the
check reports: the names not in the code are listed for the caller to show.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from wikismith.rag.codemap import CodeMap, Symbol
from wikismith.rag.identifiers import Resolver, find_mentions
from wikismith.rag.types import Chunk, ScoredChunk

MAX_SYMBOL_SOURCES = 8


@dataclass(frozen=True, slots=True)
class AnswerCheck:
    named: int = 0
    resolved: int = 0
    unresolved: tuple[str, ...] = ()  # named but not in the code, in order
    cited: tuple[ScoredChunk, ...] = ()  # the sources of the symbols the answer names

    def line(self) -> str:
        missing = f"; not in the code: {', '.join(self.unresolved)}" if self.unresolved else ""
        return f"identifiers: {self.named} named, {self.resolved} resolved{missing}"


def _source(symbol: Symbol, hits: Sequence[ScoredChunk]) -> ScoredChunk:
    for hit in hits:
        chunk = hit.chunk
        if chunk.symbol == symbol.id or (
            chunk.path == symbol.path and chunk.start_line <= symbol.start_line <= chunk.end_line
        ):
            return hit
    return ScoredChunk(Chunk(symbol.path, symbol.start_line, symbol.end_line, "", symbol.id), 0.0)


def check_answer(answer: str, hits: Sequence[ScoredChunk], codemap: CodeMap) -> AnswerCheck:
    resolver = Resolver(codemap, codemap.files)
    mentions = find_mentions(answer, resolver.roots)
    unresolved: list[str] = []
    resolved = 0
    cited: dict[tuple[str, int, int], ScoredChunk] = {}
    for mention in mentions:
        if resolver.resolve(mention.name).status != "resolved":
            unresolved.append(mention.name)
            continue
        resolved += 1
        name = mention.name.replace("::", ".").removeprefix("self.").removeprefix("this.")
        symbols = [s for s in codemap.lookup(name) if s.kind != "module"]
        if len(symbols) == 1 and len(cited) < MAX_SYMBOL_SOURCES:
            source = _source(symbols[0], hits)
            cited.setdefault((source.chunk.path, source.chunk.start_line, source.chunk.end_line), source)
    return AnswerCheck(len(mentions), resolved, tuple(dict.fromkeys(unresolved)), tuple(cited.values()))


def _cited_ranges(answer: str, spelling: str) -> list[tuple[int, int]] | None:
    """None when `answer` never names `spelling`; else the line ranges given with it (`path:12`, `path:12-30`)."""
    dash = "[-\u2013]"  # a hyphen or an en dash
    pattern = rf"(?<![\w./-]){re.escape(spelling)}(?::(\d+)(?:\s*{dash}\s*(\d+))?)?(?![\w/-])"
    found = list(re.finditer(pattern, answer))
    if not found:
        return None
    return [(int(m[1]), int(m[2] or m[1])) for m in found if m[1]]


def cited_chunks(answer: str, chunks: Sequence[ScoredChunk]) -> list[ScoredChunk]:
    """The retrieved chunks an answer cites, best first: those of a file it names (by path, or by file name when
    that is unique among the retrieved files) and, when it gives line ranges for the file, overlapping one of
    them (all of the file's chunks when none overlaps). Empty when the answer cites none."""
    paths = list(dict.fromkeys(c.chunk.path for c in chunks))
    names = [p.rsplit("/", 1)[-1] for p in paths]
    cited: dict[str, list[tuple[int, int]]] = {}
    for path, name in zip(paths, names, strict=True):
        spellings = [path] + ([name] if name != path and names.count(name) == 1 else [])
        found = [r for r in (_cited_ranges(answer, s) for s in spellings) if r is not None]
        if found:
            cited[path] = [span for ranges in found for span in ranges]

    def overlaps(chunk: ScoredChunk) -> bool:
        return any(s <= chunk.chunk.end_line and chunk.chunk.start_line <= e for s, e in cited[chunk.chunk.path])

    out = []
    for path, ranges in cited.items():
        own = [c for c in chunks if c.chunk.path == path]
        narrowed = [c for c in own if overlaps(c)] if ranges else []
        out.extend(narrowed or own)
    return sorted(out, key=lambda c: -c.score)
