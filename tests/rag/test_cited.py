"""Which retrieved chunks an answer cites (`wikismith.chat.cited_chunks`): by path, unique file name, line range."""

from __future__ import annotations

from wikismith.chat import cited_chunks
from wikismith.rag.types import Chunk, ScoredChunk


def hit(path: str, start: int, end: int, score: float) -> ScoredChunk:
    return ScoredChunk(Chunk(path, start, end, "x"), score)


HITS = [
    hit("src/app.py", 1, 40, 0.9),
    hit("src/app.py", 41, 80, 0.8),
    hit("docs/guide.md", 1, 10, 0.7),
    hit("src/util/io.py", 1, 20, 0.6),
    hit("tests/io.py", 1, 20, 0.5),
]


def cited(answer: str) -> list[tuple[str, int]]:
    return [(c.chunk.path, c.chunk.start_line) for c in cited_chunks(answer, HITS)]


def test_a_line_range_keeps_only_the_overlapping_chunks() -> None:
    assert cited("See `src/app.py:50-60` for the loop.") == [("src/app.py", 41)]


def test_a_path_without_lines_keeps_all_its_chunks_best_first() -> None:
    assert cited("Start at src/app.py and docs/guide.md.") == [
        ("src/app.py", 1),
        ("src/app.py", 41),
        ("docs/guide.md", 1),
    ]


def test_a_unique_file_name_counts_but_an_ambiguous_one_does_not() -> None:
    assert cited("Described in guide.md.") == [("docs/guide.md", 1)]
    assert cited("Reading happens in io.py.") == []  # two retrieved files are called io.py


def test_a_range_outside_every_chunk_keeps_the_whole_file() -> None:
    assert cited("[src/app.py:500-510]()") == [("src/app.py", 1), ("src/app.py", 41)]


def test_a_longer_path_or_a_prefix_is_not_a_citation() -> None:
    assert cited("See other/src/app.py and src/app.pyc and src/app.py_old.") == []


def test_no_citation_gives_nothing() -> None:
    assert cited("It reads a file.") == []
