"""One wiki run, from a repository's name to its finished wiki: open (or clone) and index the repository, then
`generate_wiki` into the output directory and the wiki cache. `wikismith generate` and the server's generation
jobs (`wikismith.jobs`) both run through here, so they prepare a repository and write a wiki the same way.

    source = WikiSource("https://github.com/o/r", access_token=token)
    options = wiki_options(config, config.choose("openrouter", None), language="en")
    summary = await run_wiki(router, settings, config, source, options, store=WikiStore(...), progress=print)

Raises what its steps raise: `SourceError` (the repository cannot be opened), `NothingToDocument` (no file was
indexed), `StructureError`, `RunLocked`/`OutputError` (the output directory), `LLMError`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from wikismith.llm.base import ChatModel, Embedder
from wikismith.redact import redact
from wikismith.wiki.generator import RunSummary, WikiOptions, concurrency_for, context_budget, generate_wiki
from wikismith.wiki.progress import Progress, ProgressCallback
from wikismith.wiki.repository import prepare_repo
from wikismith.wiki.store import WikiStore

if TYPE_CHECKING:
    from wikismith.config.models import AppConfig
    from wikismith.config.schemas import FileFilters
    from wikismith.config.settings import Settings


class NothingToDocument(ValueError):
    """No file of the repository was indexed (all filtered out, or binary): there is nothing to write about."""


@dataclass(frozen=True, slots=True)
class WikiSource:
    """Where the wiki's repository comes from. `access_token` is used for the clone only, never stored.
    `local_roots`: the directories a local repository must lie under (None: anywhere, as the CLI allows).
    `filters` are added to repo.json's; `embedder` names an embedder.json entry (None: its default)."""

    repo: str
    ref: str | None = None
    repo_type: str | None = None
    access_token: str | None = field(default=None, repr=False)
    embedder: str | None = None
    filters: FileFilters | None = None
    local_roots: tuple[Path, ...] | None = None


def wiki_options(
    config: AppConfig,
    model: str,
    *,
    language: str | None = None,
    comprehensive: bool = False,
    concurrency: int = 4,
    budget: float | None = None,
    fallback_structure: bool | None = None,
) -> WikiOptions:
    """The run's options for the router's model name `model`: concurrency capped by its provider's limits, the
    excerpt budget from its context window. ConfigError for a language lang.json does not list."""
    return WikiOptions(
        model=model,
        language=config.language(language),
        comprehensive=comprehensive,
        concurrency=concurrency_for(config, model, concurrency),
        budget=budget,
        fallback_structure=fallback_structure,
        context_chars=context_budget(config, model),
    )


def files_line(kept: tuple[str, ...], skipped: dict[str, int]) -> str:
    """What was read and what was left out, by reason (DeepWiki skipped files without a word)."""
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(skipped.items()) if count)
    return f"files: {len(kept)} indexed, {sum(skipped.values())} skipped" + (f" ({reasons})" if reasons else "")


async def run_wiki(
    model: ChatModel,
    settings: Settings,
    config: AppConfig,
    source: WikiSource,
    options: WikiOptions,
    *,
    out: Path | None = None,
    store: WikiStore | None = None,
    progress: ProgressCallback | None = None,
    embedder: Embedder | None = None,
) -> RunSummary:
    """Run (or resume) the wiki of `source` into `out` (default: the data directory's `wikis/<repo key>`), and
    into `store` once every page is done. The summary's wall time includes opening and indexing. `embedder`: one
    the caller shares and closes (default: `source.embedder`'s, made and closed here)."""
    from wikismith.rag import create_embedder, repo_key

    started = time.perf_counter()
    emit = progress or (lambda _: None)
    owned = create_embedder(config, source.embedder) if embedder is None and source.embedder else None
    embedder = embedder or owned
    try:
        repo = await prepare_repo(
            settings,
            config,
            source.repo,
            ref=source.ref,
            repo_type=source.repo_type,
            access_token=source.access_token,
            embedder=embedder,
            filters=source.filters,
            local_roots=source.local_roots,
            progress=progress,
        )
        try:
            emit(Progress("files", files_line(repo.files, repo.skipped)))
            if not repo.files:  # DeepWiki went on to fail with "No valid document embeddings"
                raise NothingToDocument(
                    f"no file of {redact(source.repo)} was indexed, nothing to document; check the filters"
                )
            target = out or settings.data.wikis / repo_key(repo.snapshot.ref)
            language_name = config.lang.supported_languages[options.language]
            summary = await generate_wiki(
                model, repo, target, options, language_name=language_name, store=store, progress=progress
            )
        finally:
            await repo.aclose()
    finally:
        if owned is not None:
            await owned.aclose()
    summary.wall_time = time.perf_counter() - started
    return summary
