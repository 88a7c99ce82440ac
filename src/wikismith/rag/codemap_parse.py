"""One file's facts from its tree-sitter syntax tree: the shared part of every language's extractor.

Grammars come from their PyPI wheels (`tree-sitter-python`, `-javascript`, `-typescript`, `-go`, `-rust`,
`-java`), loaded on first use; nothing is compiled or downloaded at run time. A language's extractor
(`rag/languages/<name>.py`) walks the definitions it knows (top level, class bodies), while calls, imports and
attribute assignments are found by tree-sitter queries, which run in C over the whole tree. A file of a language
with no grammar gets facts with no symbols; a file the parser cannot read at all is marked `error`.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath
from typing import Any, ClassVar

from wikismith.rag.codemap import FileFacts, Import, Reference, Symbol

log = logging.getLogger(__name__)

# suffix -> language; language -> (grammar module, function returning the language capsule)
SUFFIXES = {
    ".py": "python", ".pyi": "python",
    ".js": "javascript", ".jsx": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".go": "go", ".rs": "rust", ".java": "java",
}  # fmt: skip
_GRAMMARS = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
}
BREAKS_FROM = 20  # bodies longer than this many lines record where their statements start
MAX_DOC = 1500
MAX_SIGNATURE = 300
_SPACE = re.compile(r"\s+")


def language_of(path: str) -> str:
    """The language parsed for `path` ("" when none)."""
    return SUFFIXES.get(PurePosixPath(path).suffix.lower(), "")


@functools.cache
def grammar(language: str) -> Any:
    """The tree-sitter `Language` of `language`."""
    from tree_sitter import Language

    module, function = _GRAMMARS[language]
    return Language(getattr(importlib.import_module(module), function)())


@functools.cache
def _parser(language: str) -> Any:
    from tree_sitter import Parser

    return Parser(grammar(language))


@functools.cache
def query(language: str, source: str) -> Any:
    from tree_sitter import Query

    return Query(grammar(language), source)


def captures(language: str, source: str, node: Any) -> dict[str, list[Any]]:
    from tree_sitter import QueryCursor

    result: dict[str, list[Any]] = QueryCursor(query(language, source)).captures(node)
    return result


def parse_file(path: str, data: bytes, digest: str) -> FileFacts:
    """The facts of one file (no symbols for a language without a grammar)."""
    from wikismith.rag.languages import EXTRACTORS

    language = language_of(path)
    if not language:
        return FileFacts(path, "", digest)
    try:
        tree = _parser(language).parse(data)
        extractor = EXTRACTORS[language](path, data, tree.root_node, language)
        extractor.run()
    except Exception as exc:  # a grammar bug or a pathological file must not stop the map
        log.warning("code map: cannot parse %s (%s: %s)", path, type(exc).__name__, exc)
        return FileFacts(path, language, digest, error=True)
    return extractor.facts(digest, tree.root_node.has_error)


def text(node: Any) -> str:
    return node.text.decode("utf-8", errors="replace") if node is not None else ""


def first_line(node: Any) -> int:
    return int(node.start_point[0]) + 1


def last_line(node: Any) -> int:
    """The last line a node covers (a node ending at column 0 ends on the line before)."""
    row, column = node.end_point
    return int(row) + (1 if column or row == node.start_point[0] else 0)


def clean_doc(raw: str) -> str:
    doc = inspect.cleandoc(raw).strip()
    return doc if len(doc) <= MAX_DOC else doc[: MAX_DOC - 1].rstrip() + "…"


def comment_text(raw: str) -> str:
    """A comment's words: `//`, `///`, `#`, `/** … */` and leading `*` stripped."""
    raw = raw.strip()
    if raw.startswith("/*"):
        raw = raw[2:].removesuffix("*/").lstrip("*!")
        return "\n".join(line.strip().removeprefix("*").strip() for line in raw.split("\n")).strip()
    return re.sub(r"^(//[/!]?|#)\s?", "", raw)


