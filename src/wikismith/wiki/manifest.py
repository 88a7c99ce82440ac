"""The run manifest (`<output>/manifest.json`): the journal that makes a wiki run resumable and lossless.

It records the repository and commit, the model, language and mode, the structure, and each page's status
(`pending`, `done`, `failed` with its reason). It is rewritten atomically after every page, so whatever stops a
run (Ctrl-C, kill, network loss, budget), the next run with the same repository, commit, language and mode
reuses the structure and generates only the pages that are not `done` with their file on disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from wikismith.rag.types import RepoSnapshot
from wikismith.storage import atomic_write_text, safe_name
from wikismith.wiki.structure import Structure

log = logging.getLogger("wikismith.wiki.manifest")

FILE_NAME = "manifest.json"
PageStatus = Literal["pending", "done", "failed"]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RepoRecord(BaseModel):
    type: str
    owner: str
    name: str
    url: str | None = None
    local_path: str | None = None

    @classmethod
    def of(cls, snapshot: RepoSnapshot) -> RepoRecord:
        ref = snapshot.ref
        local = str(ref.local_path) if ref.local_path is not None else None
        return cls(type=ref.type, owner=ref.owner, name=ref.name, url=ref.url, local_path=local)


class CitationCounts(BaseModel):
    checked: int = 0
    valid: int = 0
    fixed: int = 0
    removed: int = 0
    added: int = 0  # from the retrieved context, on pages whose model cited nothing


class IdentifierCounts(BaseModel):
    """Code identifiers the pages name, checked against the code map (`grounding.py`)."""

    named: int = 0
    resolved: int = 0
    rewritten: int = 0
    removed: int = 0

    def plus(self, other: IdentifierCounts) -> IdentifierCounts:
        return IdentifierCounts(
            named=self.named + other.named,
            resolved=self.resolved + other.resolved,
            rewritten=self.rewritten + other.rewritten,
            removed=self.removed + other.removed,
        )

    def line(self) -> str:
        counts = f"{self.named} named, {self.resolved} resolved, {self.rewritten} rewritten, {self.removed} removed"
        return f"identifiers: {counts}"


class PageRecord(BaseModel):
    file: str
    status: PageStatus = "pending"
    reason: str | None = None
    model: str | None = None
    citations: CitationCounts = CitationCounts()
    diagrams_repaired: int = 0
    diagrams_removed: int = 0
    diagrams_replaced: int = 0
    diagrams_derived: int = 0
    identifiers: IdentifierCounts = IdentifierCounts()
    tokens: int = 0
    cost: float | None = None
    finished_at: str | None = None


class Manifest(BaseModel):
    version: int = 1
    repo: RepoRecord
    commit: str | None = None
    branch: str | None = None
    model: str
    language: str
    comprehensive: bool
    structure_source: Literal["model", "fallback"] = "model"
    structure: Structure
    pages: dict[str, PageRecord] = Field(default_factory=dict)
    identifiers: IdentifierCounts = IdentifierCounts()  # the sum over the done pages
    started_at: str = Field(default_factory=now)
    updated_at: str = Field(default_factory=now)

    def same_run(self, snapshot: RepoSnapshot, language: str, comprehensive: bool) -> bool:
        """True when this manifest describes the same wiki (repository, commit, language, mode)."""
        return (
            self.repo == RepoRecord.of(snapshot)
            and self.commit == snapshot.commit
            and self.language == language
            and self.comprehensive == comprehensive
        )

    def missing(self, output: Path) -> list[str]:
        """Ids of the pages still to generate: not done, or done but their file is gone."""
        return [
            page.id
            for page in self.structure.pages
            if self.pages[page.id].status != "done" or not (output / self.pages[page.id].file).is_file()
        ]

    def save(self, output: Path) -> None:
        self.updated_at = now()
        self.identifiers = IdentifierCounts()
        for record in self.pages.values():
            if record.status == "done":
                self.identifiers = self.identifiers.plus(record.identifiers)
        atomic_write_text(output / FILE_NAME, self.model_dump_json(indent=2))


class RunLocked(Exception):
    """Another run is writing to the same output directory."""


class OutputError(Exception):
    """The output directory cannot be created or written (a file is in the way, no permission)."""


@contextlib.contextmanager
def run_lock(output: Path) -> Iterator[None]:
    """Hold `<output>/.lock` for the run; a second run on the same directory fails at once (RunLocked), an
    output that cannot be a directory at all as OutputError."""
    try:
        output.mkdir(parents=True, exist_ok=True)
        handle = open(output / ".lock", "a+")  # noqa: SIM115 - closed by the `with` below
    except OSError as exc:
        raise OutputError(f"cannot write the wiki to {output}: {exc.strerror or exc}") from None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLocked(
                f"another wikismith run is writing to {output}; wait for it or use another --output"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def load_manifest(output: Path) -> Manifest | None:
    path = output / FILE_NAME
    try:
        return Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValidationError, ValueError) as exc:
        log.warning("ignoring unreadable manifest %s: %s", path, exc)
        return None


def page_files(structure: Structure) -> dict[str, str]:
    """A unique Markdown file name per page id (never README.md, wiki.json or the manifest)."""
    reserved = {"readme", "wiki", "manifest"}
    names: dict[str, str] = {}
    taken: set[str] = set()
    for page in structure.pages:
        base = safe_name(page.id).lower() or "page"
        if base in reserved:
            base = f"{base}-page"
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        names[page.id] = f"{name}.md"
    return names
