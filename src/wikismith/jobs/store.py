"""Where job records and their events are kept: the `JobStore` Protocol and its file-backed implementation.

A store belongs to one `JobQueue` at a time, in one process: `load` claims it (`StoreBusy` when another queue
holds it: two servers on one data directory would otherwise both resume the same jobs), `close` lets it go. The
queue writes through its single writer task, so calls never overlap. Another backend (Postgres,
`wikismith.backends`) implements the same four methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Protocol

from pydantic import ValidationError

from wikismith.jobs.model import Job, JobEvent
from wikismith.storage import atomic_write_bytes

log = logging.getLogger("wikismith.jobs")

JOB_ID = re.compile(r"[0-9a-f]{8,40}")


class StoreBusy(Exception):
    """Another queue (another server process on the same data directory) holds the store."""


class JobStore(Protocol):
    async def load(self) -> list[tuple[Job, list[JobEvent]]]:
        """Claim the store (StoreBusy when another queue holds it), then every stored job with its events in
        `seq` order, oldest job first."""
        ...

    async def close(self) -> None:
        """Let the store go (another queue may claim it)."""
        ...

    async def save(self, job: Job, events: Sequence[JobEvent]) -> None:
        """Record `job` as it stands, with `events` (in order) added after those already stored."""
        ...

    async def delete(self, job_id: str) -> None:
        """Forget the job and its events (nothing when unknown)."""
        ...


class FileJobStore:
    """`<root>/<id>.json` (the record, replaced atomically) and `<root>/<id>.events.jsonl` (one event a line,
    appended with one `write` per batch; a line cut short by a crash is dropped when read back)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._claim: IO[str] | None = None

    async def load(self) -> list[tuple[Job, list[JobEvent]]]:
        self._take()
        return await asyncio.to_thread(self._load)

    async def close(self) -> None:
        claim, self._claim = self._claim, None
        if claim is not None:
            claim.close()  # the lock goes with the descriptor (and with the process, however it ends)

    def _take(self) -> None:
        if self._claim is not None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        claim = open(self.root / ".lock", "a+")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(claim.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            claim.close()
            raise StoreBusy(f"another wikismith server runs the jobs of {self.root}") from None
        self._claim = claim

    async def save(self, job: Job, events: Sequence[JobEvent]) -> None:
        await asyncio.to_thread(self._save, job, events)

    async def delete(self, job_id: str) -> None:
        await asyncio.to_thread(self._delete, job_id)

    def _record(self, job_id: str) -> Path:
        if not JOB_ID.fullmatch(job_id):  # ids name files: never a path
            raise ValueError(f"not a job id: {job_id!r}")
        return self.root / f"{job_id}.json"

    def _log(self, job_id: str) -> Path:
        return self._record(job_id).with_suffix(".events.jsonl")

    def _save(self, job: Job, events: Sequence[JobEvent]) -> None:
        if events:
            lines = b"".join(e.model_dump_json().encode() + b"\n" for e in events)
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._log(job.id), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, lines)
            finally:
                os.close(fd)
        # Durable on every change of state; progress in between may be lost to a power cut (not to a kill).
        durable = any(e.kind in ("queued", "started", "finished", "failed", "cancelled", "interrupted") for e in events)
        atomic_write_bytes(self._record(job.id), job.model_dump_json(indent=1).encode(), durable=durable)

    def _delete(self, job_id: str) -> None:
        for path in (self._record(job_id), self._log(job_id)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _load(self) -> list[tuple[Job, list[JobEvent]]]:
        found: list[tuple[Job, list[JobEvent]]] = []
        for path in sorted(self.root.glob("*.json")):
            if not JOB_ID.fullmatch(path.stem):
                continue
            try:
                job = Job.model_validate_json(path.read_bytes())
            except (OSError, ValidationError, ValueError) as exc:
                log.warning("ignoring unreadable job record %s: %s", path, exc)
                continue
            found.append((job, self._events(job.id)))
        return sorted(found, key=lambda pair: (pair[0].created, pair[0].id))

    def _events(self, job_id: str) -> list[JobEvent]:
        try:
            raw = self._log(job_id).read_bytes()
        except FileNotFoundError:
            return []
        events: list[JobEvent] = []
        for line in raw.splitlines():
            try:
                event = JobEvent.model_validate_json(line)
            except ValidationError:
                continue  # a line cut short by a crash
            if not events or event.seq > events[-1].seq:
                events.append(event)
        return events
