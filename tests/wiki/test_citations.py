"""Citations: true ones kept, wrong paths corrected or removed, out-of-range lines moved to a retrieved chunk."""

from __future__ import annotations

from pathlib import Path

import pytest

from wikismith.rag.types import Chunk
from wikismith.wiki.citations import RepoFiles, check_citations, cite_context


@pytest.fixture
def files(tmp_path: Path) -> RepoFiles:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "calc.py").write_text("".join(f"line {i}\n" for i in range(1, 41)))
    (tmp_path / "README.md").write_text("one\ntwo")  # no final newline: 2 lines
    return RepoFiles(tmp_path, ["pkg/calc.py", "README.md"])


CHUNKS = [Chunk("pkg/calc.py", 1, 12, "…"), Chunk("pkg/calc.py", 20, 35, "…")]


def test_true_citations_are_kept(files: RepoFiles) -> None:
    text, report = check_citations("Sources: [pkg/calc.py:3-9](), [README.md:2](), [pkg/calc.py]()", files, CHUNKS)
    assert text == "Sources: [pkg/calc.py:3-9](), [README.md:2](), [pkg/calc.py]()"
    assert (report.checked, report.valid, report.fixed, report.removed) == (3, 3, 0, 0)


def test_out_of_range_moves_to_the_nearest_retrieved_chunk(files: RepoFiles) -> None:
    text, report = check_citations("Sources: [pkg/calc.py:38-90]()", files, CHUNKS)
    assert text == "Sources: [pkg/calc.py:20-35]()"
    assert report.fixed == 1


def test_out_of_range_without_a_chunk_of_that_file_is_removed(files: RepoFiles) -> None:
    text, report = check_citations("Para.\nSources: [README.md:5-9]()\nNext.", files, CHUNKS)
    assert text == "Para.\nNext."
    assert report.removed == 1


def test_unknown_path_is_removed_and_suffix_path_corrected(files: RepoFiles) -> None:
    text, report = check_citations("Sources: [nope.py:1-2](), [calc.py:2-4]()", files, CHUNKS)
    assert text == "Sources: [pkg/calc.py:2-4]()"
    assert (report.checked, report.fixed, report.removed) == (2, 1, 1)


def test_reversed_range_is_fixed(files: RepoFiles) -> None:
    text, _ = check_citations("Sources: [pkg/calc.py:30-2]()", files, CHUNKS)
    assert text == "Sources: [pkg/calc.py:20-35]()"


def test_inline_citations_outside_sources_lines_are_checked(files: RepoFiles) -> None:
    text, report = check_citations("See [pkg/calc.py:500-501]() and [docs](#page-2).", files, CHUNKS)
    assert text == "See [pkg/calc.py:20-35]() and [docs](#page-2)."
    assert report.checked == 1


def test_bold_sources_label_and_missing_parens_are_understood(files: RepoFiles) -> None:
    text, report = check_citations("**Sources:** [pkg/calc.py:1-3], [x.py:1]()", files, CHUNKS)
    assert text == "**Sources:** [pkg/calc.py:1-3]()"
    assert report.checked == 2


def test_code_blocks_are_left_alone(files: RepoFiles) -> None:
    page = "```python\nSources: [nope.py:1-2]()\n```"
    assert check_citations(page, files, CHUNKS) == (page, check_citations("", files, CHUNKS)[1])


def test_line_count_without_final_newline(files: RepoFiles) -> None:
    assert files.lines("README.md") == 2
    assert files.lines("pkg/calc.py") == 40


def test_a_page_without_citations_ends_citing_the_first_distinct_chunks() -> None:
    spans = [("b.py", 10, 20), ("a.py", 1, 9), ("b.py", 10, 20), ("b.py", 1, 9), ("c.py", 1, 5)]
    chunks = [Chunk(path, start, end, "…") for path, start, end in spans]
    page, added = cite_context("# Page\n\nText.\n", chunks, limit=3)
    assert page == "# Page\n\nText.\n\nSources: [b.py:10-20](), [a.py:1-9](), [b.py:1-9]()"
    assert added == 3
    assert cite_context("# Page", []) == ("# Page", 0)


def test_a_code_block_left_open_is_closed_before_the_sources_line() -> None:
    page, _ = cite_context("# Page\n\n```python\nx = 1", [Chunk("a.py", 1, 2, "…")])
    assert page == "# Page\n\n```python\nx = 1\n```\n\nSources: [a.py:1-2]()"


def test_a_form_feed_does_not_end_a_line(tmp_path: Path) -> None:
    (tmp_path / "paged.py").write_text("a = 1\n\f\nb = 2\n")
    repo = RepoFiles(tmp_path, ["paged.py"])
    assert repo.lines("paged.py") == 3
    body, report = check_citations("Sources: [paged.py:3]()", repo, [])
    assert (body, report.valid) == ("Sources: [paged.py:3]()", 1)
