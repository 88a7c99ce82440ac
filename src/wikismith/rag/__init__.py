"""Repository RAG: read or clone a repository, filter, chunk, embed (locally by default), index, retrieve.

snapshot = await open_repo("https://github.com/owner/repo", settings, config, ref="v1.2")
index = await build_index(snapshot, settings, config)          # incremental; local MiniLM by default
hits = await index.retrieve("where is auth handled?", k=20)    # ScoredChunk: path, lines, score
"""

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

__all__ = [
    "Chunk",
    "FilterReport",
    "RepoAuthError",
    "RepoIndex",
    "RepoNotFound",
    "RepoRef",
    "RepoSnapshot",
    "ScoredChunk",
    "SourceError",
    "UnknownRef",
    "UnsafeSource",
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
