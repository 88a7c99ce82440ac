"""The wiki cache in DeepWiki's `WikiCacheData` shape, and DeepWiki's Markdown/JSON export formats.

One JSON file per (repo type, owner, repo, language, variant) under `settings.data.wikicache`, named as
DeepWiki names it (`deepwiki_cache_{type}_{owner}_{repo}_{language}.json`) when every part is already a safe
file name, else from the parts cleaned by `storage.safe_name` (no separators, no `..`) and a digest of the exact
key (see `WikiStore`); written atomically.

Variants: DeepWiki keys the concise and the comprehensive wiki alike (one overwrote the other). Here the
comprehensive one (DeepWiki's default view; a file with no recorded variant) keeps DeepWiki's file name, the
concise one adds `_concise`. As DeepWiki's readers know one wiki per repository and language, `find` answers the
variant asked for, else the other; `list_projects` lists one entry with its variants; `delete` without a variant
removes both. The JSON records its variant in an extra top-level `comprehensive` key, and the commit it was
generated from in `commit` (DeepWiki's readers ignore unknown keys). Top-level keys are
snake_case (`wiki_structure`, `generated_pages`, `repo_url`, `repo`, `provider`, `model`), the wiki models camelCase.

Differences from DeepWiki, on purpose: no credential is ever written or answered (`repo.token` is always null,
and `user:token@` or `?token=` are taken out of the URLs); two repositories never share a file, so one's save or
delete never touches the other's wiki (DeepWiki's names are ambiguous where a part holds `_`: the file records
its owner and repo, and is checked); `list_projects` reads owner, repo and type from the file, so names holding
`_` are listed correctly.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wikismith.redact import redact
from wikismith.storage import atomic_write_text, safe_name

log = logging.getLogger("wikismith.wiki.store")

PREFIX = "deepwiki_cache"
CONCISE = "_concise"
Importance = Literal["high", "medium", "low"]


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class WikiPage(_Model):
    """A page: in the structure `content` is empty; in `generated_pages` it holds the Markdown."""

    id: str
    title: str
    content: str = ""
    file_paths: list[str] = Field(default_factory=list, alias="filePaths")
    importance: str = "medium"
    related_pages: list[str] = Field(default_factory=list, alias="relatedPages")


class WikiSection(_Model):
    id: str
    title: str
    pages: list[str] = Field(default_factory=list)
    subsections: list[str] | None = None


class WikiStructure(_Model):
    id: str = "wiki"
    title: str
    description: str = ""
    pages: list[WikiPage] = Field(default_factory=list)
    sections: list[WikiSection] | None = None
    root_sections: list[str] | None = Field(None, alias="rootSections")


class RepoInfo(_Model):
    """DeepWiki's `RepoInfo`. `token` exists for compatibility and is always None once stored."""

    owner: str
    repo: str
    type: str = "github"
    token: str | None = None
    local_path: str | None = Field(None, alias="localPath")
    repo_url: str | None = Field(None, alias="repoUrl")


class WikiCacheData(_Model):
    wiki_structure: WikiStructure
    generated_pages: dict[str, WikiPage] = Field(default_factory=dict)
    repo_url: str | None = None
    repo: RepoInfo | None = None
    provider: str | None = None
    model: str | None = None
    comprehensive: bool | None = None
    identifiers: dict[str, int] | None = None  # named, resolved, rewritten, removed (wikismith's; DeepWiki ignores it)
    commit: str | None = None  # the commit the wiki was generated from (wikismith's; DeepWiki records none)

    def to_json(self) -> str:
        """The on-disk / wire form (DeepWiki's keys), with no token."""
        unset = {name for name in ("identifiers", "commit") if getattr(self, name) is None}
        return self.without_token().model_dump_json(by_alias=True, indent=2, exclude=unset or None)

    def without_token(self) -> WikiCacheData:
        """This wiki with no credential: no `repo.token`, and no `user:token@` or `?token=` in its URLs (a
        front end may put the token in the URL instead of the token field)."""
        update: dict[str, object] = _cleaned(self, ("repo_url",))
        repo = self.repo
        if repo is not None:
            clean = _cleaned(repo, ("repo_url", "local_path"))
            if repo.token is not None:
                clean["token"] = None
            if clean:
                update["repo"] = repo.model_copy(update=clean)
        return self.model_copy(update=update) if update else self


