"""The RAG chat flow, written once: the CLI `ask`, the HTTP `/chat/completions/stream` and `/ws/chat` all use it.

    inp = ChatInput.model_validate(body)            # DeepWiki's field names are accepted (repo_url, type, …)
    async for event in chat_stream(router, settings, config, inp):
        ...                                         # Sources first, then the router's StreamEvents

Order (DeepWiki ran validation after cloning and embedding; here it runs first): validate the messages, the
model and the filters -> open the repository -> build or update its index (cached per process) -> retrieve ->
DeepWiki's prompts (simple chat or a Deep Research iteration, in the requested language) -> stream through the
router. If the prompt does not fit even after the router tried larger-context targets (`ContextTooLong`), it is
sent once more without the retrieved context, as DeepWiki intended.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator

from wikismith.config.models import AppConfig
from wikismith.config.schemas import FileFilters
from wikismith.config.settings import Settings
from wikismith.llm.base import ChatModel, Embedder
from wikismith.llm.errors import AllTargetsFailed, ContextTooLong, LLMError
from wikismith.llm.events import StreamEvent, TextDelta
from wikismith.llm.types import ChatRequest, Message
from wikismith.rag import prompts
from wikismith.rag.embedders import chosen_name, create_embedder
from wikismith.rag.filters import parse_filter_list
from wikismith.rag.index import build_index
from wikismith.rag.retriever import RepoIndex, format_context
from wikismith.rag.source import open_repo
from wikismith.rag.types import RepoSnapshot, ScoredChunk
from wikismith.redact import register_secret

MAX_QUERY_TOKENS = 8000  # DeepWiki skips retrieval above this many tokens in the last message
MAX_FILE_CHARS = 200_000


class ChatTurn(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    role: Literal["user", "assistant", "system"]
    content: str


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class ChatInput(BaseModel):
    """One chat request. Field names are wikismith's; DeepWiki's (`repo_url`, `type`, `token`, `filePath`) are
    accepted too. `model` is a router name (`provider/model`, a route, `auto`); DeepWiki's separate `provider` +
    `model` are joined. Filter fields are DeepWiki's newline-separated, URL-encoded strings."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)
    repo: str = Field(min_length=1, validation_alias=_alias("repo", "repo_url"))
    repo_type: str | None = Field(None, validation_alias=_alias("repo_type", "type"))
    access_token: SecretStr | None = Field(None, validation_alias=_alias("access_token", "token"))
    ref: str | None = None
    messages: list[ChatTurn]
    provider: str | None = None
    model: str | None = None
    language: str | None = "en"
    file_path: str | None = Field(None, validation_alias=_alias("file_path", "filePath"))
    excluded_dirs: str | None = None
    excluded_files: str | None = None
    included_dirs: str | None = None
    included_files: str | None = None
    embedder: str | None = None

    @field_validator("messages")
    @classmethod
    def _last_is_user(cls, messages: list[ChatTurn]) -> list[ChatTurn]:
        if not messages:
            raise ValueError("No messages provided")
        if messages[-1].role != "user":
            raise ValueError("Last message must be from the user")
        if not messages[-1].content.strip():  # nothing to retrieve for, nothing to answer: no model call
            raise ValueError("The last message is empty: ask a question")
        return messages

    @property
    def deep_research(self) -> bool:
        """DeepWiki: on when any message carries the `[DEEP RESEARCH]` tag."""
        return any(prompts.DEEP_RESEARCH_TAG in m.content for m in self.messages)

    def filters(self) -> FileFilters | None:
        lists = {
            name: parse_filter_list(getattr(self, name))
            for name in ("excluded_dirs", "excluded_files", "included_dirs", "included_files")
        }
        return FileFilters(**lists) if any(lists.values()) else None

    def model_name(self, config: AppConfig) -> str:
        """The router's model string; ConfigError when the provider or model is unknown."""
        return config.choose(self.provider, self.model)


@dataclass(frozen=True, slots=True)
class Sources:
    """The chunks retrieved for this answer (best first), sent before any text."""

    chunks: tuple[ScoredChunk, ...]
    type: Literal["sources"] = "sources"


@dataclass(frozen=True, slots=True)
class ContextDropped:
    """The prompt did not fit; the answer that follows was generated without the retrieved context."""

    reason: str
    type: Literal["context_dropped"] = "context_dropped"


