"""Cached wikis as an agent reads them: the structure (sections, pages, one-line descriptions), one page or all
pages (bounded), and each page as a `wikismith://{owner}/{repo}/{page-id}` resource. Pure functions over
`wiki.store.WikiStore` (blocking file reads: callers run them off the event loop).

A wiki is looked up in the requested language, else the configured default language, else any language it
was generated in. A local directory's wiki counts only when it records that same directory: two directories of
one name share a cache key, and one's wiki is never served for the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from wikismith.server.mcp.names import Target
from wikismith.wiki.store import WikiCacheData, WikiPage, WikiStore

MAX_CONTENTS_CHARS = 80_000  # all pages in one answer: about 20k tokens, what an agent can take in at once
MAX_RESOURCES = 2_000
_SUMMARY_CHARS = 160
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MARKS = re.compile(r"[*_`]+")


class NoWiki(Exception):
    """No cached wiki for the repository (in any language); the message says how to make one."""


class NoPage(Exception):
    """The wiki has no such page; the message lists the ids it has."""


@dataclass(frozen=True, slots=True)
class Found:
    target: Target
    language: str
    data: WikiCacheData


def _languages(store: WikiStore, target: Target) -> list[str]:
    return [
        p.language
        for p in store.list_projects()
        if (p.owner, p.repo, p.repo_type) == (target.owner, target.name, target.type)
    ]


def _same_place(data: WikiCacheData, target: Target) -> bool:
    recorded = data.repo.local_path if data.repo is not None else None
    if target.local_path is None or not recorded:
        return True
    try:
        return Path(recorded).resolve() == target.local_path
    except (OSError, RuntimeError):
        return False


def find_wiki(store: WikiStore, target: Target, language: str | None, default: str) -> Found:
    """The cached wiki of `target` (see the module's docstring); NoWiki when there is none."""
    wanted = [language] if language else [default, *_languages(store, target)]
    for lang in dict.fromkeys(wanted):
        data = store.get(target.owner, target.name, target.type, lang)
        if data is not None and _same_place(data, target):
            return Found(target, lang, data)
    which = f" in language {language!r}" if language else ""
    raise NoWiki(f"no wiki for {target.shown}{which} yet: {target.generate_hint}")


def _prose(line: str) -> bool:
    return bool(line) and not line.startswith(("#", "<", "|", "-", "*", ">", "Sources:")) and not line[0].isdigit()


def summary(page: WikiPage | None, limit: int = _SUMMARY_CHARS) -> str:
    """A page's first paragraph of prose (no headings, lists, code, tables or HTML), as plain text, cut short."""
    if page is None or not page.content:
        return "(not generated yet)"
    in_block = ""
    paragraph: list[str] = []
    for raw in page.content.splitlines():
        line = raw.strip()
        if in_block:
            in_block = "" if line.startswith(in_block) else in_block
        elif line.startswith("```"):
            in_block = "```"
        elif line.startswith("<details"):
            in_block = "</details>"
        elif _prose(line):
            paragraph.append(line)
            continue
        if paragraph:
            break
    text = _MARKS.sub("", _LINK.sub(r"\1", " ".join(paragraph)))
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _model(data: WikiCacheData) -> str:
    name = "/".join(p for p in (data.provider, data.model) if p)
    return f" · model {name}" if name else ""


def _section_order(data: WikiCacheData) -> list[tuple[int, str, list[str]]]:
    """(depth, title, page ids) per section, depth first from the root sections; each page listed once."""
    wiki = data.wiki_structure
    sections = {s.id: s for s in wiki.sections or []}
    out: list[tuple[int, str, list[str]]] = []
    listed: set[str] = set()
    seen: set[str] = set()

    def walk(section_id: str, depth: int) -> None:
        sec = sections.get(section_id)
        if sec is None or section_id in seen:
            return
        seen.add(section_id)
        ids = [p for p in dict.fromkeys(sec.pages) if p not in listed]
        listed.update(ids)
        out.append((depth, sec.title, ids))
        for sub in sec.subsections or []:
            walk(sub, depth + 1)

    for root in wiki.root_sections or list(sections):
        walk(root, 0)
    return out


def structure_text(found: Found) -> str:
    """The wiki's title and description, then its sections with their pages (id, title, one line each)."""
    data, target = found.data, found.target
    wiki = data.wiki_structure
    pages = {p.id: p for p in wiki.pages}
    lines = [f"# {wiki.title}", *([wiki.description] if wiki.description else []), ""]
    lines.append(f"Repository: {target.shown} · language {found.language} · {len(pages)} pages{_model(data)}")
    lines.append(
        f"Read a page with read_wiki_contents(repoName, page=<id>), or as resource {page_uri(target, '<id>')}."
    )

    def page_line(page_id: str) -> str:
        return f"- {page_id}: {pages[page_id].title} — {summary(data.generated_pages.get(page_id))}"

    listed: set[str] = set()
    for depth, title, ids in _section_order(data):
        lines.extend(["", f"{'#' * min(depth + 2, 6)} {title}"])
        lines.extend(page_line(p) for p in ids if p in pages)
        listed.update(ids)
    rest = [p for p in pages if p not in listed]
    if rest:
        lines.extend(["", "## Other pages" if listed else "## Pages"])
        lines.extend(page_line(p) for p in rest)
    return "\n".join(lines) + "\n"


def page_of(data: WikiCacheData, wanted: str) -> WikiPage:
    """The page whose id (or, failing that, title, case-insensitively) is `wanted`; NoPage listing the ids."""
    pages = data.wiki_structure.pages
    match = next((p for p in pages if p.id == wanted), None) or next(
        (p for p in pages if p.title.casefold() == wanted.strip().casefold()), None
    )
    if match is None:
        ids = ", ".join(p.id for p in pages)
        raise NoPage(f"the wiki has no page {wanted!r}; its pages are: {ids}")
    return data.generated_pages.get(match.id) or match


def _page_text(page: WikiPage) -> str:
    body = page.content.strip() or "(this page has not been generated yet)"
    return f"<!-- page {page.id}: {page.title} -->\n{body}\n"


def contents_text(found: Found, page: str | None, max_chars: int = MAX_CONTENTS_CHARS) -> str:
    """One page, or every page in the structure's order until `max_chars`, then a note naming the pages left out."""
    data = found.data
    if page:
        return _page_text(page_of(data, page))
    parts: list[str] = []
    size = 0
    pages = data.wiki_structure.pages
    for i, spec in enumerate(pages):
        text = _page_text(data.generated_pages.get(spec.id) or spec)
        if parts and size + len(text) > max_chars:
            left = [p.id for p in pages[i:]]
            parts.append(
                f"[cut at {max_chars:,} characters: {i} of {len(pages)} pages shown; read the others one at a time"
                f" with read_wiki_contents(repoName, page=<id>): {', '.join(left)}]\n"
            )
            break
        if len(text) > max_chars:
            text = text[:max_chars] + f"\n[page cut at {max_chars:,} characters]\n"
        parts.append(text)
        size += len(text)
    return "\n---\n\n".join(parts)


def page_uri(target: Target, page_id: str) -> str:
    """`wikismith://{owner}/{repo}/{page-id}`, each part percent-encoded (a GitLab owner holds `/`)."""
    owner, name = quote(target.owner, safe=""), quote(target.name, safe="")
    return f"wikismith://{owner}/{name}/{page_id if page_id == '<id>' else quote(page_id, safe='')}"


@dataclass(frozen=True, slots=True)
class Listed:
    uri: str
    name: str
    title: str
    description: str


def listed_pages(store: WikiStore, default: str, limit: int = MAX_RESOURCES) -> list[Listed]:
    """Every cached wiki's pages (one language per repository: the default one when present), newest first."""
    out: list[Listed] = []
    seen: set[tuple[str, str, str]] = set()
    for project in store.list_projects():
        key = (project.owner, project.repo, project.repo_type)
        if key in seen:
            continue
        seen.add(key)
        target = Target("", project.owner, project.repo, project.repo_type)
        try:
            found = find_wiki(store, target, None, default)
        except NoWiki:
            continue
        for page in found.data.wiki_structure.pages:
            generated = found.data.generated_pages.get(page.id)
            out.append(Listed(page_uri(target, page.id), f"{target.shown}/{page.id}", page.title, summary(generated)))
            if len(out) >= limit:
                return out
    return out
