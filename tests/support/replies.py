"""What the emulator answers: its catalogue (`DEFAULT_MODELS`), `Reply` (one scripted answer) and its helpers,
and the wire bodies built from it (OpenAI/OpenRouter JSON and SSE chunks, Ollama NDJSON lines). See
`tests/support/emulator.py` for the server."""

from __future__ import annotations

import hashlib
import json
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TEXT = "Hello from the emulator."
PROCESSING = b": OPENROUTER PROCESSING\n\n"


DEFAULT_MODELS: list[dict[str, Any]] = [
    {
        "id": "emu/cheap",
        "name": "Emulator: cheap",
        "context_length": 8192,
        "pricing": {"prompt": "0.0000001", "completion": "0.0000002", "request": "0"},
        "top_provider": {"context_length": 8192, "max_completion_tokens": 1024, "is_moderated": False},
        "architecture": {"modality": "text->text"},
        "supported_parameters": ["max_tokens", "temperature", "top_p", "stop", "seed", "tools", "tool_choice"],
    },
    {
        "id": "emu/big",
        "name": "Emulator: big",
        "context_length": 128000,
        "pricing": {"prompt": "0.000003", "completion": "0.000015"},
        "top_provider": {"context_length": 128000, "max_completion_tokens": 8192, "is_moderated": True},
        "architecture": {"modality": "text->text"},
        "supported_parameters": ["max_tokens", "temperature", "top_p", "reasoning", "response_format"],
    },
]


@dataclass
class Reply:
    """One scripted answer. Defaults: a 200 with `text`, streamed word by word, usage with cost, `[DONE]`.

    text            the answer (None → `content: null`); `chunks` overrides how it is cut for streaming
    status/error    a non-200 status and the `error` object sent as `{"error": error}` (see `error()`)
    error_in_body   with status 200: put `error` in the body ("top" level, or in "choice" 0), content null; a
                    stream sends it as its one in-band error event
    stream_error    an error object sent in-band after the chunks (finish_reason "error"; mid-stream failure)
    headers         extra response headers (e.g. Retry-After)
    delay           seconds before the response headers; `chunk_delay` between stream writes
    comments        `: OPENROUTER PROCESSING` lines before the first event
    split           write each SSE event in three pieces (mid-line, mid-JSON) so reads see partial lines
    crlf            end SSE lines with CRLF
    done            send `data: [DONE]` (OpenAI-compatible servers sometimes just close)
    linger          seconds the stream stays open after its last event before it ends (a slow proxy)
    finish_reason   on the last content chunk / message (None: never sent, e.g. a truncated stream)
    usage           the usage object (None: no usage chunk); `model` the model reported (default: the one asked)
    raw_body        send these bytes as the whole body instead (e.g. an HTML 502 from a proxy)
    coalesce        write the whole stream at once (benchmarks: the client's parsing, not the server, is timed)
    extra           more top-level fields of a whole answer (e.g. system_fingerprint); `choice_extra` in its
                    choice (e.g. logprobs), `message_extra` in its message (e.g. refusal)
    reasoning_details  in the reasoning chunk's delta, as OpenRouter streams them (needs `reasoning`)
    extra_deltas    deltas streamed as chunks of their own after the text (e.g. web search `annotations`)
    """

    text: str | None = DEFAULT_TEXT
    chunks: list[str] | None = None
    status: int = 200
    error: dict[str, Any] | None = None
    error_in_body: str | None = None
    stream_error: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunk_delay: float = 0.0
    comments: int = 0
    split: bool = False
    crlf: bool = False
    done: bool = True
    linger: float = 0.0
    finish_reason: str | None = "stop"
    usage: dict[str, Any] | None = field(
        default_factory=lambda: {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17, "cost": 0.00042}
    )
    model: str | None = None
    provider: str = "EmuProvider"
    tool_calls: list[dict[str, Any]] | None = None
    reasoning: str | None = None
    raw_body: bytes | None = None
    coalesce: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    choice_extra: dict[str, Any] = field(default_factory=dict)
    message_extra: dict[str, Any] = field(default_factory=dict)
    reasoning_details: list[dict[str, Any]] | None = None
    extra_deltas: list[dict[str, Any]] = field(default_factory=list)

    def pieces(self) -> list[str]:
        if self.chunks is not None:
            return self.chunks
        if not self.text:
            return []
        words = self.text.split(" ")
        return [w + " " for w in words[:-1]] + [words[-1]]


def error(
    status: int,
    message: str,
    *,
    code: int | str | None = None,
    metadata: dict[str, Any] | None = None,
    retry_after: float | str | None = None,
    **extra: Any,
) -> Reply:
    """An error status with OpenRouter's body `{"error": {"code", "message", "metadata"?}}` (+ Retry-After)."""
    body: dict[str, Any] = {"code": status if code is None else code, "message": message}
    if metadata is not None:
        body["metadata"] = metadata
    body.update(extra)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return Reply(text=None, status=status, error=body, headers=headers)


def mid_stream_error(
    text: str, code: int | str = 502, message: str = "Provider disconnected unexpectedly", **kw: Any
) -> Reply:
    """Stream `text`, then an in-band error chunk with `finish_reason: "error"` (shared/openrouter-api.md §12)."""
    return Reply(text=text, stream_error={"code": code, "message": message}, usage=None, **kw)


