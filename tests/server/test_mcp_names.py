"""What an MCP `repoName` resolves to: plain inputs, a wiki store in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from wikismith.server.mcp.names import UnknownRepo, resolve_repo
from wikismith.wiki.store import RepoInfo, WikiCacheData, WikiStore, WikiStructure


def cache(store: WikiStore, owner: str, repo: str, kind: str, **where: str) -> None:
    info = RepoInfo(owner=owner, repo=repo, type=kind, **where)
    store.put(owner, repo, kind, "en", WikiCacheData(wiki_structure=WikiStructure(title="t"), repo=info))


def test_a_url_names_that_repository(tmp_path: Path) -> None:
    target = resolve_repo("https://gitlab.com/group/sub/proj/-/tree/main", WikiStore(tmp_path), ())
    assert (target.source, target.owner, target.name, target.type) == (
        "https://gitlab.com/group/sub/proj", "group/sub", "proj", "gitlab",
    )  # fmt: skip


def test_owner_repo_is_its_cached_wiki_else_github(tmp_path: Path) -> None:
    store = WikiStore(tmp_path)
    cache(store, "team", "tool", "gitlab", repoUrl="https://gitlab.com/team/tool")
    assert resolve_repo("team/tool", store, ()).source == "https://gitlab.com/team/tool"
    assert resolve_repo("octo/calc", store, ()).source == "https://github.com/octo/calc"


def test_owner_repo_on_two_forges_asks_for_the_url(tmp_path: Path) -> None:
    store = WikiStore(tmp_path)
    cache(store, "team", "tool", "gitlab", repoUrl="https://gitlab.com/team/tool")
    cache(store, "team", "tool", "github", repoUrl="https://github.com/team/tool")
    with pytest.raises(UnknownRepo, match=r"several forges .* give the repository URL"):
        resolve_repo("team/tool", store, ())


def test_a_path_must_be_under_a_local_root(tmp_path: Path) -> None:
    root, other = tmp_path / "root", tmp_path / "other"
    (root / "proj").mkdir(parents=True)
    other.mkdir()
    store = WikiStore(tmp_path / "cache")
    assert resolve_repo(str(root / "proj"), store, (root,)).local_path == root / "proj"
    with pytest.raises(UnknownRepo, match="outside the allowed local roots"):
        resolve_repo(str(other), store, (root,))
    with pytest.raises(UnknownRepo, match=r"not enabled .*WIKISMITH_LOCAL_ROOTS"):
        resolve_repo(str(root / "proj"), store, ())


def test_a_directory_name_works_when_it_is_unambiguous(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    (first / "proj").mkdir(parents=True)
    (first / "solo").mkdir()
    (second / "proj").mkdir(parents=True)
    store = WikiStore(tmp_path / "cache")
    assert resolve_repo("solo", store, (first, second)).source == str(first / "solo")
    assert resolve_repo("local/solo", store, (first, second)).source == str(first / "solo")
    with pytest.raises(UnknownRepo, match=r"'proj' names 2 local repositories .*give the full path"):
        resolve_repo("proj", store, (first, second))


def test_a_cached_local_wiki_is_found_by_its_directory_name(tmp_path: Path) -> None:
    store = WikiStore(tmp_path / "cache")
    cache(store, "local", "gone", "local", localPath=str(tmp_path / "elsewhere" / "gone"))
    target = resolve_repo("gone", store, ())
    assert (target.owner, target.name, target.local_path) == ("local", "gone", tmp_path / "elsewhere" / "gone")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "repoName is empty"),
        ("nothing", "no repository named 'nothing'"),
        ("git@github.com:o/r.git", "SSH URLs are not supported"),
        ("a/b/c", "not owner/repo, a repository URL or a local path"),
    ],
)
def test_what_cannot_be_resolved_says_what_to_give(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(UnknownRepo, match=message):
        resolve_repo(name, WikiStore(tmp_path), ())