ChatEvent = Sources | ContextDropped | StreamEvent


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


async def prepare_index(
    settings: Settings,
    config: AppConfig,
    inp: ChatInput,
    *,
    local_roots: Sequence[Path] | None = None,
    embedder: Embedder | None = None,
    cache: IndexCache = PROCESS_CACHE,
) -> RepoIndex:
    """Open the repository named by `inp` and return its up-to-date index (from the cache when possible)."""
    token = inp.access_token.get_secret_value() if inp.access_token else None
    register_secret(token)
    token_id = hashlib.sha256(token.encode()).hexdigest()[:16] if token else "-"
    source_key = "|".join((inp.repo, inp.repo_type or "", inp.ref or "", token_id))
    snapshot = cache.snapshot(source_key)
    if snapshot is None:
        snapshot = await open_repo(
            inp.repo, settings, config, ref=inp.ref, repo_type=inp.repo_type, access_token=token,
            local_roots=local_roots,
        )  # fmt: skip
        if snapshot.ref.url is not None:  # only clones are worth remembering; a local path is re-checked each time
            cache.remember_snapshot(source_key, snapshot)
    embedder = embedder or cache.embedder(config, inp.embedder)
    filters = inp.filters()
    cache_key = f"{snapshot.root}|{embedder.id}|{filters.model_dump_json() if filters else ''}"
    # Concurrent builds of one index are serialised by build_index's file lock; the later one finds no change.
    index = await build_index(
        snapshot, settings, config, embedder=embedder, filters=filters, previous=cache.get(cache_key)
    )
    cache.put(cache_key, index)
    return index


@dataclass(frozen=True, slots=True)
class _Question:
    query: str
    history: list[Message]
    iteration: int


def _question(inp: ChatInput) -> _Question:
    """The query and history as DeepWiki derives them: the tag stripped; for a Deep Research "continue the
    research" turn, the original topic (the first user message that does not say "continue") is the query."""
    tag = prompts.DEEP_RESEARCH_TAG
    query = inp.messages[-1].content.replace(tag, "").strip()
    if inp.deep_research and "continue" in query.lower() and "research" in query.lower():
        for turn in inp.messages:
            if turn.role == "user" and "continue" not in turn.content.lower():
                query = turn.content.replace(tag, "").strip()
                break
    history = [
        Message(role=t.role, content=t.content.replace(tag, "").strip())
        for t in inp.messages[:-1]
        if t.role in ("user", "assistant")
    ]
    iteration = sum(1 for t in inp.messages if t.role == "assistant") + 1
    return _Question(query, history, iteration)


def _language_name(config: AppConfig, language: str | None) -> str:
    names = config.lang.supported_languages
    return names.get(language or "", names.get(config.lang.default, "English"))


def _file_content(snapshot: RepoSnapshot, file_path: str | None, limit: int) -> str | None:
    """The current file from the checkout itself (DeepWiki fetched it from the forge's API); never outside it."""
    if not file_path:
        return None
    root = snapshot.root.resolve()
    try:
        path = (root / file_path.lstrip("/")).resolve()
        if not path.is_relative_to(root) or not path.is_file() or path.stat().st_size > limit:
            return None
        return path.read_bytes().decode("utf-8", errors="replace")[:MAX_FILE_CHARS]
    except (OSError, RuntimeError, ValueError):  # no such file to read: a NUL byte, a symlink loop, no permission
        return None


def build_messages(
    config: AppConfig,
    inp: ChatInput,
    snapshot: RepoSnapshot,
    hits: Sequence[ScoredChunk],
    *,
    without_context_note: str | None = None,
) -> list[Message]:
    """System prompt, the conversation so far, and the final user turn with file content, context and query."""
    question = _question(inp)
    ref = snapshot.ref
    system = prompts.system_prompt(
        deep_research=inp.deep_research,
        iteration=question.iteration,
        repo_type=ref.type,
        repo_url=ref.url or str(snapshot.root),
        repo_name=f"{ref.owner}/{ref.name}" if ref.url else ref.name,
        language_name=_language_name(config, inp.language),
    )
    content = _file_content(snapshot, inp.file_path, config.repo.repository.max_file_bytes)
    final = prompts.user_prompt(
        question.query,
        context=None if without_context_note else format_context(hits),
        file_path=inp.file_path,
        file_content=content,
        note=without_context_note or prompts.NO_CONTEXT_NOTE,
    )
    return [Message(role="system", content=system), *question.history, Message(role="user", content=final)]


