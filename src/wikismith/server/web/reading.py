"""What the reader shows of one wiki: the sections tree, a page's links, and the wiki's repository.

`Reading` is built per request from the cached wiki (`wikis.load`) and handed to the templates.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from wikismith.server.web.render import RenderCache, Rendered, render_markdown
from wikismith.server.web.sources import Repository
from wikismith.server.web.wikis import Variant, WikiKey, location, ordered_pages
from wikismith.wiki.store import WikiCacheData, WikiPage, WikiSection


@dataclass(slots=True)
class NavNode:
    """A section of the sidebar: its pages (id, title) and subsections."""

    title: str
    pages: list[tuple[str, str]] = field(default_factory=list)
    children: list[NavNode] = field(default_factory=list)


@dataclass(frozen=True)
class Reading:
    key: WikiKey
    variant: Variant
    default: Variant
    variants: tuple[Variant, ...]
    data: WikiCacheData
    repository: Repository | None
    cache: RenderCache | None = None

    @functools.cached_property
    def query(self) -> str:
        """The query that keeps this variant on every link (empty for the default one)."""
        return self.variant.query(self.default)

    def page_url(self, page_id: str) -> str:
        return f"{self.key.path}/{quote(page_id, safe='')}{self.query}"

    def tool_url(self, tool: str, **params: str) -> str:
        extra = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
        query = self.query + ("&" if self.query else "?") + extra if extra else self.query
        return f"{self.key.path}/-/{tool}{query}"

    def source_url(self, path: str, start: int | None = None, end: int | None = None) -> str:
        lines = f"lines={start}-{end or start}" if start else ""
        query = self.query + ("&" if self.query and lines else "?" if lines else "") + lines
        return f"{self.key.path}/-/source/{quote(path)}{query}" + (f"#L-{start}" if start else "")

    def variant_url(self, variant: Variant, page_id: str | None) -> str:
        tail = f"/{quote(page_id, safe='')}" if page_id else ""
        return f"{self.key.path}{tail}{variant.query(self.default)}"

    @functools.cached_property
    def pages(self) -> list[WikiPage]:
        return ordered_pages(self.data)

    @property
    def location(self) -> str:
        return location(self.data) or self.key.name

    def nav(self) -> list[NavNode]:
        """DeepWiki's sections from its root sections down, then the pages no section holds."""
        structure = self.data.wiki_structure
        titles = {p.id: p.title for p in self.pages}
        sections = {s.id: s for s in structure.sections or ()}
        placed: set[str] = set()
        roots = structure.root_sections or [s.id for s in sections.values()]
        tree = [n for n in (_node(sections, r, titles, placed, set()) for r in roots) if n is not None]
        rest = [(pid, title) for pid, title in titles.items() if pid not in placed]
        if rest:
            tree.append(NavNode("Pages" if not tree else "Other pages", rest))
        return tree

    def render(self, page: WikiPage) -> Rendered:
        """The page as HTML (from the cache when this wiki's page was rendered before, the same)."""
        if self.cache is None:
            return self.render_text(page.content)
        context = (self.key, self.query, self.repository.root if self.repository else None, self.page_ids)
        return self.cache.render(page.content, _Links(self), context)

    @functools.cached_property
    def page_ids(self) -> frozenset[str]:
        return frozenset(p.id for p in self.pages)

    def render_text(self, markdown: str) -> Rendered:
        """Markdown (a page, an answer) with this wiki's links: its pages, and citations to the source view."""
        return render_markdown(markdown, _Links(self))

    def related(self, page: WikiPage) -> list[tuple[str, str]]:
        titles = {p.id: p.title for p in self.pages}
        return [(self.page_url(r), titles[r]) for r in page.related_pages if r in titles and r != page.id]


def _node(
    sections: dict[str, WikiSection], sid: str, titles: dict[str, str], placed: set[str], seen: set[str]
) -> NavNode | None:
    section = sections.get(sid)
    if section is None or sid in seen:  # a model can write a cycle of subsections
        return None
    seen.add(sid)
    node = NavNode(section.title)
    for pid in section.pages:
        if pid in titles and pid not in placed:
            placed.add(pid)
            node.pages.append((pid, titles[pid]))
    for sub in section.subsections or ():
        child = _node(sections, sub, titles, placed, seen)
        if child is not None:
            node.children.append(child)
    return node


class _Links:
    """`render.Links` for one wiki: its pages, and its repository's files (when the server may read them)."""

    def __init__(self, reading: Reading) -> None:
        self.reading = reading
        self.ids = reading.page_ids

    def page(self, page_id: str) -> str | None:
        return self.reading.page_url(page_id) if page_id in self.ids else None

    def source(self, path: str, start: int | None, end: int | None) -> tuple[str, str | None] | None:
        repository = self.reading.repository
        if repository is None:
            return None
        return self.reading.source_url(path, start, end), repository.forge_url(path, start, end)

    def file_uri(self, uri: str) -> str | None:
        repository = self.reading.repository
        if repository is None:
            return None
        target = Path(unquote(urlsplit(uri).path))
        return target.relative_to(repository.root).as_posix() if target.is_relative_to(repository.root) else None
