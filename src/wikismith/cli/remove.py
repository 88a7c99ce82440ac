"""`wikismith remove <repo>`: delete exactly that repository's clones, indexes, generated wikis and wiki cache.

A remote repository is stored once per requested ref (`repo_key` holds the ref): `remove <repo>` deletes every
ref's copy, `remove <repo> --ref X` only that ref's clone, indexes and generated wiki (the wiki cache is kept:
it is per repository and language, not per ref). Everything is found by exact names (the repository key, or
that key plus the `_ref-<name>-<8 hex>` suffix `repo_key` appends), never by substring globs, and confirmed by
what was recorded where it was (a clone's FETCH_HEAD URL, an index manifest's repository and ref, a wiki run's
manifest, a cache file's owner/repo); everything is listed before anything is deleted. A local directory itself
is never deleted, only what wikismith stored about it.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wikismith.cli.runtime import EXIT_CONFIG_ERROR, fail, load

if TYPE_CHECKING:
    from wikismith.config.settings import Settings
    from wikismith.rag.types import RepoRef

_INDEX_SUFFIX = re.compile(r"_[0-9a-f]{12}$")


def register(app: typer.Typer) -> None:
    app.command("remove")(remove)


def remove(
    repo: Annotated[str, typer.Argument(help="The local directory or repository URL given to generate/index.")],
    repo_type: Annotated[str | None, typer.Option("--repo-type", help="github, gitlab, bitbucket or local.")] = None,
    ref: Annotated[
        str | None, typer.Option("--ref", help="Only this branch, tag or commit's copy (default: every ref's).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
) -> None:
    """List, then delete, what wikismith stored for one repository."""
    from rich.console import Console

    from wikismith.rag import SourceError

    settings, _ = load()
    try:
        target = repo_ref(repo, repo_type)
        if ref is not None and target.local_path is not None:
            raise SourceError("--ref applies to remote repositories only (a local directory has one copy)")
    except SourceError as exc:
        fail(str(exc), EXIT_CONFIG_ERROR)
    targets = stored_paths(settings, target, only=ref)
    console = Console(highlight=False, soft_wrap=True)
    which = f"{target.owner}/{target.name}" + (f" at {ref}" if ref is not None else "")
    if not targets:
        console.print(f"nothing stored for {which}", markup=False)
        return
    console.print(f"this deletes what is stored for {which} ({target.type}):", markup=False)
    for path in targets:
        console.print(f"  {path}", markup=False)
    if not yes and not typer.confirm("delete these?", default=False):
        raise typer.Exit(1)
    for path in targets:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        console.print(f"✓ deleted {path}", markup=False)


def repo_ref(source: str, repo_type: str | None) -> RepoRef:
    """The RepoRef `open_repo` would give for `source`, without cloning (a local path need not exist)."""
    from wikismith.rag import SourceError
    from wikismith.rag.source import is_remote, parse_repo_url
    from wikismith.rag.types import RepoRef

    if is_remote(source):
        return parse_repo_url(source, None if repo_type == "local" else repo_type)
    try:
        root = Path(source).expanduser().resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # `~nosuchuser`, a NUL byte, a loop of symlinks
        raise SourceError(f"cannot read the path {source!r}: {exc}") from None
    return RepoRef(type="local", owner="local", name=root.name, local_path=root)


def stored_paths(settings: Settings, ref: RepoRef, *, only: str | None = None) -> list[Path]:
    """Every path stored for exactly this repository: clones, indexes and wiki outputs of every requested ref
    (of the ref `only`, when given) and, unless `only`, its wiki cache files."""
    from wikismith.wiki.store import WikiStore

    data = settings.data
    keys = _keys(data.repos, data.wikis, data.indexes, ref, only)
    found: list[Path] = []
    for key in keys:
        if ref.local_path is None:
            found += [data.repos / key, data.repos / f".{key}.lock"]
        found.append(data.wikis / key)
    found += _indexes(data.indexes, keys, ref, only)
    if only is None:
        location = str(ref.local_path) if ref.local_path is not None else ref.url
        found += WikiStore(data.wikicache).files_for(ref.owner, ref.name, ref.type, location)
    return [p for p in dict.fromkeys(found) if p.exists() or p.is_symlink()]


def _keys(repos: Path, wikis: Path, indexes: Path, ref: RepoRef, only: str | None) -> list[str]:
    """The repository keys of this repository: for `only`, that ref's; else the no-ref key and every ref key
    found in `repos/`, `wikis/` or an index manifest."""
    from wikismith.rag import repo_key

    if only is not None:
        return [repo_key(replace(ref, ref=only))]
    base = repo_key(replace(ref, ref=None))
    keys = [base]
    if ref.local_path is not None:
        return keys
    shape = re.compile(re.escape(base) + r"_ref-[A-Za-z0-9._-]{0,40}-[0-9a-f]{8}")
    for root, recorded in ((repos, _cloned_url), (wikis, _wiki_url)):
        if root.is_dir():
            for path in sorted(root.iterdir()):
                if shape.fullmatch(path.name) and path.is_dir() and recorded(path) in (None, ref.url):
                    keys.append(path.name)
    for _, manifest in _manifests(indexes, ref):
        if manifest.get("ref"):
            keys.append(repo_key(replace(ref, ref=str(manifest["ref"]))))
    return list(dict.fromkeys(keys))


def _cloned_url(clone: Path) -> str | None:
    """The URL a clone was fetched from, as git recorded it in FETCH_HEAD (`… of <url>`), `.git` dropped."""
    try:
        line = (clone / ".git" / "FETCH_HEAD").read_text(encoding="utf-8").splitlines()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    _, of, url = line.rpartition(" of ")
    return url.strip().removesuffix(".git").rstrip("/") if of else None


def _wiki_url(output: Path) -> str | None:
    import json

    try:
        url = json.loads((output / "manifest.json").read_text(encoding="utf-8"))["repo"]["url"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(url) if url else None


def _indexes(root: Path, keys: list[str], ref: RepoRef, only: str | None) -> list[Path]:
    """Index directories `<index_stem(key)>_<embedder>_<12 hex>` of one of `keys`, and their lock files. The stem
    holds a digest of the whole key, so the name alone says whose an index is (a readable manifest naming
    another repository still vetoes). A directory named the old way, `<key[:120]>_<embedder>_<12 hex>`, has no
    such digest (`o/r`'s name starts `o/r_x`'s): it is claimed, with its lock file, only when its manifest
    names this repository (and the ref `only`, when given)."""
    from wikismith.rag.index import index_stem
    from wikismith.storage import safe_name

    if not root.is_dir():
        return []
    stems = tuple(f"{index_stem(key)}_" for key in keys)
    old_stems = tuple(f"{safe_name(key[:120])}_" for key in keys)
    found = []
    for path in sorted(root.iterdir()):
        is_lock = path.name.startswith(".") and path.name.endswith(".lock")
        name = path.name[1 : -len(".lock")] if is_lock else path.name
        if not _INDEX_SUFFIX.search(name):
            continue
        if is_lock:
            if name.startswith(stems):  # a lock without its directory (a first build that stopped early)
                found.append(path)
            continue
        if not path.is_dir():
            continue
        repo = _manifest(path)
        if name.startswith(stems):
            ours = repo is None or _same_repo(repo, ref, only)
        else:
            ours = name.startswith(old_stems) and repo is not None and _same_repo(repo, ref, only)
        if ours:
            found += [path, root / f".{name}.lock"]
    return found


def _manifest(index_dir: Path) -> dict[str, Any] | None:
    """The `repo` record of an index's live manifest (None when unreadable)."""
    import json

    try:
        current = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
        manifest = json.loads((index_dir / current / "manifest.json").read_text(encoding="utf-8"))
        repo = manifest["repo"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return repo if isinstance(repo, dict) else None


def _manifests(root: Path, ref: RepoRef) -> list[tuple[Path, dict[str, Any]]]:
    """Index directories whose manifest names this (remote) repository, with that record."""
    if not root.is_dir():
        return []
    records = ((path, _manifest(path)) for path in sorted(root.iterdir()) if path.is_dir())
    return [(path, repo) for path, repo in records if repo is not None and _same_repo(repo, ref, None)]


def _same_repo(repo: dict[str, Any], ref: RepoRef, only: str | None) -> bool:
    """Does an index manifest's `repo` record name this repository (and the ref `only`, when given)?"""
    same = repo.get("type") == ref.type and repo.get("owner") == ref.owner and repo.get("name") == ref.name
    if ref.url is not None and repo.get("url") not in (None, ref.url):
        return False
    return bool(same) and (only is None or repo.get("ref") == only)
