"""A page's part that comes from the code map, not the model.

`ground_body` checks the model's text: each Mermaid diagram against the map (`diagrams.ground_diagram`: kept,
its names repaired, or replaced by a derived diagram of the same kind, or removed), then every identifier
(`grounding.ground_identifiers`). `code_sections` adds what the map alone can say: the derived diagrams of
the page's files and the "Key symbols" table. `fact_body` is the page of the offline default: the model (the
embedded SmolLM2) writes only a short summary of the facts; the modules, their documented symbols, the
diagrams and the key symbols come from the map.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from wikismith.llm.base import ChatModel
from wikismith.llm.types import ChatRequest, Message
from wikismith.rag.codemap import CodeMap, Symbol
from wikismith.rag.identifiers import Resolver
from wikismith.wiki import diagrams, mermaid, template
from wikismith.wiki.codebrief import main_symbols, page_facts
from wikismith.wiki.grounding import IdentifierReport, ground_identifiers, key_symbols
from wikismith.wiki.tally import Tally

log = logging.getLogger("wikismith.wiki.facts")
_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL)
_FENCED = re.compile(r"^\s*(```|~~~).*?(?:^\s*\1[^\n]*$|\Z)", re.DOTALL | re.MULTILINE)
MAX_SUMMARY_SENTENCES = 3
_ECHO = re.compile(r"\b(sentences?|the facts|names in|facts about)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class CodeFacts:
    """What one run knows of the code, shared by its pages."""

    codemap: CodeMap
    resolver: Resolver

    @classmethod
    def of(cls, codemap: CodeMap, files: Sequence[str], root: Path) -> CodeFacts:
        return cls(codemap, Resolver(codemap, files, root))


@dataclass(slots=True)
class FactCounts:
    """What the map changed on one page."""

    identifiers: IdentifierReport
    diagrams_replaced: int = 0
    diagrams_grounded_removed: int = 0
    diagrams_renamed: int = 0  # kept, a node renamed to the one real name it stood for (logged, not counted)
    diagrams_derived: int = 0


def ground_body(body: str, paths: Sequence[str], facts: CodeFacts, page_id: str) -> tuple[str, FactCounts]:
    """The model's page with its diagrams and identifiers checked against the map."""
    counts = FactCounts(IdentifierReport())
    for diagram in reversed(mermaid.find_diagrams(body)):  # from the end, so earlier offsets stay valid
        check = diagrams.ground_diagram(diagram.code, facts.codemap, facts.resolver)
        if not check.checked or (not check.unresolved and not check.repaired):
            continue
        if not check.unresolved:
            body = mermaid.replace_diagram(body, diagram, check.code)
            counts.diagrams_renamed += 1
            log.info("page %s: diagram nodes renamed to the real names", page_id)
            continue
        derived = diagrams.replacement_for(check.kind, facts.codemap, paths)
        log.info("page %s: diagram names nothing real for %s; %s", page_id, ", ".join(check.unresolved),
                 "replaced by one derived from the code" if derived else "removed")  # fmt: skip
        block = diagrams.derived_block(*derived) if derived else ""
        body = body[: diagram.start] + block + body[diagram.end :]
        if derived:
            counts.diagrams_replaced += 1
        else:
            counts.diagrams_grounded_removed += 1
    body, counts.identifiers = ground_identifiers(body, facts.resolver)
    if counts.identifiers.unresolved:
        log.info("page %s: identifiers not in the code: %s", page_id, ", ".join(counts.identifiers.unresolved))
    return body, counts


def code_sections(
    body: str, paths: Sequence[str], facts: CodeFacts, link: Callable[[Symbol], str], counts: FactCounts
) -> str:
    """The derived diagrams not already on the page, and the key symbols table."""
    present = {d.code.strip() for d in mermaid.find_diagrams(body)}
    derived = [(c, code) for c, code in diagrams.derived_diagrams(facts.codemap, paths) if code.strip() not in present]
    counts.diagrams_derived = len(derived) + counts.diagrams_replaced
    parts = []
    if derived:
        parts.append("## Diagrams from the code\n\n" + "\n\n".join(diagrams.derived_block(*d) for d in derived) + "\n")
    table = key_symbols(facts.codemap, paths, link)
    if table:
        parts.append(table)
    return "\n".join(parts)


# --- the offline page -------------------------------------------------------------------------------------------


def modules_section(codemap: CodeMap, paths: Sequence[str]) -> str:
    """Per file of the page: its docstring's first paragraph and its main documented symbols."""
    parts = ["## Modules"]
    for path in paths:
        facts = codemap.files.get(path)
        if facts is None or not facts.language:
            continue
        module = codemap.module_symbol(path)
        lines = [f"### `{path}`", ""]
        if module is not None and module.doc:
            lines += [module.doc.split("\n\n", 1)[0], ""]
        for symbol in main_symbols(codemap, path, 8):
            doc = symbol.doc.split("\n", 1)[0] if symbol.doc else ""
            kind = symbol.detail if symbol.kind == "class" and symbol.detail else symbol.kind
            lines.append(f"- `{symbol.qualname}` ({kind})" + (f": {doc}" if doc else ""))
        parts.append("\n".join(lines).rstrip())
    return "\n\n".join(parts) + "\n" if len(parts) > 1 else ""


def summary_text(answer: str) -> str:
    """A small model's summary as plain sentences: no reasoning, headings, lists, code or repeats."""
    text = _FENCED.sub("", _THINK.sub("", answer))
    lines = [
        line.strip() for line in text.split("\n") if line.strip() and not line.lstrip().startswith(("#", "```", "|"))
    ]
    text = " ".join(re.sub(r"^[-*+]\s+|^\d+[.)]\s+", "", line) for line in lines)
    sentences = list(dict.fromkeys(s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()))
    # A small model quotes its instructions back ("two short sentences", "using only the names"): not a summary.
    sentences = [s for s in sentences if '"' not in s and not _ECHO.search(s)]
    return " ".join(sentences[:MAX_SUMMARY_SENTENCES])


async def fact_body(
    model: ChatModel,
    model_name: str,
    title: str,
    paths: Sequence[str],
    facts: CodeFacts,
    language_name: str,
    tally: Tally,
) -> str:
    """`# title`, the model's short summary of the facts, then the modules from the map."""
    listing = page_facts(facts.codemap, paths, max_chars=2_500) or "\n".join(f"- {p}" for p in paths)
    prompt = template.render("page_facts", facts=listing, title=title, language_name=language_name)
    request = ChatRequest(model=model_name, messages=[Message(role="user", content=prompt)], tag="wiki-page")
    response = await model.complete(request)
    tally.add(response)
    summary = summary_text(response.text) or docstring_summary(facts.codemap, paths)
    return f"# {title}\n\n{summary}\n\n{modules_section(facts.codemap, paths)}"


def docstring_summary(codemap: CodeMap, paths: Sequence[str]) -> str:
    """What the modules' own docstrings say, when the model wrote nothing usable."""
    parts = []
    for path in paths:
        module = codemap.module_symbol(path)
        first = module.doc.split("\n\n", 1)[0].strip() if module is not None else ""
        parts.append(f"`{path}`: {first.rstrip('.')}." if first else f"`{path}`.")
    return ("This page covers " + " ".join(parts)) if parts else ""
