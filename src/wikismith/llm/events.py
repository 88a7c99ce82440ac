"""Stream events: small immutable values discriminated by `type`, the same for every provider.

A stream is an `AsyncIterator[StreamEvent]`. Usage is an event; the end is a `Finish`. An upstream failure is
raised as a typed `LLMError` (`StreamError` once text has been sent) — never yielded as answer text. Edges that
must put a failure on the wire (SSE, WebSocket) turn it into an `ErrorEvent` with `errors_as_events()`.
`Routed` is sent by the router before the first content event: which target serves, after which attempts
(a provider client's `Served`, the model its stream names, goes no further than the router).

A stream may also be read in batches (`AsyncIterator[list[StreamEvent]]`): the events that arrived together,
e.g. those of one network read. The gateway reads the router's stream so, and writes each batch as one piece,
instead of passing every token through every layer on its own. `flatten` and `batched` go between the forms.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from wikismith.llm.errors import LLMError, StreamError
from wikismith.llm.types import Attempt, ChatResponse, ToolCall, Usage


# Not `frozen`, though never changed: one is built per token, and a frozen dataclass's `__init__` costs three
# times as much (0.39 against 0.13 us; it sets each field through `object.__setattr__`).
@dataclass(slots=True)
class TextDelta:
    """A piece of the answer. `choice_extra`: the provider's fields on that chunk's choice that wikismith does
    not model (OpenAI's per-token `logprobs`…; never `index`, `delta`, `finish_reason` or `error`), for the
    gateway to pass on; None when there are none (never empty)."""

    text: str
    type: Literal["text"] = "text"
    choice_extra: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str
    type: Literal["reasoning"] = "reasoning"


@dataclass(frozen=True, slots=True)
class DeltaExtra:
    """Fields of a streamed chunk's `delta` that wikismith does not model and that carry a value: OpenRouter's
    `reasoning_details` (to be sent back unmodified with the next turn), web search `annotations`, `refusal`,
    `audio`… Sent after that chunk's text or reasoning, for the gateway to pass on; other consumers ignore it."""

    fields: Mapping[str, Any]
    type: Literal["delta_extra"] = "delta_extra"


@dataclass(frozen=True, slots=True)
class ChunkExtra:
    """Top-level fields of streamed chunks that wikismith does not model and that carry a value: OpenAI's
    `system_fingerprint` and `service_tier`, OpenRouter's `provider`… They are the same on every chunk of a stream,
    so they are sent once, before the events of the first chunk that has them (and again should a later chunk
    with a different set of fields bring new values), for the gateway to put on the chunks it writes; other
    consumers ignore it."""

    fields: Mapping[str, Any]
    type: Literal["chunk_extra"] = "chunk_extra"


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of tool call `index`: id and name come once, `arguments` arrives in fragments to be joined."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    type: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True, slots=True)
class UsageReport:
    usage: Usage
    type: Literal["usage"] = "usage"


@dataclass(frozen=True, slots=True)
class Finish:
    reason: str | None
    model: str | None = None
    upstream_provider: str | None = None
    id: str | None = None
    type: Literal["finish"] = "finish"


@dataclass(frozen=True, slots=True)
class Served:
    """The model answering a stream, when its first chunk names another than the one asked (a provider's own
    `models` fallback, an alias, a dated snapshot). Sent before the first content; the router reads it (to name
    the target that serves in `Routed`) and passes it no further; other consumers ignore it."""

    model: str
    type: Literal["served"] = "served"


@dataclass(frozen=True, slots=True)
class Routed:
    target: str
    attempts: tuple[Attempt, ...] = ()
    type: Literal["routed"] = "routed"


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """A failure as data, for edges only. `partial_text` is what had been streamed before it."""

    error: LLMError
    partial_text: str = ""
    type: Literal["error"] = "error"


StreamEvent = (
    TextDelta
    | ReasoningDelta
    | ToolCallDelta
    | DeltaExtra
    | ChunkExtra
    | UsageReport
    | Finish
    | Served
    | Routed
    | ErrorEvent
)


async def flatten(batches: AsyncGenerator[list[StreamEvent], None]) -> AsyncIterator[StreamEvent]:
    """The events of a batched stream one by one. Closing this closes `batches` (and the call under it) at once."""
    try:
        async for batch in batches:
            for event in batch:
                yield event
    finally:
        await batches.aclose()


async def batched(stream: AsyncIterator[StreamEvent]) -> AsyncGenerator[list[StreamEvent], None]:
    """A stream as batches of one event each, for a client that has no batched form."""
    try:
        async for event in stream:
            yield [event]
    finally:
        closer = getattr(stream, "aclose", None)
        if closer is not None:
            await closer()


async def collect(stream: AsyncIterator[StreamEvent]) -> ChatResponse:
    """Fold a stream into a `ChatResponse`. Raises what the stream raises; an `ErrorEvent` is raised too."""
    text: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    response = ChatResponse()
    async for event in stream:
        match event:
            case TextDelta(text=chunk):
                text.append(chunk)
            case ReasoningDelta(text=chunk):
                reasoning.append(chunk)
            case ToolCallDelta(index=i, id=cid, name=name, arguments=args):
                call = calls.setdefault(i, {"id": "", "name": "", "arguments": ""})
                call["id"] = cid or call["id"]
                call["name"] = name or call["name"]
                call["arguments"] += args
            case UsageReport(usage=usage):
                response.usage = usage
            case Finish(reason=reason, model=model, upstream_provider=up, id=rid):
                response.finish_reason, response.model, response.upstream_provider, response.id = reason, model, up, rid
            case Routed(target=target, attempts=attempts):
                response.target, response.attempts = target, list(attempts)
            case ErrorEvent(error=error, partial_text=partial):
                if isinstance(error, StreamError):
                    raise error
                raise StreamError(str(error), partial_text=partial, cause=error)
    response.text = "".join(text)
    response.reasoning = "".join(reasoning) or None
    response.tool_calls = [
        ToolCall(id=c["id"], name=c["name"], arguments=c["arguments"]) for _, c in sorted(calls.items())
    ]
    return response


async def errors_as_events(stream: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
    """Pass events through; a raised LLMError becomes a final ErrorEvent carrying the text sent so far."""
    sent: list[str] = []
    try:
        async for event in stream:
            if isinstance(event, TextDelta):
                sent.append(event.text)
            yield event
    except LLMError as error:
        partial = error.partial_text if isinstance(error, StreamError) and error.partial_text else "".join(sent)
        yield ErrorEvent(error=error, partial_text=partial)
