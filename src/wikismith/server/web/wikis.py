"""The wikis the app shows, over the server's wiki cache (`wiki.store.WikiStore`, the one the API routes use).

A wiki is addressed as `/wiki/<type>/<owner>/<repo>` (a GitLab owner's `/` written `~`), with `?lang=` and
`?variant=concise|comprehensive` when it is not the default one. `WikiKey` builds and parses those paths.
"""

from __future__ import annotations

import asyncio
import functools
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from wikismith.server.deps import ServerState
from wikismith.server.routes.wiki import store
from wikismith.wiki.store import WikiCacheData, WikiPage

_WORD = re.compile(r"\w{2,}", re.UNICODE)
_MARKUP = re.compile(r"```.*?```|<[^>]+>|[#*_`>|\[\]]+", re.DOTALL)


@dataclass(frozen=True)
class WikiKey:
    repo_type: str
    owner: str
    repo: str

    @classmethod
    def parse(cls, repo_type: str, owner: str, repo: str) -> WikiKey:
        return cls(repo_type, owner.replace("~", "/"), repo)

    @functools.cached_property
    def path(self) -> str:
        return "/wiki/" + "/".join(quote(p, safe="") for p in (self.repo_type, self.owner.replace("/", "~"), self.repo))

    @property
    def name(self) -> str:
        return f"{self.owner}/{self.repo}"


@dataclass(frozen=True, slots=True)
class Variant:
    """One cached wiki of a repository: its language and whether it is the comprehensive one."""

    language: str
    comprehensive: bool

    def query(self, default: Variant | None = None) -> str:
        """`?lang=..&variant=..`, leaving out what equals `default`."""
        params = {}
        if default is None or self.language != default.language:
            params["lang"] = self.language
        if default is None or self.comprehensive != default.comprehensive:
            params["variant"] = "comprehensive" if self.comprehensive else "concise"
        return "?" + urlencode(params) if params else ""


@dataclass(frozen=True, slots=True)
class WikiEntry:
    key: WikiKey
    variant: Variant
    title: str
    model: str
    pages: int
    updated: str
    location: str

    @property
    def url(self) -> str:
        return self.key.path + self.variant.query()


async def list_wikis(server: ServerState) -> list[WikiEntry]:
    """Every cached wiki, newest first, with what its file says (title, model, pages)."""
    return await asyncio.to_thread(_list, server)


def _list(server: ServerState) -> list[WikiEntry]:
    wikis = store(server)
    entries = []
    for project in wikis.list_projects():
        key = WikiKey(project.repo_type, project.owner, project.repo)
        data = wikis.get(project.owner, project.repo, project.repo_type, project.language, project.comprehensive)
        if data is None:
            continue
        updated = datetime.fromtimestamp(project.submitted_at / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
        model = "/".join(p for p in (data.provider, data.model) if p)
        entries.append(
            WikiEntry(
                key, Variant(project.language, project.comprehensive), data.wiki_structure.title or key.name,
                model, len(data.generated_pages), updated, location(data) or key.name,
            )
        )  # fmt: skip
    return entries


def location(data: WikiCacheData) -> str | None:
    """The repository's URL, or its directory for a local one."""
    repo = data.repo
    return (repo.repo_url or repo.local_path if repo is not None else None) or data.repo_url


def variants(server: ServerState, key: WikiKey) -> list[Variant]:
    """The languages and modes this repository's wiki is cached in (in lang.json's order)."""
    wikis = store(server)
    found = []
    for language in server.config.lang.supported_languages:
        for comprehensive in (True, False):
            if wikis.path(key.owner, key.repo, key.repo_type, language, comprehensive).is_file():
                found.append(Variant(language, comprehensive))
    return found


def choose(found: list[Variant], language: str | None, variant: str | None, default_language: str) -> Variant | None:
    """The variant asked for (None when the wiki has no such language or mode); what is not asked for is the
    default language when the wiki has it, else its first; comprehensive before concise."""
    mode = {"comprehensive": True, "concise": False}.get(variant or "")
    pool = [v for v in found if mode is None or v.comprehensive == mode]
    if language:
        return next((v for v in pool if v.language == language), None)
    return next((v for v in pool if v.language == default_language), pool[0] if pool else None)


def load(server: ServerState, key: WikiKey, variant: Variant) -> WikiCacheData | None:
    """The cached wiki (blocking: it reads the file)."""
    return store(server).get(key.owner, key.repo, key.repo_type, variant.language, variant.comprehensive)


def ordered_pages(data: WikiCacheData) -> list[WikiPage]:
    """The wiki's generated pages in the order of its structure (then any the structure does not list)."""
    generated = data.generated_pages
    order = [p.id for p in data.wiki_structure.pages if p.id in generated]
    rest = [pid for pid in generated if pid not in set(order)]
    return [generated[pid] for pid in (*order, *rest)]


# --- search --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hit:
    page: WikiPage
    score: float
    snippet: str  # HTML: escaped text with the matched words in <mark>


def search(pages: Iterable[WikiPage], query: str, limit: int = 50) -> list[Hit]:
    """Pages holding every word of `query` (case-insensitive), best first: words in the title count most,
    then how often they occur; each with a snippet around the first match."""
    words = [w.lower() for w in _WORD.findall(query)]
    if not words:
        return []
    hits = []
    for page in pages:
        text = _MARKUP.sub(" ", page.content)
        lowered, title = text.lower(), page.title.lower()
        counts = [lowered.count(w) + title.count(w) for w in words]
        if not all(counts):
            continue
        score = sum(counts) + 10 * sum(title.count(w) for w in words)
        hits.append(Hit(page, score, _snippet(text, words)))
    hits.sort(key=lambda h: -h.score)
    return hits[:limit]


def _snippet(text: str, words: list[str], width: int = 220) -> str:
    flat = " ".join(text.split())
    lowered = flat.lower()
    first = min((i for i in (lowered.find(w) for w in words) if i >= 0), default=0)
    start = max(0, first - width // 3)
    piece = flat[start : start + width]
    marked = re.sub(
        "(" + "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True)) + ")",
        lambda m: "\0" + m.group(1) + "\1",
        piece,
        flags=re.IGNORECASE,
    )
    escaped = html.escape(marked).replace("\0", "<mark>").replace("\1", "</mark>")
    return ("…" if start else "") + escaped + ("…" if start + width < len(flat) else "")
