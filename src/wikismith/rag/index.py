"""Build, persist and update a repository's FAISS index — incrementally and atomically.

On disk, under `settings.data.indexes/<key>/`:
    CURRENT                 the name of the live version directory (replaced atomically)
    v-<id>/manifest.json    repo, commit, embedder id and dimension, filter/splitter settings and their hash,
                            per file: sha256, size, mtime and its rows; skip counts
    v-<id>/index.faiss      IndexFlatIP of unit vectors, rows aligned with chunks.json
    v-<id>/chunks.json      [path, start_line, end_line, text, symbol] per row
    v-<id>/codemap.json     the code map of the same files (`rag/codemap.py`), updated with the index
The key holds the repository, the embedder and a hash of the filters and splitter settings, so changing any of
them starts a separate index and never mixes vectors (DeepWiki's "No valid embeddings" bug).

A rebuild re-embeds (and re-parses) only files whose content hash changed and drops deleted files; a version
written by another chunker (`CHUNKER_VERSION`) or without a code map is rebuilt whole, once. A new version is written to
a temporary directory, renamed into place, and only then does `CURRENT` point at it: a crash at any moment leaves
the previous version usable. One writer per index at a time (a file lock).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from wikismith.config.models import AppConfig
from wikismith.config.schemas import FileFilters, TextSplitterConfig
from wikismith.config.settings import Settings
from wikismith.llm.base import Embedder
from wikismith.rag.chunker import CHUNKER_VERSION, chunk_file
from wikismith.rag.codemap import CodeMap, build_codemap
from wikismith.rag.filters import FileRules, TreeSignature, effective_rules, rules_hash, scan_signed
from wikismith.rag.retriever import BuildStats, RepoIndex, VectorSearch, embedding_text
from wikismith.rag.source import AsyncFileLock, repo_key
from wikismith.rag.types import Chunk, FilterReport, RepoRef, RepoSnapshot
from wikismith.storage import atomic_write_text, safe_name

if TYPE_CHECKING:
    from numpy.typing import NDArray

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1
EMBED_GROUP = 256
Progress = Callable[[str, int, int], None]  # (stage, done, total): stages "scan", "embed", "write"


@dataclass(slots=True)
class _Stored:
    """A loaded version: its manifest, chunks and vectors."""

    manifest: dict[str, Any]
    chunks: list[Chunk]
    vectors: NDArray[np.float32]
    codemap: CodeMap | None = None


def index_stem(key: str) -> str:
    """How the index directory names of the repository key `key` begin: `<key[:120]>_<12 hex>`. The key is cut
    to stay readable within a bounded name; the digest of the whole key keeps two keys that share their first
    120 characters (long names, where the ref's or path's digest comes last) from sharing an index, and lets
    `remove` tell a repository's indexes by name from those of another whose name merely starts alike."""
    return safe_name(key[:120], hashlib.sha256(key.encode()).hexdigest()[:12])


def index_key(ref: RepoRef, embedder: Embedder, rules: FileRules, splitter: TextSplitterConfig) -> str:
    """`<index_stem>_<embedder id[:40]>_<12 hex of the settings>`, at most 187 characters."""
    # The dimension is not part of the key: a remote embedder may learn it only from its first answer. A stored
    # version whose dimension differs from the embedder's is discarded on load (see `_compatible`).
    settings = f"{embedder.id}|{rules_hash(rules)}|{splitter.chunk_size}|{splitter.chunk_overlap}"
    digest = hashlib.sha256(settings.encode()).hexdigest()[:12]
    return f"{index_stem(repo_key(ref))}_{safe_name(embedder.id[:40], digest)}"


