"""Values that cross the RAG layer's boundary: a repository snapshot, chunks with line numbers, hits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

RepoType = Literal["github", "gitlab", "bitbucket", "local"]


@dataclass(frozen=True, slots=True)
class RepoRef:
    """Which repository, as the user named it. `url` is a clean https URL (never with credentials) or None for
    a local directory; `owner`/`name` identify it in caches (`local` owner for local paths)."""

    type: RepoType
    owner: str
    name: str
    url: str | None = None
    local_path: Path | None = None
    ref: str | None = None  # branch, tag or commit asked for


@dataclass(frozen=True, slots=True)
class RepoSnapshot:
    """A repository on disk at a known commit: `root` is the work tree; `commit` may be None for a plain
    directory that is not a git repository; `branch` is the branch/tag name when known (for forge links)."""

    ref: RepoRef
    root: Path
    commit: str | None = None
    branch: str | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of one file. Lines are 1-based and inclusive, so `path:start_line-end_line` is a true citation.
    `symbol` is the code map's path of the symbol the chunk is in (`src/pkg/signer.py::Signer.sign`), "" when it
    is in none (module-level lines, files without a code map entry)."""

    path: str  # relative to the repository root, POSIX separators
    start_line: int
    end_line: int
    text: str
    symbol: str = ""


@dataclass(frozen=True, slots=True)
class ScoredChunk:
    chunk: Chunk
    score: float


@dataclass(frozen=True, slots=True)
class FilterReport:
    """What a scan kept and skipped, with a count per skip reason (e.g. 'excluded_dir', 'binary', 'too_large')."""

    kept: tuple[str, ...]
    skipped: dict[str, int] = field(default_factory=dict)


class Retriever(Protocol):
    """Search one repository's index."""

    async def retrieve(self, query: str, k: int = 20, *, paths: list[str] | None = None) -> list[ScoredChunk]:
        """The `k` chunks most similar to `query`, best first; restricted to `paths` when given."""
        ...
