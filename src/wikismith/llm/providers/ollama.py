"""Ollama's native API (https://github.com/ollama/ollama/blob/main/docs/api.md): `/api/chat` streaming NDJSON,
`/api/tags`, `/api/embed`. The base URL is generator.json's `base_url`, which defaults to `${OLLAMA_HOST}`;
like Ollama's own CLI we accept a bare `host[:port]` there (scheme http, port 11434 by default).

Ollama streams unless told `stream: false`; each line is `{"message": {...}, "done": false}`, the last one
`{"done": true, "done_reason", "prompt_eval_count", "eval_count"}`; a failure is `{"error": "..."}` as a body
(with an error status) or as a line. Tool calls come whole, with `arguments` as an object. Local: cost 0.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from wikismith.config.models import ConfigError, ResolvedProvider
from wikismith.llm.errors import BadRequest, LLMError, StreamError, UpstreamError
from wikismith.llm.events import Finish, ReasoningDelta, StreamEvent, TextDelta, ToolCallDelta, UsageReport, collect
from wikismith.llm.params import wire_params
from wikismith.llm.providers.http import HTTPTransport, Opened
from wikismith.llm.providers.openai_compat import unit_rows
from wikismith.llm.types import ChatRequest, ChatResponse, Message, ModelInfo, Usage

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

DEFAULT_HOST = "http://127.0.0.1:11434"


# The addresses a server listens on for "every interface" (`OLLAMA_HOST=0.0.0.0` serves the LAN) are not
# addresses to connect to: like Ollama's CLI, connect to loopback of the same family instead.
_LISTEN_ALL = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def normalise_host(value: str | None) -> str:
    """`OLLAMA_HOST` forms (`0.0.0.0`, `host:port`, `[::1]:port`, `https://host`) -> a base URL.

    Like Ollama's own client, user info (`user:pw@`) is not carried over."""
    if not value:
        return DEFAULT_HOST
    url = value if "://" in value else f"http://{value}"
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 11434)
    except ValueError:
        shown = parts.netloc.rpartition("@")[2]  # not the user info: it may hold a password
        raise ConfigError(f"Ollama host {shown!r} has a port that is not a number from 0 to 65535") from None
    host = parts.hostname or "127.0.0.1"
    host = _LISTEN_ALL.get(host, host)
    host = f"[{host}]" if ":" in host else host  # urlsplit drops an IPv6 address's brackets; a URL needs them
    return f"{parts.scheme}://{host}:{port}{parts.path.rstrip('/')}"


_DATA_IMAGE = re.compile(r"data:image/[\w.+-]+;base64,(.+)", re.DOTALL)


def images(message: Message, provider: str) -> list[str]:
    """Ollama's `images` (base64, without the data-URL prefix) from a message's `image_url` parts. Data URLs
    only: Ollama cannot fetch a link, and wikismith does not fetch one for it. Other media are refused (400)."""
    found = []
    for part in message.parts or ():
        kind = part.get("type")
        if kind == "text":
            continue
        if kind != "image_url":
            raise BadRequest(
                f"provider {provider!r} (Ollama) takes text and images; this request has a {kind} part",
                provider=provider,
            )
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        match = _DATA_IMAGE.fullmatch(url) if isinstance(url, str) else None
        if match is None:
            shown = url[:60] if isinstance(url, str) else type(url).__name__
            raise BadRequest(
                f"provider {provider!r} (Ollama) takes images as data URLs (data:image/png;base64,…), not {shown!r}",
                provider=provider,
            )
        found.append(match.group(1))
    return found


def wire_message(message: Message, provider: str = "ollama") -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content or ""}
    if message.parts is not None:
        pictures = images(message, provider)
        if pictures:
            out["images"] = pictures
    if message.tool_calls:
        out["tool_calls"] = [
            {"function": {"name": c.name, "arguments": _arguments(c.arguments)}} for c in message.tool_calls
        ]
    if message.role == "tool" and message.name:
        out["tool_name"] = message.name
    return out


def _arguments(raw: str) -> Any:
    try:
        return orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return raw