class ProcessedProject(_Model):
    """One entry of `GET /api/processed_projects`: a repository's wiki in one language and its `variants`, `id` the
    file of the first, `submittedAt` the newest; `comprehensive`: the comprehensive variant is among them."""

    id: str
    owner: str
    repo: str
    name: str
    repo_type: str
    submitted_at: int = Field(alias="submittedAt")
    language: str
    comprehensive: bool = True
    variants: list[Literal["comprehensive", "concise"]] = ["comprehensive"]  # pydantic copies it per instance


def _cleaned(model: BaseModel, fields: tuple[str, ...]) -> dict[str, object]:
    """The URL `fields` of `model` that hold a credential, without it (for `model_copy(update=...)`)."""
    clean: dict[str, object] = {}
    for field in fields:
        value = getattr(model, field)
        if value is not None and (cleaned := _without_credentials(value)) != value:
            clean[field] = cleaned
    return clean


def _without_credentials(url: str) -> str:
    """`url` with no `user[:password]@` (removed, so the URL still works) and no credential-like query value."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
    return redact(urlunsplit(parts))


def _plain(part: str) -> bool:
    """Already a safe name: DeepWiki's file name can hold it as it is."""
    return bool(part) and safe_name(part) == part


class WikiStore:
    """Read and write cached wikis under `root` (normally `settings.data.wikicache`).

    A wiki's file is DeepWiki's `deepwiki_cache_{type}_{owner}_{repo}_{language}.json` when every part is
    already a safe name and the name is not too long: caches written by DeepWiki are found as they are. Any
    other key (characters a file name cannot hold, leading dots, a name too long) gets a name of its cleaned
    parts and a digest of the exact key, so two keys never share a file. DeepWiki's names are still ambiguous
    where a part holds `_` (`a_b/c` and `a/b_c`): a file records its owner and repo, a file recorded for another
    repository is never read, overwritten or deleted for this one, and the second of two such repositories
    is stored under the digest name (`_paths` gives both places a wiki may be)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, owner: str, repo: str, repo_type: str, language: str, comprehensive: bool = True) -> Path:
        """Where this wiki is written when no other repository holds that file already (see `put`)."""
        return self._paths(owner, repo, repo_type, language, comprehensive)[0]

    def _paths(self, owner: str, repo: str, repo_type: str, language: str, comprehensive: bool) -> tuple[Path, ...]:
        suffix = "" if comprehensive else CONCISE
        parts = (repo_type, owner, repo, language)
        name = "_".join((PREFIX, *parts))
        digest = hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:12]
        keyed = self.root / f"{_keyed_stem(repo_type, owner, repo)}{digest}_{safe_name(language)[:50]}{suffix}.json"
        if all(_plain(p) for p in parts) and len(name) <= 200:
            return self.root / f"{name}{suffix}.json", keyed
        return (keyed,)

    def get(
        self, owner: str, repo: str, repo_type: str, language: str, comprehensive: bool | None = None
    ) -> WikiCacheData | None:
        """The cached wiki of that variant (None: the comprehensive one when present, else the concise one), or
        None when missing, unreadable or recorded for another repository."""
        if comprehensive is None:
            return self.find(owner, repo, repo_type, language)
        return self._get(owner, repo, repo_type, language, comprehensive)

    def find(
        self, owner: str, repo: str, repo_type: str, language: str, comprehensive: bool | None = None
    ) -> WikiCacheData | None:
        """As DeepWiki's readers know one wiki: that variant (None: comprehensive) when there is one, else the
        other, its `comprehensive` saying which."""
        first = comprehensive is not False
        found = self._get(owner, repo, repo_type, language, first)
        return found if found is not None else self._get(owner, repo, repo_type, language, not first)

    def _get(self, owner: str, repo: str, repo_type: str, language: str, comprehensive: bool) -> WikiCacheData | None:
        for path in self._paths(owner, repo, repo_type, language, comprehensive):
            data = _read(path)
            if data is not None and _owned(data, owner, repo):
                return data.without_token().model_copy(update={"comprehensive": comprehensive})
        return None

    def put(
        self,
        owner: str,
        repo: str,
        repo_type: str,
        language: str,
        data: WikiCacheData,
        comprehensive: bool | None = None,
    ) -> Path:
        """Store `data` atomically as the `comprehensive` variant (None: `data.comprehensive`, else True), with no
        credential, its `repo` recording this key. Returns the file written."""
        if comprehensive is None:
            comprehensive = data.comprehensive if data.comprehensive is not None else True
        # The file records the key it is stored under: reads check its owner and repo, listings read its type.
        key = {"owner": owner, "repo": repo, "type": repo_type}
        recorded = RepoInfo(**key) if data.repo is None else data.repo.model_copy(update=key)
        update: dict[str, object] = {"comprehensive": comprehensive, "repo": recorded}
        paths = self._paths(owner, repo, repo_type, language, comprehensive)
        path = paths[0]
        held = _read(path) if len(paths) > 1 else None
        if held is not None and not _owned(held, owner, repo):  # DeepWiki's name is another repository's
            path = paths[1]
        atomic_write_text(path, data.model_copy(update=update).to_json())
        return path

    def delete(self, owner: str, repo: str, repo_type: str, language: str, comprehensive: bool | None = None) -> bool:
        """Remove one cached wiki (both variants when `comprehensive` is None); False when there was none."""
        variants = [True, False] if comprehensive is None else [comprehensive]
        removed = False
        for variant in variants:
            for path in self._paths(owner, repo, repo_type, language, variant):
                data = _read(path)
                if data is not None and not _owned(data, owner, repo):
                    continue  # another repository's wiki under an ambiguous name: not this one to delete
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                removed = True
        return removed

    def files_for(self, owner: str, repo: str, repo_type: str, location: str | None = None) -> list[Path]:
        """Every language's cache file of exactly this repository (no substring matching). `location`, the
        repository's URL or local directory, tells apart repositories with the same key (two directories
        named alike, one owner/name on two hosts): a file recording another location is not this one's."""
        if not self.root.is_dir():
            return []
        stem = safe_name(PREFIX, repo_type, owner, repo) + "_"
        keyed = _keyed_stem(repo_type, owner, repo)  # then the digest of the whole key, language included
        found: list[Path] = []
        for path in sorted(self.root.glob("*.json")):
            name = path.name
            if name.startswith(stem):
                language = name[len(stem) : -len(".json")].removesuffix(CONCISE)
                if not language or "_" in language:
                    continue
            elif not (name.startswith(keyed) and _DIGEST.match(name, len(keyed))):
                continue
            data = _read(path)
            if data is None or (_owned(data, owner, repo) and (location is None or _at(data, location))):
                found.append(path)
        return found

    def list_projects(self) -> list[ProcessedProject]:
        """One entry per repository and language, with its variants, newest first (DeepWiki's processed_projects)."""
        if not self.root.is_dir():
            return []
        entries: dict[tuple[str, str, str, str], ProcessedProject] = {}
        for path in sorted(self.root.glob(f"{PREFIX}_*.json")):
            if (project := _project(path)) is not None:
                key = (project.repo_type, project.owner, project.repo, project.language)
                entries[key] = project if (held := entries.get(key)) is None else _merged(held, project)
        return sorted(entries.values(), key=lambda p: p.submitted_at, reverse=True)


