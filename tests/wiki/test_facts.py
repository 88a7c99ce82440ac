"""The offline page's own text: the small model's summary cleaned, else what the modules' docstrings say."""

from __future__ import annotations

from pathlib import Path

from wikismith.rag.codemap import build_codemap
from wikismith.wiki.facts import docstring_summary, modules_section, summary_text

TINYCALC = Path(__file__).resolve().parents[2] / "examples" / "tinycalc"
FILES = ["tinycalc/lexer.py", "tinycalc/parser.py"]


def test_a_summary_keeps_plain_sentences_and_drops_echoed_instructions_and_markup() -> None:
    answer = "<think>hm</think># Title\n- The lexer splits text.\nWrite two short sentences.\n```\nx\n```\nIt ends."
    assert summary_text(answer) == "The lexer splits text. It ends."
    assert summary_text('Say "what it does" using only the names in the facts.') == ""


def test_a_summary_that_says_nothing_falls_back_to_the_module_docstrings() -> None:
    codemap = build_codemap(TINYCALC, FILES)
    assert (
        docstring_summary(codemap, FILES[:1])
        == "This page covers `tinycalc/lexer.py`: Split an expression into tokens."
    )


def test_the_modules_section_lists_documented_symbols_from_the_map() -> None:
    section = modules_section(build_codemap(TINYCALC, FILES), FILES)
    assert section.startswith("## Modules\n\n### `tinycalc/lexer.py`\n\nSplit an expression into tokens.")
    assert "- `ParseError` (class): The tokens do not form an expression." in section
