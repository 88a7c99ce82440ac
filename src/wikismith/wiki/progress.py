"""Progress events of a wiki run, with the run's counters at that moment, for displays (CLI, server)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

EventKind = Literal["stage", "files", "structure", "page_started", "page_done", "page_failed", "finished"]


@dataclass(frozen=True, slots=True)
class Progress:
    """A progress event with the run's counters at that moment (`cost` None while no price is known). `files`
    says what was indexed and what was left out (once, before the structure)."""

    kind: EventKind
    message: str
    done: int = 0
    failed: int = 0
    total: int = 0
    tokens: int = 0
    cost: float | None = None
    page_id: str | None = None


ProgressCallback = Callable[[Progress], None]
