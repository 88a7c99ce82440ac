"""DeepWiki's RAG chat over `wikismith.chat.chat_stream` (the flow is written once there; this module only
parses requests and shapes events): `POST /chat/completions/stream` and `WS /ws/chat`.

HTTP, DeepWiki's format whatever the `Accept` header says: the answer's text chunks, concatenated, as the body
(no framing), as `text/event-stream` when the client accepts it (DeepWiki's content type, which its front end
asks for and passes on: simple_chat.py, src/app/api/chat/stream/route.ts), else `text/plain`. An error before the
first chunk is an HTTP error (400/404/422 for the request, 4xx/5xx for the model); an error after it ends the body
abruptly (no final chunk), so a client sees an incomplete response rather than an error passed off as answer
text. Real SSE with typed events only when asked for with wikismith's own query parameter `?events=typed` (no
DeepWiki client sends it): `sources`, `delta`, `reasoning`, `notice`, `usage`, then `done`, or `error`
(`{"error": {message, type, code}}`).

WebSocket, DeepWiki's protocol: one JSON request frame in, raw text frames out, a normal close as soon as
the answer is complete; failures as an `Error: …` text frame, then the close. A client that goes away cancels
the model call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.responses import Response

from wikismith.chat import ChatEvent, ChatInput, ContextDropped, IndexCache, Sources, chat_stream
from wikismith.config.models import ConfigError
from wikismith.llm.errors import LLMError
from wikismith.llm.events import Finish, ReasoningDelta, Routed, TextDelta, UsageReport
from wikismith.llm.types import Attempt, Usage
from wikismith.rag.source import SourceError
from wikismith.server.deps import ServerState, read_body, state
from wikismith.server.errors import HTTPProblem, source_error_status, stream_error_payload
from wikismith.server.routes.openai import usage_body
from wikismith.server.schemas import openapi_body
from wikismith.server.streaming import END_OF_BODY, AbortStream, StreamResponse

router = APIRouter(tags=["DeepWiki chat"])
TypedEvents = Annotated[
    Literal["typed"] | None,
    Query(description="`typed`: wikismith's typed SSE events; left out: DeepWiki's raw text, whatever `Accept` says"),
]
log = logging.getLogger("wikismith.server")
_SCHEMA = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": ChatInput.model_json_schema()}}}
}
# DeepWiki's two 400s for the messages, and wikismith's third (an empty question) answered the same way.
_DEEPWIKI_400 = (
    "No messages provided",
    "Last message must be from the user",
    "The last message is empty: ask a question",
)


def parse_chat(body: bytes | str, max_messages: int) -> ChatInput:
    """The request, validated before anything else happens. DeepWiki's 400s for the messages; 422 otherwise."""
    try:
        inp = ChatInput.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        for message in _DEEPWIKI_400:
            if message in str(first["msg"]):
                raise HTTPProblem(400, message, code="invalid_messages", param="messages") from None
        if first["type"] == "json_invalid":
            raise HTTPProblem(422, f"request body is not valid JSON: {first['msg']}", code="invalid_json") from None
        loc = ".".join(str(p) for p in first["loc"])
        raise HTTPProblem(422, f"invalid request: {loc}: {first['msg']}", code="invalid_request", param=loc) from None
    if len(inp.messages) > max_messages:
        raise HTTPProblem(
            400, f"too many messages: {len(inp.messages)} (limit {max_messages})", code="too_many_messages"
        )
    return inp


def index_cache(server: ServerState) -> IndexCache:
    """This app's repositories, indexes and embedders (not the process-wide cache: embedder connections
    belong to the server's event loop and are closed with the app)."""
    cache = server.extras.get("index_cache")
    if cache is None:
        cache = server.extras["index_cache"] = IndexCache()
    assert isinstance(cache, IndexCache)
    return cache


async def close_index_cache(server: ServerState) -> None:
    cache = server.extras.pop("index_cache", None)
    if cache is not None:
        await cache.aclose()


def _events(server: ServerState, inp: ChatInput) -> AsyncIterator[ChatEvent]:
    events = chat_stream(
        server.router, server.settings, server.config, inp, local_roots=server.local_roots, cache=index_cache(server)
    )
    return _observed(server, events)


async def _observed(server: ServerState, events: AsyncIterator[ChatEvent]) -> AsyncIterator[ChatEvent]:
    """Pass events through, recording the call in the metrics (target, tokens, cost, fallbacks)."""
    target: str = "unrouted"
    usage: Usage | None = None
    attempts: tuple[Attempt, ...] = ()
    try:
        async for event in events:
            if isinstance(event, Routed):
                target, attempts = event.target, event.attempts
            elif isinstance(event, UsageReport):
                usage = event.usage
            yield event
    except LLMError:
        server.metrics.observe_call(target, usage, attempts, ok=False)
        raise
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    server.metrics.observe_call(target, usage, (*attempts, Attempt(target=target, ok=True)))


_ANSWER_STARTED = frozenset({"routed", "text", "reasoning", "tool_call"})


async def _until_answer(events: AsyncIterator[ChatEvent]) -> list[ChatEvent]:
    """Events up to the moment the model starts answering (the repository is open and indexed, the sources
    are known and a target has been chosen). Any failure until then is an HTTP error, not a broken stream."""
    held: list[ChatEvent] = []
    try:
        async for event in events:
            held.append(event)
            if event.type in _ANSWER_STARTED:
                break
    except SourceError as exc:
        raise HTTPProblem(source_error_status(exc), str(exc), code=type(exc).__name__) from None
    return held


