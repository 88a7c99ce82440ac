"""Wiki generation jobs over HTTP, on `wikismith.jobs.JobQueue` (owned by the app's lifespan).

    POST /api/jobs                 JobSpec -> 202 {"job"} (new) or 200 {"job", "existing": true} (one is already
                                   waiting or running for that wiki); 400/404/422 with `detail` before any work
    GET  /api/jobs                 {"jobs": [...]}, newest first
    GET  /api/jobs/{id}            the job
    GET  /api/jobs/{id}/events     text/event-stream: `id: <seq>`, `event: <kind>`, `data: <JobEvent JSON>`; past
                                   events first, then live ones; ends after the job's last event. `Last-Event-ID`
                                   (or `?after=`) resumes after that seq. A comment every 15 s keeps it open.
    POST /api/jobs/{id}/cancel     {"job"}; 409 when it has already ended
    POST /api/jobs/{id}/resume     optional body {"token"}; {"job"}; 409 when done or another job has the wiki

Starting, cancelling and resuming need a credential when one is configured (a gateway key from
WIKISMITH_API_KEYS, or DeepWiki's auth code), as other writes do. No response ever holds the access token.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.responses import Response

from wikismith.jobs import JOB_ID, Job, JobConflict, JobEvent, JobNotFound, JobQueue, JobRejected, JobSpec
from wikismith.server.deps import ServerState, read_body, state
from wikismith.server.errors import HTTPProblem
from wikismith.server.schemas import openapi_body, parse_body
from wikismith.server.streaming import StreamResponse

router = APIRouter(tags=["Generation jobs"])
AuthCode = Annotated[str | None, Query(max_length=1000)]
KEEPALIVE = 15.0
_JSON = "application/json"


class ResumeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: SecretStr | None = Field(None, max_length=4096, description="the access token, if the job used one")


def queue(server: ServerState) -> JobQueue:
    if server.jobs is None:
        raise HTTPProblem(
            503,
            "generation jobs run in another server process on this data directory (WIKISMITH_HOME); with"
            " several workers, run the jobs on a server with one",
            code="jobs_unavailable",
        )
    return server.jobs


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=_JSON)


def _job(job: Job) -> dict[str, Any]:
    return job.model_dump(mode="json")  # the spec's token is excluded by its field


def _found(server: ServerState, job_id: str) -> Job:
    job = queue(server).get(job_id) if JOB_ID.fullmatch(job_id) else None
    if job is None:
        raise HTTPProblem(404, f"no job {job_id[:80]!r}", code="job_not_found", param="id")
    return job


def _refused(exc: JobRejected | JobConflict | JobNotFound) -> HTTPProblem:
    if isinstance(exc, JobRejected):
        status = 404 if exc.missing else 400
        return HTTPProblem(status, str(exc), code="invalid_job", param=exc.field)
    if isinstance(exc, JobNotFound):
        return HTTPProblem(404, str(exc), code="job_not_found", param="id")
    return HTTPProblem(409, str(exc), code="job_conflict")


@router.post("/api/jobs", status_code=202, openapi_extra=openapi_body(JobSpec), summary="Start generating a wiki")
async def start_job(request: Request, authorization_code: AuthCode = None) -> Response:
    server = state(request)
    server.auth.write(request.headers, authorization_code)
    spec = parse_body(JobSpec, await read_body(request), status=422)
    try:
        job, existing = await queue(server).start(spec)
    except (JobRejected, JobConflict) as exc:
        raise _refused(exc) from None
    if existing:
        return _json({"job": _job(job), "existing": True})
    return _json({"job": _job(job)}, status=202)


@router.get("/api/jobs", summary="Jobs, newest first")
async def list_jobs(request: Request) -> Response:
    return _json({"jobs": [_job(job) for job in queue(state(request)).list()]})


@router.get("/api/jobs/{job_id}", summary="A job's state and counters")
async def get_job(request: Request, job_id: str) -> Response:
    return _json(_job(_found(state(request), job_id)))


@router.post("/api/jobs/{job_id}/cancel", summary="Cancel a waiting or running job")
async def cancel_job(request: Request, job_id: str, authorization_code: AuthCode = None) -> Response:
    server = state(request)
    server.auth.write(request.headers, authorization_code)
    _found(server, job_id)
    try:
        job = await queue(server).cancel(job_id)
    except (JobConflict, JobNotFound) as exc:
        raise _refused(exc) from None
    return _json({"job": _job(job)})


@router.post("/api/jobs/{job_id}/resume", openapi_extra=openapi_body(ResumeBody), summary="Resume a job")
async def resume_job(request: Request, job_id: str, authorization_code: AuthCode = None) -> Response:
    server = state(request)
    server.auth.write(request.headers, authorization_code)
    _found(server, job_id)
    raw = await read_body(request)
    body = parse_body(ResumeBody, raw, status=422) if raw.strip() else ResumeBody()
    try:
        job = await queue(server).resume(job_id, body.token)
    except (JobRejected, JobConflict, JobNotFound) as exc:
        raise _refused(exc) from None
    return _json({"job": _job(job)})


@router.get("/api/jobs/{job_id}/events", summary="A job's progress as Server-Sent Events")
async def job_events(request: Request, job_id: str, after: Annotated[int | None, Query(ge=0)] = None) -> Response:
    server = state(request)
    _found(server, job_id)
    last = request.headers.get("last-event-id", "").strip()
    if last and not last.isdigit():
        raise HTTPProblem(400, f"Last-Event-ID must be an event's seq number, got {last[:40]!r}", code="invalid_id")
    start = int(last) if last else (after or 0)
    server.acquire_stream()
    headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
    body = _sse(queue(server).events(job_id, start))
    return StreamResponse(body, headers=headers, on_close=server.release_stream)


def frame(event: JobEvent) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.seq, event.kind.encode(), orjson.dumps(event.model_dump()))


async def _sse(events: AsyncIterator[JobEvent]) -> AsyncIterator[bytes]:
    """The events as SSE frames, with a comment whenever none came for KEEPALIVE seconds (proxies close quiet
    connections; a page can take minutes)."""
    following: asyncio.Task[JobEvent] | None = None
    try:
        while True:
            if following is None:
                following = asyncio.ensure_future(anext(events))
            done, _ = await asyncio.wait({following}, timeout=KEEPALIVE)
            if not done:
                yield b": keepalive\n\n"
                continue
            finished, following = following, None
            try:
                event = finished.result()
            except StopAsyncIteration:
                return
            yield frame(event)
    finally:
        if following is not None:
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await following
        await events.aclose()  # type: ignore[attr-defined]
