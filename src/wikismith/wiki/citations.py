"""Source citations checked against the repository: `Sources: [path:start-end]()` made true or removed.

Every citation on a `Sources:` line, and every `[path:lines]()` elsewhere, is checked: the path must be a file of
the repository (a unique suffix match such as `calc.py` for `tinycalc/calc.py` is corrected) and the line range
must lie inside the file. A range that does not is replaced by the nearest chunk of that file that was
retrieved for the page; a citation that cannot be corrected is removed, and a `Sources:` line left empty goes
with it. A page left with no citation at all (small models rarely write them) ends with a `Sources:` line
citing the chunks it was written from (`cite_context`). The counts are reported per page.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from wikismith.rag.types import Chunk
from wikismith.wiki.structure import match_path

# [path], [path:12], [path:12-30] followed by an optional (link); path has no spaces, brackets or colons.
_CITATION = re.compile(
    r"\[(?P<path>[^\[\]\s:]+)(?::(?P<start>\d+)(?:\s*[-–]\s*(?P<end>\d+))?)?\](?:\((?P<link>[^)\s]*)\))?"
)
_SOURCES_LINE = re.compile(r"^(?P<lead>\s*[*_>]*\s*[*_]*Sources?[*_]*\s*:[*_]*\s*)(?P<rest>.*)$", re.IGNORECASE)
# Outside Sources lines only the unmistakable form is touched: a line range and an empty link.
_INLINE = re.compile(r"\[(?P<path>[^\[\]\s:]+):(?P<start>\d+)(?:\s*[-–]\s*(?P<end>\d+))?\]\(\)")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")


@dataclass(frozen=True, slots=True)
class CitationReport:
    checked: int = 0
    valid: int = 0
    fixed: int = 0
    removed: int = 0
    added: int = 0  # cited from the retrieved context, on a page that cited nothing


class RepoFiles:
    """The repository's kept files and their line counts (read once, on demand)."""

    def __init__(self, root: Path, paths: Collection[str]) -> None:
        self.root = root
        self.paths = frozenset(paths)

    @functools.cache  # noqa: B019 - one instance per run; the cache dies with it
    def lines(self, path: str) -> int:
        try:
            with open(self.root / path, "rb") as handle:
                data = handle.read()
        except OSError:
            return 0
        return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


@dataclass(slots=True)
class _Counter:
    checked: int = 0
    valid: int = 0
    fixed: int = 0
    removed: int = 0

    def report(self) -> CitationReport:
        return CitationReport(self.checked, self.valid, self.fixed, self.removed)


def check_citations(markdown: str, files: RepoFiles, chunks: Sequence[Chunk]) -> tuple[str, CitationReport]:
    """`markdown` with every citation true (corrected or removed), and the counts."""
    counter = _Counter()
    out: list[str] = []
    in_fence = False
    for line in markdown.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        if in_fence:
            out.append(line)
            continue
        sources = _SOURCES_LINE.match(line)
        if sources:
            fixed = _fix_sources(sources.group("rest"), files, chunks, counter)
            if fixed:
                out.append(sources.group("lead") + fixed)
            continue
        out.append(_INLINE.sub(lambda m: _fix_one(m, files, chunks, counter) or "", line))
    return "\n".join(out), counter.report()


def cite_context(markdown: str, chunks: Sequence[Chunk], limit: int = 5) -> tuple[str, int]:
    """`markdown` ending with a `Sources:` line that cites the first `limit` distinct retrieved chunks (most
    relevant first), for a page whose model cited nothing: the page was written from them. A code block the
    model left open is closed first, so the line is not swallowed by it. Returns the page and the count."""
    cited = list(dict.fromkeys(f"[{c.path}:{c.start_line}-{c.end_line}]()" for c in chunks))[:limit]
    if not cited:
        return markdown, 0
    body = markdown.rstrip()
    fences = [match.group(1) for line in body.split("\n") if (match := _FENCE.match(line))]
    if len(fences) % 2:
        body += "\n" + fences[-1]
    return f"{body}\n\nSources: {', '.join(cited)}", len(cited)


def _fix_sources(rest: str, files: RepoFiles, chunks: Sequence[Chunk], counter: _Counter) -> str:
    kept = []
    for match in _CITATION.finditer(rest):
        if match.group("link") and match.group("link").startswith(("http://", "https://", "#")):
            kept.append(match.group(0))  # a real link, not a citation
            continue
        fixed = _fix_one(match, files, chunks, counter)
        if fixed and fixed not in kept:
            kept.append(fixed)
    return ", ".join(kept)


def _fix_one(match: re.Match[str], files: RepoFiles, chunks: Sequence[Chunk], counter: _Counter) -> str | None:
    counter.checked += 1
    raw = match.group("path")
    path = match_path(raw, files.paths)
    if path is None:
        counter.removed += 1
        return None
    corrected = path != raw
    if match.group("start") is None:
        _count(counter, corrected)
        return f"[{path}]()"
    start = int(match.group("start"))
    end = int(match.group("end") or start)
    total = files.lines(path)
    if 1 <= start <= end <= total:
        _count(counter, corrected)
        return f"[{path}:{start}-{end}]()" if end != start else f"[{path}:{start}]()"
    nearest = _nearest(path, start, chunks)
    if nearest is None:
        counter.removed += 1
        return None
    counter.fixed += 1
    return f"[{path}:{nearest.start_line}-{nearest.end_line}]()"


def _count(counter: _Counter, corrected: bool) -> None:
    if corrected:
        counter.fixed += 1
    else:
        counter.valid += 1


def _nearest(path: str, line: int, chunks: Sequence[Chunk]) -> Chunk | None:
    candidates = [c for c in chunks if c.path == path]
    if not candidates:
        return None
    return min(
        candidates, key=lambda c: (0 if c.start_line <= line <= c.end_line else abs(c.start_line - line), c.start_line)
    )