@router.post("/chat/completions/stream", openapi_extra=openapi_body(ChatInput), summary="RAG chat about a repository")
async def chat_completions_stream(request: Request, events: TypedEvents = None) -> Response:
    server = state(request)
    server.auth.bearer(request.headers)
    inp = parse_chat(await read_body(request), server.limits.max_messages)
    server.acquire_stream()
    stream = _events(server, inp)
    try:
        held = await _until_answer(stream)
    except BaseException:
        server.release_stream()
        await stream.aclose()  # type: ignore[attr-defined]
        raise
    if events == "typed":
        return StreamResponse(_sse(held, stream), on_close=server.release_stream)
    sse = "text/event-stream" in request.headers.get("accept", "")
    media = "text/event-stream; charset=utf-8" if sse else "text/plain; charset=utf-8"
    return StreamResponse(_plain(held, stream), media_type=media, on_close=server.release_stream)


async def _plain(held: list[ChatEvent], events: AsyncIterator[ChatEvent]) -> AsyncIterator[bytes]:
    ended = False
    try:
        async for event in _chain(held, events):
            if isinstance(event, TextDelta) and event.text:
                yield event.text.encode()
            elif isinstance(event, Finish) and not ended:  # the last event: the client has the whole answer
                ended = True
                yield END_OF_BODY
    except LLMError as error:
        log.warning("chat answer broke after it started: %s", error)
        if not ended:
            raise AbortStream from error


def _frame(name: str, data: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _sse_frame(event: ChatEvent) -> bytes | None:
    if isinstance(event, TextDelta):
        return _frame("delta", {"text": event.text})
    if isinstance(event, ReasoningDelta):
        return _frame("reasoning", {"text": event.text})
    if isinstance(event, Sources):
        sources = [
            {
                "path": s.chunk.path,
                "start_line": s.chunk.start_line,
                "end_line": s.chunk.end_line,
                "score": s.score,
                "symbol": s.chunk.symbol,
            }
            for s in event.chunks
        ]
        return _frame("sources", {"sources": sources})
    if isinstance(event, ContextDropped):
        return _frame("notice", {"context_dropped": event.reason})
    if isinstance(event, UsageReport):
        return _frame("usage", usage_body(event.usage))
    return None


async def _sse(held: list[ChatEvent], events: AsyncIterator[ChatEvent]) -> AsyncIterator[bytes]:
    target: str | None = None
    ended = False
    try:
        async for event in _chain(held, events):
            frame = _sse_frame(event)
            if frame is not None:
                yield frame
            elif isinstance(event, Routed):
                target = event.target
            elif isinstance(event, Finish) and not ended:  # the last event (after usage): the answer is complete
                ended = True
                yield _frame("done", {"finish_reason": event.reason, "target": target})
                yield END_OF_BODY  # the upstream's end and the accounting follow, the client need not wait
    except LLMError as error:
        if not ended:
            yield _frame("error", stream_error_payload(error))
        return
    if not ended:
        yield _frame("done", {"finish_reason": None, "target": target})


async def _chain(held: list[ChatEvent], events: AsyncIterator[ChatEvent]) -> AsyncIterator[ChatEvent]:
    for event in held:
        yield event
    async for event in events:
        yield event


# --- WebSocket ------------------------------------------------------------------------------------------------


@router.websocket("/ws/chat")
async def ws_chat(websocket: WebSocket) -> None:
    await websocket.accept()
    server = state(websocket)
    try:
        server.auth.bearer(_ws_headers(websocket))
        inp = parse_chat(await _request_frame(websocket), server.limits.max_messages)
        server.acquire_stream()
    except WebSocketDisconnect:
        return
    except HTTPProblem as problem:
        await _close_with_error(websocket, problem.message)
        return
    try:
        await _relay(server, websocket, inp)
    finally:
        server.release_stream()


async def _request_frame(websocket: WebSocket) -> str | bytes:
    """The request's JSON from the first frame, text or binary (`receive_text` fails on a binary frame)."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    return text if text is not None else message.get("bytes") or b""


def _ws_headers(websocket: WebSocket) -> dict[str, str]:
    """Browsers cannot set headers on a WebSocket: a gateway key may come as `?api_key=` instead."""
    headers = dict(websocket.headers)
    key = websocket.query_params.get("api_key")
    if key and "authorization" not in headers:
        headers["authorization"] = f"Bearer {key}"
    return headers


async def _relay(server: ServerState, websocket: WebSocket, inp: ChatInput) -> None:
    """Send the answer's text frames; stop the model call as soon as the client disconnects. Once the answer is
    complete the socket is closed at once, and what remains (the upstream's end, the accounting) runs unwatched:
    the client's reply to the close must not cancel it."""
    watch = asyncio.ensure_future(_wait_disconnect(websocket))
    pump = asyncio.ensure_future(_send_answer(server, websocket, inp, answered=watch.cancel))
    try:
        await asyncio.wait((pump, watch), return_when=asyncio.FIRST_COMPLETED)
        if watch.cancelled():  # the answer was sent: the rest of the pump runs to its end
            await pump
    finally:
        for task in (pump, watch):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError, OSError):
                await task


async def _send_answer(
    server: ServerState, websocket: WebSocket, inp: ChatInput, *, answered: Callable[[], object]
) -> None:
    events = _events(server, inp)
    closed = False
    try:
        async for event in events:
            if closed:
                continue
            if isinstance(event, TextDelta) and event.text:
                await websocket.send_text(event.text)
            elif isinstance(event, Finish):  # the last event: the client has the whole answer
                answered()  # stop watching first: the client answers the close with its own
                await websocket.close()
                closed = True
    except (LLMError, ConfigError, SourceError) as exc:
        if not closed:
            await _close_with_error(websocket, str(exc))
        return
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    if not closed:
        await websocket.close()


async def _wait_disconnect(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _close_with_error(websocket: WebSocket, message: str) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        await websocket.send_text(f"Error: {message}")
        await websocket.close()
