"""What a generation job is: the request (`JobSpec`), its record (`Job`) and its progress events (`JobEvent`).

A job's life: `queued` -> `running` -> `done` | `failed` | `cancelled`; a running job stopped with the server
is `interrupted` (resumable). `failed`, `cancelled` and `interrupted` jobs can be resumed: back to `queued`,
continuing from the wiki's manifest (finished pages are kept). The `token` of a spec is never part of a record
or an event: `model_dump` leaves it out, and a record read back has none.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from wikismith.rag.filters import parse_filter_list

JobState = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
ACTIVE: frozenset[str] = frozenset({"queued", "running"})
RESUMABLE: frozenset[str] = frozenset({"failed", "cancelled", "interrupted"})
EventKind = Literal[
    "queued",
    "started",
    "stage",
    "structure",
    "page_started",
    "page_done",
    "page_failed",
    "finished",
    "failed",
    "cancelled",
    "interrupted",
]
FINAL_KINDS: frozenset[str] = frozenset({"finished", "failed", "cancelled", "interrupted"})
PageStatus = Literal["pending", "running", "done", "failed"]
_MAX_FILTERS = 200


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class JobSpec(BaseModel):
    """A request to generate (or continue) one wiki. `repo`: an https URL or a local directory (which must lie
    under WIKISMITH_LOCAL_ROOTS on the server). `provider`/`model` as the DeepWiki front end sends them (or
    `model` alone: `provider/model`, a route, `auto`); omitted: the configured defaults. `language`: a lang.json
    code (omitted: its default). Filters are lists (or DeepWiki's newline-separated strings), added to
    repo.json's. `token`: for a private repository; used for the clone and forgotten."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    repo: str = Field(min_length=1, max_length=2048)
    ref: str | None = Field(None, min_length=1, max_length=255)
    repo_type: Literal["github", "gitlab", "bitbucket", "local"] | None = None
    provider: str | None = Field(None, min_length=1, max_length=100)
    model: str | None = Field(None, min_length=1, max_length=300)
    language: str | None = Field(None, min_length=1, max_length=32)
    comprehensive: bool = False
    excluded_dirs: list[str] = Field(default_factory=list, max_length=_MAX_FILTERS)
    excluded_files: list[str] = Field(default_factory=list, max_length=_MAX_FILTERS)
    included_dirs: list[str] = Field(default_factory=list, max_length=_MAX_FILTERS)
    included_files: list[str] = Field(default_factory=list, max_length=_MAX_FILTERS)
    token: SecretStr | None = Field(None, exclude=True, max_length=4096)

    @field_validator("excluded_dirs", "excluded_files", "included_dirs", "included_files", mode="before")
    @classmethod
    def _filter_list(cls, value: object) -> object:
        """DeepWiki's form: one string, entries on their own lines (or comma-separated)."""
        return parse_filter_list(value) if isinstance(value, str) else value

    @field_validator("excluded_dirs", "excluded_files", "included_dirs", "included_files")
    @classmethod
    def _entries(cls, value: list[str]) -> list[str]:
        if any(len(entry) > 300 or "\x00" in entry for entry in value):
            raise ValueError("a filter entry is longer than 300 characters or holds a NUL")
        return [entry for entry in (e.strip() for e in value) if entry]

    @field_validator("token", mode="before")
    @classmethod
    def _blank_token(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


class PageState(BaseModel):
    id: str
    title: str
    state: PageStatus = "pending"
    error: str | None = None


class WikiRef(BaseModel):
    """Which cached wiki the job writes: the keys of `GET /api/wiki_cache`."""

    owner: str
    repo: str
    repo_type: str
    language: str
    comprehensive: bool


class Job(BaseModel):
    """A job's record. Counters are the wiki's so far, over every run of the job: pages `done` (including those
    kept from earlier runs) and `failed` of `total`, `tokens` and `cost` in USD (None while no price is known),
    `wall_time` in seconds. `error` says why a job failed or stopped. `uses_token`: the spec came with an access
    token (never kept), so resuming a remote repository needs it again."""

    id: str
    key: str
    spec: JobSpec
    model_name: str
    wiki: WikiRef
    state: JobState = "queued"
    created: str = Field(default_factory=now)
    started: str | None = None
    finished: str | None = None
    total: int = 0
    done: int = 0
    failed: int = 0
    tokens: int = 0
    cost: float | None = None
    wall_time: float = 0.0
    stage: str | None = None
    error: str | None = None
    pages: list[PageState] = Field(default_factory=list)
    uses_token: bool = False
    runs: int = 0
    interruptions: int = 0
    resume_on_start: bool = False

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def page(self, page_id: str) -> PageState | None:
        return next((p for p in self.pages if p.id == page_id), None)


class JobEvent(BaseModel):
    """One step of a job, numbered from 1 per job (`seq`), with the job's state and counters at that moment.
    Page events carry `page_id` and `title` (and `error` when the page failed); `message` says what happens."""

    model_config = ConfigDict(frozen=True)

    seq: int
    kind: EventKind
    at: str
    state: JobState
    total: int
    done: int
    failed: int
    tokens: int
    cost: float | None
    wall_time: float
    message: str | None = None
    page_id: str | None = None
    title: str | None = None
    error: str | None = None

    @classmethod
    def of(cls, job: Job, seq: int, kind: EventKind, **fields: str | None) -> JobEvent:
        return cls(
            seq=seq,
            kind=kind,
            at=now(),
            state=job.state,
            total=job.total,
            done=job.done,
            failed=job.failed,
            tokens=job.tokens,
            cost=job.cost,
            wall_time=round(job.wall_time, 3),
            **fields,
        )
