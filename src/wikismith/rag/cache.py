"""Per-process memory of opened repositories, built indexes and loaded embedders (the chat flow's)."""

from __future__ import annotations

import time
from collections import OrderedDict

from wikismith.config.models import AppConfig
from wikismith.llm.base import Embedder
from wikismith.rag.embedders import chosen_name, create_embedder
from wikismith.rag.retriever import RepoIndex
from wikismith.rag.types import RepoSnapshot


class IndexCache:
    """Per-process memory of opened repositories and built indexes (LRU), and of loaded embedders.

    A remote repository is fetched again after `fresh_for` seconds; an index is kept in memory and only
    re-scanned (and updated if files changed) on each question, never reloaded from disk."""

    def __init__(self, size: int = 8, fresh_for: float = 300.0) -> None:
        self.size = size
        self.fresh_for = fresh_for
        self._indexes: OrderedDict[str, RepoIndex] = OrderedDict()
        self._snapshots: dict[str, tuple[float, RepoSnapshot]] = {}
        self._embedders: dict[str, Embedder] = {}

    def embedder(self, config: AppConfig, name: str | None) -> Embedder:
        key = chosen_name(config, name)
        if key not in self._embedders:
            self._embedders[key] = create_embedder(config, key)
        return self._embedders[key]

    def snapshot(self, key: str) -> RepoSnapshot | None:
        entry = self._snapshots.get(key)
        if entry is None or time.monotonic() - entry[0] > self.fresh_for:
            return None
        return entry[1]

    def remember_snapshot(self, key: str, snapshot: RepoSnapshot) -> None:
        now = time.monotonic()
        for stale in [k for k, (seen, _) in self._snapshots.items() if now - seen > self.fresh_for]:
            del self._snapshots[stale]
        self._snapshots[key] = (now, snapshot)

    def get(self, repo: str) -> RepoIndex | None:
        index = self._indexes.get(repo)
        if index is not None:
            self._indexes.move_to_end(repo)
        return index

    def put(self, repo: str, index: RepoIndex) -> None:
        self._indexes[repo] = index
        self._indexes.move_to_end(repo)
        while len(self._indexes) > self.size:
            self._indexes.popitem(last=False)

    async def aclose(self) -> None:
        for embedder in self._embedders.values():
            await embedder.aclose()
        self._embedders.clear()
        self._indexes.clear()


# One per process: the server, the WebSocket and the CLI share indexes and the loaded embedder.
PROCESS_CACHE = IndexCache()
