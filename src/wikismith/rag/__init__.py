"""Repository RAG: read or clone a repository, filter, chunk, embed (locally by default), index, retrieve.

snapshot = await open_repo("https://github.com/owner/repo", settings, config, ref="v1.2")
index = await build_index(snapshot, settings, config)          # incremental; local MiniLM by default
hits = await index.retrieve("where is auth handled?", k=20)    # ScoredChunk: path, lines, score
index.codemap.lookup("Signer.sign")                             # the code map (tree-sitter facts)

The names below are imported on first use, so that a module of this package (the code map's parser helper
process, for one) can be imported without loading the embedders and the index.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "create_embedder": "embedders",
    "parse_filter_list": "filters",
    "scan_files": "filters",
    "build_index": "index",
    "load_index": "index",
    "RepoIndex": "retriever",
    "format_context": "retriever",
    "group_by_file": "retriever",
    "RepoAuthError": "source",
    "RepoNotFound": "source",
    "SourceError": "source",
    "UnknownRef": "source",
    "UnsafeSource": "source",
    "open_repo": "source",
    "repo_key": "source",
    "Chunk": "types",
    "FilterReport": "types",
    "RepoRef": "types",
    "RepoSnapshot": "types",
    "ScoredChunk": "types",
    "CodeMap": "codemap",
    "Symbol": "codemap",
    "FileFacts": "codemap",
    "build_codemap": "codemap",
}

if TYPE_CHECKING:
    from wikismith.rag.codemap import CodeMap, FileFacts, Symbol, build_codemap
    from wikismith.rag.embedders import create_embedder
    from wikismith.rag.filters import parse_filter_list, scan_files
    from wikismith.rag.index import build_index, load_index
    from wikismith.rag.retriever import RepoIndex, format_context, group_by_file
    from wikismith.rag.source import (
        RepoAuthError,
        RepoNotFound,
        SourceError,
        UnknownRef,
        UnsafeSource,
        open_repo,
        repo_key,
    )
    from wikismith.rag.types import Chunk, FilterReport, RepoRef, RepoSnapshot, ScoredChunk


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'wikismith.rag' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"wikismith.rag.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Chunk",
    "CodeMap",
    "FileFacts",
    "FilterReport",
    "RepoAuthError",
    "RepoIndex",
    "RepoNotFound",
    "RepoRef",
    "RepoSnapshot",
    "ScoredChunk",
    "SourceError",
    "Symbol",
    "UnknownRef",
    "UnsafeSource",
    "build_codemap",
    "build_index",
    "create_embedder",
    "format_context",
    "group_by_file",
    "load_index",
    "open_repo",
    "parse_filter_list",
    "repo_key",
    "scan_files",
]
