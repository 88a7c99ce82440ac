"""Wiki generation jobs: the server's way to run `wikismith generate` (the same `wiki.run.run_wiki`), queued,
followed as events, cancelled and resumed, and surviving a restart of the server.

    queue = JobQueue(JobContext(router, settings, config, WikiStore(settings.data.wikicache)),
                     FileJobStore(settings.data.jobs), max_jobs=max_jobs_setting(settings.env))
    await queue.open()                                   # resumes what the last server left running
    job, existing = await queue.start(JobSpec(repo="https://github.com/o/r", token=SecretStr("...")))
    async for event in queue.events(job.id, after=0):    # replayed, then live; ends after the last one
        print(event.seq, event.kind, event.done, event.total)
    await queue.aclose()                                 # running jobs -> interrupted, resumed at the next open

Modules: `model` (JobSpec, Job, JobEvent), `target` (a spec checked and resolved before any work),
`store` (the JobStore Protocol and the file-backed store), `runner` (one run), `queue` (JobQueue).
"""

from wikismith.jobs.model import Job, JobEvent, JobSpec, JobState, PageState, WikiRef
from wikismith.jobs.queue import JobConflict, JobNotFound, JobQueue, max_jobs_setting
from wikismith.jobs.runner import JobContext
from wikismith.jobs.store import JOB_ID, FileJobStore, JobStore, StoreBusy
from wikismith.jobs.target import JobRejected, JobTarget, resolve_target

__all__ = [
    "JOB_ID",
    "FileJobStore",
    "Job",
    "JobConflict",
    "JobContext",
    "JobEvent",
    "JobNotFound",
    "JobQueue",
    "JobRejected",
    "JobSpec",
    "JobState",
    "JobStore",
    "JobTarget",
    "PageState",
    "StoreBusy",
    "WikiRef",
    "max_jobs_setting",
    "resolve_target",
]
