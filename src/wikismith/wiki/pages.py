"""One wiki page: retrieve its context, ask the model, and make the answer sound before it is written.

The page has DeepWiki's shape: a `<details>` block listing the source files as links to the forge at the
snapshot's actual commit (or branch), then `# Title`, sections, diagrams, tables and `Sources:` citations. The
`<details>` block is built here, not by the model, so its links are always right. Mermaid blocks that fail
`mermaid.check_diagram` get one repair request each (a diagram still broken after it is removed); with a code
map (`facts.py`), diagrams and identifiers are then checked against it, and the page ends with diagrams
derived from the code and its key symbols; every citation is checked by `citations.check_citations`. For the
offline default (`fact_pages`), the page is built around the map's facts and the model writes its summary.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from urllib.parse import quote

from wikismith.llm.base import ChatModel
from wikismith.llm.errors import LLMError
from wikismith.llm.types import ChatRequest, Message
from wikismith.rag.codemap import Symbol
from wikismith.rag.types import Chunk, RepoSnapshot, Retriever
from wikismith.wiki import mermaid, template
from wikismith.wiki.citations import CitationReport, RepoFiles, check_citations, cite_context
from wikismith.wiki.codebrief import page_facts
from wikismith.wiki.facts import CodeFacts, code_sections, fact_body, ground_body
from wikismith.wiki.grounding import IdentifierReport
from wikismith.wiki.structure import PageSpec, Structure
from wikismith.wiki.tally import Tally

log = logging.getLogger("wikismith.wiki.pages")

_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL)
_DETAILS = re.compile(r"<details>.*?</details>\s*", re.DOTALL | re.IGNORECASE)
_WRAPPING_FENCE = re.compile(r"^\s*```(?:markdown|md)?\s*\n(?P<body>.*?)\n```\s*$", re.DOTALL | re.IGNORECASE)
_H1 = re.compile(r"^#\s+\S", re.MULTILINE)
MAX_LISTED_FILES = 12
# Excerpt budgets below this come from context windows of about 8k tokens or less (see
# `repository.context_budget`): small models, which follow a short prompt better than DeepWiki's long one.
COMPACT_BELOW_CHARS = 12_000


class PageError(Exception):
    """The model's answer cannot be made into a page (e.g. it is empty)."""


@dataclass(frozen=True, slots=True)
class PageInputs:
    """What every page of one run shares."""

    model: str
    snapshot: RepoSnapshot
    files: RepoFiles
    structure: Structure
    language_name: str
    context_chars: int = 24_000
    top_k: int = 12
    facts: CodeFacts | None = None  # the code map; None: no identifier check, no derived sections
    fact_pages: bool = False  # pages built around the map's facts, the model writing their summaries


@dataclass(slots=True)
class PageResult:
    page: PageSpec
    markdown: str
    citations: CitationReport
    diagrams_repaired: int = 0
    diagrams_removed: int = 0
    diagrams_replaced: int = 0  # model diagrams naming nothing real, replaced by derived ones
    diagrams_derived: int = 0
    identifiers: IdentifierReport = field(default_factory=IdentifierReport)
    tally: Tally = field(default_factory=Tally)


# --- context ------------------------------------------------------------------------------------------------


