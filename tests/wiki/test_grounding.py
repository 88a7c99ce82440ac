"""Every identifier a page names is checked against the code map: kept, rewritten, or taken out; counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from wikismith.rag.codemap import CodeMap, build_codemap
from wikismith.rag.identifiers import Resolver, find_mentions
from wikismith.wiki.grounding import ground_identifiers, key_symbols, page_symbols

TINYCALC = Path(__file__).resolve().parents[2] / "examples" / "tinycalc"


def files_of(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


@pytest.fixture(scope="module")
def codemap() -> CodeMap:
    return build_codemap(TINYCALC, files_of(TINYCALC))


@pytest.fixture(scope="module")
def resolver(codemap: CodeMap) -> Resolver:
    return Resolver(codemap, files_of(TINYCALC), TINYCALC)


def test_real_identifiers_are_kept_and_counted_as_resolved(resolver: Resolver) -> None:
    page = "# Parser\n\nThe `Parser` class calls `tokenize()` from `tinycalc/lexer.py`; `Parser.expression` recurses.\n"
    out, report = ground_identifiers(page, resolver)
    assert out == page
    assert (report.named, report.resolved, report.rewritten, report.removed) == (4, 4, 0, 0)


def test_a_name_with_one_real_counterpart_is_rewritten_to_it(resolver: Resolver) -> None:
    page = "# P\n\nThe `Calculator.expression()` method recurses into `src/tinycalc/parser.py`.\n"
    out, report = ground_identifiers(page, resolver)
    assert "`Parser.expression()` method recurses into `tinycalc/parser.py`." in out
    assert (report.rewritten, report.removed) == (2, 0)


def test_an_invented_identifier_takes_its_sentence_with_it(resolver: Resolver) -> None:
    page = "# P\n\nThe parser is small. It keeps a `TokenStream` buffer. It returns a `Node`.\n"
    out, report = ground_identifiers(page, resolver)
    assert out == "# P\n\nThe parser is small. It returns a `Node`.\n"
    assert (report.named, report.resolved, report.removed, report.unresolved) == (2, 1, 1, ("TokenStream",))


def test_names_written_as_prose_are_checked_too(resolver: Resolver) -> None:
    page = "# P\n\nA class named Tinycalc does it. It uses Python's eval() module. The tokenize() function scans.\n"
    out, report = ground_identifiers(page, resolver)
    assert out == "# P\n\nThe tokenize() function scans.\n"
    assert set(report.unresolved) == {"Tinycalc", "eval"} and report.resolved == 1


def test_an_unknown_plain_word_only_loses_its_code_formatting(resolver: Resolver) -> None:
    out, report = ground_identifiers("# P\n\nIt reads the `configuration` first.\n", resolver)
    assert out == "# P\n\nIt reads the configuration first.\n" and report.removed == 1


def test_list_items_table_rows_and_headings_with_invented_names_go(resolver: Resolver) -> None:
    page = (
        "# P\n\n- `parse` builds the tree.\n- `evaluate_all` sums up.\n\n"
        "| Name | Role |\n|---|---|\n| `evaluate` | runs |\n| `Engine` | invented |\n\n"
        "## The `Engine` class\n\nText.\n"
    )
    out, report = ground_identifiers(page, resolver)
    assert "`parse` builds" in out and "evaluate_all" not in out and "`evaluate` | runs" in out
    assert "Engine" not in out and "| Name | Role |\n|---|---|" in out and "Text." in out
    assert report.removed == 3


def test_code_blocks_links_details_and_sources_lines_are_not_checked(resolver: Resolver) -> None:
    page = (
        "<details>\n<summary>x</summary>\n\n- [made_up.py](file:///x/made_up.py)\n</details>\n\n# P\n\n"
        "```python\nmade_up_function()\n```\n\nSee [made_up_page](#page-2).\n\nSources: [tinycalc/cli.py:1-3]()\n"
    )
    out, report = ground_identifiers(page, resolver)
    assert out == page and report.named == 0


def test_external_names_the_code_imports_and_words_of_the_repository_resolve(resolver: Resolver) -> None:
    assert resolver.resolve("argparse").status == "resolved"  # tinycalc/cli.py imports it
    assert resolver.resolve("dataclass").status == "resolved"  # imported from dataclasses
    assert resolver.resolve("Parser.tokens").status == "resolved"  # an attribute Parser's methods assign
    assert resolver.resolve("self.index").status == "resolved"
    assert resolver.resolve("parser.expression").status == "resolved"  # an instance's method
    assert resolver.resolve("Parser.render").status == "unresolved"


def test_mentions_skip_urls_and_domains_and_count_snake_case_in_prose() -> None:
    names = [m.name for m in find_mentions("See https://x.org/a_b and github.com; call parse_all now.")]
    assert names == ["parse_all"]


def test_key_symbols_list_signatures_and_link_each_definition(codemap: CodeMap) -> None:
    table = key_symbols(codemap, ["tinycalc/parser.py"], lambda s: f"https://forge/{s.path}#L{s.start_line}")
    assert table.startswith("## Key symbols\n\n| Symbol | Kind | Signature | Defined at |")
    assert (
        "| `parse` | function | `def parse(text: str) -> Node` | "
        "[tinycalc/parser.py:73](https://forge/tinycalc/parser.py#L73) |"
    ) in table
    assert "| `Parser.expression` | method | `def expression(self) -> Node` |" in table
    names = [s.qualname for s in page_symbols(codemap, ["tinycalc/parser.py"])]
    assert names.index("Parser") < names.index("Parser.peek") < names.index("parse")
    assert key_symbols(codemap, ["README.md"], str) == ""
