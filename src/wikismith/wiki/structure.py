"""The wiki's structure: the prompt, DeepWiki's `wiki_structure` XML parsed robustly, and its clean-up.

Parsing finds the XML inside code fences or prose, removes stray control characters and DOCTYPE/ENTITY
declarations, escapes bare `&` and `<` that start no tag, and keeps sections. `request_structure` asks the model
once more with the parser's error when the first answer is unusable; after that it raises `StructureError`
naming the model and quoting the start of its answer. `clean_structure` drops file paths that are not in the
repository and related/section ids that name nothing, and says what it dropped.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from wikismith.llm.base import ChatModel
from wikismith.llm.types import ChatRequest, Message
from wikismith.wiki import template
from wikismith.wiki.store import WikiPage, WikiSection, WikiStructure
from wikismith.wiki.tally import Tally

log = logging.getLogger("wikismith.wiki.structure")

IMPORTANCE = ("high", "medium", "low")
_CONTROL = re.compile(r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]")
_BARE_AMP = re.compile(r"&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);)")
_BARE_LT = re.compile(r"<(?![A-Za-z_/!?])")
_DECLARATION = re.compile(r"<!(?:DOCTYPE|ENTITY)[^>]*>", re.IGNORECASE)
_BLOCK = re.compile(r"<wiki_structure\b[^>]*>.*?</wiki_structure\s*>", re.DOTALL)


class StructureError(Exception):
    """The model's answer holds no usable wiki structure."""


