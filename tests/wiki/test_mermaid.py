"""Mermaid checks: the mistakes DeepWiki's prompt warns about are found; valid diagrams pass."""

from __future__ import annotations

import pytest

from wikismith.wiki.mermaid import check_diagram, find_diagrams, first_diagram, replace_diagram

VALID = [
    "graph TD\n  A[Start] --> B{Ok?}\n  B -->|yes| C((Done))\n  B -->|no| D>Flag]",
    "graph LR\n  A --> B",
    'flowchart TD\n  subgraph core\n    A["run(x)"] --> B[(db)]\n  end',
    "sequenceDiagram\n  participant A\n  participant B\n  A->>+B: call(x)\n  loop each\n    B-->>-A: ok :)\n  end",
    "classDiagram\n  class Calc {\n    +add(a, b) int\n  }\n  Calc <|-- Sci",
    "erDiagram\n  CUSTOMER ||--o{ ORDER : places",
]


@pytest.mark.parametrize("code", VALID)
def test_valid_diagrams_pass(code: str) -> None:
    assert check_diagram(code) == []


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("", "empty"),
        ("A --> B", "diagram type"),
        ("graph XY\n A-->B", "direction"),
        ("graph TD\n  A--|label|-->B", "edge labels"),
        ("graph TD\n  A[Start --> B", "never closed"),
        ("graph TD\n  A(Start] --> B", "do not match"),
        ('graph TD\n  A["Start] --> B', "double quote"),
        ("graph TD\n  subgraph x\n  A --> B", "without 'end'"),
        ("sequenceDiagram\n  A->>B: hi\n  end", "'end' without"),
        ("sequenceDiagram\n  A-->|hi| B", "flowchart arrow"),
    ],
)
def test_broken_diagrams_are_reported(code: str, problem: str) -> None:
    problems = check_diagram(code)
    assert problems and any(problem in p for p in problems), problems


def test_find_and_replace_diagrams() -> None:
    page = "# T\n\n```mermaid\ngraph TD\n  A-->B\n```\n\ntext\n\n```mermaid\nbad\n```\n"
    diagrams = find_diagrams(page)
    assert [d.code for d in diagrams] == ["graph TD\n  A-->B\n", "bad\n"]
    assert replace_diagram(page, diagrams[1], None) == "# T\n\n```mermaid\ngraph TD\n  A-->B\n```\n\ntext\n\n\n"
    assert "```mermaid\ngraph TD\n  X-->Y\n```" in replace_diagram(page, diagrams[1], "graph TD\n  X-->Y\n")


def test_first_diagram_in_an_answer() -> None:
    assert first_diagram("Here:\n```mermaid\ngraph TD\n A-->B\n```\nthanks") == "graph TD\n A-->B\n"
    assert first_diagram("no diagram") is None
