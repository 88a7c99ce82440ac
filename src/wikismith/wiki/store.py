"""The wiki cache in DeepWiki's `WikiCacheData` shape, and DeepWiki's Markdown/JSON export formats.

One JSON file per (repo type, owner, repo, language, variant) under `settings.data.wikicache`, named as
DeepWiki names it (`deepwiki_cache_{type}_{owner}_{repo}_{language}.json`) but with every part passed through
`storage.safe_name` (no separators, no `..`), written atomically.

Variants: DeepWiki keys the concise and the comprehensive wiki the same, so one overwrites the other. Here the
comprehensive wiki (the DeepWiki front end's default view, and what a file with no recorded variant is taken
to be) keeps DeepWiki's file name, and the concise one adds `_concise` before `.json`. `get(...,
comprehensive=None)` answers the comprehensive wiki when there is one, else the concise one; `delete(...,
comprehensive=None)` removes both. The stored JSON records its variant in an extra top-level `comprehensive`
key (DeepWiki's readers ignore unknown keys). Top-level keys are DeepWiki's snake_case
(`wiki_structure`, `generated_pages`, `repo_url`, `repo`, `provider`, `model`); the wiki models inside are
camelCase (`filePaths`, `relatedPages`, `rootSections`, `repoUrl`, `localPath`).

Differences from DeepWiki, on purpose: a repository access token is never written (`repo.token` is always
null on disk and in answers); a file whose recorded owner/repo differs from the one asked for is a miss (two
names can map to one file name when they hold `_`); `list_projects` reads owner and repo from the file, so an
owner holding `_` is listed correctly.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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

    def to_json(self) -> str:
        """The on-disk / wire form (DeepWiki's keys), with no token."""
        return self.without_token().model_dump_json(by_alias=True, indent=2)

    def without_token(self) -> WikiCacheData:
        if self.repo is None or self.repo.token is None:
            return self
        return self.model_copy(update={"repo": self.repo.model_copy(update={"token": None})})


class ProcessedProject(_Model):
    """One entry of `GET /api/processed_projects`."""

    id: str
    owner: str
    repo: str
    name: str
    repo_type: str
    submitted_at: int = Field(alias="submittedAt")
    language: str
    comprehensive: bool = True


class WikiStore:
    """Read and write cached wikis under `root` (normally `settings.data.wikicache`)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, owner: str, repo: str, repo_type: str, language: str, comprehensive: bool = True) -> Path:
        suffix = "" if comprehensive else CONCISE
        return self.root / f"{safe_name(PREFIX, repo_type, owner, repo, language)}{suffix}.json"

    def get(
        self, owner: str, repo: str, repo_type: str, language: str, comprehensive: bool | None = None
    ) -> WikiCacheData | None:
        """The cached wiki of that variant (None: the comprehensive one when present, else the concise one), or
        None when missing, unreadable or recorded for another repository."""
        variants = [True, False] if comprehensive is None else [comprehensive]
        for variant in variants:
            found = self._get(owner, repo, repo_type, language, variant)
            if found is not None:
                return found
        return None

    def _get(self, owner: str, repo: str, repo_type: str, language: str, comprehensive: bool) -> WikiCacheData | None:
        path = self.path(owner, repo, repo_type, language, comprehensive)
        data = _read(path)
        if data is None:
            return None
        if data.repo is not None and (data.repo.owner, data.repo.repo) != (owner, repo):
            log.warning(
                "cache file %s belongs to %s/%s, not %s/%s", path.name, data.repo.owner, data.repo.repo, owner, repo
            )
            return None
        return data.without_token().model_copy(update={"comprehensive": comprehensive})

    def put(
        self,
        owner: str,
        repo: str,
        repo_type: str,
        language: str,
        data: WikiCacheData,
        comprehensive: bool | None = None,
    ) -> Path:
        """Store `data` atomically as the `comprehensive` variant (None: `data.comprehensive`, else True), token
        removed and `repo` filled in when absent. Returns the file written."""
        if comprehensive is None:
            comprehensive = data.comprehensive if data.comprehensive is not None else True
        update: dict[str, object] = {"comprehensive": comprehensive}
        if data.repo is None:
            update["repo"] = RepoInfo(owner=owner, repo=repo, type=repo_type)
        path = self.path(owner, repo, repo_type, language, comprehensive)
        atomic_write_text(path, data.model_copy(update=update).to_json())
        return path

    def delete(self, owner: str, repo: str, repo_type: str, language: str, comprehensive: bool | None = None) -> bool:
        """Remove one cached wiki (both variants when `comprehensive` is None); False when there was none."""
        variants = [True, False] if comprehensive is None else [comprehensive]
        removed = False
        for variant in variants:
            try:
                self.path(owner, repo, repo_type, language, variant).unlink()
            except FileNotFoundError:
                continue
            removed = True
        return removed

    def files_for(self, owner: str, repo: str, repo_type: str) -> list[Path]:
        """Every language's cache file of exactly this repository (no substring matching)."""
        if not self.root.is_dir():
            return []
        stem = safe_name(PREFIX, repo_type, owner, repo) + "_"
        found: list[Path] = []
        for path in sorted(self.root.glob("*.json")):
            if not path.name.startswith(stem):
                continue
            language = path.name[len(stem) : -len(".json")].removesuffix(CONCISE)
            if not language or "_" in language:
                continue
            data = _read(path)
            if data is None or data.repo is None or (data.repo.owner, data.repo.repo) == (owner, repo):
                found.append(path)
        return found

    def list_projects(self) -> list[ProcessedProject]:
        """Every cached wiki, newest first, in DeepWiki's `processed_projects` shape."""
        if not self.root.is_dir():
            return []
        projects: list[ProcessedProject] = []
        for path in self.root.glob(f"{PREFIX}_*.json"):
            project = _project(path)
            if project is not None:
                projects.append(project)
        projects.sort(key=lambda p: p.submitted_at, reverse=True)
        return projects


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
        owner, repo = data.repo.owner, data.repo.repo
    else:
        owner, _, repo = owner_repo.partition("_")
        if not repo:
            return None
    mtime = 0
    with contextlib.suppress(OSError):
        mtime = int(path.stat().st_mtime * 1000)
    return ProcessedProject(
        id=path.name,
        owner=owner,
        repo=repo,
        name=f"{owner}/{repo}",
        repo_type=repo_type,
        submitted_at=mtime,
        language=language,
        comprehensive=comprehensive,
    )


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