_DIGEST = re.compile(r"[0-9a-f]{12}_")


def _keyed_stem(repo_type: str, owner: str, repo: str) -> str:
    """How a digest-named cache file begins, before the digest of its whole key and its language. The parts are
    cut short so that the language, last, is always whole (`_project` reads it from the name)."""
    cut = [safe_name(p)[:50] for p in (repo_type, owner, repo)]
    return f"{PREFIX}_{cut[0]}_{cut[1]}_{cut[2]}-"


def _owned(data: WikiCacheData, owner: str, repo: str) -> bool:
    """The file is this repository's (a file that records none, as some of DeepWiki's, is taken to be)."""
    return data.repo is None or (data.repo.owner, data.repo.repo) == (owner, repo)


def _at(data: WikiCacheData, location: str) -> bool:
    """The file's repository is at `location` (a file that records no location is taken to be)."""
    repo = data.repo
    recorded = (repo.local_path or repo.repo_url if repo is not None else None) or data.repo_url
    return recorded is None or _place(recorded) == _place(location)


def _place(location: str) -> str:
    return _without_credentials(location).rstrip("/").removesuffix(".git")


def _read(path: Path) -> WikiCacheData | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        return None
    except OSError as exc:
        log.warning("cannot read wiki cache %s: %s", path.name, exc)
        return None
    try:
        return WikiCacheData.model_validate_json(text)
    except ValidationError as exc:
        log.warning("wiki cache %s is not valid WikiCacheData: %s", path.name, exc.errors()[0]["msg"])
        return None