class Extractor:
    """Walks one tree; a language subclass sets `patterns` and implements `walk`. `patterns` is one tree-sitter
    query, run once over the file: its `@name` captures are called or instantiated names, its `@attr` captures
    attribute or field names the file assigns, and a language may add captures of its own (imports), read
    from `self.found` in `walk`."""

    patterns: ClassVar[str] = ""
    comment_types: ClassVar[frozenset[str]] = frozenset({"comment"})

    def __init__(self, path: str, source: bytes, root: Any, language: str) -> None:
        self.path = path
        self.source = source
        self.root = root
        self.language = language
        self.symbols: list[Symbol] = []
        self.imports: list[Import] = []
        self.names: set[str] = set()
        self.module = ""
        self.module_doc = ""
        self.found: dict[str, list[Any]] = {}

    def run(self) -> None:
        if self.patterns:
            self.found = captures(self.language, self.patterns, self.root)
        self.walk()
        self.names.update(text(node) for node in self.found.get("attr", ()))

    def walk(self) -> None:
        raise NotImplementedError

    # --- building symbols ---------------------------------------------------------------------------------

    def add(
        self,
        name: str,
        kind: str,
        node: Any,
        *,
        parent: Symbol | str | None = None,
        outer: Any = None,
        body: Any = None,
        doc: str = "",
        detail: str = "",
        bases: Iterable[str] = (),
        signature: str | None = None,
    ) -> Symbol:
        """Record a symbol for `node` (`outer`: the node that wraps it with decorators or `export`, whose lines
        count; `parent` the enclosing class, or its qualname when it is declared elsewhere)."""
        owner = parent.qualname if isinstance(parent, Symbol) else parent
        qualname = f"{owner}.{name}" if owner else name
        span = outer if outer is not None else node
        symbol = Symbol(
            path=self.path,
            qualname=qualname,
            kind=kind,
            start_line=first_line(span),
            end_line=last_line(span),
            signature=signature if signature is not None else self.header(node, body),
            doc=doc or self.leading_doc(span),
            parent=owner or None,
            detail=detail,
            bases=tuple(b for b in bases if b),
            breaks=self.breaks(body, span),
        )
        self.symbols.append(symbol)
        return symbol

    def header(self, node: Any, body: Any) -> str:
        """The declaration up to its body, on one line: `def parse(text: str) -> Node`."""
        end = body.start_byte if body is not None else node.end_byte
        raw = self.source[node.start_byte : end].decode("utf-8", errors="replace")
        line = _SPACE.sub(" ", raw).strip().rstrip(":{=;").rstrip()
        if body is None and len(line) > 120:
            line = line.split("\n", 1)[0][:120]
        return line[:MAX_SIGNATURE]

    def breaks(self, body: Any, span: Any) -> tuple[int, ...]:
        if body is None or last_line(span) - first_line(span) < BREAKS_FROM:
            return ()
        if body.named_child_count == 1 and body.named_children[0].type == "statement_list":  # Go
            body = body.named_children[0]
        return tuple(dict.fromkeys(first_line(child) for child in body.named_children))

    def leading_doc(self, node: Any) -> str:
        """The comments right above `node` (no blank line between), as text."""
        parts: list[str] = []
        line = first_line(node)
        sibling = node.prev_named_sibling
        while sibling is not None and sibling.type in self.comment_types | self.skipped_above():
            if last_line(sibling) < line - 1:
                break
            if sibling.type in self.comment_types:
                parts.append(comment_text(text(sibling)))
            line = first_line(sibling)
            sibling = sibling.prev_named_sibling
        return clean_doc("\n".join(reversed(parts))) if parts else ""

    def skipped_above(self) -> frozenset[str]:
        """Node types allowed between a definition and its leading comment (attributes, annotations)."""
        return frozenset()

    # --- queries over the whole file ----------------------------------------------------------------------

    def references(self) -> list[Reference]:
        """Called names, each attributed to the innermost function, method or class around it, once per pair."""
        scopes = sorted((s for s in self.symbols if s.kind != "module"), key=lambda s: (s.start_line, -s.end_line))
        starts = [s.start_line for s in scopes]
        seen: dict[tuple[str, str], Reference] = {}
        for node in self.found.get("name", ()):
            line = first_line(node)
            source = ""
            i = bisect_right(starts, line) - 1
            while i >= 0:
                if scopes[i].end_line >= line:
                    source = scopes[i].qualname
                    break
                i -= 1
            name = text(node)
            seen.setdefault((source, name), Reference(source, name, line))
        return sorted(seen.values(), key=lambda r: (r.line, r.name))

    def facts(self, digest: str, error: bool) -> FileFacts:
        module_symbol = Symbol(
            self.path, "", "module", 1, max(1, self.source.count(b"\n")), "", self.module_doc, None, self.language
        )
        return FileFacts(
            path=self.path,
            language=self.language,
            digest=digest,
            symbols=(module_symbol, *self.symbols),
            imports=tuple(self.imports),
            references=tuple(self.references()),
            names=tuple(sorted(self.names)),
            module=self.module,
            error=error,
        )


def field(node: Any, name: str) -> Any:
    return node.child_by_field_name(name) if node is not None else None


def named(node: Any, *types: str) -> list[Any]:
    """The named children of `node` of the given types (all when none given)."""
    if node is None:
        return []
    children = node.named_children
    return [c for c in children if c.type in types] if types else list(children)


def strip_generics(name: str) -> str:
    """`Base[T]`, `List<T>`, `*T`, `&'a T` -> the plain type name."""
    name = name.split("[", 1)[0].split("<", 1)[0].split("(", 1)[0]
    return name.lstrip("*&").split("'")[-1].strip().rsplit(" ", 1)[-1]


ExtractorFactory = Callable[[str, bytes, Any, str], Extractor]


def main() -> None:
    """The helper process of `codemap.parse_files`: a pickled (root, [(path, digest)]) on stdin, the pickled
    list of `FileFacts` on stdout."""
    import pickle
    import sys
    from pathlib import Path

    from wikismith.rag.codemap import parse_batch

    root, todo = pickle.loads(sys.stdin.buffer.read())
    sys.stdout.buffer.write(pickle.dumps(parse_batch(Path(root), todo)))


if __name__ == "__main__":
    main()
