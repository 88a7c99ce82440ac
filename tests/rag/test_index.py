"""The index: incremental re-embedding, deletions, persistence, keys, crash safety, retrieval."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.rag.conftest import SAMPLE, write_tree
from tests.support.embedders import HashEmbedder
from wikismith.config.models import AppConfig
from wikismith.config.schemas import FileFilters
from wikismith.config.settings import Settings
from wikismith.rag import build_index, load_index, open_repo
from wikismith.rag.filters import effective_rules
from wikismith.rag.index import index_key
from wikismith.rag.retriever import VectorSearch, format_context, group_by_file
from wikismith.rag.source import parse_repo_url
from wikismith.rag.types import RepoRef, RepoSnapshot


async def snapshot_of(root: Path, settings: Settings, config: AppConfig) -> RepoSnapshot:
    return await open_repo(str(root), settings, config)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "repo", SAMPLE)


async def test_first_build_embeds_every_chunk_and_reports_files(
    repo: Path, settings: Settings, config: AppConfig, embedder: HashEmbedder
) -> None:
    index = await build_index(await snapshot_of(repo, settings, config), settings, config, embedder=embedder)
    assert index.files == ("README.md", "docs/guide.md", "src/invoice.py", "src/mailer.py")
    assert len(embedder.embedded) == len(index.chunks) == index.stats.chunks_embedded
    assert index.stats.files_embedded == 4
    assert (settings.data.indexes / index.key / "CURRENT").is_file()


async def test_rebuilding_an_unchanged_repository_embeds_nothing(
    repo: Path, settings: Settings, config: AppConfig, embedder: HashEmbedder
) -> None:
    snap = await snapshot_of(repo, settings, config)
    first = await build_index(snap, settings, config, embedder=embedder)
    embedder.embedded.clear()
    again = await build_index(snap, settings, config, embedder=embedder)  # from disk, a new "process"
    assert embedder.embedded == []
    assert [c.text for c in again.chunks] == [c.text for c in first.chunks]
    assert again.stats.files_reused == 4


async def test_changing_one_file_re_embeds_only_that_files_chunks(
    repo: Path, settings: Settings, config: AppConfig, embedder: HashEmbedder
) -> None:
    snap = await snapshot_of(repo, settings, config)
    first = await build_index(snap, settings, config, embedder=embedder)
    embedder.embedded.clear()
    (repo / "src/mailer.py").write_text("def send_email(address):\n    deliver_via_postbox(address)\n")
    second = await build_index(snap, settings, config, embedder=embedder, previous=first)
    assert embedder.embedded == [
        "src/mailer.py::send_email\ndef send_email(address):\n    deliver_via_postbox(address)\n"
    ]
    assert second.stats.files_embedded == 1 and second.stats.files_reused == 3
    hits = await second.retrieve("deliver_via_postbox", k=1)
    assert hits[0].chunk.path == "src/mailer.py"


async def test_touching_a_file_without_changing_it_embeds_nothing(
    repo: Path, settings: Settings, config: AppConfig, embedder: HashEmbedder
) -> None:
    snap = await snapshot_of(repo, settings, config)
    await build_index(snap, settings, config, embedder=embedder)
    embedder.embedded.clear()
    os.utime(repo / "README.md", (1, 1))
    index = await build_index(snap, settings, config, embedder=embedder)
    assert embedder.embedded == []
    assert index.manifest["files"]["README.md"]["mtime_ns"] == 1_000_000_000


async def test_deleted_files_are_removed_from_the_index(
    repo: Path, settings: Settings, config: AppConfig, embedder: HashEmbedder
) -> None:
    snap = await snapshot_of(repo, settings, config)
    await build_index(snap, settings, config, embedder=embedder)
    (repo / "docs/guide.md").unlink()
    index = await build_index(snap, settings, config, embedder=embedder)
    assert "docs/guide.md" not in index.files
    assert all(c.path != "docs/guide.md" for c in index.chunks)
    assert index.stats.files_removed == 1
    reloaded = await load_index(snap, settings, config, embedder=embedder)
    assert reloaded is not None and len(reloaded.chunks) == len(index.chunks)


async def test_filters_and_embedder_are_part_of_the_key(
    repo: Path, settings: Settings, config: AppConfig, embedder: HashEmbedder
) -> None:
    snap = await snapshot_of(repo, settings, config)
    plain = await build_index(snap, settings, config, embedder=embedder)
    filtered = await build_index(snap, settings, config, embedder=embedder, filters=FileFilters(excluded_dirs=["docs"]))
    other = await build_index(snap, settings, config, embedder=HashEmbedder(dimension=32))
    assert len({plain.key, filtered.key, other.key}) == 3
    assert "docs/guide.md" not in filtered.files
    assert other.search.dimension == 32 and plain.search.dimension == 64


def test_repositories_whose_keys_share_a_long_start_never_share_an_index(config: AppConfig, tmp_path: Path) -> None:
    # Long names push what tells the keys apart (the ref's or the path's digest) past any readable prefix.
    name = "a-rather-long-repository-name-" * 3
    url = f"https://github.com/some-organisation/{name}"
    refs = [parse_repo_url(url, ref=f"release/{n}") for n in ("1.0", "2.0")]
    refs += [RepoRef(type="local", owner="local", name=name, local_path=tmp_path / where / name) for where in "ab"]
    rules, splitter = effective_rules(config), config.embedder.text_splitter
    keys = {index_key(ref, HashEmbedder(), rules, splitter) for ref in refs}
    assert len(keys) == 4
    assert all(len(key) <= 200 for key in keys)


async def test_a_crash_while_indexing_leaves_the_previous_index_usable(
    repo: Path, settings: Settings, config: AppConfig, embedder: HashEmbedder
) -> None:
    snap = await snapshot_of(repo, settings, config)
    first = await build_index(snap, settings, config, embedder=embedder)
    (repo / "src/new.py").write_text("def brand_new():\n    pass\n")
    crashing = HashEmbedder(fail_after=0)
    with pytest.raises(RuntimeError, match="crashed"):
        await build_index(snap, settings, config, embedder=crashing)
    directory = settings.data.indexes / first.key
    (directory / ".tmp-v-half-written").mkdir()  # as if the process died while writing a version
    (directory / ".tmp-v-half-written" / "chunks.json").write_text("[[")
    survivor = await load_index(snap, settings, config, embedder=embedder)
    assert survivor is not None and survivor.files == first.files
    assert (await survivor.retrieve("parse invoice total", k=1))[0].chunk.path == "src/invoice.py"
    updated = await build_index(snap, settings, config, embedder=embedder)
    assert "src/new.py" in updated.files
    assert not (directory / ".tmp-v-half-written").exists()
    assert len([p for p in directory.iterdir() if p.name.startswith("v-")]) == 1


async def test_a_damaged_index_is_rebuilt(
    repo: Path, settings: Settings, config: AppConfig, embedder: HashEmbedder
) -> None:
    snap = await snapshot_of(repo, settings, config)
    first = await build_index(snap, settings, config, embedder=embedder)
    directory = settings.data.indexes / first.key
    current = (directory / "CURRENT").read_text()
    (directory / current / "index.faiss").write_bytes(b"garbage")
    embedder.embedded.clear()
    rebuilt = await build_index(snap, settings, config, embedder=embedder)
    assert len(embedder.embedded) == len(rebuilt.chunks) == len(first.chunks)


async def test_retrieve_returns_the_best_chunks_first_with_paths_and_lines(
    repo: Path, settings: Settings, config: AppConfig, embedder: HashEmbedder
) -> None:
    index = await build_index(await snapshot_of(repo, settings, config), settings, config, embedder=embedder)
    hits = await index.retrieve("send_email smtp_send address body", k=3)
    assert hits[0].chunk.path == "src/mailer.py"
    assert (hits[0].chunk.start_line, hits[0].chunk.end_line) == (1, 3)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    only_docs = await index.retrieve("send_email", k=5, paths=["docs"])
    assert {h.chunk.path for h in only_docs} == {"docs/guide.md"}


async def test_results_group_by_file_for_prompts(
    repo: Path, settings: Settings, config: AppConfig, embedder: HashEmbedder
) -> None:
    index = await build_index(await snapshot_of(repo, settings, config), settings, config, embedder=embedder)
    hits = await index.retrieve("invoice total line", k=10)
    groups = group_by_file(hits)
    assert len({path for path, _ in groups}) == len(groups)
    text = format_context(hits)
    assert "## File Path: src/invoice.py" in text and "Lines 1-" in text


def test_large_indexes_shortlist_and_still_find_the_exact_neighbour() -> None:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((25_000, 48)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    search = VectorSearch(vectors)
    assert search.short is not None
    exact = vectors @ vectors[123]
    expected = list(np.argsort(-exact)[:5])
    got = [row for row, _ in search.search(vectors[123], 5)]
    assert got[0] == 123
    assert len(set(got) & set(expected)) >= 4
