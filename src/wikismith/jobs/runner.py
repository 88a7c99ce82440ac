"""One run of a job: the wiki run (`wiki.run.run_wiki`, as `wikismith generate` runs it), its progress folded
into the job's record and reported as events."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wikismith.config.models import AppConfig
from wikismith.config.settings import Settings
from wikismith.jobs.model import EventKind, Job, PageState
from wikismith.jobs.target import JobTarget
from wikismith.llm.base import ChatModel, Embedder
from wikismith.wiki.generator import RunSummary
from wikismith.wiki.manifest import load_manifest
from wikismith.wiki.progress import Progress
from wikismith.wiki.run import run_wiki
from wikismith.wiki.store import WikiStore

Emit = Callable[..., None]  # emit(kind, *, message=None, page_id=None, title=None, error=None)


@dataclass(frozen=True, slots=True)
class JobContext:
    """What every job runs with: the model (the server's router), settings, configuration, the wiki cache, and
    the embedder to index with (a function giving the one the server shares; None: one per run, closed after)."""

    model: ChatModel
    settings: Settings
    config: AppConfig
    wikis: WikiStore
    embedder: Callable[[], Embedder] | None = None


async def run_job(job: Job, target: JobTarget, token: str | None, context: JobContext, emit: Emit) -> RunSummary:
    """Run (or continue) `job`'s wiki; `job` is updated as the run goes and `emit` called for each step."""
    fold = ProgressFold(job, target.out, emit)
    source = target.source(job.spec, context.settings, token)
    summary = await run_wiki(
        context.model,
        context.settings,
        context.config,
        source,
        target.options,
        out=target.out,
        store=context.wikis,
        progress=fold,
        embedder=context.embedder() if context.embedder is not None else None,
    )
    fold.finish(summary)
    return summary


class ProgressFold:
    """Folds a run's `Progress` into the job. Tokens, cost and wall time add to what earlier runs of the job
    spent; page counts are the wiki's (pages kept from earlier runs count as done)."""

    def __init__(self, job: Job, out: Path, emit: Emit) -> None:
        self.job = job
        self.out = out
        self.emit = emit
        self.tokens, self.cost, self.wall_time = job.tokens, job.cost, job.wall_time
        self.started = time.monotonic()

    def __call__(self, progress: Progress) -> None:
        job = self.job
        self._count(progress)
        kind = progress.kind
        if kind in ("stage", "files"):
            job.stage = progress.message
            self.emit("stage", message=progress.message)
        elif kind == "structure":
            job.stage = progress.message
            job.pages = self._pages()
            self.emit("structure", message=progress.message)
        elif kind in ("page_started", "page_done", "page_failed") and progress.page_id is not None:
            self._page(kind, progress.page_id, progress.message)
        # "finished": the queue reports the end itself, once the run has returned and closed what it opened

    def finish(self, summary: RunSummary) -> None:
        job, tally = self.job, summary.tally
        job.total, job.done, job.failed = summary.total, summary.written + summary.reused, len(summary.failed)
        job.tokens = self.tokens + tally.tokens
        if tally.cost_known:
            job.cost = (self.cost or 0.0) + tally.cost
        job.wall_time = self.wall_time + summary.wall_time

    def _count(self, progress: Progress) -> None:
        job = self.job
        if progress.total:  # from the structure on; before it, the counts of earlier runs stand
            job.total, job.done, job.failed = progress.total, progress.done, progress.failed
        job.tokens = self.tokens + progress.tokens
        if progress.cost is not None:
            job.cost = (self.cost or 0.0) + progress.cost
        job.wall_time = self.wall_time + (time.monotonic() - self.started)

    def _pages(self) -> list[PageState]:
        """The wiki's pages as the manifest (just written) has them: done ones kept, the rest to generate."""
        manifest = load_manifest(self.out)
        if manifest is None:
            return []
        todo = set(manifest.missing(self.out))
        return [
            PageState(id=page.id, title=page.title, state="pending" if page.id in todo else "done")
            for page in manifest.structure.pages
        ]

    def _page(self, kind: EventKind, page_id: str, message: str) -> None:
        page = self.job.page(page_id)
        if page is None:
            page = PageState(id=page_id, title=message)
            self.job.pages.append(page)
        error = None
        if kind == "page_failed":
            error = message.removeprefix(f"{page.title}: ")
        page.state = {"page_started": "running", "page_done": "done"}.get(kind, "failed")  # type: ignore[assignment]
        page.error = error
        self.emit(kind, page_id=page_id, title=page.title, error=error)