async def retrieve_context(retriever: Retriever, page: PageSpec, top_k: int) -> list[Chunk]:
    """Chunks for the page: the best from its relevant files first, then the best from the whole repository."""
    query = f"{page.title}\n{page.description}".strip()
    hits = []
    if page.file_paths:
        hits += await retriever.retrieve(query, top_k, paths=list(page.file_paths))
    hits += await retriever.retrieve(query, max(2, top_k // 2))
    seen: set[tuple[str, int, int]] = set()
    chunks = []
    for hit in hits:
        key = (hit.chunk.path, hit.chunk.start_line, hit.chunk.end_line)
        if key not in seen:
            seen.add(key)
            chunks.append(hit.chunk)
    return chunks


def budget_chunks(chunks: Sequence[Chunk], max_chars: int) -> list[Chunk]:
    """The best-ranked chunks that fit in `max_chars` (the first one always does, cut if it must)."""
    kept: list[Chunk] = []
    used = 0
    for chunk in chunks:
        if used + len(chunk.text) > max_chars:
            if not kept:
                kept.append(_cut(chunk, max_chars))
            continue
        kept.append(chunk)
        used += len(chunk.text)
    return kept


def _cut(chunk: Chunk, max_chars: int) -> Chunk:
    lines = chunk.text[:max_chars].split("\n")
    if len(lines) > 1:
        lines = lines[:-1]
    return Chunk(chunk.path, chunk.start_line, chunk.start_line + len(lines) - 1, "\n".join(lines))


def format_context(chunks: Sequence[Chunk]) -> str:
    """Chunks grouped by file (in rank order of first appearance), sorted by line, every line numbered, each
    headed by its file, lines and the symbol it is in."""
    by_file: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        by_file.setdefault(chunk.path, []).append(chunk)
    parts = []
    for path, group in by_file.items():
        for chunk in sorted(group, key=lambda c: c.start_line):
            # A chunk ends with its last line's newline: what follows it is not a line of the chunk.
            lines = chunk.text.removesuffix("\n").split("\n")
            numbered = "\n".join(f"{chunk.start_line + i}: {line}" for i, line in enumerate(lines))
            within = f", in {chunk.symbol.partition('::')[2]}" if chunk.symbol.partition("::")[2] else ""
            parts.append(f"## File Path: {path} (lines {chunk.start_line}-{chunk.end_line}{within})\n{numbered}")
    return "\n\n".join(parts) or "(no excerpts were found)"


# --- links --------------------------------------------------------------------------------------------------


def source_url(snapshot: RepoSnapshot, path: str) -> str:
    """A link to `path` at the snapshot's commit (else branch) on its forge, or a file URI for local trees."""
    ref = snapshot.ref
    quoted = quote(path)
    if ref.url is None:
        return (snapshot.root / PurePosixPath(path)).as_uri()
    revision = quote(snapshot.commit or snapshot.branch or ref.ref or "HEAD", safe="")
    base = ref.url.rstrip("/")
    if ref.type == "gitlab":
        return f"{base}/-/blob/{revision}/{quoted}"
    if ref.type == "bitbucket":
        return f"{base}/src/{revision}/{quoted}"
    return f"{base}/blob/{revision}/{quoted}"


def details_block(snapshot: RepoSnapshot, paths: Sequence[str]) -> str:
    links = "\n".join(f"- [{p}]({source_url(snapshot, p)})" for p in paths)
    return (
        "<details>\n<summary>Relevant source files</summary>\n\n"
        "The following files were used as context for generating this wiki page:\n\n"
        f"{links}\n</details>\n"
    )


def symbol_url(snapshot: RepoSnapshot, symbol: Symbol) -> str:
    """A link to the lines of `symbol` (the forge's line anchor; none for a local tree)."""
    url, start, end = source_url(snapshot, symbol.path), symbol.start_line, symbol.end_line
    if snapshot.ref.url is None:
        return url
    if snapshot.ref.type == "gitlab":
        return f"{url}#L{start}-{end}"
    if snapshot.ref.type == "bitbucket":
        return f"{url}#lines-{start}:{end}"
    return f"{url}#L{start}-L{end}"


def listed_files(page: PageSpec, chunks: Sequence[Chunk]) -> list[str]:
    return list(dict.fromkeys([*page.file_paths, *(c.path for c in chunks)]))[:MAX_LISTED_FILES]


def covered_files(page: PageSpec, chunks: Sequence[Chunk], facts: CodeFacts) -> list[str]:
    """The code files a page is about: its own, else those of its best chunks."""
    code = [p for p in page.file_paths if facts.codemap.files.get(p) and facts.codemap.files[p].language]
    if code:
        return code
    found = [c.path for c in chunks if facts.codemap.files.get(c.path) and facts.codemap.files[c.path].language]
    return list(dict.fromkeys(found))[:4]


# --- the page -----------------------------------------------------------------------------------------------


def page_prompt(page: PageSpec, inputs: PageInputs, chunks: Sequence[Chunk], files: Sequence[str]) -> str:
    """DeepWiki's page prompt; for a model with a small window, a short one (tried on SmolLM2-135M: given the
    full instructions it echoes them back as the page; given the short ones it explains the code)."""
    facts = page_facts(inputs.facts.codemap, covered_files(page, chunks, inputs.facts)) if inputs.facts else ""
    if inputs.context_chars < COMPACT_BELOW_CHARS:
        return template.render(
            "page_compact",
            title=page.title,
            description=page.description or page.title,
            context=format_context(chunks),
            language_name=inputs.language_name,
            code_facts=f"\nThe code defines (name only these, or names in the excerpts):\n{facts}\n" if facts else "",
        )
    others = [f"- {p.title} (#{p.id})" for p in inputs.structure.pages if p.id != page.id]
    return template.render(
        "page",
        title=page.title,
        description=page.description or page.title,
        file_list="\n".join(f"- {p}" for p in files) or "(none)",
        context=format_context(chunks),
        other_pages="\n".join(others) or "(none)",
        language_name=inputs.language_name,
        code_facts=facts or "(no code map)",
    )


def clean_answer(text: str, title: str) -> str:
    """The page body: reasoning, a wrapping fence, a model-written <details> block and any preamble before
    the first H1 removed; `# title` added when the answer has no H1."""
    text = _THINK.sub("", text).strip()
    fenced = _WRAPPING_FENCE.match(text)
    if fenced:
        text = fenced.group("body").strip()
    text = _DETAILS.sub("", text).strip()
    if not text:
        raise PageError("the model returned an empty page")
    text = drop_repeated_lines(collapse_repeats(text))
    heading = _H1.search(text)
    if heading is None:
        return f"# {title}\n\n{text}"
    return text[heading.start() :]


def collapse_repeats(text: str) -> str:
    """Drop a paragraph that repeats the one before it (small models loop); code blocks are left alone."""
    out: list[str] = []
    paragraph: list[str] = []
    previous: list[str] = []
    in_fence = False

    def flush() -> None:
        nonlocal paragraph, previous
        if paragraph and paragraph != previous:
            if out:
                out.append("")
            out.extend(paragraph)
        previous, paragraph = paragraph or previous, []

    for line in text.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        if not in_fence and not line.strip() and not line.lstrip().startswith(("```", "~~~")):
            flush()
        else:
            paragraph.append(line)
    flush()
    return "\n".join(out)


def drop_repeated_lines(text: str, min_chars: int = 40) -> str:
    """Outside code blocks, drop a line of `min_chars` or more seen before, and a line equal to the line kept
    just before it (SmolLM2 loops one sentence between stray quote lines with no blank line between)."""
    out: list[str] = []
    seen: set[str] = set()
    in_fence = False
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
        elif not in_fence and stripped:
            if (len(stripped) >= min_chars and stripped in seen) or (out and stripped == out[-1].strip()):
                continue
            seen.add(stripped)
        out.append(line)
    return "\n".join(out)


async def generate_page(model: ChatModel, retriever: Retriever, page: PageSpec, inputs: PageInputs) -> PageResult:
    """Retrieve, generate, repair diagrams, check them and the identifiers against the code map, check
    citations, add the code's own sections. Raises LLMError / PageError on failure."""
    chunks = budget_chunks(await retrieve_context(retriever, page, inputs.top_k), inputs.context_chars)
    files = listed_files(page, chunks)
    result = PageResult(page=page, markdown="", citations=CitationReport())
    facts = inputs.facts
    covered = covered_files(page, chunks, facts) if facts is not None else []
    if facts is not None and inputs.fact_pages:
        args = (inputs.model, page.title, covered, facts, inputs.language_name, result.tally)
        body = await fact_body(model, *args)
    else:
        messages = [
            Message(role="system", content=template.render("page_system")),
            Message(role="user", content=page_prompt(page, inputs, chunks, files)),
        ]
        response = await model.complete(ChatRequest(model=inputs.model, messages=messages, tag="wiki-page"))
        result.tally.add(response)
        body = clean_answer(response.text, page.title)
        body = await repair_diagrams(model, inputs.model, body, result)
    counts = None
    if facts is not None:
        body, counts = ground_body(body, covered, facts, page.id)
        result.identifiers, result.diagrams_replaced = counts.identifiers, counts.diagrams_replaced
        result.diagrams_removed += counts.diagrams_grounded_removed
    body, result.citations = check_citations(body, inputs.files, chunks)
    if facts is not None and counts is not None:
        sections = code_sections(body, covered, facts, lambda s: symbol_url(inputs.snapshot, s), counts)
        body, result.diagrams_derived = f"{body.rstrip()}\n\n{sections}", counts.diagrams_derived
    if not (result.citations.valid or result.citations.fixed):
        body, added = cite_context(body, chunks)
        result.citations = replace(result.citations, added=added)
    result.markdown = f"{details_block(inputs.snapshot, files)}\n{body.strip()}\n"
    return result


async def repair_diagrams(model: ChatModel, model_name: str, body: str, result: PageResult) -> str:
    """One repair request per broken diagram; a diagram still broken afterwards is removed."""
    for diagram in reversed(mermaid.find_diagrams(body)):  # from the end, so earlier offsets stay valid
        problems = mermaid.check_diagram(diagram.code)
        if not problems:
            continue
        prompt = template.render(
            "mermaid_repair", errors="\n".join(f"- {p}" for p in problems), diagram=diagram.code.strip()
        )
        request = ChatRequest(model=model_name, messages=[Message(role="user", content=prompt)], tag="wiki-mermaid")
        try:
            response = await model.complete(request)
        except LLMError as exc:  # a failed repair costs the diagram, not the page
            log.warning("page %s: diagram repair request failed: %s", result.page.id, exc)
            fixed = None
        else:
            result.tally.add(response)
            fixed = mermaid.first_diagram(response.text)
        if fixed is not None and not mermaid.check_diagram(fixed):
            body = mermaid.replace_diagram(body, diagram, fixed)
            result.diagrams_repaired += 1
        else:
            log.warning(
                "page %s: removed a Mermaid diagram still broken after repair: %s", result.page.id, "; ".join(problems)
            )
            body = mermaid.replace_diagram(body, diagram, None)
            result.diagrams_removed += 1
    return body