def _scan_or_reuse(
    snapshot: RepoSnapshot, rules: FileRules, previous: RepoIndex | None
) -> tuple[FilterReport, TreeSignature, bool]:
    """The scan of `previous` when it was of the same checkout at the same commit and its tree signature still
    holds (no walk, excluded directories untouched); else a fresh scan. The flag says whether the tree was walked."""
    if (
        previous is not None
        and previous.signature is not None
        and previous.snapshot.root == snapshot.root
        and previous.snapshot.commit == snapshot.commit
        and previous.signature.holds(snapshot.root)
    ):
        return previous.report, previous.signature, False
    report, signature = scan_signed(snapshot.root, rules)
    return report, signature, True


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _read_version(directory: Path) -> _Stored | None:
    """The live version, or None when absent or unreadable (then the index is rebuilt from scratch)."""
    import faiss

    try:
        current = (directory / "CURRENT").read_text(encoding="utf-8").strip()
        if not current:
            return None
        version = directory / current
        manifest = orjson.loads((version / "manifest.json").read_bytes())
        if manifest.get("version") != MANIFEST_VERSION or manifest.get("chunker") != CHUNKER_VERSION:
            return None
        codemap = CodeMap.load(version)
        if codemap is None:
            return None
        rows = orjson.loads((version / "chunks.json").read_bytes())
        index = faiss.read_index(str(version / "index.faiss"))
        vectors = index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, index.d), np.float32)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a damaged version is rebuilt, not fatal
        log.warning("index at %s is unreadable (%s); rebuilding", directory, exc)
        return None
    chunks = [Chunk(str(p), int(s), int(e), str(t), str(sym)) for p, s, e, t, sym in rows]
    if len(chunks) != len(vectors):
        log.warning("index at %s has %d chunks for %d vectors; rebuilding", directory, len(chunks), len(vectors))
        return None
    return _Stored(manifest, chunks, np.ascontiguousarray(vectors, dtype=np.float32), codemap)


