"""The OpenAI-compatible gateway: `POST /v1/chat/completions`, `GET /v1/models`, `POST /v1/embeddings`.

The body is validated once from its raw bytes and answered with `orjson` from plain dicts (no response models
on the hot path). Which target served is in the `x-wikismith-target` header and the body's `target` field.
Streams are OpenAI's SSE: a role chunk, content chunks, a chunk with `finish_reason`, a usage chunk with
empty `choices` when `stream_options.include_usage` is set, then `data: [DONE]`; the upstream's own fields
(`system_fingerprint`, `service_tier`, OpenRouter's `provider`…) are on each chunk, as on a whole answer. An error
before the first token is a plain HTTP error; after it, a final `data: {"error": {...}}` event (which the OpenAI
SDKs raise).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from random import getrandbits
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from wikismith.llm.errors import LLMError
from wikismith.llm.events import (
    ChunkExtra,
    DeltaExtra,
    Finish,
    ReasoningDelta,
    Routed,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    UsageReport,
)
from wikismith.llm.types import Attempt, ChatRequest, ChatResponse, Usage
from wikismith.server import embeddings
from wikismith.server.deps import ServerState, read_body, state
from wikismith.server.errors import HTTPProblem, stream_error_payload
from wikismith.server.schemas import ChatCompletionBody, EmbeddingsBody, openapi_body, parse_body
from wikismith.server.streaming import StreamResponse, end_of_body, unless_disconnected

router = APIRouter(tags=["OpenAI-compatible gateway"])
_PASS_THROUGH_SKIP = frozenset({"stream", "stream_options", "n", "user"})
_JSON = "application/json"


def to_chat_request(body: ChatCompletionBody, tag: str | None, max_messages: int) -> ChatRequest:
    if len(body.messages) > max_messages:
        raise HTTPProblem(
            400, f"too many messages: {len(body.messages)} (limit {max_messages})", code="too_many_messages"
        )
    try:
        messages = [m.to_message() for m in body.messages]
    except (ValueError, ValidationError) as exc:
        raise HTTPProblem(400, f"invalid request: messages: {exc}", code="invalid_request", param="messages") from None
    extra = {k: v for k, v in (body.model_extra or {}).items() if k not in _PASS_THROUGH_SKIP}
    if body.models:
        extra["models"] = body.models
    return ChatRequest(model=body.model, messages=messages, params=body.params(), extra=extra, tag=tag)


def completion_id() -> str:
    """`chatcmpl-` and 24 hex digits, for an answer whose provider gave no id. Not a secret, so no system call."""
    return f"chatcmpl-{getrandbits(96):024x}"


def usage_body(usage: Usage | None) -> dict[str, Any]:
    if usage is None:
        return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    out: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens or usage.prompt_tokens + usage.completion_tokens,
    }
    if usage.cost is not None:
        out["cost"] = usage.cost
    if usage.reasoning_tokens is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    details = {}
    if usage.cached_tokens is not None:
        details["cached_tokens"] = usage.cached_tokens
    if usage.cache_write_tokens is not None:
        details["cache_write_tokens"] = usage.cache_write_tokens
    if details:
        out["prompt_tokens_details"] = details
    return out


def completion_body(response: ChatResponse, model: str) -> dict[str, Any]:
    """OpenAI's chat.completion for `response`. When the provider spoke OpenAI's format, its body is the base,
    so fields wikismith does not model (logprobs, system_fingerprint, refusal, annotations, OpenRouter's
    `provider`…) reach the client; the fields wikismith owns (model, target, normalised message, usage with
    cost) are set over it."""
    message: dict[str, Any] = {"role": "assistant", "content": response.text or None}
    if response.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in response.tool_calls
        ]
    elif response.text == "":
        message["content"] = ""
    if response.reasoning:
        message["reasoning"] = response.reasoning
    raw = response.raw if isinstance(response.raw, dict) else {}
    upstream = raw.get("choices")
    choice = upstream[0] if isinstance(upstream, list) and upstream and isinstance(upstream[0], dict) else {}
    upstream_message = choice.get("message")
    if isinstance(upstream_message, dict):
        message = {**upstream_message, **message}
    return {
        **raw,
        "id": response.id or completion_id(),
        "object": "chat.completion",
        "created": raw.get("created") if isinstance(raw.get("created"), int) else int(time.time()),
        "model": response.target or model,
        "target": response.target,
        "choices": [{**choice, "index": 0, "message": message, "finish_reason": response.finish_reason or "stop"}],
        "usage": _over(raw.get("usage"), usage_body(response.usage)),
    }


def _over(upstream: Any, ours: dict[str, Any]) -> dict[str, Any]:
    """`ours` over the upstream's usage object, the token-details objects merged key by key."""
    if not isinstance(upstream, dict):
        return ours
    merged = {**upstream, **ours}
    for key in ("completion_tokens_details", "prompt_tokens_details"):
        if key in ours and isinstance(upstream.get(key), dict):
            merged[key] = {**upstream[key], **ours[key]}
    return merged


