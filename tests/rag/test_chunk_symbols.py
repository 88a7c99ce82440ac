"""Chunks along symbols: whole functions and classes when they fit, members of a class that does not, a long
function cut between statements, comments and decorators kept with their symbol, true lines throughout."""

from __future__ import annotations

from wikismith.rag.chunker import chunk_file, chunk_symbols, count_tokens
from wikismith.rag.codemap_parse import parse_file
from wikismith.rag.types import Chunk

LONG_BODY = "\n".join(f"    step_{i} = compute_{i}(value, {i})" for i in range(60))
SOURCE = f'''"""A module."""

import os

LIMIT = 3


# Helps.
@cached
def small(value):
    return value + 1


class Engine:
    """Runs things."""

    speed = 2

    def start(self):
        {LONG_BODY.replace(chr(10), chr(10) + "    ")}
        return step_0

    def stop(self):
        return None


def long_one(value):
    """Many statements."""
{LONG_BODY}
    return value
'''


def chunks_of(text: str, size: int) -> list[Chunk]:
    facts = parse_file("pkg/engine.py", text.encode(), "x")
    return chunk_symbols("pkg/engine.py", text, facts.symbols, size, 20)


def lines(text: str, start: int, end: int) -> str:
    return "".join(text.split("\n")[i] + "\n" for i in range(start - 1, end))


def test_a_function_that_fits_is_one_chunk_with_its_comment_and_decorator() -> None:
    small = [c for c in chunks_of(SOURCE, 200) if c.symbol == "pkg/engine.py::small"]
    assert len(small) == 1
    assert small[0].text.startswith("# Helps.\n@cached\ndef small(value):")
    assert small[0].text.endswith("return value + 1\n")


def test_a_class_too_long_for_a_chunk_is_cut_into_its_members() -> None:
    chunks = chunks_of(SOURCE, 200)
    engine = [c for c in chunks if c.symbol.startswith("pkg/engine.py::Engine")]
    assert {c.symbol for c in engine} == {
        "pkg/engine.py::Engine", "pkg/engine.py::Engine.start", "pkg/engine.py::Engine.stop",
    }  # fmt: skip
    header = next(c for c in engine if c.symbol == "pkg/engine.py::Engine")
    assert '"""Runs things."""' in header.text and "speed = 2" in header.text
    stop = [c for c in engine if c.symbol == "pkg/engine.py::Engine.stop"]
    assert len(stop) == 1 and stop[0].text.lstrip().startswith("def stop(self):")


def test_a_long_function_is_cut_between_statements_within_the_size() -> None:
    long_one = [c for c in chunks_of(SOURCE, 200) if c.symbol == "pkg/engine.py::long_one"]
    assert len(long_one) > 2
    for chunk in long_one:
        assert count_tokens(chunk.text) <= 200
        first = chunk.text.split("\n", 1)[0]
        assert first.startswith(("def long_one", "    step_", "    return")), first  # a statement's first line


def test_every_chunk_is_exactly_its_lines_and_module_lines_have_no_symbol() -> None:
    chunks = chunks_of(SOURCE, 200)
    for chunk in chunks:
        assert chunk.text == lines(SOURCE, chunk.start_line, chunk.end_line)
    top = [c for c in chunks if c.symbol == ""]
    assert top and "import os" in top[0].text and "LIMIT = 3" in top[0].text
    covered = {line for c in chunks for line in range(c.start_line, c.end_line + 1)}
    code_lines = {i + 1 for i, line in enumerate(SOURCE.split("\n")) if line.strip()}
    assert code_lines <= covered  # nothing with text is lost


def test_a_whole_file_that_fits_keeps_one_chunk_per_symbol() -> None:
    chunks = chunks_of(SOURCE, 5000)
    assert [c.symbol.partition("::")[2] for c in chunks] == ["", "small", "Engine", "long_one"]


def test_files_without_symbols_are_chunked_by_lines() -> None:
    text = "".join(f"line {i}\n" for i in range(300))
    facts = parse_file("notes.md", text.encode(), "x")
    chunks = chunk_file("notes.md", text, facts, 100, 10)
    assert len(chunks) > 3 and {c.symbol for c in chunks} == {""}
    assert chunk_file("notes.md", text, None, 100, 10) == chunks