def _merged(one: ProcessedProject, other: ProcessedProject) -> ProcessedProject:
    """One listing entry for two variants of the same wiki, named by the comprehensive one's file."""
    first, second = (one, other) if one.comprehensive else (other, one)
    variants = list(dict.fromkeys([*first.variants, *second.variants]))
    return first.model_copy(update={"variants": variants, "submitted_at": max(one.submitted_at, other.submitted_at)})


def _project(path: Path) -> ProcessedProject | None:
    """Type and language come from the file name (neither holds `_`); owner and repo from the file itself."""
    middle = path.name[len(PREFIX) + 1 : -len(".json")]
    comprehensive = not middle.endswith(CONCISE)
    middle = middle.removesuffix(CONCISE)
    repo_type, _, rest = middle.partition("_")
    owner_repo, _, language = rest.rpartition("_")
    if not repo_type or not owner_repo or not language:
        return None
    data = _read(path)
    if data is not None and data.repo is not None:
        owner, repo, repo_type = data.repo.owner, data.repo.repo, data.repo.type
    else:
        owner, _, repo = owner_repo.partition("_")
        if not repo:
            return None
    mtime = 0
    with contextlib.suppress(OSError):
        mtime = int(path.stat().st_mtime * 1000)
    return ProcessedProject(
        id=path.name, owner=owner, repo=repo, name=f"{owner}/{repo}", repo_type=repo_type, submitted_at=mtime,
        language=language, comprehensive=comprehensive, variants=["comprehensive" if comprehensive else "concise"],
    )  # fmt: skip


# --- export (DeepWiki api.py:322-391) -----------------------------------------------------------------------

ExportFormat = Literal["markdown", "json"]


def export_filename(repo_url: str, fmt: ExportFormat, now: datetime | None = None) -> str:
    """`{repo}_wiki_{YYYYmmdd_HHMMSS}.md|.json`, `repo` being the last path segment of the URL (made safe)."""
    repo = safe_name(repo_url.rstrip("/").rsplit("/", 1)[-1] or "wiki")
    stamp = (now or datetime.now()).strftime("%Y%m%d_%H%M%S")
    return f"{repo}_wiki_{stamp}.{'md' if fmt == 'markdown' else 'json'}"


def export_markdown(repo_url: str, pages: Sequence[WikiPage], now: datetime | None = None) -> str:
    """One Markdown document: title, generation time, table of contents, then every page with an anchor."""
    lines = [
        f"# Wiki Documentation for {repo_url}",
        "",
        f"Generated on: {(now or datetime.now()).strftime('%Y-%m-%d %H:%M:%S')}",
        "",
        "## Table of Contents",
        "",
    ]
    lines += [f"- [{page.title}](#{page.id})" for page in pages]
    lines.append("")
    titles = {page.id: page.title for page in pages}
    for page in pages:
        lines += [f"<a id='{page.id}'></a>", "", f"## {page.title}", ""]
        related = [f"[{titles[r]}](#{r})" for r in page.related_pages if r in titles]
        if related:
            lines += ["### Related Pages", "", f"Related topics: {', '.join(related)}", ""]
        lines += [page.content, "", "---", ""]
    return "\n".join(lines)


def export_json(repo_url: str, pages: Sequence[WikiPage], now: datetime | None = None) -> str:
    """`{"metadata": {repository, generated_at, page_count}, "pages": [WikiPage…]}`, indent 2."""
    payload = {
        "metadata": {
            "repository": repo_url,
            "generated_at": (now or datetime.now()).isoformat(),
            "page_count": len(pages),
        },
        "pages": [page.model_dump(by_alias=True) for page in pages],
    }
    return json.dumps(payload, indent=2, ensure_ascii=False)
