"""`wikismith remove <repo>` deletes every ref's clone and index of exactly that repository (each ref has its own
`repo_key`); `--ref X` deletes only that ref's. Real clones over git's HTTP protocol, the CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.embedders import HashEmbedder
from tests.support.git_http import GitServer, git, make_repo
from wikismith.config.models import AppConfig
from wikismith.config.settings import Settings
from wikismith.rag import build_index, open_repo, repo_key
from wikismith.rag.source import parse_repo_url

WIKISMITH = [sys.executable, "-c", "from wikismith.cli.app import main; main()"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitServer]:
    root = tmp_path / "served"
    work = make_repo(root, "o", "r", {"README.md": "# r\n", "src/a.py": "A = 1\n"})
    git(work, "tag", "v1")
    git(work, "push", "-q", "origin", "v1")
    make_repo(root, "o", "r_x", {"README.md": "# r_x\n"})  # a name that starts like the other one's
    with GitServer(root) as served:
        yield served


@pytest.fixture
def http_config(make_config: Callable[..., AppConfig]) -> AppConfig:
    return make_config(repository={"allowed_hosts": ["127.0.0.1"], "allow_private_hosts": True})


async def store(url: str, settings: Settings, config: AppConfig, ref: str | None) -> tuple[Path, Path]:
    """Clone `url` at `ref` and index it, as `ask`/`generate` do: (clone, index directory)."""
    snapshot = await open_repo(url, settings, config, ref=ref)
    index = await build_index(snapshot, settings, config, embedder=HashEmbedder())
    return snapshot.root, settings.data.indexes / index.key


def remove(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WIKISMITH_HOME": str(settings.home)}
    env.pop("WIKISMITH_CONFIG_DIR", None)
    return subprocess.run([*WIKISMITH, "remove", *args], env=env, capture_output=True, text=True, timeout=60)


async def test_remove_deletes_every_refs_copy_of_exactly_that_repository(
    server: GitServer, settings: Settings, http_config: AppConfig
) -> None:
    url = server.url("o", "r")
    mine = [await store(url, settings, http_config, ref) for ref in (None, "main", "v1")]
    other = await store(server.url("o", "r_x"), settings, http_config, None)
    other_ref = await store(server.url("o", "r_x"), settings, http_config, "main")
    assert len({clone for clone, _ in mine}) == 3  # one clone per ref
    wiki_output = settings.data.wikis / mine[1][0].name
    wiki_output.mkdir(parents=True)
    cache = settings.data.wikicache / "deepwiki_cache_github_o_r_en.json"
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"wiki_structure": {"title": "t"}, "repo": {"owner": "o", "repo": "r"}}))
    result = remove(settings, url, "--yes")
    assert result.returncode == 0, result.stderr
    for clone, index in mine:
        assert str(clone) in result.stdout and str(index) in result.stdout
        assert not clone.exists() and not index.exists()
    assert not wiki_output.exists() and not cache.exists()
    for clone, index in (other, other_ref):
        assert clone.exists() and index.exists() and str(clone) not in result.stdout


async def test_remove_with_ref_deletes_only_that_refs_copy(
    server: GitServer, settings: Settings, http_config: AppConfig
) -> None:
    url = server.url("o", "r")
    plain, main, tagged = [await store(url, settings, http_config, ref) for ref in (None, "main", "v1")]
    result = remove(settings, url, "--ref", "v1", "--yes")
    assert result.returncode == 0, result.stderr
    assert "at v1" in result.stdout
    assert not tagged[0].exists() and not tagged[1].exists()
    for clone, index in (plain, main):
        assert clone.exists() and index.exists()
    again = remove(settings, url, "--ref", "v1", "--yes")
    assert again.returncode == 0 and "nothing stored for o/r at v1" in again.stdout


def test_remove_refuses_ref_for_a_local_directory(settings: Settings, tmp_path: Path) -> None:
    result = remove(settings, str(tmp_path), "--ref", "main", "--yes")
    assert result.returncode == 2 and "remote repositories only" in result.stderr


def test_remove_of_a_path_that_cannot_be_resolved_is_a_clear_error(settings: Settings) -> None:
    result = remove(settings, "~no-such-user-4f1c/repo", "--yes")
    assert result.returncode == 2 and "cannot read the path" in result.stderr and "Traceback" not in result.stderr


def lock_of(index: Path) -> Path:
    return index.parent / f".{index.name}.lock"


async def test_remove_never_claims_the_index_of_a_repository_whose_name_starts_alike(
    server: GitServer, settings: Settings, http_config: AppConfig
) -> None:
    url = server.url("o", "r")
    _, index = await store(url, settings, http_config, None)
    _, other = await store(server.url("o", "r_x"), settings, http_config, None)
    (other / "CURRENT").unlink()  # as after a crash between a version's rename and CURRENT: no readable manifest
    assert lock_of(index).exists() and lock_of(other).exists()
    result = remove(settings, url, "--yes")
    assert result.returncode == 0, result.stderr
    assert not index.exists() and not lock_of(index).exists()
    assert other.exists() and lock_of(other).exists() and "r_x" not in result.stdout


async def test_remove_finds_an_index_named_the_old_way_only_by_its_manifest(
    server: GitServer, settings: Settings, http_config: AppConfig
) -> None:
    # Before index names held a digest of the whole repository key they were `<key[:120]>_<embedder>_<12 hex>`.
    old_names = []
    for name in ("r", "r_x"):
        url = server.url("o", name)
        _, index = await store(url, settings, http_config, None)
        old = index.with_name(f"{repo_key(parse_repo_url(url))}_test-hash-64_0123456789ab")
        index.rename(old)
        lock_of(index).rename(lock_of(old))
        old_names.append(old)
    mine, other = old_names
    (other / "CURRENT").unlink()
    result = remove(settings, server.url("o", "r"), "--yes")
    assert result.returncode == 0, result.stderr
    assert not mine.exists() and not lock_of(mine).exists()
    assert other.exists() and lock_of(other).exists() and "r_x" not in result.stdout