def error_in_200(code: int | str = 429, message: str = "Provider returned error", where: str = "top") -> Reply:
    """HTTP 200 whose body carries an `error` object and `content: null` (BerriAI/litellm#8448)."""
    return Reply(
        text=None,
        error={"code": code, "message": message, "metadata": {"provider_name": "Kluster"}},
        error_in_body=where,
        finish_reason="error" if where == "choice" else "stop",
    )


def embedding(text: str, dim: int) -> list[float]:
    """Deterministic pseudo-embedding of `text` (same text → same vector)."""
    out: list[float] = []
    counter = 0
    while len(out) < dim:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        out.extend((v / 2**31) - 1.0 for v in struct.unpack("<8I", digest))
        counter += 1
    return out[:dim]


# --- bodies ------------------------------------------------------------------------------------------------------


def completion(reply: Reply, model: str, gen_id: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, **reply.message_extra}
    if reply.tool_calls:
        message["tool_calls"] = reply.tool_calls
    if reply.reasoning:
        message["reasoning"] = reply.reasoning
    choice: dict[str, Any] = {"index": 0, "finish_reason": reply.finish_reason, "message": message}
    choice.update(reply.choice_extra)
    body: dict[str, Any] = {
        **reply.extra,
        "id": gen_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": reply.model or model,
        "provider": reply.provider,
        "choices": [choice],
    }
    if reply.usage is not None:
        body["usage"] = reply.usage
    if reply.error_in_body == "top":
        body["error"] = reply.error
    elif reply.error_in_body == "choice":
        choice["error"] = reply.error
    return body


def chunks(reply: Reply, model: str, gen_id: str) -> Iterator[dict[str, Any]]:
    base = {
        "id": gen_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": reply.model or model,
        "provider": reply.provider,
        **reply.extra,  # e.g. system_fingerprint, on every chunk as OpenAI sends it
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    if reply.reasoning:
        delta = {"role": "assistant", "content": "", "reasoning": reply.reasoning}
        yield chunk(
            delta if reply.reasoning_details is None else {**delta, "reasoning_details": reply.reasoning_details}
        )
    pieces = reply.pieces()
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1 and not reply.tool_calls and reply.stream_error is None and not reply.extra_deltas
        content_chunk = chunk({"role": "assistant", "content": piece}, reply.finish_reason if last else None)
        content_chunk["choices"][0].update(reply.choice_extra)  # e.g. each token's logprobs
        yield content_chunk
    for i, extra_delta in enumerate(reply.extra_deltas):
        last = i == len(reply.extra_deltas) - 1 and not reply.tool_calls and reply.stream_error is None
        yield chunk(extra_delta, reply.finish_reason if last else None)
    for i, call in enumerate(reply.tool_calls or []):
        fn = call.get("function", {})
        args = str(fn.get("arguments", ""))
        half = len(args) // 2
        first = {
            "index": i,
            "id": call.get("id"),
            "type": "function",
            "function": {"name": fn.get("name"), "arguments": args[:half]},
        }
        yield chunk({"tool_calls": [first]})
        last = i == len(reply.tool_calls or []) - 1
        yield chunk(
            {"tool_calls": [{"index": i, "function": {"arguments": args[half:]}}]}, "tool_calls" if last else None
        )
    failure = reply.stream_error if reply.stream_error is not None else reply.error if reply.error_in_body else None
    if failure is not None:  # an error in a 200 stream: one in-band event (an `error_in_200` before any text)
        yield {
            **base,
            "error": failure,
            "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
        }
    elif not pieces and not reply.tool_calls and reply.finish_reason:
        yield chunk({"role": "assistant", "content": ""}, reply.finish_reason)
    if reply.usage is not None:
        yield {**base, "choices": [], "usage": reply.usage}


def ollama_lines(reply: Reply, model: str) -> list[dict[str, Any]]:
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    lines: list[dict[str, Any]] = []
    if reply.reasoning:
        lines.append(
            {
                "model": model,
                "created_at": created,
                "message": {"role": "assistant", "content": "", "thinking": reply.reasoning},
                "done": False,
            }
        )
    for piece in reply.pieces():
        lines.append(
            {"model": model, "created_at": created, "message": {"role": "assistant", "content": piece}, "done": False}
        )
    if reply.tool_calls:
        calls = [
            {
                "function": {
                    "name": c["function"]["name"],
                    "arguments": json.loads(c["function"].get("arguments") or "{}"),
                }
            }
            for c in reply.tool_calls
        ]
        lines.append(
            {
                "model": model,
                "created_at": created,
                "message": {"role": "assistant", "content": "", "tool_calls": calls},
                "done": False,
            }
        )
    if reply.stream_error is not None:
        lines.append({"error": reply.stream_error.get("message", "error")})
        return lines
    if reply.finish_reason is not None:
        usage = reply.usage or {}
        lines.append({
            "model": model,
            "created_at": created,
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": reply.finish_reason,
            "prompt_eval_count": usage.get("prompt_tokens", 0),
            "eval_count": usage.get("completion_tokens", 0),
            "total_duration": 1_000_000,
        })  # fmt: skip
    return lines


def ollama_whole(reply: Reply, model: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
    final = dict(lines[-1]) if lines and lines[-1].get("done") else {"model": model, "done": True}
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or ""}
    for line in lines:
        if "tool_calls" in line.get("message", {}):
            message["tool_calls"] = line["message"]["tool_calls"]
        if "thinking" in line.get("message", {}):
            message["thinking"] = line["message"]["thinking"]
    final["message"] = message
    return final
