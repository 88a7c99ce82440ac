"""Every identifier a page names, checked against the code map; and the page's key symbols, from the map.

`ground_identifiers(markdown, resolver)` finds the mentions (`rag.identifiers.find_mentions`) outside code blocks,
the `<details>` block, `Sources:` lines and links, and resolves each: a real one stays; one with a single real
counterpart is rewritten to it (formatting kept); an unresolved one is taken out of the page: a plain lowercase
word in backticks loses its backticks; anything else takes its sentence with it (its list item when that leaves
the item empty, its table row, its heading below the title). The report counts them: "identifiers: N named,
M resolved, K rewritten, R removed".

`key_symbols(codemap, paths, link)` is the page's "Key symbols" table: the classes and functions of its files
(and the methods of its classes), each with its signature and a link to `file:line`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from wikismith.rag.codemap import CodeMap, Symbol
from wikismith.rag.identifiers import Mention, Resolution, Resolver, find_mentions

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_SOURCES = re.compile(r"^\s*[*_>]*\s*[*_]*Sources?[*_]*\s*:", re.IGNORECASE)
_HEADING = re.compile(r"^(#{1,6})\s")
_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_ROW = re.compile(r"^\s*\|")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`*_\[(\"'])")
MAX_KEY_SYMBOLS = 24


@dataclass(slots=True)
class IdentifierReport:
    named: int = 0
    resolved: int = 0
    rewritten: int = 0
    removed: int = 0
    unresolved: tuple[str, ...] = ()  # the names taken out, for the log


@dataclass(slots=True)
class _Block:
    kind: str  # "skip", "paragraph", "item", "row", "heading", "title"
    lines: list[str]


def _blocks(markdown: str) -> list[_Block]:
    blocks: list[_Block] = []
    in_fence = in_details = False
    for line in markdown.split("\n"):
        stripped = line.strip()
        if _FENCE.match(line):
            in_fence = not in_fence
            blocks.append(_Block("skip", [line]))
            continue
        if in_fence or in_details or stripped.lower().startswith("<details"):
            in_details = (in_details or stripped.lower().startswith("<details")) and "</details>" not in stripped
            blocks.append(_Block("skip", [line]))
            continue
        heading = _HEADING.match(line)
        if not stripped or _SOURCES.match(line):
            kind = "skip"
        elif heading:
            kind = "title" if len(heading.group(1)) == 1 else "heading"
        elif _ROW.match(line):
            kind = "row"
        elif _ITEM.match(line):
            kind = "item"
        elif blocks and blocks[-1].kind in ("paragraph", "item") and not line.startswith(("<", "!")):
            blocks[-1].lines.append(line)  # a paragraph or list item continued on the next line
            continue
        else:
            kind = "paragraph"
        blocks.append(_Block(kind, [line]))
    return blocks


def ground_identifiers(markdown: str, resolver: Resolver) -> tuple[str, IdentifierReport]:
    """`markdown` with every identifier it names real (kept, rewritten or taken out), and the counts."""
    report = IdentifierReport()
    removed: list[str] = []
    roots = resolver.roots
    out: list[str] = []
    for block in _blocks(markdown):
        text = "\n".join(block.lines)
        mentions = [] if block.kind == "skip" else find_mentions(text, roots)
        if not mentions:
            out.append(text)
            continue
        decided = [(m, resolver.resolve(m.name)) for m in mentions]
        report.named += len(decided)
        report.resolved += sum(1 for _, r in decided if r.status == "resolved")
        report.rewritten += sum(1 for _, r in decided if r.status == "rewritten")
        gone = [m for m, r in decided if r.status == "unresolved"]
        report.removed += len(gone)
        removed += [m.name for m in gone]
        kept = _apply(block, text, decided)
        if kept is not None:
            out.append(kept)
    report.unresolved = tuple(dict.fromkeys(removed))
    return "\n".join(out), report


def _apply(block: _Block, text: str, decided: list[tuple[Mention, Resolution]]) -> str | None:
    """The block's text after the decisions, or None when the block goes."""
    drops = [m for m, r in decided if r.status == "unresolved" and not m.plain_word]
    if drops and block.kind in ("row", "heading"):
        return None
    if not drops or block.kind == "title":
        return _edit(text, decided, 0, len(text))
    kept = []
    for start, end in _sentences(text, block.kind):
        if any(start <= m.start < end for m in drops):
            continue
        kept.append(_edit(text, decided, start, end))
    if block.kind == "item":
        lead = _ITEM.match(text)
        prefix = lead.group(0) if lead else ""
        body = " ".join(k.strip() for k in kept if k.strip() and k.strip() != prefix.strip())
        return prefix + body if body else None
    body = " ".join(k.strip() for k in kept if k.strip())
    return body or None


def _sentences(text: str, kind: str) -> list[tuple[int, int]]:
    """Spans of the sentences of a paragraph or list item (a list item's marker stays in its first sentence)."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    if kind == "item" and spans:
        lead = _ITEM.match(text)
        if lead and spans[0][0] == 0 and len(spans) > 1:
            spans = [(lead.end(), spans[0][1]), *spans[1:]]
    return spans


def _edit(text: str, decided: list[tuple[Mention, Resolution]], start: int, end: int) -> str:
    """`text[start:end]` with rewritten names replaced and unresolved plain words unformatted."""
    pieces, cursor = [], start
    for mention, resolution in decided:
        if not (start <= mention.start < end):
            continue
        if resolution.status == "rewritten":
            replacement = resolution.replacement + ("()" if mention.call else "")
            replacement = f"`{replacement}`" if mention.code else replacement
        elif resolution.status == "unresolved" and mention.plain_word:
            replacement = mention.name
        else:
            continue
        pieces += [text[cursor : mention.start], replacement]
        cursor = mention.end
    pieces.append(text[cursor:end])
    return "".join(pieces)


# --- key symbols ------------------------------------------------------------------------------------------------


def page_symbols(codemap: CodeMap, paths: Sequence[str], limit: int = MAX_KEY_SYMBOLS) -> list[Symbol]:
    """The symbols a page covers: its files' classes and functions, a class followed by its methods (public ones
    first, `__init__` kept), in file and line order, at most `limit`."""
    out: list[Symbol] = []
    for path in paths:
        symbols = [s for s in codemap.symbols_in(path) if s.kind in ("class", "function", "method")]
        tops = [s for s in symbols if s.parent is None or s.kind != "method"]
        for symbol in tops:
            if symbol.kind == "method" and any(s.qualname == symbol.parent for s in symbols):
                continue  # listed under its class
            out.append(symbol)
            if symbol.kind == "class":
                members = [s for s in symbols if s.parent == symbol.qualname and s.kind == "method"]
                out += [m for m in members if not m.name.startswith("_") or m.name == "__init__"]
    return out[:limit]


def key_symbols(codemap: CodeMap, paths: Sequence[str], link: Callable[[Symbol], str]) -> str:
    """The "Key symbols" section (empty when the page's files define none)."""
    symbols = page_symbols(codemap, paths)
    if not symbols:
        return ""
    rows = ["## Key symbols", "", "| Symbol | Kind | Signature | Defined at |", "|---|---|---|---|"]
    for symbol in symbols:
        signature = symbol.signature.replace("|", "\\|").replace("`", "'")
        where = f"[{symbol.path}:{symbol.start_line}]({link(symbol)})"
        kind = symbol.detail if symbol.kind == "class" and symbol.detail else symbol.kind
        rows.append(f"| `{symbol.qualname}` | {kind} | `{signature}` | {where} |")
    return "\n".join(rows) + "\n"
