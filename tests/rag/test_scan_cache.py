"""A second question on an unchanged repository reuses the first scan: the tree is not walked again (excluded
directories not entered), while any change the scan depended on makes the next question scan afresh."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.rag.conftest import SAMPLE, write_tree
from tests.support.embedders import HashEmbedder
from wikismith.chat import ChatInput, IndexCache, prepare_index
from wikismith.config.models import AppConfig
from wikismith.config.settings import Settings
from wikismith.rag.filters import effective_rules, scan_signed
from wikismith.rag.retriever import RepoIndex


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    files = {**SAMPLE, "node_modules/pkg/index.js": "module.exports = 1\n", ".gitignore": "*.log\n"}
    return write_tree(tmp_path / "repo", files)


class Asker:
    """Questions on one repository through one process cache, as the server asks them."""

    def __init__(self, repo: Path, settings: Settings, config: AppConfig) -> None:
        self.repo, self.settings, self.config = repo, settings, config
        self.cache, self.embedder = IndexCache(), HashEmbedder()

    async def __call__(self) -> RepoIndex:
        inp = ChatInput.model_validate({"repo": str(self.repo), "messages": [{"role": "user", "content": "q"}]})
        return await prepare_index(self.settings, self.config, inp, embedder=self.embedder, cache=self.cache)


@pytest.fixture
def asker(repo: Path, settings: Settings, config: AppConfig) -> Asker:
    return Asker(repo, settings, config)


def bump(path: Path) -> None:
    """Move a path's mtime forward (so a change is visible even on coarse-mtime file systems)."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


async def test_a_second_question_on_an_unchanged_repo_does_not_walk_it(asker: Asker, repo: Path) -> None:
    first = await asker()
    assert first.stats.scanned and first.report.skipped["excluded_dir"] == 1
    for i in range(3):  # inside an excluded directory: a walk would count these; the reused scan cannot see them
        (repo / "node_modules" / f"extra{i}.js").write_text("x\n")
    second = await asker()
    assert not second.stats.scanned
    assert second.report.skipped["excluded_dir"] == 1  # node_modules was not entered
    assert second.files == first.files and second.stats.files_embedded == 0


async def test_an_added_file_makes_the_next_question_scan_and_index_it(asker: Asker, repo: Path) -> None:
    await asker()
    (repo / "src" / "billing.py").write_text("def bill():\n    return 1\n")
    bump(repo / "src")
    index = await asker()
    assert index.stats.scanned and "src/billing.py" in index.files


async def test_a_removed_file_leaves_the_index_on_the_next_question(asker: Asker, repo: Path) -> None:
    await asker()
    (repo / "docs" / "guide.md").unlink()
    bump(repo / "docs")
    index = await asker()
    assert index.stats.scanned and "docs/guide.md" not in index.files


async def test_an_edited_file_is_reembedded(asker: Asker, repo: Path) -> None:
    await asker()
    path = repo / "src" / "mailer.py"
    path.write_text("def send_email(address):\n    return deliver(address)\n")
    bump(path)
    index = await asker()
    assert index.stats.files_embedded == 1
    assert any("deliver(address)" in c.text for c in index.chunks if c.path == "src/mailer.py")


async def test_a_gitignore_edited_in_place_is_honoured(asker: Asker, repo: Path) -> None:
    assert "docs/guide.md" in (await asker()).files
    gitignore = repo / ".gitignore"
    with open(gitignore, "a") as handle:  # in place: the directory's mtime may not change
        handle.write("docs/\n")
    bump(gitignore)
    index = await asker()
    assert index.stats.scanned and "docs/guide.md" not in index.files


def test_a_tree_signature_holds_until_something_it_covers_changes(repo: Path, config: AppConfig) -> None:
    rules = effective_rules(config)
    report, signature = scan_signed(repo, rules)
    assert signature.holds(repo)
    covered = {rel for rel, _, _ in signature.entries}
    assert {"", "src", ".gitignore", "src/mailer.py"} <= covered
    assert not any(rel.startswith("node_modules") for rel in covered)  # excluded directories are not in it
    (repo / "new.md").write_text("new\n")
    bump(repo)
    assert not signature.holds(repo)
    assert "new.md" in scan_signed(repo, rules)[0].kept and "new.md" not in report.kept
