"""The repository as a wiki run sees it (snapshot, kept files, retriever, README) and what the chosen model
allows (excerpt budget from its context window, concurrency from its provider's limits)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from wikismith.llm.base import Embedder
from wikismith.rag.types import RepoSnapshot, Retriever
from wikismith.redact import redact
from wikismith.wiki.progress import Progress, ProgressCallback

if TYPE_CHECKING:
    from wikismith.config.models import AppConfig
    from wikismith.config.schemas import FileFilters
    from wikismith.config.settings import Settings

DEFAULT_CONTEXT_CHARS = 24_000


@dataclass(frozen=True, slots=True)
class PreparedRepo:
    """A repository ready for a run. `owned` is an embedder `prepare_repo` created, closed by `aclose()`."""

    snapshot: RepoSnapshot
    files: tuple[str, ...]
    retriever: Retriever
    readme: str = ""
    owned: Embedder | None = None
    skipped: dict[str, int] = field(default_factory=dict)  # files left out of the index, per reason

    async def aclose(self) -> None:
        if self.owned is not None:
            await self.owned.aclose()


def context_budget(config: AppConfig, model_name: str) -> int:
    """Characters of retrieved excerpts per page: about a third of the model's configured context window
    (`num_ctx`/`context_window`, ~3.5 characters a token), at most DEFAULT_CONTEXT_CHARS."""
    from wikismith.config.models import ConfigError

    try:
        window = config.resolve_name(model_name).params.get("context_window")
    except ConfigError:
        return DEFAULT_CONTEXT_CHARS
    if not isinstance(window, int) or window <= 0:
        return DEFAULT_CONTEXT_CHARS
    return max(2_000, min(DEFAULT_CONTEXT_CHARS, int(window * 0.35 * 3.5)))


def concurrency_for(config: AppConfig, model_name: str, wanted: int) -> int:
    """`wanted`, capped by the provider's `limits.max_concurrent` (pages beyond it would only wait for a slot
    and could time out in the router's limiter)."""
    from wikismith.config.models import ConfigError

    try:
        limit = config.resolve_name(model_name).provider.limits.max_concurrent
    except ConfigError:
        return wanted
    return min(wanted, limit) if limit else wanted


def find_readme(root: Path, files: tuple[str, ...], max_chars: int = 20_000) -> str:
    """The README nearest the top of the tree, read as text (empty when there is none)."""
    readmes = sorted(
        (f for f in files if PurePosixPath(f).name.lower().startswith("readme")), key=lambda f: (f.count("/"), len(f))
    )
    for name in readmes:
        try:
            return (root / name).read_text(encoding="utf-8", errors="replace")[:max_chars]
        except OSError:
            continue
    return ""


async def prepare_repo(
    settings: Settings,
    config: AppConfig,
    source: str,
    *,
    ref: str | None = None,
    repo_type: str | None = None,
    access_token: str | None = None,
    embedder: Embedder | None = None,
    filters: FileFilters | None = None,
    local_roots: Sequence[Path] | None = None,
    progress: ProgressCallback | None = None,
) -> PreparedRepo:
    """Open (or clone) the repository, list its files and build (or reuse) its index. `filters` are added to
    repo.json's; `local_roots` bound local directories (None: any, as the CLI allows)."""
    from wikismith.rag import build_index, create_embedder, open_repo

    emit = progress or (lambda _: None)
    emit(Progress("stage", f"opening {redact(source)}"))
    snapshot = await open_repo(
        source, settings, config, ref=ref, repo_type=repo_type, access_token=access_token, local_roots=local_roots
    )
    emit(Progress("stage", "indexing the repository"))
    owned = None if embedder is not None else create_embedder(config)
    try:
        index = await build_index(snapshot, settings, config, embedder=embedder or owned, filters=filters)
    except BaseException:
        if owned is not None:
            await owned.aclose()
        raise
    files = tuple(sorted(index.report.kept))
    readme = find_readme(snapshot.root, files)
    return PreparedRepo(snapshot, files, index, readme, owned, skipped=dict(index.report.skipped))
