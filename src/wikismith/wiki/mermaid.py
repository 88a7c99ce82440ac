"""Mermaid blocks checked for the mistakes DeepWiki's page prompt warns about, before a page is written.

`check_diagram` returns a list of problems (empty: fine). It looks for a known diagram type, unbalanced
brackets and quotes, `subgraph`/`loop`/`alt`/… without `end`, and the flowchart label written the wrong way
(`A--|label|-->B`). It is a linter for common model mistakes, not a Mermaid parser: `graph LR` is accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BLOCK = re.compile(r"^```[ \t]*mermaid[ \t]*\n(?P<code>.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
_TYPES = (
    "graph", "flowchart", "sequenceDiagram", "classDiagram", "stateDiagram", "stateDiagram-v2", "erDiagram",
    "gantt", "pie", "journey", "gitGraph", "mindmap", "timeline", "quadrantChart", "requirementDiagram",
    "C4Context", "sankey-beta", "xychart-beta", "block-beta",
)  # fmt: skip
_DIRECTIONS = {"TB", "TD", "BT", "RL", "LR"}
_BAD_LABEL = re.compile(r"--\s*\|[^|\n]*\|\s*-->")
_PAIRS = {"(": ")", "[": "]", "{": "}"}
_FLOW_BLOCKS = re.compile(r"^\s*subgraph\b")
_SEQ_BLOCKS = re.compile(r"^\s*(loop|alt|opt|par|critical|break|rect|box)\b")
_END = re.compile(r"^\s*end\s*$")
_SEQ_FLOW_ARROW = re.compile(r"-->\s*\||--\|")


@dataclass(frozen=True, slots=True)
class Diagram:
    start: int  # offsets of the whole fenced block in the page
    end: int
    code: str


def find_diagrams(markdown: str) -> list[Diagram]:
    return [Diagram(m.start(), m.end(), m.group("code")) for m in _BLOCK.finditer(markdown)]


def replace_diagram(markdown: str, diagram: Diagram, code: str | None) -> str:
    """The page with `diagram` replaced by a block holding `code`, or removed when `code` is None."""
    block = "" if code is None else f"```mermaid\n{code.strip()}\n```"
    return markdown[: diagram.start] + block + markdown[diagram.end :]


def first_diagram(answer: str) -> str | None:
    """The code of the first ```mermaid block in a model's answer."""
    match = _BLOCK.search(answer)
    return match.group("code") if match else None


def _statements(code: str) -> list[tuple[int, str]]:
    lines = []
    for number, line in enumerate(code.split("\n"), start=1):
        text = line.split("%%", 1)[0].rstrip()
        if text.strip():
            lines.append((number, text))
    return lines


def check_diagram(code: str) -> list[str]:
    """The problems found in one diagram's code; an empty list when it looks valid."""
    statements = _statements(code)
    if not statements:
        return ["the diagram is empty"]
    _, header = statements[0]
    words = header.split()
    kind = words[0] if words else ""
    if kind not in _TYPES:
        return [f"line 1: {header.strip()!r} does not start with a diagram type such as graph TD or sequenceDiagram"]
    problems: list[str] = []
    if kind in ("graph", "flowchart") and len(words) > 1 and words[1] not in _DIRECTIONS:
        problems.append(f"line 1: unknown direction {words[1]!r} (use TD, TB, BT, RL or LR)")
    body = statements[1:]
    for number, text in body:
        if _BAD_LABEL.search(text):
            problems.append(f"line {number}: write edge labels as A -->|label| B, not A--|label|-->B")
        if text.count('"') % 2:
            problems.append(f"line {number}: unbalanced double quote")
    if kind in ("graph", "flowchart"):
        problems += _check_brackets(body, flowchart=True)
        problems += _check_ends(body, _FLOW_BLOCKS, "subgraph")
    elif kind == "sequenceDiagram":
        problems += _check_brackets([(n, t.split(":", 1)[0]) for n, t in body], flowchart=False)
        problems += _check_ends(body, _SEQ_BLOCKS, "loop/alt/opt/par/critical/break/rect/box")
        problems += [
            f"line {n}: flowchart arrow in a sequence diagram; write A->>B: label"
            for n, t in body
            if _SEQ_FLOW_ARROW.search(t)
        ]
    elif kind == "classDiagram":
        problems += _check_brackets(body, flowchart=False)
    return problems


def _check_brackets(lines: list[tuple[int, str]], *, flowchart: bool) -> list[str]:
    """Brackets must nest and close (quoted text ignored); in flowcharts `A>text]` opens with `>`."""
    stack: list[tuple[str, int]] = []
    for number, text in lines:
        text = re.sub(r'"[^"]*"', '""', text)
        for i, char in enumerate(text):
            if char in _PAIRS:
                stack.append((_PAIRS[char], number))
            elif flowchart and char == ">" and i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_"):
                stack.append(("]", number))
            elif char in ")]}":
                if not stack or stack[-1][0] != char:
                    return [f"line {number}: unexpected {char!r} (brackets do not match)"]
                stack.pop()
    if stack:
        closer, number = stack[-1]
        return [f"line {number}: bracket never closed (expected {closer!r})"]
    return []


def _check_ends(lines: list[tuple[int, str]], opener: re.Pattern[str], names: str) -> list[str]:
    depth = 0
    for number, text in lines:
        if opener.match(text):
            depth += 1
        elif _END.match(text):
            depth -= 1
            if depth < 0:
                return [f"line {number}: 'end' without an open {names} block"]
    return [f"{depth} {names} block(s) without 'end'"] if depth > 0 else []
