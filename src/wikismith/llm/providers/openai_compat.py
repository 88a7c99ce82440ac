"""The OpenAI chat-completions wire format, written once: OpenAI, Azure OpenAI, DashScope compatible mode,
Google's OpenAI endpoint, DeepSeek, vLLM, LM Studio… are this client with a different base URL, auth header
and query parameters (generator.json). OpenRouter is a small subclass (`openrouter.py`).

- `complete()`: POST /chat/completions; an `error` object inside a 200 body (top level or in `choices[0]`) is
  raised as its typed error, never returned as text (shared/openrouter-api.md §12, BerriAI/litellm#8448).
  An empty answer or `finish_reason: "error"` without an error object is reported as it came: the router decides.
- `stream()`: SSE decoded incrementally (`llm.sse`); comment lines skipped; chunks without `choices` (the usage
  chunk) handled; tool-call fragments passed on as `ToolCallDelta`s; `Served` when the first chunk names another
  model than the one asked; a chunk with a top-level `error` is raised
  (as `StreamError` with the partial text once content was sent); a stream that ends with neither a
  `finish_reason` nor `[DONE]` is an interrupted stream, not a success (open-octo/octo-agent#910).
- `embed()`: POST /embeddings -> unit-length float32 rows.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from wikismith.config.models import ResolvedProvider
from wikismith.llm.errors import (
    AuthError,
    BadRequest,
    ContextTooLong,
    LLMError,
    StatusError,
    UpstreamError,
    error_for_status,
)
from wikismith.llm.events import (
    Finish,
    Served,
    StreamEvent,
    UsageReport,
    flatten,
)
from wikismith.llm.params import wire_params
from wikismith.llm.providers.http import HTTPTransport
from wikismith.llm.providers.openai_stream import StreamState
from wikismith.llm.sse import SSEDecoder
from wikismith.llm.types import ChatRequest, ChatResponse, Message, ModelInfo, ToolCall, Usage

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

# Providers that state "context too long" only in prose (no structured code). Sources: OpenAI / vLLM
# ("This model's maximum context length is 4096 tokens…", vllm serving_engine), Anthropic through gateways
# ("prompt is too long"), DashScope ("Range of input length should be [1, 30720]"), LM Studio / llama.cpp
# server ("the request exceeds the available context size"), Mistral ("too large for model with N maximum
# context length").
_CONTEXT_PROSE = re.compile(
    r"maximum context length|context[_ ]length[_ ]exceeded|prompt is too long|range of input length"
    r"|exceeds? the (?:available )?context|maximum context|context window",
    re.IGNORECASE,
)


# OpenAI's own API (and Azure OpenAI) deprecated `max_tokens` for `max_completion_tokens` and refuse it for
# o-series / gpt-5 models ("Unsupported parameter: 'max_tokens'…", OpenAI chat API reference). Other
# compatible servers (vLLM, DashScope, LM Studio…) know `max_tokens`, so only these hosts get the new name.
_MAX_COMPLETION_HOSTS = ("api.openai.com", ".openai.azure.com")


def refine_context_error(error: StatusError) -> StatusError:
    """A 400 whose message says the prompt does not fit becomes `ContextTooLong`."""
    if type(error) is BadRequest and _CONTEXT_PROSE.search(error.message):
        return ContextTooLong(
            error.message,
            provider=error.provider,
            model=error.model,
            status=error.status,
            metadata=error.metadata,
            code=error.code,
        )
    return error


def wire_message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content if message.parts is None else message.parts}
    if message.name:
        out["name"] = message.name
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    return out


def parse_usage(raw: Any) -> Usage | None:
    """OpenAI/OpenRouter `usage` -> Usage; `cost` (OpenRouter, USD) is authoritative when present.
    (Parsed JSON: objects are dicts, so `isinstance(…, dict)`, which is cheaper than the `Mapping` ABC check.)"""
    if not isinstance(raw, dict):
        return None
    prompt_tokens = int(raw.get("prompt_tokens") or 0)
    completion_tokens = int(raw.get("completion_tokens") or 0)
    fields: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": int(raw.get("total_tokens") or prompt_tokens + completion_tokens),
    }
    completion = raw.get("completion_tokens_details")
    if isinstance(completion, dict) and completion.get("reasoning_tokens") is not None:
        fields["reasoning_tokens"] = completion["reasoning_tokens"]
    prompt = raw.get("prompt_tokens_details")
    if isinstance(prompt, dict):
        if prompt.get("cached_tokens") is not None:
            fields["cached_tokens"] = prompt["cached_tokens"]
        if prompt.get("cache_write_tokens") is not None:  # OpenRouter, for providers that bill cache writes
            fields["cache_write_tokens"] = prompt["cache_write_tokens"]
    cost = raw.get("cost")
    if isinstance(cost, int | float):
        fields["cost"] = float(cost)
    return Usage(**fields)


def unit_rows(matrix: NDArray[np.float32]) -> NDArray[np.float32]:
    """Rows scaled to unit length (all-zero rows stay zero)."""
    import numpy as np

    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    out: NDArray[np.float32] = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
    return out


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


class OpenAICompatClient:
    """A `ChatModel` (and embedder) for any OpenAI-compatible `base_url`."""

    kind: ClassVar[str] = "openai_compat"
    default_base_url: ClassVar[str | None] = None
    native_fallback: ClassVar[bool] = False  # whether the API runs a `models: [...]` fallback list itself

    def __init__(self, provider: ResolvedProvider) -> None:
        self.provider = provider
        base_url = provider.base_url or self.default_base_url
        if not base_url:
            raise BadRequest(f"provider {provider.id!r} has no base_url configured", provider=provider.id)
        self.http = HTTPTransport(provider, base_url, self.headers(), refine=refine_context_error)
        self._warned: set[tuple[str, str]] = set()

    def headers(self) -> dict[str, str]:
        """Auth (Bearer, or the configured header such as Azure's `api-key`) and the configured headers."""
        headers = {"Accept": "application/json"}
        key = self.provider.api_key
        if key is not None:
            secret = key.get_secret_value()
            if self.provider.api_key_header:
                headers[self.provider.api_key_header] = secret
            else:
                headers["Authorization"] = f"Bearer {secret}"
        headers.update(self.provider.headers)
        return headers

    # --- the ChatModel protocol -------------------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> ChatResponse:
        data = await self.http.json("POST", "/chat/completions", self.body(request, stream=False), model=request.model)
        return self.response(data, request.model)

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return flatten(self.stream_batches(request))

    async def stream_batches(self, request: ChatRequest) -> AsyncGenerator[list[StreamEvent], None]:
        """The stream's events, one list per network read (`Finish` with the last). A failure inside a read is
        raised after the events parsed before it have been passed on."""
        model = request.model
        opened = await self.http.open("POST", "/chat/completions", self.body(request, stream=True), model=model)
        decoder = SSEDecoder()
        state = StreamState(model)
        clean = False
        try:
            events: list[StreamEvent] = []
            try:
                async for data in self.http.chunks(opened):
                    events = self._parse(decoder.feed_data(data), state)
                    if state.done or state.error is not None:
                        break
                    if events:
                        yield events
                else:  # the body ended without `[DONE]`: an event whose blank line never came still counts
                    events = self._parse(decoder.flush_data(), state)
            except LLMError as error:
                raise state.interrupted(error) from None
            if state.error is None and not state.done and state.finish is None:
                cause = UpstreamError(
                    "the stream closed before it finished (no finish_reason, no [DONE])",
                    provider=self.provider.id,
                    model=model,
                    status=200,
                )
                state.error = state.interrupted(cause)
            if state.error is not None:
                if events:
                    yield events
                raise state.error
            events.append(Finish(state.finish, state.model, state.upstream, state.id))
            yield events
            clean = True
        finally:
            if clean:
                await self.http.finish(opened)
            else:  # abandoned or failed mid-way: drop the connection so the upstream stops generating
                opened.response.close()

    async def list_models(self) -> list[ModelInfo]:
        data = await self.http.json("GET", "/models", None, model=None)
        rows = data.get("data", []) if isinstance(data, Mapping) else []
        pid = self.provider.id
        return [ModelInfo(id=f"{pid}/{r['id']}", provider=pid, model=str(r["id"])) for r in rows if "id" in r]

    async def embed(self, texts: Sequence[str], model: str, *, dimensions: int | None = None) -> NDArray[np.float32]:
        """Unit-length float32 rows, in the order of `texts`."""
        import numpy as np

        body: dict[str, Any] = {"model": model, "input": list(texts), "encoding_format": "float"}
        if dimensions is not None:
            body["dimensions"] = dimensions
        data = await self.http.json("POST", "/embeddings", body, model=model)
        rows = sorted(data.get("data", []), key=lambda r: r.get("index", 0)) if isinstance(data, Mapping) else []
        if len(rows) != len(texts):
            raise UpstreamError(
                f"asked for {len(texts)} embeddings, got {len(rows)}", provider=self.provider.id, model=model
            )
        matrix = np.asarray([r["embedding"] for r in rows], dtype=np.float32).reshape(len(rows), -1)
        return unit_rows(matrix)

    async def aclose(self) -> None:
        await self.http.aclose()

    # --- request and response ---------------------------------------------------------------------------------

    def body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        self.check_key()
        body: dict[str, Any] = {"model": request.model, "messages": [wire_message(m) for m in request.messages]}
        body.update(
            wire_params(
                request.params,
                self.kind,
                strict=request.strict_params,
                provider=self.provider.id,
                model=request.model,
                warned=self._warned,
            )
        )
        if "max_tokens" in body and self.http.host.endswith(_MAX_COMPLETION_HOSTS):
            body["max_completion_tokens"] = body.pop("max_tokens")
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}  # the final usage chunk (OpenAI)
        body.update(request.extra)  # provider-specific fields pass through untouched
        return body

    def check_key(self) -> None:
        env = self.provider.api_key_env
        if self.provider.api_key is None and env:
            raise AuthError(
                f"no API key for provider {self.provider.id!r}: set {env} (e.g. export {env}=...)",
                provider=self.provider.id,
                status=None,
            )

    def response(self, data: Any, model: str) -> ChatResponse:
        if not isinstance(data, dict):
            raise UpstreamError("the answer is not a JSON object", provider=self.provider.id, model=model, status=200)
        if data.get("error"):
            raise self.inband_error(data, model)
        choices = data.get("choices") or []
        choice: dict[str, Any] = choices[0] if choices and isinstance(choices[0], dict) else {}
        if choice.get("error"):
            raise self.inband_error({"error": choice["error"], "model": data.get("model")}, model)
        message = choice.get("message") or {}
        fields: dict[str, Any] = {
            "text": _text(message.get("content")),
            "finish_reason": choice.get("finish_reason"),
            "usage": parse_usage(data.get("usage")),
            "model": data.get("model") or model,
            "provider": self.provider.id,
            "upstream_provider": data.get("provider"),
            "id": data.get("id"),
            "raw": data,
        }
        reasoning = message.get("reasoning") or message.get("reasoning_content")
        if reasoning:
            fields["reasoning"] = reasoning
        raw_calls = message.get("tool_calls")
        if raw_calls:
            fields["tool_calls"] = [
                ToolCall(
                    id=str(c.get("id") or f"call_{i}"), name=fn.get("name", ""), arguments=fn.get("arguments") or ""
                )
                for i, c in enumerate(raw_calls)
                if isinstance(fn := c.get("function"), dict)
            ]
        return ChatResponse(**fields)

    def inband_error(self, data: Mapping[str, Any], model: str) -> StatusError:
        """The typed error for an `error` object sent with HTTP 200 (numeric or string `code`). Its `served_model`
        is the model the body names (after a provider's own fallback, not always the one asked), else `model`."""
        err = data.get("error")
        code = err.get("code") if isinstance(err, Mapping) else None
        status = code if isinstance(code, int) and 400 <= code < 600 else 502
        error = refine_context_error(error_for_status(status, data, provider=self.provider.id, model=model))
        served = data.get("model")
        error.served_model = served if isinstance(served, str) and served else model
        return error

    # --- streaming --------------------------------------------------------------------------------------------

    def _parse(self, payloads: list[bytes], state: StreamState) -> list[StreamEvent]:
        """The stream events of some SSE events' data, up to `[DONE]` (which sets `state.done`) or a failure
        (which sets `state.error`)."""
        out: list[StreamEvent] = []
        try:
            for data in payloads:
                if data == b"[DONE]":
                    state.done = True
                    break
                self._chunk(data, state, out)
        except LLMError as error:
            state.error = error
        return out

    def _chunk(self, data: bytes, state: StreamState, out: list[StreamEvent]) -> None:
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            shown = data[:200].decode("utf-8", "replace")
            cause = UpstreamError(f"a stream event is not JSON: {shown!r}", provider=self.provider.id, status=200)
            raise state.interrupted(cause) from None
        if type(chunk) is not dict:  # orjson gives a dict for every JSON object
            return
        # `key in chunk` rather than `chunk.get(key)`: an opcode, not a call, and this runs for every token.
        if "error" in chunk and chunk["error"]:  # noqa: RUF019
            raise state.interrupted(self.inband_error(chunk, state.requested))
        if "id" in chunk:
            state.id = chunk["id"] or state.id
        if "model" in chunk:
            state.model = chunk["model"] or state.model
        if "provider" in chunk:
            state.upstream = chunk["provider"] or state.upstream
        if len(chunk) != state.width:  # the first chunk, and any with other fields: look for ones to pass on
            if not state.width and state.model and state.model != state.requested:
                out.append(Served(state.model))  # e.g. after OpenRouter fell back along `models`
            state.width = len(chunk)
            state.chunk_fields(chunk, out)
        if "choices" in chunk:
            for choice in chunk["choices"] or ():
                state.choice(choice, out)
                if "error" in choice and choice["error"]:  # noqa: RUF019
                    failed = {"error": choice["error"], "model": state.model}
                    raise state.interrupted(self.inband_error(failed, state.requested))
        if "usage" in chunk and chunk["usage"] is not None:
            usage = parse_usage(chunk["usage"])
            if usage is not None:
                out.append(UsageReport(usage))
