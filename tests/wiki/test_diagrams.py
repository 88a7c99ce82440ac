"""Diagrams derived from the code map are valid Mermaid (by the checker the repair uses) and marked; a model's
diagram stays only if its nodes are real, is repaired when a name has one real counterpart, else is replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from wikismith.rag.codemap import CodeMap, build_codemap
from wikismith.wiki import diagrams, mermaid
from wikismith.wiki.facts import CodeFacts, ground_body

POLYGLOT = Path(__file__).resolve().parents[1] / "fixtures" / "polyglot"
TINYCALC = Path(__file__).resolve().parents[2] / "examples" / "tinycalc"


def files_of(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


@pytest.fixture(scope="module")
def tinycalc() -> CodeFacts:
    return CodeFacts.of(build_codemap(TINYCALC, files_of(TINYCALC)), files_of(TINYCALC), TINYCALC)


@pytest.fixture(scope="module")
def polyglot() -> CodeMap:
    return build_codemap(POLYGLOT, files_of(POLYGLOT))


def test_module_graph_of_a_page_is_valid_mermaid_marked_as_derived(tinycalc: CodeFacts) -> None:
    code = diagrams.module_graph(tinycalc.codemap, ["tinycalc/parser.py"])
    assert code is not None and mermaid.check_diagram(code) == []
    assert code.startswith("graph LR\n    %% derived from the code map")
    assert '["tinycalc/parser.py"]' in code and '["tinycalc/lexer.py"]' in code and " --> " in code


@pytest.mark.parametrize(
    "paths",
    [
        ["shapes/base.py"],
        ["ts/models.ts"],
        ["rust/src/shapes/circle.rs"],
        ["java/src/main/java/com/example/geo/Point.java"],
    ],
)
def test_class_diagrams_show_bases_and_methods_in_every_language(polyglot: CodeMap, paths: list[str]) -> None:
    code = diagrams.class_diagram(polyglot, paths)
    assert code is not None and mermaid.check_diagram(code) == [], code
    assert code.startswith("classDiagram") and "<|--" in code


def test_call_flow_follows_calls_from_the_entry_point(tinycalc: CodeFacts) -> None:
    code = diagrams.call_flow(tinycalc.codemap, ["tinycalc/cli.py"])
    assert code is not None and mermaid.check_diagram(code) == []
    assert 'n0["main()"]' in code and '"evaluate()"' in code and "n0 --> " in code


def test_every_derived_diagram_of_every_fixture_file_passes_the_checker(polyglot: CodeMap) -> None:
    made = [d for path in polyglot.files for d in diagrams.derived_diagrams(polyglot, [path])]
    assert len(made) >= 8
    for _, code in made:
        assert mermaid.check_diagram(code) == [] and diagrams.DERIVED in code


def test_a_model_diagram_of_real_nodes_stays_as_written(tinycalc: CodeFacts) -> None:
    code = 'graph TD\n  A[cli] --> B["Parser.expression()"]\n  B --> C{tokenize}\n'
    check = diagrams.ground_diagram(code, tinycalc.codemap, tinycalc.resolver)
    assert (check.unresolved, check.repaired, check.code) == ((), 0, code)


def test_a_node_with_one_real_counterpart_is_renamed(tinycalc: CodeFacts) -> None:
    check = diagrams.ground_diagram("graph TD\n  A[CLI] --> B[parser]\n", tinycalc.codemap, tinycalc.resolver)
    assert check.unresolved == () and check.repaired == 1 and "A[cli]" in check.code


def test_a_model_diagram_with_an_invented_node_is_replaced_by_a_derived_one(tinycalc: CodeFacts) -> None:
    body = "# P\n\nText.\n\n```mermaid\nsequenceDiagram\n  participant User\n  User->>Parser: parse\n```\n\nEnd.\n"
    out, counts = ground_body(body, ["tinycalc/cli.py", "tinycalc/parser.py"], tinycalc, "p")
    assert counts.diagrams_replaced == 1 and "User" not in out
    replaced = mermaid.find_diagrams(out)
    assert len(replaced) == 1 and diagrams.DERIVED in replaced[0].code
    assert mermaid.check_diagram(replaced[0].code) == []
    assert "(derived from the code map).*" in out and out.endswith("End.\n")


def test_diagrams_that_are_not_about_code_are_left_alone(tinycalc: CodeFacts) -> None:
    check = diagrams.ground_diagram('pie title Share\n  "a" : 1\n', tinycalc.codemap, tinycalc.resolver)
    assert check.checked is False