@router.post("/v1/chat/completions", openapi_extra=openapi_body(ChatCompletionBody), summary="Chat completion")
async def chat_completions(request: Request) -> Response:
    server = state(request)
    tag = server.auth.bearer(request.headers)
    body = parse_body(ChatCompletionBody, await read_body(request))
    chat_request = to_chat_request(body, tag, server.limits.max_messages)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return await _stream(server, request, chat_request, include_usage)
    try:
        timeout = server.limits.request_timeout
        response = await unless_disconnected(request.receive, server.router.complete(chat_request), timeout)
    except LLMError as error:
        server.metrics.observe_call(chat_request.model, None, getattr(error, "attempts", None) or [], ok=False)
        raise
    except TimeoutError:
        limit = server.limits.request_timeout
        raise HTTPProblem(408, f"no answer within {limit:g} s (WIKISMITH_REQUEST_TIMEOUT)", code="timeout") from None
    target = response.target or chat_request.model
    server.metrics.observe_call(target, response.usage, response.attempts)
    content = orjson.dumps(completion_body(response, chat_request.model))
    return Response(content, media_type=_JSON, headers={"x-wikismith-target": header_value(target)})


def header_value(text: str) -> str:
    """`text` as an HTTP header value: a custom model's name may hold what a header cannot (percent-encoded)."""
    return text if text.isascii() and text.isprintable() else quote(text, safe="/:@+._-~ ")


async def _stream(server: ServerState, request: Request, chat_request: ChatRequest, include_usage: bool) -> Response:
    """Start the stream before answering, so an error before the first token is a real HTTP status and the
    serving target is known for the `x-wikismith-target` header."""
    server.acquire_stream()
    batches = server.router.stream_batches(chat_request)
    try:
        first = await unless_disconnected(request.receive, anext(batches))
    except BaseException as error:
        server.release_stream()
        await batches.aclose()
        if isinstance(error, StopAsyncIteration):
            raise HTTPProblem(502, "the model returned an empty stream", code="empty_response") from None
        if isinstance(error, LLMError):
            server.metrics.observe_call(chat_request.model, None, getattr(error, "attempts", None) or [], ok=False)
        raise
    routed = first[0] if first and isinstance(first[0], Routed) else None
    target = routed.target if routed is not None else chat_request.model
    attempts = (*(routed.attempts if routed is not None else ()), Attempt(target=target, ok=True))
    sse = _sse(server, batches, first, target, attempts, include_usage)
    headers = {"x-wikismith-target": header_value(target), "cache-control": "no-cache", "x-accel-buffering": "no"}
    # Each piece of `_sse` is a whole upstream read already: sent as it comes, no coalescing.
    return StreamResponse(sse, headers=headers, on_close=server.release_stream, coalesce=False)


