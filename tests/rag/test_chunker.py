"""Token-based chunking keeps true 1-based line numbers, respects sizes, and never drops a large file."""

from __future__ import annotations

import itertools

from wikismith.rag.chunker import chunk_text, count_tokens


def lines_of(text: str, start: int, end: int) -> str:
    return "".join(text.splitlines(keepends=True)[start - 1 : end])


CODE = "".join(f"def function_{i}(value):\n    return value * {i} + helper_{i}(value)\n\n" for i in range(200))


def test_every_chunk_text_is_exactly_its_cited_lines() -> None:
    chunks = chunk_text("src/m.py", CODE, chunk_size=100, chunk_overlap=20)
    assert len(chunks) > 5
    for chunk in chunks:
        assert chunk.path == "src/m.py"
        assert chunk.text == lines_of(CODE, chunk.start_line, chunk.end_line)


def test_chunks_cover_every_line_in_order_and_fit_the_size() -> None:
    chunks = chunk_text("m.py", CODE, chunk_size=100, chunk_overlap=20)
    assert chunks[0].start_line == 1
    assert chunks[-1].end_line == len(CODE.splitlines())
    for before, after in itertools.pairwise(chunks):
        assert after.start_line > before.start_line
        assert after.start_line <= before.end_line + 1  # no gap
    assert all(count_tokens(c.text) <= 100 for c in chunks)


def test_consecutive_chunks_overlap_by_at_most_the_overlap() -> None:
    chunks = chunk_text("m.py", CODE, chunk_size=100, chunk_overlap=20)
    overlaps = [lines_of(CODE, b.start_line, a.end_line) for a, b in itertools.pairwise(chunks)]
    assert any(overlaps)
    assert all(count_tokens(o) <= 20 for o in overlaps)


def test_no_overlap_when_the_overlap_is_zero() -> None:
    chunks = chunk_text("m.py", CODE, chunk_size=100, chunk_overlap=0)
    assert all(b.start_line == a.end_line + 1 for a, b in itertools.pairwise(chunks))


def test_a_line_longer_than_a_chunk_is_split_and_every_piece_cites_it() -> None:
    text = "short\n" + "token " * 500 + "\nend\n"
    chunks = chunk_text("long.txt", text, chunk_size=50, chunk_overlap=10)
    pieces = [c for c in chunks if c.start_line == 2]
    assert len(pieces) >= 10
    assert all(c.end_line == 2 and count_tokens(c.text) <= 50 for c in pieces)
    assert "".join(p.text for p in pieces).strip() == ("token " * 500).strip()
    assert chunks[-1].text == "end\n" and chunks[-1].start_line == 3


def test_a_large_file_is_split_never_dropped() -> None:
    text = "".join(f"line number {i} with some words\n" for i in range(20_000))
    chunks = chunk_text("big.txt", text, chunk_size=350, chunk_overlap=50)
    assert chunks[-1].end_line == 20_000
    assert len(chunks) > 100


def test_blank_text_gives_no_chunks_and_line_endings_are_kept() -> None:
    assert chunk_text("e.txt", "\n\n   \n") == []
    chunks = chunk_text("crlf.txt", "a\r\nb\r\n")
    assert chunks[0].text == "a\r\nb\r\n" and (chunks[0].start_line, chunks[0].end_line) == (1, 2)


def test_splitting_a_long_line_never_cuts_a_character_in_two() -> None:
    text = "注釈と説明🙂" * 400 + "\n"
    pieces = chunk_text("ja.txt", text, chunk_size=37, chunk_overlap=0)
    assert len(pieces) > 5
    assert "".join(p.text for p in pieces) == text
    assert all("\ufffd" not in p.text for p in pieces)


def test_only_newlines_end_lines_as_git_and_editors_count_them() -> None:
    # str.splitlines also breaks at \f, \v, \x1c-\x1e, \x85, \u2028 and \u2029; a citation must not drift.
    odd = "x = 1\f\n", "y \u2028 z\n", "v\x0bw\n", "p\x85q\x1cr\rs\n", "end\n"
    text = "".join(odd) + "".join(f"line {i}\n" for i in range(6, 40))
    chunks = chunk_text("paged.py", text, chunk_size=12, chunk_overlap=0)
    real = text.split("\n")
    assert chunks[-1].end_line == 39
    for chunk in chunks:
        assert chunk.text == "".join(f"{line}\n" for line in real[chunk.start_line - 1 : chunk.end_line])
