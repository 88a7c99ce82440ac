"""A docstring-to-code retrieval task over Python sources, for comparing chunkers and retrievers.

    tasks, texts = make_tasks(root, paths, limit=300, seed=1)

For each documented function, method or class (a docstring of at least `min_words` words; dunder methods and
tests left out), the query is the docstring's first paragraph and the target is the symbol's lines. `texts` holds
every file's text with all docstrings blanked (their lines kept empty, so line numbers stay true), so a chunk
cannot be found by the docstring's own words. A retrieved chunk hits when its lines overlap the target's.
Used by `retrieval_bench.py`; the `retrieval` work reuses it for its own comparisons.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from wikismith.rag.codemap import CodeMap, build_codemap


@dataclass(frozen=True, slots=True)
class Task:
    query: str
    path: str
    start_line: int
    end_line: int
    symbol: str  # the target's id, `path::Qual.name`

    def hit(self, path: str, start_line: int, end_line: int) -> bool:
        return path == self.path and start_line <= self.end_line and self.start_line <= end_line


_DOCSTRING = re.compile(r'(?P<q>"""|\'\'\')(?P<body>.*?)(?P=q)', re.DOTALL)


def blank_docstrings(text: str) -> str:
    """`text` with every triple-quoted string's content removed, its lines kept (empty) so numbers stay true."""

    def blank(match: re.Match[str]) -> str:
        return match.group("q") + "\n" * match.group("body").count("\n") + match.group("q")

    return _DOCSTRING.sub(blank, text)


def make_tasks(
    root: Path, paths: list[str], *, limit: int = 300, seed: int = 1, min_words: int = 5
) -> tuple[list[Task], dict[str, str], CodeMap]:
    """Tasks (at most `limit`, sampled with `seed`), the blanked texts of `paths`, and their code map."""
    python = [p for p in paths if p.endswith(".py") and "/tests/" not in f"/{p}" and not p.startswith("tests/")]
    codemap = build_codemap(root, python)
    tasks: list[Task] = []
    for facts in codemap.files.values():
        for symbol in facts.symbols:
            if symbol.kind not in ("function", "method", "class") or symbol.name.startswith("__"):
                continue
            query = " ".join(symbol.doc.split("\n\n", 1)[0].split())
            if len(query.split()) >= min_words:
                tasks.append(Task(query, symbol.path, symbol.start_line, symbol.end_line, symbol.id))
    random.Random(seed).shuffle(tasks)
    texts = {p: blank_docstrings((root / p).read_text(encoding="utf-8", errors="replace")) for p in python}
    return tasks[:limit], texts, codemap