class _Chunks:
    """Encodes the chunks of one stream. The envelope (id, created, model, and the upstream's own fields) is
    serialised once; each chunk is that prefix, the delta and a fixed suffix, so a token costs one small
    `orjson.dumps`."""

    def __init__(self, target: str) -> None:
        self.head: dict[str, Any] = {"id": completion_id(), "object": "chat.completion.chunk"}
        self.head.update(created=int(time.time()), model=target)
        self.prefix = self._prefix()

    def add(self, fields: Mapping[str, Any]) -> None:
        """Put the upstream's own chunk fields (`ChunkExtra`: system_fingerprint…; never id, model, choices or
        usage, which the client leaves out) on every chunk from now on."""
        self.head.update(fields)
        self.prefix = self._prefix()

    def _prefix(self) -> bytes:
        return b"data: " + orjson.dumps(self.head)[:-1] + b',"choices":[{"index":0,"delta":'

    def delta(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        end = (
            b',"finish_reason":null}]}\n\n'
            if finish is None
            else b',"finish_reason":' + orjson.dumps(finish) + b"}]}\n\n"
        )
        return self.prefix + orjson.dumps(delta) + end

    def text(self, text: str) -> bytes:
        """`delta({"content": text})`, for the common case."""
        return self.prefix + b'{"content":' + orjson.dumps(text) + b'},"finish_reason":null}]}\n\n'

    def text_with(self, text: str, extra: Mapping[str, Any]) -> bytes:
        """A content chunk whose choice carries the provider's other fields (e.g. the token's `logprobs`).
        `extra` is `TextDelta.choice_extra`: never empty, and without the keys written here (the provider
        client leaves out index, delta, finish_reason and error)."""
        fields = orjson.dumps(extra)[1:-1]
        return self.prefix + b'{"content":' + orjson.dumps(text) + b"}," + fields + b',"finish_reason":null}]}\n\n'

    def event(self, payload: dict[str, Any]) -> bytes:
        return b"data: " + orjson.dumps({**self.head, **payload}) + b"\n\n"

    def tail(self, finish: str | None, usage: Usage | None, include_usage: bool) -> bytes:
        """The end of the stream: the chunk with `finish_reason`, the usage chunk when asked for, `[DONE]`."""
        tail = self.delta({}, finish or "stop")
        if include_usage:
            tail += self.event({"choices": [], "usage": usage_body(usage)})
        return tail + b"data: [DONE]\n\n"


def _delta(event: StreamEvent) -> dict[str, Any] | None:
    if isinstance(event, TextDelta):
        return {"content": event.text}
    if isinstance(event, ReasoningDelta):
        return {"reasoning": event.text}
    if isinstance(event, DeltaExtra):
        return dict(event.fields)
    if isinstance(event, ToolCallDelta):
        call: dict[str, Any] = {"index": event.index, "type": "function", "function": {"arguments": event.arguments}}
        if event.id:
            call["id"] = event.id
        if event.name:
            call["function"]["name"] = event.name
        return {"tool_calls": [call]}
    return None


async def _sse(
    server: ServerState,
    batches: AsyncIterator[list[StreamEvent]],
    first: list[StreamEvent],
    target: str,
    attempts: tuple[Attempt, ...],
    include_usage: bool,
) -> AsyncIterator[bytes]:
    """The response body: each batch of events (those of one upstream read) as one piece of SSE chunks."""
    chunks = _Chunks(target)
    for event in first:  # the upstream's chunk fields are on every chunk, the first one too
        if type(event) is ChunkExtra:
            chunks.add(event.fields)
    usage: Usage | None = None
    ended = False  # the client has the whole answer
    parts = [chunks.delta({"role": "assistant", "content": ""})]
    batch = first
    try:
        while True:
            if not ended:
                for event in batch:
                    if type(event) is TextDelta:
                        extra = event.choice_extra
                        parts.append(chunks.text(event.text) if extra is None else chunks.text_with(event.text, extra))
                        continue
                    delta = _delta(event)
                    if delta is not None:
                        parts.append(chunks.delta(delta))
                    elif isinstance(event, UsageReport):
                        usage = event.usage
                    elif isinstance(event, ChunkExtra):
                        chunks.add(event.fields)
                    elif isinstance(event, Finish):  # the last event (after usage): the answer is complete
                        parts.append(chunks.tail(event.reason, usage, include_usage))
                        ended = True
                        break
                if ended:  # the response ends now, in one write; the upstream's end and the accounting follow
                    yield end_of_body(b"".join(parts))
                elif parts:
                    yield b"".join(parts)
                parts = []
            try:
                batch = await batches.__anext__()
            except StopAsyncIteration:
                break
        if not ended:  # a stream that ended without `Finish`
            yield chunks.tail(None, usage, include_usage)
        server.metrics.observe_call(target, usage, attempts)
    except LLMError as error:
        server.metrics.observe_call(target, usage, attempts, ok=False)
        if not ended:
            choices = [{"index": 0, "delta": {}, "finish_reason": "error"}]
            yield chunks.event({**stream_error_payload(error), "choices": choices}) + b"data: [DONE]\n\n"


@router.get("/v1/models", summary="Models in the catalogue")
async def list_models(request: Request) -> Response:
    server = state(request)
    server.auth.bearer(request.headers)
    cached = server.extras.get("models_body")
    if cached is None:
        models = await server.router.list_models()
        data = [
            {
                "id": m.id,
                "object": "model",
                "created": 0,
                "owned_by": m.provider,
                "name": m.name or m.model,
                "context_length": m.context_length,
                "pricing": {"prompt": m.prompt_price, "completion": m.completion_price},
            }
            for m in models
        ]
        routes = [*server.config.generator.routes, "auto"]
        data += [{"id": r, "object": "model", "created": 0, "owned_by": "wikismith-route"} for r in routes]
        cached = server.extras["models_body"] = orjson.dumps({"object": "list", "data": data})
    return Response(cached, media_type=_JSON)


@router.post("/v1/embeddings", openapi_extra=openapi_body(EmbeddingsBody), summary="Embeddings")
async def create_embeddings(request: Request) -> Response:
    server = state(request)
    server.auth.bearer(request.headers)
    body = parse_body(EmbeddingsBody, await read_body(request))
    return Response(orjson.dumps(await embeddings.embed(server, body)), media_type=_JSON)
