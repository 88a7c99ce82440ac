"""The RAG chat flow, written once: the CLI `ask`, the HTTP `/chat/completions/stream` and `/ws/chat` all use it.

    inp = ChatInput.model_validate(body)            # DeepWiki's field names are accepted (repo_url, type, …)
    async for event in chat_stream(router, settings, config, inp):
        ...                                         # Sources first, then the router's StreamEvents

Order (DeepWiki ran validation after cloning and embedding; here it runs first): validate the messages, the
model and the filters -> open the repository -> build or update its index (cached per process) -> retrieve ->
DeepWiki's prompts (simple chat or a Deep Research iteration, in the requested language) -> stream through the
router -> with a code map, check the identifiers the answer names (`AnswerChecked`, after the answer). If the
prompt does not fit even after the router tried larger-context targets (`ContextTooLong`), it is sent once more
without the retrieved context, as DeepWiki intended.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator

from wikismith.config.models import AppConfig
from wikismith.config.schemas import FileFilters
from wikismith.config.settings import Settings
from wikismith.llm.base import ChatModel, Embedder
from wikismith.llm.errors import AllTargetsFailed, ContextTooLong, LLMError
from wikismith.llm.events import StreamEvent, TextDelta
from wikismith.llm.types import ChatRequest, Message
from wikismith.rag import prompts
from wikismith.rag.answer_check import AnswerCheck, check_answer, cited_chunks
from wikismith.rag.cache import PROCESS_CACHE, IndexCache
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


@dataclass(frozen=True, slots=True)
class AnswerChecked:
    """After the answer: the identifiers it names checked against the code map, and their sources."""

    check: AnswerCheck
    type: Literal["answer_checked"] = "answer_checked"


ChatEvent = Sources | ContextDropped | AnswerChecked | StreamEvent


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


async def _retrieve(index: RepoIndex, config: AppConfig, inp: ChatInput, query: str | None) -> list[ScoredChunk]:
    from wikismith.rag.chunker import count_tokens

    query = query or _question(inp).query
    if count_tokens(query) > MAX_QUERY_TOKENS:
        return []
    query = f"Contexts related to {inp.file_path}" if inp.file_path else query
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
    query: str | None = None,
) -> AsyncIterator[ChatEvent]:
    """Sources, then the answer's stream events. Raises ConfigError for a bad model before touching the
    repository, SourceError for a repository that cannot be opened, LLMError from the model. `query`: what to
    retrieve for, when not the question itself (a Deep Research iteration: what the previous one said next)."""
    model = inp.model_name(config)  # validated before any clone or embedding
    index = await prepare_index(settings, config, inp, local_roots=local_roots, embedder=embedder, cache=cache)
    hits = await _retrieve(index, config, inp, query)
    yield Sources(tuple(hits))
    messages = build_messages(config, inp, index.snapshot, hits)
    text: list[str] = []
    reason = None
    try:
        async for event in router.stream(ChatRequest(model=model, messages=messages, tag="chat")):
            text += [event.text] if isinstance(event, TextDelta) else []
            yield event
    except LLMError as error:
        if text or not hits or not _too_long(error):
            raise
        reason = str(error)
    if reason is not None:
        yield ContextDropped(reason)
        note = prompts.NO_CONTEXT_TOO_LONG_NOTE
        messages = build_messages(config, inp, index.snapshot, hits, without_context_note=note)
        async for event in router.stream(ChatRequest(model=model, messages=messages, tag="chat")):
            text += [event.text] if isinstance(event, TextDelta) else []
            yield event
    if index.codemap is not None and text:
        yield AnswerChecked(await asyncio.to_thread(check_answer, "".join(text), hits, index.codemap))


# --- Deep Research, run by the server ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResearchStep:
    """A Deep Research iteration begins; its Sources and answer follow. `query` is what it retrieved for."""

    iteration: int
    final: bool
    query: str
    type: Literal["research_step"] = "research_step"


_CONCLUSION = re.compile(r"^#{1,3}\s*Final Conclusion\b", re.IGNORECASE | re.MULTILINE)
_NEXT_STEPS = re.compile(r"^#{1,3}\s*Next Steps?\b[^\n]*\n(?P<body>.*?)(?=^#{1,3}\s|\Z)", re.I | re.M | re.S)


def next_query(topic: str, answer: str) -> str:
    """What the next iteration retrieves for: the topic and what `answer` said to look at next (its "Next
    Steps" section, else its last paragraph). DeepWiki retrieved for the original question every turn."""
    found = _NEXT_STEPS.search(answer)
    lead = found.group("body") if found else answer.strip().rsplit("\n\n", 1)[-1]
    return f"{topic}\n{lead.strip()[:2000]}".strip()


async def research_stream(
    router: ChatModel,
    settings: Settings,
    config: AppConfig,
    inp: ChatInput,
    *,
    iterations: int = prompts.FINAL_ITERATION,
    **options: Any,
) -> AsyncIterator[ChatEvent | ResearchStep]:
    """Deep Research driven here, not by the client: up to `iterations` turns of `chat_stream` (DeepWiki's
    research prompts by turn) on the last question, each turn retrieving anew for what the previous said to
    look at next, ending at the final turn or as soon as an answer gives its "Final Conclusion". Each turn: a
    ResearchStep, then its Sources and stream events. `options` are chat_stream's (local_roots, embedder, cache)."""
    tag = prompts.DEEP_RESEARCH_TAG
    topic = inp.messages[-1].content.replace(tag, "").strip()
    turns = [ChatTurn(role="user", content=f"{tag} {topic}")]
    query = topic
    for iteration in range(1, iterations + 1):
        final = iteration == iterations
        yield ResearchStep(iteration, final, query)
        parts: list[str] = []
        step = inp.model_copy(update={"messages": turns})
        async for event in chat_stream(router, settings, config, step, query=query, **options):
            if isinstance(event, TextDelta):
                parts.append(event.text)
            yield event
        answer = "".join(parts)
        if final or _CONCLUSION.search(answer):
            return
        turns = [*turns, ChatTurn(role="assistant", content=answer),
                 ChatTurn(role="user", content=f"{tag} Continue the research")]  # fmt: skip
        query = next_query(topic, answer)


__all__ = [
    "PROCESS_CACHE",
    "AnswerChecked",
    "ChatEvent",
    "ChatInput",
    "ChatTurn",
    "ContextDropped",
    "IndexCache",
    "ResearchStep",
    "Sources",
    "build_messages",
    "chat_stream",
    "cited_chunks",
    "next_query",
    "prepare_index",
    "research_stream",
]