class PageSpec(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    title: str
    description: str = ""
    importance: str = "medium"
    file_paths: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    parent_section: str | None = None


class SectionSpec(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    title: str
    pages: tuple[str, ...] = ()
    subsections: tuple[str, ...] = ()


class Structure(BaseModel):
    """What the wiki will hold. `root_sections` are the sections no other section lists as a subsection."""

    model_config = ConfigDict(frozen=True)
    title: str
    description: str = ""
    pages: tuple[PageSpec, ...]
    sections: tuple[SectionSpec, ...] = ()

    @property
    def root_sections(self) -> list[str]:
        nested = {s for section in self.sections for s in section.subsections}
        return [section.id for section in self.sections if section.id not in nested]

    def page(self, page_id: str) -> PageSpec:
        return next(p for p in self.pages if p.id == page_id)

    def to_wiki(self) -> WikiStructure:
        """DeepWiki's `WikiStructureModel` (pages without content)."""
        return WikiStructure(
            id="wiki",
            title=self.title,
            description=self.description,
            pages=[
                WikiPage(
                    id=p.id,
                    title=p.title,
                    content="",
                    filePaths=list(p.file_paths),
                    importance=p.importance,
                    relatedPages=list(p.related),
                )
                for p in self.pages
            ],
            sections=[
                WikiSection(id=s.id, title=s.title, pages=list(s.pages), subsections=list(s.subsections) or None)
                for s in self.sections
            ]
            or None,
            rootSections=self.root_sections or None,
        )


# --- the prompt ---------------------------------------------------------------------------------------------


def structure_prompt(
    *,
    owner: str,
    repo: str,
    repo_type: str,
    files: Sequence[str],
    readme: str,
    language_name: str,
    comprehensive: bool,
    max_files: int = 1500,
    max_readme_chars: int = 8000,
    max_tree_chars: int | None = None,
    output: Literal["xml", "json"] = "xml",
    code_map: str = "",
) -> str:
    """DeepWiki's structure prompt (bounded file tree, README, `code_map` block) for the XML or JSON answer."""
    guidance = template.render("structure_sections") if comprehensive else ""
    if output == "json":
        note = "" if comprehensive else " (an empty list: this wiki has no sections)"
        section = template.render("structure_json", sections_guidance=guidance and guidance + "\n", sections_note=note)
    elif comprehensive:
        section = template.render("structure_comprehensive", sections_guidance=guidance.rstrip())
    else:
        section = template.render("structure_concise")
    return template.render(
        "structure",
        repo_type="local" if repo_type == "local" else repo_type.capitalize(),
        owner=owner,
        repo=repo,
        file_tree=bounded_tree(files, max_files, max_tree_chars),
        readme=readme[:max_readme_chars] or "(no README)",
        code_map=code_map,
        language_name=language_name,
        structure_section=section,
        format_rules=template.render(f"structure_rules_{output}").rstrip(),
        format_name="the JSON object" if output == "json" else "valid XML",
        pages_count="8-12" if comprehensive else "4-6",
        mode="comprehensive" if comprehensive else "concise",
    )


def bounded_tree(files: Sequence[str], max_files: int, max_chars: int | None = None) -> str:
    """The file tree, one path a line, within `max_files` lines and `max_chars` characters. When it must be cut,
    the shallowest paths are kept (the layout of a large repository, not its first directory in full), listed in
    their original order, with a line saying how many were left out."""
    if len(files) <= max_files and (max_chars is None or sum(len(f) + 1 for f in files) <= max_chars):
        return "\n".join(files)
    budget = max_chars if max_chars is not None else sum(len(f) + 1 for f in files)
    kept: set[int] = set()
    for i in sorted(range(len(files)), key=lambda i: (files[i].count("/"), i)):
        if len(kept) >= max_files or len(files[i]) + 1 > budget:
            break
        kept.add(i)
        budget -= len(files[i]) + 1
    lines = [files[i] for i in sorted(kept)]
    return "\n".join([*lines, f"… and {len(files) - len(lines)} more files"])


# --- parsing ------------------------------------------------------------------------------------------------


def repair_xml(text: str) -> str:
    """Remove control characters and declarations; escape bare `&` and `<` that start no tag."""
    text = _CONTROL.sub("", text)
    text = _DECLARATION.sub("", text)
    text = _BARE_AMP.sub("&amp;", text)
    return _BARE_LT.sub("&lt;", text)


def parse_structure(answer: str) -> Structure:
    """The structure in `answer` (fences and prose around it are ignored). Raises StructureError saying why."""
    cleaned = _CONTROL.sub("", answer)
    blocks = _BLOCK.findall(cleaned)
    if not blocks:
        if "<wiki_structure" in cleaned:
            raise StructureError("found <wiki_structure> but no closing </wiki_structure> (answer cut short?)")
        raise StructureError("no <wiki_structure>…</wiki_structure> element in the answer")
    error = ""
    for block in reversed(blocks):  # a model may echo the template first; the last complete block wins
        try:
            root = ET.fromstring(repair_xml(block))
        except ET.ParseError as exc:
            error = f"XML syntax error: {exc}"
            continue
        return _from_element(root)
    raise StructureError(error)


def _text(element: ET.Element | None, tag: str) -> str:
    found = element.find(tag) if element is not None else None
    return " ".join((found.text or "").split()) if found is not None else ""


def _texts(element: ET.Element, container: str, tag: str) -> list[str]:
    nodes = element.findall(f"{container}/{tag}") or element.findall(tag)
    return [" ".join((n.text or "").split()) for n in nodes if (n.text or "").strip()]


def _unique(wanted: str, taken: set[str]) -> str:
    candidate, n = wanted, 2
    while candidate in taken:
        candidate, n = f"{wanted}-{n}", n + 1
    taken.add(candidate)
    return candidate


class _Ids:
    """The final ids (slugged, unique) of the pages or sections in order, and the way to them from the model's."""

    def __init__(self, records: Sequence[Mapping[str, Any]], kind: str) -> None:
        taken: set[str] = set()
        self.final: list[str] = []
        self._exact: dict[str, str] = {}
        self._slugged: dict[str, str] = {}
        for i, raw in enumerate(records, start=1):
            given = " ".join(str(raw.get("id") or "").split())
            final = _unique(_slug(given or f"{kind}-{i}"), taken)
            self.final.append(final)
            if given:  # a repeated id is the first holder's: a reference cannot say which one it meant
                self._exact.setdefault(given, final)
                self._slugged.setdefault(_slug(given), final)

    def resolve(self, *refs: str) -> tuple[str, ...]:
        """The final ids `refs` name: written exactly so first, else written otherwise (`Page_API`: `page-api`).
        An unknown ref is kept as written, for `clean_structure` to drop and report."""
        return tuple(self._exact.get(ref) or self._slugged.get(_slug(ref)) or ref for ref in refs)


def _from_element(root: ET.Element) -> Structure:
    """The XML as the fields of `structure_from` (DeepWiki's wiki_structure, as the JSON mode asks for it)."""
    pages = [
        {
            "id": node.get("id") or "",
            "title": _text(node, "title"),
            "description": _text(node, "description"),
            "importance": _text(node, "importance"),
            "relevant_files": _texts(node, "relevant_files", "file_path"),
            "related_pages": _texts(node, "related_pages", "related"),
            "parent_section": _text(node, "parent_section"),
        }
        for node in root.findall("pages/page") or root.findall("page")
    ]
    sections = [
        {
            "id": node.get("id") or "",
            "title": _text(node, "title"),
            "pages": _texts(node, "pages", "page_ref"),
            "subsections": _texts(node, "subsections", "section_ref"),
        }
        for node in root.findall("sections/section") or root.findall("section")
    ]
    fields = {"title": _text(root, "title"), "description": _text(root, "description"), "sections": sections}
    return structure_from({**fields, "pages": pages}, "<wiki_structure>")


def structure_from(fields: Mapping[str, Any], what: str = "the structure") -> Structure:
    """A `Structure` from DeepWiki's wiki_structure fields (title, description, sections, pages with id, title,
    description, importance, relevant_files, related_pages, parent_section): ids slugged and made unique, every
    reference following its page or section, unknown importance read as medium, missing titles numbered.
    StructureError when it holds no page."""
    raw_pages = _records(fields.get("pages"))
    if not raw_pages:
        raise StructureError(f"{what} has no pages")
    raw_sections = _records(fields.get("sections"))
    page_ids, section_ids = _Ids(raw_pages, "page"), _Ids(raw_sections, "section")
    pages = []
    for i, (raw, page_id) in enumerate(zip(raw_pages, page_ids.final, strict=True), start=1):
        importance = str(raw.get("importance") or "").strip().lower()
        parent = _clean(raw.get("parent_section"))
        pages.append(
            PageSpec(
                id=page_id,
                title=_clean(raw.get("title")) or f"Page {i}",
                description=_clean(raw.get("description")),
                importance=importance if importance in IMPORTANCE else "medium",
                file_paths=_strings(raw.get("relevant_files")),
                related=page_ids.resolve(*_strings(raw.get("related_pages"))),
                parent_section=section_ids.resolve(parent)[0] if parent else None,
            )
        )
    sections = [
        SectionSpec(
            id=section_id,
            title=_clean(raw.get("title")) or f"Section {i}",
            pages=page_ids.resolve(*_strings(raw.get("pages"))),
            subsections=section_ids.resolve(*_strings(raw.get("subsections"))),
        )
        for i, (raw, section_id) in enumerate(zip(raw_sections, section_ids.final, strict=True), start=1)
    ]
    return Structure(
        title=_clean(fields.get("title")) or "Wiki",
        description=_clean(fields.get("description")),
        pages=tuple(pages),
        sections=tuple(sections),
    )


def _records(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _clean(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _strings(values: Any) -> tuple[str, ...]:
    return tuple(c for v in values if (c := _clean(v))) if isinstance(values, list) else ()


def _slug(value: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", value.strip().lower()).strip("-")
    return slug or "page"


# --- clean-up -----------------------------------------------------------------------------------------------


def normalise_path(path: str) -> str:
    path = path.strip().strip("`'\"").replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


def match_path(path: str, files: Collection[str]) -> str | None:
    """`path` as it is in the repository: exact, or the one file whose path ends with `/path`."""
    path = normalise_path(path)
    if path in files:
        return path
    if not path:
        return None
    candidates = [f for f in files if f.endswith("/" + path)]
    return candidates[0] if len(candidates) == 1 else None


def clean_structure(structure: Structure, files: Collection[str]) -> tuple[Structure, list[str]]:
    """Drop file paths not in `files` (fixing unique suffix matches), unknown related/section ids and
    self-references. Returns the clean structure and a list of what was dropped, for the log."""
    dropped: list[str] = []
    page_ids = {p.id for p in structure.pages}
    section_ids = {s.id for s in structure.sections}
    pages = []
    for page in structure.pages:
        paths: list[str] = []
        for raw in page.file_paths:
            found = match_path(raw, files)
            if found is None:
                dropped.append(f"page {page.id}: file {raw!r} is not in the repository")
            elif found not in paths:
                paths.append(found)
        related = [r for r in dict.fromkeys(page.related) if r in page_ids and r != page.id]
        dropped += [f"page {page.id}: related id {r!r} names no page" for r in page.related if r not in page_ids]
        parent = page.parent_section if page.parent_section in section_ids else None
        pages.append(
            page.model_copy(update={"file_paths": tuple(paths), "related": tuple(related), "parent_section": parent})
        )
    sections = []
    for section in structure.sections:
        listed = [p for p in dict.fromkeys(section.pages) if p in page_ids]
        listed += [p.id for p in pages if p.parent_section == section.id and p.id not in listed]
        subs = [s for s in dict.fromkeys(section.subsections) if s in section_ids and s != section.id]
        dropped += [f"section {section.id}: page id {p!r} names no page" for p in section.pages if p not in page_ids]
        sections.append(section.model_copy(update={"pages": tuple(listed), "subsections": tuple(subs)}))
    for line in dropped:
        log.warning("structure: dropped %s", line)
    return structure.model_copy(update={"pages": tuple(pages), "sections": tuple(sections)}), dropped


# --- asking the model ---------------------------------------------------------------------------------------


async def request_structure(model: ChatModel, model_name: str, prompt: str, tally: Tally) -> Structure:
    """Ask for the structure; on an unusable answer ask once more with the parser's error.
    Raises StructureError naming the model and quoting the start of its last answer."""
    messages = [Message(role="user", content=prompt)]
    answer = ""
    error = ""
    for attempt in range(2):
        response = await model.complete(ChatRequest(model=model_name, messages=messages, tag="wiki-structure"))
        tally.add(response)
        answer = response.text
        try:
            return parse_structure(answer)
        except StructureError as exc:
            error = str(exc)
            log.warning("structure answer %d from %s unusable: %s", attempt + 1, model_name, error)
        messages = [
            *messages,
            Message(role="assistant", content=answer),
            Message(role="user", content=template.render("structure_retry", error=error)),
        ]
    start = " ".join(answer.split())[:300]
    raise StructureError(
        f"model {model_name} did not return a usable wiki structure after a second request ({error}); "
        f"its answer began: {start!r}"
    )
