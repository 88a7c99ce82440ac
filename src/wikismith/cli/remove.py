"""`wikismith remove <repo>`: delete exactly that repository's clone, indexes, generated wiki and wiki cache.

Everything is found by exact names (the repository key, index directories whose manifest names the same
repository, cache files whose recorded owner/repo match), never by substring globs, and listed before anything
is deleted. A local directory itself is never deleted, only what wikismith stored about it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
) -> None:
    """List, then delete, what wikismith stored for one repository."""
    from rich.console import Console

    from wikismith.rag import SourceError

    settings, _ = load()
    try:
        ref = repo_ref(repo, repo_type)
    except SourceError as exc:
        fail(str(exc), EXIT_CONFIG_ERROR)
    targets = stored_paths(settings, ref)
    console = Console(highlight=False, soft_wrap=True)
    if not targets:
        console.print(f"nothing stored for {ref.owner}/{ref.name}", markup=False)
        return
    console.print(f"this deletes what is stored for {ref.owner}/{ref.name} ({ref.type}):", markup=False)
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
    from wikismith.rag.source import is_remote, parse_repo_url
    from wikismith.rag.types import RepoRef

    if is_remote(source):
        return parse_repo_url(source, None if repo_type == "local" else repo_type)
    root = Path(source).expanduser().resolve()
    return RepoRef(type="local", owner="local", name=root.name, local_path=root)


def stored_paths(settings: Settings, ref: RepoRef) -> list[Path]:
    """Every path stored for exactly this repository: clone, indexes, default wiki output, cache files."""
    from wikismith.rag import repo_key
    from wikismith.wiki.store import WikiStore

    key = repo_key(ref)
    data = settings.data
    found: list[Path] = []
    if ref.local_path is None:
        found.append(data.repos / key)
        found.append(data.repos / f".{key}.lock")
    found += _indexes(data.indexes, key, ref)
    found.append(data.wikis / key)
    found += WikiStore(data.wikicache).files_for(ref.owner, ref.name, ref.type)
    return [p for p in found if p.exists() or p.is_symlink()]


def _indexes(root: Path, key: str, ref: RepoRef) -> list[Path]:
    """Index directories named `<key>_<embedder>_<12 hex>` whose manifest names this repository."""
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.iterdir()):
        name = path.name.removeprefix(".").removesuffix(".lock")
        if not name.startswith(f"{key}_") or not _INDEX_SUFFIX.search(name):
            continue
        if path.is_dir() and not _same_repo(path, ref):
            continue
        found.append(path)
    return found


def _same_repo(index_dir: Path, ref: RepoRef) -> bool:
    """True unless the index's manifest names another repository (an unreadable index is this key's)."""
    import json

    try:
        current = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
        manifest = json.loads((index_dir / current / "manifest.json").read_text(encoding="utf-8"))
        repo = manifest["repo"]
    except (OSError, ValueError, KeyError, TypeError):
        return True
    return bool(repo.get("type") == ref.type and repo.get("owner") == ref.owner and repo.get("name") == ref.name)
