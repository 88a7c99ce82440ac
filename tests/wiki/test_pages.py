"""Page shaping: the model's answer cleaned, forge links at the snapshot's commit, context formatting."""

from __future__ import annotations

from pathlib import Path

import pytest

from wikismith.rag.types import Chunk, RepoRef, RepoSnapshot
from wikismith.wiki.pages import PageError, budget_chunks, clean_answer, collapse_repeats, format_context, source_url


def snapshot(kind: str, url: str | None, commit: str | None = "abc123", branch: str | None = "dev") -> RepoSnapshot:
    ref = RepoRef(type=kind, owner="o", name="r", url=url, local_path=None if url else Path("/src/r"))  # type: ignore[arg-type]
    return RepoSnapshot(ref=ref, root=Path("/src/r"), commit=commit, branch=branch)


@pytest.mark.parametrize(
    ("kind", "url", "expected"),
    [
        ("github", "https://github.com/o/r", "https://github.com/o/r/blob/abc123/src/a%20b.py"),
        ("gitlab", "https://gitlab.com/g/s/r", "https://gitlab.com/g/s/r/-/blob/abc123/src/a%20b.py"),
        ("bitbucket", "https://bitbucket.org/o/r", "https://bitbucket.org/o/r/src/abc123/src/a%20b.py"),
        ("local", None, "file:///src/r/src/a%20b.py"),
    ],
)
def test_source_links_point_at_the_actual_commit(kind: str, url: str | None, expected: str) -> None:
    assert source_url(snapshot(kind, url), "src/a b.py") == expected


def test_source_links_fall_back_to_the_branch_without_a_commit() -> None:
    link = source_url(snapshot("github", "https://github.com/o/r", commit=None), "a.py")
    assert link == "https://github.com/o/r/blob/dev/a.py"


def test_clean_answer_strips_fence_think_details_and_preamble() -> None:
    raw = "<think>hmm</think>```markdown\nSure!\n<details><summary>x</summary>- a</details>\n# Title\n\nBody\n```"
    assert clean_answer(raw, "Title") == "# Title\n\nBody"


def test_clean_answer_adds_the_title_when_missing() -> None:
    assert clean_answer("Just text.", "My Page") == "# My Page\n\nJust text."


def test_empty_answer_is_a_page_error() -> None:
    with pytest.raises(PageError):
        clean_answer("<think>only thoughts</think>", "T")


def test_collapse_repeats_keeps_code_and_drops_looping_paragraphs() -> None:
    text = "# T\n\n**Loop**\n\n**Loop**\n\n**Loop**\n\nEnd.\n\n```\nx\n\nx\n```"
    assert collapse_repeats(text) == "# T\n\n**Loop**\n\nEnd.\n\n```\nx\n\nx\n```"


def test_budget_keeps_best_chunks_that_fit_and_cuts_a_huge_first_one() -> None:
    chunks = [Chunk("a.py", 1, 3, "x" * 50), Chunk("b.py", 1, 1, "y" * 100), Chunk("c.py", 1, 1, "z" * 10)]
    assert [c.path for c in budget_chunks(chunks, 70)] == ["a.py", "c.py"]
    huge = Chunk("a.py", 10, 13, "l1\nl2\nl3\nl4")
    cut = budget_chunks([huge], 7)[0]
    assert (cut.start_line, cut.end_line, cut.text) == (10, 11, "l1\nl2")


def test_context_is_grouped_by_file_with_line_numbers() -> None:
    chunks = [Chunk("b.py", 5, 6, "five\nsix"), Chunk("a.py", 1, 1, "one"), Chunk("b.py", 1, 1, "first")]
    text = format_context(chunks)
    assert text.index("## File Path: b.py (lines 1-1)") < text.index("## File Path: b.py (lines 5-6)")
    assert text.index("b.py (lines 5-6)") < text.index("## File Path: a.py")
    assert "5: five\n6: six" in text


def test_context_numbers_each_line_of_a_chunk_once_and_no_more() -> None:
    # A chunk's text ends with its last line's newline; nothing after it is a line of the file.
    text = format_context([Chunk("m.py", 7, 8, "seven\neight\n")])
    assert text.endswith("7: seven\n8: eight")
    assert "9:" not in text
