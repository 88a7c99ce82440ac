"""What the MCP tools work with, whichever transport serves them: one `Runtime` per process or app.

Over HTTP it is the app's own (`ServerState`: its router, wiki store, index cache, local roots); over stdio the
`wikismith mcp` process builds one for itself (`serve_stdio`). The tools take it from a `RuntimeSource`, a
callable, because the app's state exists only once its lifespan has started.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wikismith.chat import IndexCache
from wikismith.config.models import AppConfig
from wikismith.config.settings import Settings
from wikismith.jobs import JobQueue
from wikismith.llm.base import ChatModel
from wikismith.wiki.store import WikiStore


@dataclass
class Runtime:
    settings: Settings
    config: AppConfig
    router: ChatModel
    store: WikiStore
    cache: IndexCache
    local_roots: tuple[Path, ...]
    jobs: JobQueue | None = None  # the generation jobs; None: off in this process, for `jobs_off`
    jobs_off: str = "generation jobs are not available here"
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def default_language(self) -> str:
        return self.config.lang.default

    def language(self, wanted: str | None) -> str | None:
        """`wanted` when lang.json lists it (None when not given); ValueError naming the supported codes."""
        if not wanted:
            return None
        supported = self.config.lang.supported_languages
        if wanted not in supported:
            raise ValueError(f"unsupported language {wanted!r}; supported: {', '.join(sorted(supported))}")
        return wanted


RuntimeSource = Callable[[], Runtime]
