"""The generation tools over the generation jobs (`wikismith.jobs.JobQueue`): `generate_wiki` starts (or joins)
the job for a repository's wiki, `wiki_status` tells how its latest job stands and whether a wiki is cached.

Over HTTP the queue is the server's (the web app's jobs: one list, one job per wiki at a time); over stdio the
`wikismith mcp` process owns one. With `wait`, `generate_wiki` follows the job's events to its end, reporting
pages done of total as progress notifications; without it, it answers at once with the job as it stands.
"""

from __future__ import annotations

import asyncio

from wikismith.jobs import Job, JobQueue, JobSpec
from wikismith.server.mcp.code import Report
from wikismith.server.mcp.names import Target
from wikismith.server.mcp.runtime import Runtime
from wikismith.server.mcp.wikis import NoWiki, find_wiki

_TYPES = ("github", "gitlab", "bitbucket", "local")


def _counts(job: Job) -> str:
    cost = f", ${job.cost:.4f}" if job.cost else ""
    failed = f", {job.failed} failed" if job.failed else ""
    total = job.total or "?"
    return f"{job.done} of {total} pages done{failed}, {job.tokens:,} tokens{cost}"


def job_text(job: Job) -> str:
    """One job: state, counters, the error, each page that is not done."""
    wiki = job.wiki
    mode = "comprehensive" if wiki.comprehensive else "concise"
    lines = [f"job {job.id}: {job.state} · {job.model_name} · {wiki.language}, {mode} · {_counts(job)}"]
    if job.stage and job.state == "running":
        lines.append(f"now: {job.stage}")
    if job.error:
        lines.append(f"error: {job.error}")
    lines += [f"- page {p.id} ({p.title}): {p.state}{f': {p.error}' if p.error else ''}" for p in job.pages]
    return "\n".join(lines)


def _cached_note(runtime: Runtime, target: Target) -> str:
    try:
        found = find_wiki(runtime.store, target, None, runtime.default_language)
    except NoWiki:
        return f"No wiki of {target.shown} is cached yet."
    pages = len(found.data.wiki_structure.pages)
    return f"A wiki of {target.shown} is cached ({pages} pages, {found.language}): read it with read_wiki_structure."


def jobs_of(queue: JobQueue, target: Target) -> list[Job]:
    """The jobs of the target's wikis (any language or mode), newest first."""
    key = (target.owner, target.name, target.type)
    return [job for job in queue.list() if (job.wiki.owner, job.wiki.repo, job.wiki.repo_type) == key]


async def status(runtime: Runtime, queue: JobQueue, target: Target) -> str:
    jobs = jobs_of(queue, target)
    cached = await asyncio.to_thread(_cached_note, runtime, target)
    if not jobs:
        return f"No generation of {target.shown} has run here. {cached}\n"
    older = f"\n({len(jobs) - 1} earlier jobs)" if len(jobs) > 1 else ""
    return f"{job_text(jobs[0])}{older}\n{cached}\n"


async def start(
    runtime: Runtime,
    queue: JobQueue,
    target: Target,
    spec: JobSpec,
    report: Report,
    *,
    wait: bool,
) -> str:
    """Start (or join) the job; with `wait`, follow it to its end first."""
    job, existing = await queue.start(spec)
    joined = "joined the job already running for this wiki" if existing else "started"
    if not wait:
        return f"{joined}: {job_text(job)}\nFollow it with wiki_status(repoName); it takes minutes.\n"
    async for event in queue.events(job.id):
        what = event.title or event.message
        label = f"{event.kind}: {what}" if what and what != event.kind else event.kind
        await report(event.done + event.failed, max(event.total, 1), label)
    final = queue.get(job.id) or job
    done = final.state == "done"
    ended = await asyncio.to_thread(_cached_note, runtime, target) if done else "Call generate_wiki again to continue."
    return f"{joined}: {job_text(final)}\n{ended}\n"


def spec_for(target: Target, model: str | None, language: str | None, comprehensive: bool) -> JobSpec:
    kind = target.type if target.type in _TYPES else None
    return JobSpec.model_validate(
        {"repo": target.source, "repo_type": kind, "model": model, "language": language, "comprehensive": comprehensive}
    )
