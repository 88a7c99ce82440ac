"""Which page prompt a model gets: DeepWiki's full one, or the short one for a model with a small window."""

from __future__ import annotations

from pathlib import Path

import pytest

from wikismith.rag.types import Chunk, RepoRef, RepoSnapshot
from wikismith.wiki.citations import RepoFiles
from wikismith.wiki.pages import COMPACT_BELOW_CHARS, PageInputs, drop_repeated_lines, page_prompt
from wikismith.wiki.structure import PageSpec, Structure

PAGE = PageSpec(id="page-1", title="Evaluator", description="How expressions are evaluated")
CHUNKS = [Chunk("calc/ev.py", 3, 4, "def ev(t):\n    return t")]


def inputs(context_chars: int, tmp_path: Path) -> PageInputs:
    snapshot = RepoSnapshot(RepoRef(type="local", owner="local", name="calc", local_path=tmp_path), tmp_path)
    return PageInputs(
        model="p/m",
        snapshot=snapshot,
        files=RepoFiles(tmp_path, ["calc/ev.py"]),
        structure=Structure(title="calc", pages=(PAGE, PageSpec(id="page-2", title="Parser"))),
        language_name="English",
        context_chars=context_chars,
    )


@pytest.mark.parametrize("chars", [COMPACT_BELOW_CHARS - 1, 2_000])
def test_a_small_window_gets_the_short_prompt(chars: int, tmp_path: Path) -> None:
    prompt = page_prompt(PAGE, inputs(chars, tmp_path), CHUNKS, ["calc/ev.py"])
    assert "# Evaluator" in prompt and "3: def ev(t):" in prompt and "Sources: [" in prompt
    assert "Mermaid" not in prompt and "Parser" not in prompt  # no long instructions, no page list


def test_a_large_window_gets_deepwikis_prompt(tmp_path: Path) -> None:
    prompt = page_prompt(PAGE, inputs(24_000, tmp_path), CHUNKS, ["calc/ev.py"])
    assert "Mermaid" in prompt and "Parser (#page-2)" in prompt and "3: def ev(t):" in prompt


def test_a_looping_answer_keeps_each_long_line_once() -> None:
    loop = "This function evaluates an expression tree recursively, node by node."
    text = "\n".join(
        ['"""', "Intro line that is long enough to count as prose here.", '"""', *(['"""', loop] * 5), '"""']
    )
    cleaned = drop_repeated_lines(text)
    assert cleaned.count(loop) == 1 and '"""\n"""' not in cleaned
    assert "Intro line" in cleaned


def test_repeated_lines_inside_code_blocks_are_kept() -> None:
    code = "```python\nx = compute_the_value_of_something(1)\nx = compute_the_value_of_something(1)\n```"
    assert drop_repeated_lines(code) == code