async def _retrieve(index: RepoIndex, config: AppConfig, inp: ChatInput) -> list[ScoredChunk]:
    from wikismith.rag.chunker import count_tokens

    question = _question(inp)
    if count_tokens(question.query) > MAX_QUERY_TOKENS:
        return []
    query = f"Contexts related to {inp.file_path}" if inp.file_path else question.query
    return await index.retrieve(query, config.embedder.retriever.top_k)


def _too_long(error: LLMError) -> bool:
    return isinstance(error, ContextTooLong) or (
        isinstance(error, AllTargetsFailed) and isinstance(error.last, ContextTooLong)
    )


async def chat_stream(
    router: ChatModel,
    settings: Settings,
    config: AppConfig,
    inp: ChatInput,
    *,
    local_roots: Sequence[Path] | None = None,
    embedder: Embedder | None = None,
    cache: IndexCache = PROCESS_CACHE,
) -> AsyncIterator[ChatEvent]:
    """Sources, then the answer's stream events. Raises ConfigError for a bad model before touching the
    repository, SourceError for a repository that cannot be opened, LLMError from the model."""
    model = inp.model_name(config)  # validated before any clone or embedding
    index = await prepare_index(settings, config, inp, local_roots=local_roots, embedder=embedder, cache=cache)
    hits = await _retrieve(index, config, inp)
    yield Sources(tuple(hits))
    messages = build_messages(config, inp, index.snapshot, hits)
    sent = False
    try:
        async for event in router.stream(ChatRequest(model=model, messages=messages, tag="chat")):
            sent = sent or isinstance(event, TextDelta)
            yield event
        return
    except LLMError as error:
        if sent or not hits or not _too_long(error):
            raise
        reason = str(error)
    yield ContextDropped(reason)
    note = prompts.NO_CONTEXT_TOO_LONG_NOTE
    messages = build_messages(config, inp, index.snapshot, hits, without_context_note=note)
    async for event in router.stream(ChatRequest(model=model, messages=messages, tag="chat")):
        yield event


def _cited_ranges(answer: str, spelling: str) -> list[tuple[int, int]] | None:
    """None when `answer` never names `spelling`; else the line ranges given with it (`path:12`, `path:12-30`)."""
    dash = "[-\u2013]"  # a hyphen or an en dash
    pattern = rf"(?<![\w./-]){re.escape(spelling)}(?::(\d+)(?:\s*{dash}\s*(\d+))?)?(?![\w/-])"
    found = list(re.finditer(pattern, answer))
    if not found:
        return None
    return [(int(m[1]), int(m[2] or m[1])) for m in found if m[1]]


def cited_chunks(answer: str, chunks: Sequence[ScoredChunk]) -> list[ScoredChunk]:
    """The retrieved chunks an answer cites, best first: those of a file it names (by path, or by file name when
    that is unique among the retrieved files) and, when it gives line ranges for the file, overlapping one of
    them (all of the file's chunks when none overlaps). Empty when the answer cites none."""
    paths = list(dict.fromkeys(c.chunk.path for c in chunks))
    names = [p.rsplit("/", 1)[-1] for p in paths]
    cited: dict[str, list[tuple[int, int]]] = {}
    for path, name in zip(paths, names, strict=True):
        spellings = [path] + ([name] if name != path and names.count(name) == 1 else [])
        found = [r for r in (_cited_ranges(answer, s) for s in spellings) if r is not None]
        if found:
            cited[path] = [span for ranges in found for span in ranges]

    def overlaps(chunk: ScoredChunk) -> bool:
        return any(s <= chunk.chunk.end_line and chunk.chunk.start_line <= e for s, e in cited[chunk.chunk.path])

    out = []
    for path, ranges in cited.items():
        own = [c for c in chunks if c.chunk.path == path]
        narrowed = [c for c in own if overlaps(c)] if ranges else []
        out.extend(narrowed or own)
    return sorted(out, key=lambda c: -c.score)


__all__ = [
    "PROCESS_CACHE",
    "ChatEvent",
    "ChatInput",
    "ChatTurn",
    "ContextDropped",
    "IndexCache",
    "Sources",
    "build_messages",
    "chat_stream",
    "cited_chunks",
    "prepare_index",
]
