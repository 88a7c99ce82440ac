"""The job queue: starts wiki generation jobs in order, at most `max_jobs` at once, one per wiki key; follows,
cancels and resumes them; keeps their records and events in a `JobStore`.

    async with JobQueue(JobContext(router, settings, config, WikiStore(...)), FileJobStore(root)) as jobs:
        job, existing = await jobs.start(JobSpec(repo="https://github.com/o/r"))
        async for event in jobs.events(job.id):   # past events, then live ones; ends after the last
            ...

Restart: a job that was running (or waiting) when the server stopped, cleanly or not, is found when the queue
opens and resumed at once, in its order, from its wiki's manifest (finished pages are never generated again).
Not automatically when its access token would be needed (tokens are never kept) or after 3 interruptions
(a job that brings the server down must not do so forever); it then stays `interrupted` until resumed by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from wikismith.config.models import ConfigError
from wikismith.jobs.model import RESUMABLE, EventKind, Job, JobEvent, JobSpec, JobState, now
from wikismith.jobs.runner import JobContext, run_job
from wikismith.jobs.store import JobStore
from wikismith.jobs.target import JobRejected, resolve_target
from wikismith.redact import redact, register_secret
from wikismith.wiki.generator import RunSummary

log = logging.getLogger("wikismith.jobs")

MAX_AUTO_RESUMES = 3
_STOPPED = "the server stopped while the job was running"


class JobNotFound(LookupError):
    """No job has that id."""


class JobConflict(Exception):
    """The job's state does not allow it (resume a finished job, cancel an ended one, resume a wiki that another
    job is writing)."""


def max_jobs_setting(env: Mapping[str, str]) -> int:
    """WIKISMITH_MAX_JOBS: how many jobs run at once (default 1); ConfigError unless a positive integer."""
    raw = env.get("WIKISMITH_MAX_JOBS", "").strip()
    if not raw:
        return 1
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"WIKISMITH_MAX_JOBS must be a positive integer, got {raw!r}")
    return int(raw)


def new_id() -> str:
    """Hex, in the order jobs were created (milliseconds), then random."""
    return f"{time.time_ns() // 1_000_000:011x}{secrets.token_hex(4)}"


@dataclass(eq=False)
class _Entry:
    job: Job
    events: list[JobEvent]
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    token: SecretStr | None = None  # only while the job waits or runs
    task: asyncio.Task[None] | None = None
    stop: str | None = None  # why its task was cancelled: "cancel" or "shutdown"
    unsaved: list[JobEvent] = field(default_factory=list)


class JobQueue:
    def __init__(self, context: JobContext, store: JobStore, *, max_jobs: int = 1, keep: int = 200) -> None:
        if max_jobs < 1:
            raise ValueError("max_jobs must be at least 1")
        self.context = context
        self.store = store
        self.max_jobs = max_jobs
        self.keep = keep  # ended jobs remembered (the newest); older ones are forgotten when the queue opens
        self._entries: dict[str, _Entry] = {}
        self._waiting: deque[str] = deque()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._dirty: dict[str, _Entry] = {}
        self._wanted = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._writer: asyncio.Task[None] | None = None
        self._closed = False

    async def __aenter__(self) -> JobQueue:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- life ---------------------------------------------------------------------------------------------------

    async def open(self) -> None:
        """Load the stored jobs, forget the oldest ended ones, and resume those the last server left running.
        StoreBusy when another queue (another server on the same data directory) has the store."""
        for job, events in await self.store.load():
            self._entries[job.id] = _Entry(job, events)
        await self._prune()
        for entry in list(self._entries.values()):
            self._recover(entry)
        self._writer = asyncio.create_task(self._write_loop(), name="job-records")
        self._pump()

    async def aclose(self, timeout: float = 10.0) -> None:
        """Stop: running jobs are cancelled and marked `interrupted` (resumed when a queue opens again), waiting
        ones stay queued; every record is written before this returns."""
        self._closed = True
        tasks = list(self._running.values())
        for entry in self._entries.values():
            if entry.task is not None:
                entry.stop = "shutdown"
                entry.task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        for entry in self._entries.values():
            self._settle(entry)
            entry.wake.set()  # followers end
        await self._flush()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await self.store.close()

    def _recover(self, entry: _Entry) -> None:
        job = entry.job
        was = job.state
        if was not in ("queued", "running") and not job.resume_on_start:
            return
        job.resume_on_start = False
        if was == "running":  # the server died under it
            job.interruptions += 1
        reason = None
        if job.uses_token:
            reason = "the server restarted and the access token is never kept: resume the job with the token"
        elif job.interruptions >= MAX_AUTO_RESUMES:
            reason = f"interrupted {job.interruptions} times with the server: not resumed automatically"
        if was == "running" or reason is not None:
            self._end(entry, "interrupted", "interrupted", error=f"{_STOPPED}; {reason}" if reason else _STOPPED)
        if reason is None:
            job.state, job.error, job.finished = "queued", None, None
            self._emit(entry, "queued", message="resumed after the server restarted")
            self._waiting.append(job.id)

    async def _prune(self) -> None:
        ended = sorted((e.job for e in self._entries.values() if not e.job.active), key=lambda j: (j.created, j.id))
        for job in ended[: max(0, len(ended) - self.keep)]:
            del self._entries[job.id]
            await self.store.delete(job.id)

    # --- requests -----------------------------------------------------------------------------------------------

    async def start(self, spec: JobSpec) -> tuple[Job, bool]:
        """A new job for `spec`, or (True) the job already waiting or running for the same wiki. JobRejected
        for a spec that cannot run (checked before anything is stored)."""
        if self._closed:
            raise JobConflict("the server is shutting down; start the job again once it is back")
        target = resolve_target(spec, self.context.settings, self.context.config)
        running = self._active(target.key)
        if running is not None:
            return running.job.model_copy(deep=True), True
        uses_token = spec.token is not None and target.ref.local_path is None
        job = Job(
            id=new_id(), key=target.key, spec=spec, model_name=target.model, wiki=target.wiki, uses_token=uses_token
        )
        entry = _Entry(job, [], token=spec.token if uses_token else None)
        self._entries[job.id] = entry
        self._queue(entry, "queued")
        return job.model_copy(deep=True), False

    def get(self, job_id: str) -> Job | None:
        entry = self._entries.get(job_id)
        return entry.job.model_copy(deep=True) if entry is not None else None

    def list(self) -> list[Job]:
        """Every remembered job, newest first."""
        jobs = sorted((e.job for e in self._entries.values()), key=lambda j: (j.created, j.id), reverse=True)
        return [job.model_copy(deep=True) for job in jobs]

    async def cancel(self, job_id: str) -> Job:
        entry = self._entry(job_id)
        job = entry.job
        if job.state == "running" and entry.task is not None:
            entry.stop = "cancel"
            task = entry.task
            task.cancel()
            await asyncio.wait({task})
            self._settle(entry)
        elif job.state in ("queued", "interrupted"):
            with contextlib.suppress(ValueError):
                self._waiting.remove(job.id)
            job.resume_on_start = False
            entry.token = None
            self._end(entry, "cancelled", "cancelled")
        else:
            raise JobConflict(f"job {job_id} is {job.state}: there is nothing to cancel")
        return job.model_copy(deep=True)

    async def resume(self, job_id: str, token: SecretStr | None = None) -> Job:
        """Queue a failed, cancelled or interrupted job again (a waiting or running one is returned as it is).
        `token`: the access token, needed again for a job that used one."""
        entry = self._entry(job_id)
        job = entry.job
        if job.active:
            return job.model_copy(deep=True)
        if job.state not in RESUMABLE:
            raise JobConflict(f"job {job_id} is {job.state}: nothing to resume (start a new job to regenerate)")
        if self._closed:
            raise JobConflict("the server is shutting down; resume the job once it is back")
        other = self._active(job.key)
        if other is not None:
            raise JobConflict(f"job {other.job.id} is already {other.job.state} for this wiki")
        if job.uses_token and token is None:
            raise JobRejected(
                "this job used an access token, which is never kept: resume it with the token again", "token"
            )
        resolve_target(job.spec, self.context.settings, self.context.config)  # the configuration may have changed
        entry.token = token if job.uses_token else None
        job.resume_on_start = False
        self._queue(entry, "resumed")
        return job.model_copy(deep=True)

    async def events(self, job_id: str, after: int = 0) -> AsyncIterator[JobEvent]:
        """The job's events after `seq` `after`: those past, then live ones; ends once the job is neither waiting
        nor running and every event has been given (JobNotFound for an unknown id, raised at the first step)."""
        entry = self._entry(job_id)
        while True:
            wake = entry.wake
            pending = [e for e in entry.events if e.seq > after]
            for event in pending:
                yield event
                after = event.seq
            if pending:
                continue
            if not entry.job.active or self._closed:
                return
            await wake.wait()

    # --- running ------------------------------------------------------------------------------------------------

    def _entry(self, job_id: str) -> _Entry:
        entry = self._entries.get(job_id)
        if entry is None:
            raise JobNotFound(f"no job {job_id!r}")
        return entry

    def _active(self, key: str) -> _Entry | None:
        return next((e for e in self._entries.values() if e.job.key == key and e.job.active), None)

    def _queue(self, entry: _Entry, message: str) -> None:
        job = entry.job
        job.state, job.error, job.finished = "queued", None, None
        ahead = len(self._running) + len(self._waiting)
        self._emit(entry, "queued", message=f"{message}; {ahead} ahead of it" if ahead else message)
        self._waiting.append(job.id)
        self._pump()

    def _pump(self) -> None:
        while not self._closed and self._waiting and len(self._running) < self.max_jobs:
            entry = self._entries.get(self._waiting.popleft())
            if entry is None or entry.job.state != "queued":
                continue
            entry.job.state = "running"
            entry.stop = None
            task = asyncio.create_task(self._run(entry), name=f"job-{entry.job.id}")
            entry.task = task
            self._running[entry.job.id] = task
            task.add_done_callback(lambda done, entry=entry: self._settle(entry, done))  # type: ignore[misc]

    async def _run(self, entry: _Entry) -> None:
        job = entry.job
        job.started, job.finished, job.error = now(), None, None
        job.runs += 1
        self._emit(entry, "started", message=f"run {job.runs} with {job.model_name}")
        token = entry.token.get_secret_value() if entry.token is not None else None
        register_secret(token)  # whatever a failure says, it never shows the token
        try:
            target = resolve_target(job.spec, self.context.settings, self.context.config)
            summary = await run_job(job, target, token, self.context, lambda kind, **f: self._emit(entry, kind, **f))
        except asyncio.CancelledError:
            self._stopped(entry)
        except Exception as exc:  # the job fails with the reason; the queue goes on
            log.warning("job %s failed: %s", job.id, redact(str(exc)), exc_info=log.isEnabledFor(logging.DEBUG))
            self._end(entry, "failed", "failed", error=redact(str(exc)) or type(exc).__name__)
        else:
            problem = _incomplete(job, summary)
            if problem:
                self._end(entry, "failed", "failed", error=problem)
            else:
                self._end(entry, "done", "finished", message=f"{summary.total} pages")

    def _stopped(self, entry: _Entry) -> None:
        """The job's task was cancelled: by `cancel`, or by the server stopping."""
        if entry.stop == "cancel":
            self._end(entry, "cancelled", "cancelled")
            return
        entry.job.interruptions += 1
        entry.job.resume_on_start = True
        self._end(entry, "interrupted", "interrupted", error=_STOPPED)

    def _settle(self, entry: _Entry, task: asyncio.Task[None] | None = None) -> None:
        """Once the job's task has ended, however it ended (also before it ran at all): recorded, forgotten by the
        running set, its token dropped, the next job started. Idempotent."""
        task = task or entry.task
        if task is None or not task.done():
            return
        if entry.task is task:
            if entry.job.state == "running":  # cancelled before its first step
                self._stopped(entry)
            entry.task = None
            entry.token = None
        if self._running.get(entry.job.id) is task:
            del self._running[entry.job.id]
        self._pump()

    def _end(self, entry: _Entry, state: JobState, kind: EventKind, **fields: str | None) -> None:
        job = entry.job
        job.state, job.finished, job.error, job.stage = state, now(), fields.get("error"), None
        job.wall_time = round(job.wall_time, 3)
        self._emit(entry, kind, **fields)

    def _emit(self, entry: _Entry, kind: EventKind, **fields: Any) -> None:
        seq = entry.events[-1].seq + 1 if entry.events else 1
        event = JobEvent.of(entry.job, seq, kind, **fields)
        entry.events.append(event)
        entry.unsaved.append(event)
        entry.wake.set()
        entry.wake = asyncio.Event()
        self._dirty[entry.job.id] = entry
        self._wanted.set()

    # --- records ------------------------------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            await self._flush()

    async def _flush(self) -> None:
        async with self._write_lock:
            while self._dirty:
                dirty, self._dirty = self._dirty, {}
                for entry in dirty.values():
                    events, entry.unsaved = entry.unsaved, []
                    try:
                        await self.store.save(entry.job.model_copy(deep=True), events)
                    except Exception as exc:  # a full disk costs the record, never the job
                        log.warning("could not record job %s: %s", entry.job.id, exc)


def _incomplete(job: Job, summary: RunSummary) -> str | None:
    """Why a run that returned did not finish the wiki (None: every page is done)."""
    if summary.failed:
        page_id, reason = next(iter(summary.failed.items()))
        page = job.page(page_id)
        title = page.title if page is not None else page_id
        return (
            f"{len(summary.failed)} of {summary.total} pages failed; resume the job to retry them"
            f" (first: {title}: {reason})"
        )
    if summary.pending:
        stopped = f" ({summary.stopped})" if summary.stopped else ""
        return f"{len(summary.pending)} pages not generated{stopped}; resume the job to continue"
    return None