def _write_version(
    directory: Path, manifest: dict[str, Any], chunks: Sequence[Chunk], vectors: Any, codemap: CodeMap
) -> None:
    import faiss

    directory.mkdir(parents=True, exist_ok=True)
    name = f"v-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
    tmp = directory / f".tmp-{name}"
    tmp.mkdir()
    try:
        index = faiss.IndexFlatIP(max(int(manifest["embedder"]["dimension"]), 1))
        if len(vectors):
            index.add(vectors)
        faiss.write_index(index, str(tmp / "index.faiss"))
        rows = [[c.path, c.start_line, c.end_line, c.text, c.symbol] for c in chunks]
        _fsync_write(tmp / "chunks.json", orjson.dumps(rows))
        codemap.save(tmp)
        _fsync_write(tmp / "manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        os.rename(tmp, directory / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_text(directory / "CURRENT", name)
    for entry in directory.iterdir():
        if entry.is_dir() and entry.name != name and entry.name.startswith(("v-", ".tmp-")):
            shutil.rmtree(entry, ignore_errors=True)


def _compatible(stored: _Stored | None, embedder: Embedder) -> _Stored | None:
    """The stored version if its vectors fit this embedder (same id, same dimension when known)."""
    if stored is None:
        return None
    info = stored.manifest.get("embedder", {})
    if info.get("id") != embedder.id or (embedder.dimension and info.get("dimension") != embedder.dimension):
        log.warning("stored index (%s) does not fit embedder %s/%d; rebuilding", info, embedder.id, embedder.dimension)
        return None
    return stored


def _fingerprints(root: Path, paths: Sequence[str], old: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """sha256, size and mtime per file; a file whose size and mtime are unchanged keeps its recorded hash."""
    out: dict[str, dict[str, Any]] = {}
    for rel in paths:
        full = root / rel
        try:
            stat = full.stat()
        except OSError:
            continue
        prev = old.get(rel)
        if prev and prev.get("size") == stat.st_size and prev.get("mtime_ns") == stat.st_mtime_ns:
            sha = prev["sha256"]
        else:
            sha = hashlib.sha256(full.read_bytes()).hexdigest()
        out[rel] = {"sha256": sha, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return out


def _chunk_files(
    root: Path, paths: Sequence[str], splitter: TextSplitterConfig, codemap: CodeMap
) -> dict[str, list[Chunk]]:
    out: dict[str, list[Chunk]] = {}
    for rel in paths:
        text = (root / rel).read_bytes().decode("utf-8", errors="replace")
        out[rel] = chunk_file(rel, text, codemap.files.get(rel), splitter.chunk_size, splitter.chunk_overlap)
    return out


async def _embed(embedder: Embedder, chunks: Sequence[Chunk], progress: Progress | None) -> NDArray[np.float32]:
    """Vectors for `chunks` (in order), embedded longest-similar-together in groups, with progress reports."""
    if not chunks:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    texts = [embedding_text(c) for c in chunks]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    parts: list[NDArray[np.float32]] = []
    for start in range(0, len(order), EMBED_GROUP):
        group = order[start : start + EMBED_GROUP]
        parts.append(await embedder.embed([texts[i] for i in group]))
        if progress:
            progress("embed", min(start + EMBED_GROUP, len(order)), len(order))
    sorted_vectors = np.concatenate(parts)
    out = np.empty_like(sorted_vectors)
    out[np.asarray(order, dtype=np.int64)] = sorted_vectors
    return out


def _manifest(
    snapshot: RepoSnapshot, embedder: Embedder, dimension: int, rules: FileRules, config: AppConfig
) -> dict[str, Any]:
    ref = snapshot.ref
    return {
        "version": MANIFEST_VERSION,
        "chunker": CHUNKER_VERSION,
        "repo": {"type": ref.type, "owner": ref.owner, "name": ref.name, "url": ref.url, "ref": ref.ref},
        "commit": snapshot.commit,
        "branch": snapshot.branch,
        "embedder": {"id": embedder.id, "dimension": dimension},
        "filters": rules.filters.model_dump(),
        "max_file_bytes": rules.max_file_bytes,
        "filters_hash": rules_hash(rules),
        "text_splitter": config.embedder.text_splitter.model_dump(),
        "built_at": time.time(),
    }


async def build_index(
    snapshot: RepoSnapshot,
    settings: Settings,
    config: AppConfig,
    *,
    embedder: Embedder | None = None,
    filters: FileFilters | None = None,
    progress: Progress | None = None,
    previous: RepoIndex | None = None,
) -> RepoIndex:
    """Build or update the index of `snapshot`, embedding only what changed since the stored version.

    `previous` (an index of the same key held in memory) is reused, and returned as is when nothing changed,
    so a process that keeps its indexes neither reloads nor rewrites them."""
    from wikismith.rag.embedders import create_embedder

    started = time.perf_counter()
    embedder = embedder or create_embedder(config)
    rules = effective_rules(config, filters)
    key = index_key(snapshot.ref, embedder, rules, config.embedder.text_splitter)
    directory = settings.data.indexes / key
    if previous is not None and previous.key != key:
        previous = None
    report, signature, scanned = await asyncio.to_thread(_scan_or_reuse, snapshot, rules, previous)
    if progress:
        progress("scan", len(report.kept), len(report.kept))
    directory.parent.mkdir(parents=True, exist_ok=True)
    async with AsyncFileLock(directory.parent / f".{key}.lock"):
        if previous is not None:
            stored: _Stored | None = _Stored(
                previous.manifest, previous.chunks, previous.search.vectors, previous.codemap
            )
        else:
            stored = _compatible(await asyncio.to_thread(_read_version, directory), embedder)
        old_files: dict[str, Any] = stored.manifest.get("files", {}) if stored else {}
        prints = await asyncio.to_thread(_fingerprints, snapshot.root, report.kept, old_files)
        changed = [p for p, f in prints.items() if old_files.get(p, {}).get("sha256") != f["sha256"]]
        removed = [p for p in old_files if p not in prints]
        if stored is not None and not changed and not removed and stored.manifest.get("commit") == snapshot.commit:
            index = previous or RepoIndex(
                snapshot,
                embedder,
                stored.chunks,
                await asyncio.to_thread(VectorSearch, stored.vectors),
                report,
                key,
                stored.manifest,
                codemap=stored.codemap,
            )
            index.report, index.snapshot, index.signature = report, snapshot, signature
            for path, facts in prints.items():  # same content; remember new mtimes (in memory) to skip re-hashing
                index.manifest["files"][path].update(facts)
            index.stats = BuildStats(files_reused=len(prints), chunks_reused=len(index.chunks), scanned=scanned)
            index.stats.seconds = time.perf_counter() - started
            return index
        index = await _update(snapshot, config, embedder, rules, directory, stored, prints, changed, report, progress)
    index.signature, index.stats.scanned = signature, scanned
    index.stats.files_removed = len(removed)
    index.stats.seconds = time.perf_counter() - started
    return index


async def _update(
    snapshot: RepoSnapshot,
    config: AppConfig,
    embedder: Embedder,
    rules: FileRules,
    directory: Path,
    stored: _Stored | None,
    prints: dict[str, dict[str, Any]],
    changed: list[str],
    report: FilterReport,
    progress: Progress | None,
) -> RepoIndex:
    """Update the code map, chunk and embed the changed files, merge with the reused rows, write a new version."""
    digests = {path: facts["sha256"] for path, facts in prints.items()}
    old_map = stored.codemap if stored is not None else None
    codemap = await asyncio.to_thread(build_codemap, snapshot.root, list(prints), old_map, digests=digests)
    fresh = await asyncio.to_thread(_chunk_files, snapshot.root, changed, config.embedder.text_splitter, codemap)
    new_chunks = [c for p in changed for c in fresh[p]]
    embed_started = time.perf_counter()
    new_vectors = await _embed(embedder, new_chunks, progress)
    embed_seconds = time.perf_counter() - embed_started
    chunks, vectors, files = _assemble(stored, prints, fresh, new_chunks, new_vectors, embedder.dimension)
    manifest = _manifest(snapshot, embedder, int(vectors.shape[1]), rules, config)
    manifest.update(files=files, chunk_count=len(chunks), skipped=report.skipped)
    if progress:
        progress("write", 0, 1)
    await asyncio.to_thread(_write_version, directory, manifest, chunks, vectors, codemap)
    search = await asyncio.to_thread(VectorSearch, vectors)
    stats = BuildStats(
        files_embedded=len(changed),
        files_reused=len(prints) - len(changed),
        chunks_embedded=len(new_chunks),
        chunks_reused=len(chunks) - len(new_chunks),
        embed_seconds=embed_seconds,
    )
    return RepoIndex(snapshot, embedder, chunks, search, report, directory.name, manifest, stats, codemap=codemap)


def _assemble(
    stored: _Stored | None,
    prints: dict[str, dict[str, Any]],
    fresh: dict[str, list[Chunk]],
    new_chunks: Sequence[Chunk],
    new_vectors: NDArray[np.float32],
    dimension: int,
) -> tuple[list[Chunk], NDArray[np.float32], dict[str, Any]]:
    """Chunks and vectors of every current file in path order: reused rows for unchanged files, new rows for
    changed ones; `files` records each file's rows."""
    new_rows: dict[str, tuple[int, int]] = {}
    offset = 0
    for path, file_chunks in fresh.items():
        new_rows[path] = (offset, len(file_chunks))
        offset += len(file_chunks)
    old_files = stored.manifest.get("files", {}) if stored else {}
    dim = new_vectors.shape[1] if len(new_vectors) else (stored.vectors.shape[1] if stored else dimension)
    chunks: list[Chunk] = []
    pieces: list[NDArray[np.float32]] = []
    files: dict[str, Any] = {}
    for path in sorted(prints):
        if path in new_rows:
            start, count = new_rows[path]
            source_chunks, source_vectors = new_chunks, new_vectors
        else:
            assert stored is not None
            start, count = old_files[path]["start"], old_files[path]["count"]
            source_chunks, source_vectors = stored.chunks, stored.vectors
        if count and source_vectors.shape[1] != dim:
            raise ValueError(f"embedding dimension changed ({source_vectors.shape[1]} -> {dim}); rebuild the index")
        files[path] = {**prints[path], "start": len(chunks), "count": count}
        chunks.extend(source_chunks[start : start + count])
        pieces.append(source_vectors[start : start + count])
    vectors = np.concatenate(pieces) if pieces else np.zeros((0, dim), dtype=np.float32)
    return chunks, np.ascontiguousarray(vectors, dtype=np.float32), files


async def load_index(
    snapshot: RepoSnapshot,
    settings: Settings,
    config: AppConfig,
    *,
    embedder: Embedder,
    filters: FileFilters | None = None,
) -> RepoIndex | None:
    """The stored index for these settings without rescanning or embedding, or None if there is none."""
    rules = effective_rules(config, filters)
    key = index_key(snapshot.ref, embedder, rules, config.embedder.text_splitter)
    stored = _compatible(await asyncio.to_thread(_read_version, settings.data.indexes / key), embedder)
    if stored is None:
        return None
    search = await asyncio.to_thread(VectorSearch, stored.vectors)
    files, skipped = stored.manifest.get("files", {}), stored.manifest.get("skipped", {})
    report = FilterReport(kept=tuple(sorted(files)), skipped=skipped)
    return RepoIndex(snapshot, embedder, stored.chunks, search, report, key, stored.manifest, codemap=stored.codemap)