class OllamaClient:
    kind = "ollama"

    def __init__(self, provider: ResolvedProvider) -> None:
        self.provider = provider
        headers = dict(provider.headers)
        if provider.api_key is not None:  # Ollama behind an authenticating proxy / ollama.com
            headers["Authorization"] = f"Bearer {provider.api_key.get_secret_value()}"
        self.http = HTTPTransport(provider, normalise_host(provider.base_url), headers)
        self._warned: set[tuple[str, str]] = set()

    async def complete(self, request: ChatRequest) -> ChatResponse:
        # Streaming internally: the same parsing path, and idle timeouts apply while a long answer is generated.
        response = await collect(self.stream(request))
        response.provider = self.provider.id
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        opened = await self.http.open("POST", "/api/chat", self.body(request), model=request.model)
        clean = False
        try:
            async for event in self._events(opened, request.model):
                yield event
            clean = True
        finally:
            if clean:
                await self.http.finish(opened)
            else:
                opened.response.close()

    async def list_models(self) -> list[ModelInfo]:
        data = await self.http.json("GET", "/api/tags", None, model=None)
        rows = data.get("models", []) if isinstance(data, Mapping) else []
        pid = self.provider.id
        return [
            ModelInfo(
                id=f"{pid}/{r['name']}", provider=pid, model=str(r["name"]), prompt_price=0.0, completion_price=0.0
            )
            for r in rows
            if isinstance(r, Mapping) and "name" in r
        ]

    async def embed(self, texts: Sequence[str], model: str, *, dimensions: int | None = None) -> NDArray[np.float32]:
        import numpy as np

        body: dict[str, Any] = {"model": model, "input": list(texts)}
        if dimensions is not None:
            body["dimensions"] = dimensions
        data = await self.http.json("POST", "/api/embed", body, model=model)
        vectors = data.get("embeddings", []) if isinstance(data, Mapping) else []
        if len(vectors) != len(texts):
            raise UpstreamError(
                f"asked for {len(texts)} embeddings, got {len(vectors)}", provider=self.provider.id, model=model
            )
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
        return unit_rows(matrix)

    async def aclose(self) -> None:
        await self.http.aclose()

    def body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [wire_message(m, self.provider.id) for m in request.messages],
            "stream": True,
        }
        fields = wire_params(
            request.params,
            self.kind,
            strict=request.strict_params,
            provider=self.provider.id,
            model=request.model,
            warned=self._warned,
        )
        body.update(fields)
        body.update(request.extra)  # e.g. keep_alive
        return body

    async def _events(self, opened: Opened, model: str) -> AsyncIterator[StreamEvent]:
        buffer = b""
        sent: list[str] = []
        calls: list[int] = []
        finished = False
        try:
            async for data in self.http.chunks(opened):
                lines = (buffer + data).split(b"\n")
                buffer = lines.pop()
                for line in lines:
                    for event in self._line(line, model, sent, calls):
                        finished = finished or isinstance(event, Finish)
                        yield event
            for event in self._line(buffer, model, sent, calls):
                finished = finished or isinstance(event, Finish)
                yield event
        except LLMError as error:
            if sent and not isinstance(error, StreamError):
                raise StreamError(error.message, partial_text="".join(sent), cause=error) from None
            raise
        if not finished:
            cause = UpstreamError("the stream closed before `done: true`", provider=self.provider.id, model=model)
            if sent:
                raise StreamError(cause.message, partial_text="".join(sent), cause=cause)
            raise cause

    def _line(self, line: bytes, model: str, sent: list[str], calls: list[int]) -> Iterator[StreamEvent]:
        line = line.strip()
        if not line:
            return
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise UpstreamError(
                f"a stream line is not JSON: {line[:200]!r}", provider=self.provider.id, model=model
            ) from None
        if not isinstance(item, Mapping):
            return
        if item.get("error"):
            raise UpstreamError(str(item["error"]), provider=self.provider.id, model=model, status=200)
        message = item.get("message") or {}
        if message.get("thinking"):
            yield ReasoningDelta(message["thinking"])
        if message.get("content"):
            sent.append(message["content"])
            yield TextDelta(message["content"])
        for call in message.get("tool_calls") or ():
            fn = call.get("function") or {}
            args = fn.get("arguments", {})
            text = args if isinstance(args, str) else orjson.dumps(args).decode()
            i = len(calls)  # calls may come on several lines: number them across the stream
            calls.append(i)
            yield ToolCallDelta(i, call.get("id") or f"call_{i}", fn.get("name"), text)
        if item.get("done"):
            prompt, completion = int(item.get("prompt_eval_count") or 0), int(item.get("eval_count") or 0)
            usage = Usage(
                prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion, cost=0.0
            )
            yield UsageReport(usage)
            yield Finish(item.get("done_reason") or "stop", item.get("model") or model)
