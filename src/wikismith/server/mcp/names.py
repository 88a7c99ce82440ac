"""What an MCP tool's `repoName` names: a repository URL, a local path, `owner/repo`, or a local directory's name.

    target = resolve_repo("octo/calc", store, roots)   # -> Target(source="https://github.com/octo/calc", ...)

In this order:
1. a URL (`https://host/owner/repo`, as `wikismith generate` takes it): that repository;
2. a path (`/…`, `~/…`, `./…`, `../…`): the directory, which must lie under one of the local roots;
3. `owner/repo`: the cached wiki of that name (its recorded URL or directory), else a relative path under a
   local root, else the GitHub repository (DeepWiki's reading of the name);
4. a bare name (or `local/<name>`): the one local repository of that directory name, among the cached local
   wikis and the local roots' subdirectories (and the roots themselves); two candidates are an error listing them.

Anything else is an `UnknownRepo` whose message says what to give instead. A path is accepted only under
`local_roots` (the server's WIKISMITH_LOCAL_ROOTS; see `wikismith mcp` for stdio). A name also finds a cached
local wiki wherever its directory is: the wiki is the server's own data, and reading it opens no directory
(asking about the code does, and `open_repo` checks the roots again then).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wikismith.rag.source import SourceError, is_remote, parse_repo_url, resolve_local
from wikismith.wiki.store import WikiStore

_PATH_STARTS = ("/", "~", "./", "../")


class UnknownRepo(Exception):
    """`repoName` names no repository this server may open; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Target:
    """A repository, as the tools need it: `source` for `open_repo` (a URL or a directory), and the wiki cache
    key (`owner`, `name`, `type`: `local` for a directory, whose owner is `local`)."""

    source: str
    owner: str
    name: str
    type: str
    local_path: Path | None = None

    @property
    def shown(self) -> str:
        """How messages name it: the directory, or `owner/name`."""
        return str(self.local_path) if self.local_path is not None else f"{self.owner}/{self.name}"

    @property
    def generate_hint(self) -> str:
        return f"call generate_wiki or run `wikismith generate {self.source}`"


def _roots_note(roots: tuple[Path, ...]) -> str:
    if not roots:
        return "local repositories are not enabled (set WIKISMITH_LOCAL_ROOTS to the directories that hold them)"
    return "local roots: " + ", ".join(str(r) for r in roots)


def _local(path: str, roots: tuple[Path, ...]) -> Target:
    if not roots:
        raise UnknownRepo(f"{path} is a local path, but {_roots_note(roots)}")
    try:
        root = resolve_local(path, roots)
    except SourceError as exc:
        raise UnknownRepo(f"{exc} ({_roots_note(roots)})") from None
    return Target(source=str(root), owner="local", name=root.name, type="local", local_path=root)


def _remote(url: str) -> Target:
    try:
        ref = parse_repo_url(url)
    except SourceError as exc:
        raise UnknownRepo(str(exc)) from None
    assert ref.url is not None
    return Target(source=ref.url, owner=ref.owner, name=ref.name, type=ref.type)


def _cached(store: WikiStore, owner: str, name: str) -> list[Target]:
    """The repositories of that owner/name with a cached wiki (one per repository type), as recorded."""
    found: dict[tuple[str, str], Target] = {}
    for project in store.list_projects():
        if (project.owner, project.repo) != (owner, name) or project.repo_type == "local":
            continue
        data = store.get(owner, name, project.repo_type, project.language)
        url = (data.repo.repo_url if data and data.repo else None) or (data.repo_url if data else None)
        source = url or f"https://github.com/{owner}/{name}"
        found.setdefault((project.repo_type, source), Target(source, owner, name, project.repo_type))
    return list(found.values())


def _local_candidates(store: WikiStore, name: str, roots: tuple[Path, ...]) -> list[Path]:
    paths: list[Path] = []
    for project in store.list_projects():
        if project.repo_type != "local" or project.repo != name:
            continue
        data = store.get(project.owner, project.repo, "local", project.language, project.comprehensive)
        recorded = data.repo.local_path if data and data.repo else None
        if recorded:  # the server's own data, readable wherever the directory is (asking needs a local root)
            paths.append(Path(recorded))
    for root in roots:
        paths += [root] if root.name == name else []
        paths += [root / name] if (root / name).is_dir() else []
    return sorted({p.resolve() for p in paths})


def _by_name(store: WikiStore, name: str, roots: tuple[Path, ...]) -> Target:
    candidates = _local_candidates(store, name, roots)
    if len(candidates) == 1:
        root = candidates[0]
        return Target(source=str(root), owner="local", name=root.name, type="local", local_path=root)
    if candidates:
        listed = ", ".join(str(c) for c in candidates)
        raise UnknownRepo(f"{name!r} names {len(candidates)} local repositories ({listed}); give the full path")
    raise UnknownRepo(
        f"no repository named {name!r}: give owner/repo, a repository URL (https://github.com/owner/repo) or the"
        f" path of a local directory; {_roots_note(roots)}"
    )


def _owner_repo(text: str, store: WikiStore, roots: tuple[Path, ...]) -> Target:
    owner, _, name = text.partition("/")
    if owner == "local":
        return _by_name(store, name, roots)
    cached = _cached(store, owner, name)
    if len(cached) > 1:
        listed = ", ".join(t.source for t in cached)
        raise UnknownRepo(f"{text!r} has wikis on several forges ({listed}); give the repository URL")
    if cached:
        return cached[0]
    for root in roots:
        if (root / text).is_dir():
            return _local(str(root / text), roots)
    return Target(source=f"https://github.com/{owner}/{name}", owner=owner, name=name, type="github")


def cached_repo(store: WikiStore, owner: str, name: str, roots: tuple[Path, ...]) -> Target:
    """The repository of a cached wiki's key (a resource URI's owner and repo); UnknownRepo when none."""
    if owner == "local":
        return _by_name(store, name, roots)
    cached = _cached(store, owner, name)
    if len(cached) != 1:
        raise UnknownRepo(f"no single cached wiki for {owner}/{name}; list the resources to see the wikis there are")
    return cached[0]


def resolve_repo(repo_name: str, store: WikiStore, roots: tuple[Path, ...]) -> Target:
    """The repository `repo_name` names (see the module's docstring); UnknownRepo when none may be opened."""
    text = repo_name.strip()
    if not text:
        raise UnknownRepo("repoName is empty: give owner/repo, a repository URL or the path of a local directory")
    if "\x00" in text or len(text) > 4096:
        raise UnknownRepo("repoName is not a repository name, URL or path")
    if is_remote(text):
        return _remote(text)
    if text.startswith(_PATH_STARTS):
        return _local(text, roots)
    parts = text.strip("/").split("/")
    if len(parts) == 2 and all(parts):
        return _owner_repo("/".join(parts), store, roots)
    if len(parts) == 1:
        return _by_name(store, parts[0], roots)
    for root in roots:  # a relative path below a root, `group/sub/repo`
        if (root / text).is_dir():
            return _local(str(root / text), roots)
    raise UnknownRepo(
        f"{text!r} is not owner/repo, a repository URL or a local path; for GitLab subgroups give the URL"
    )
