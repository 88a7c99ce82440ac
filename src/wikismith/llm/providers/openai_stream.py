"""What one OpenAI-format stream has said so far (`StreamState`): the text sent, the model and ids, the finish
reason and the chunk fields passed on, and how each choice's delta becomes stream events. Driven by
`OpenAICompatClient`, one chunk at a time; this is the per-token path, so it reads dicts with `in` and indexing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wikismith.llm.errors import LLMError, StreamError
from wikismith.llm.events import ChunkExtra, DeltaExtra, ReasoningDelta, StreamEvent, TextDelta, ToolCallDelta

# `obfuscation`: OpenAI's random padding, different on every chunk, to hide token lengths; the gateway's chunks are
# its own, so it is not copied onto them.
_MODELLED_CHUNK_KEYS = frozenset({"id", "object", "created", "model", "choices", "usage", "error", "obfuscation"})
_MODELLED_CHOICE_KEYS = frozenset({"index", "delta", "finish_reason", "error"})
_MODELLED_DELTA_KEYS = frozenset({"role", "content", "reasoning", "reasoning_content", "tool_calls"})


def _choice_extra(choice: Mapping[str, Any]) -> dict[str, Any] | None:
    """The fields of a stream choice that wikismith does not model and that carry a value (OpenAI sends
    `"logprobs": null` on every chunk; only a real value is worth passing on)."""
    extra = {k: v for k, v in choice.items() if v is not None and k not in _MODELLED_CHOICE_KEYS}
    return extra or None


class StreamState:
    __slots__ = ("done", "error", "fields", "finish", "id", "model", "requested", "sent", "upstream", "width")

    def __init__(self, model: str) -> None:
        self.requested = model
        self.model: str | None = model
        self.id: str | None = None
        self.upstream: str | None = None
        self.finish: str | None = None
        self.sent: list[str] = []
        self.done = False  # `[DONE]` was received
        self.error: LLMError | None = None  # a failure met while parsing a read, raised after its earlier events
        self.width = 0  # how many fields the last chunk had: other fields are looked for only when it changes
        self.fields: dict[str, Any] = {}  # the chunk fields passed on so far (`ChunkExtra`)

    def chunk_fields(self, chunk: Mapping[str, Any], out: list[StreamEvent]) -> None:
        """A `ChunkExtra` for the fields of `chunk` that wikismith does not model, new or changed."""
        new = {
            k: v
            for k, v in chunk.items()
            if v is not None and k not in _MODELLED_CHUNK_KEYS and (k not in self.fields or self.fields[k] != v)
        }
        if new:
            self.fields.update(new)
            out.append(ChunkExtra(new))

    def choice(self, choice: Mapping[str, Any], out: list[StreamEvent]) -> None:
        # As in `_chunk`: `in` and indexing, no `dict.get` calls, on the per-token path.
        delta = choice["delta"] if "delta" in choice else None  # noqa: SIM401
        if delta:
            # `{"content": …}` (OpenAI) or `{"role": "assistant", "content": …}` (OpenRouter): nearly every token.
            if "content" in delta and (len(delta) == 1 or (len(delta) == 2 and "role" in delta)):
                if delta["content"]:
                    self.text(choice, delta["content"], out)
            else:
                self.delta(choice, delta, out)
        if "finish_reason" in choice and choice["finish_reason"]:  # noqa: RUF019
            self.finish = choice["finish_reason"]

    def delta(self, choice: Mapping[str, Any], delta: Mapping[str, Any], out: list[StreamEvent]) -> None:
        """Any delta: reasoning, content, tool calls, and the fields wikismith does not model."""
        reasoning = delta.get("reasoning") or delta.get("reasoning_content")  # OpenRouter / DeepSeek, vLLM
        if reasoning:
            out.append(ReasoningDelta(reasoning))
        if delta.get("content"):
            self.text(choice, delta["content"], out)
        for call in delta.get("tool_calls") or ():
            fn = call.get("function") or {}
            out.append(
                ToolCallDelta(int(call.get("index", 0)), call.get("id"), fn.get("name"), fn.get("arguments") or "")
            )
        extra = {k: v for k, v in delta.items() if v is not None and k not in _MODELLED_DELTA_KEYS}
        if extra:
            out.append(DeltaExtra(extra))

    def text(self, choice: Mapping[str, Any], content: str, out: list[StreamEvent]) -> None:
        self.sent.append(content)
        extra = _choice_extra(choice) if len(choice) > 3 else None
        out.append(TextDelta(content) if extra is None else TextDelta(content, choice_extra=extra))

    def interrupted(self, error: LLMError) -> LLMError:
        """`error` as raised to the caller: a `StreamError` carrying the partial text once text was sent. Once a
        chunk has come, the model it named is the one that failed (`served_model`)."""
        if error.served_model is None and self.width:
            error.served_model = self.model
        if not self.sent or isinstance(error, StreamError):
            return error
        return StreamError(error.message, partial_text="".join(self.sent), cause=error, status=error.status)
