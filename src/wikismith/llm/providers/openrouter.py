"""OpenRouter: the OpenAI wire format plus a few real differences (shared/openrouter-api.md).

- attribution headers `HTTP-Referer` and `X-OpenRouter-Title` / `X-Title` (the old name, still accepted; §1);
  generator.json sets them, defaults fill in what it leaves out;
- `usage: {include: true}` in every body: usage with `cost` comes back (now always included, "harmless" to
  send, and old deployments and proxies still need it; §4); `stream_options` is left to OpenAI;
- OpenRouter-only fields (`models`, `provider`, `route`, `transforms`, `plugins`, `reasoning`…) arrive in
  `ChatRequest.extra` and pass through untouched (§4, §15.10); `reasoning` is a canonical parameter too;
- the response names the model that served (after fallback) and the upstream `provider` (§8, §15.6); both are
  reported on `ChatResponse` / `Finish`;
- `list_models()` reads `GET /models` in the catalogue's shape (§3);
- prompt caching: OpenAI, DeepSeek, Grok… cache a repeated prefix on their own; Anthropic and Gemini cache only
  up to a `cache_control: {"type": "ephemeral"}` breakpoint set on a text content part (OpenRouter "Prompt
  Caching" guide). The large leading system message (else the first user message) gets one when it is long
  enough to be cached at all (Anthropic: 1024 tokens at least, smaller prompts are silently not cached);
  `prompt_cache: false` in the provider's generator.json entry turns it off. `cached_tokens` comes back in
  `usage.prompt_tokens_details` (parsed by `parse_usage`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from wikismith.llm.catalogue import parse_model
from wikismith.llm.providers.openai_compat import OpenAICompatClient
from wikismith.llm.types import ChatRequest, ModelInfo

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
# Model id prefixes that need an explicit breakpoint (OpenRouter "Prompt Caching": Anthropic, Google Gemini).
CACHE_BREAKPOINT_PREFIXES = ("anthropic/", "google/gemini")
# ~1024 tokens at ~4 characters a token: below this a breakpoint buys nothing (and Anthropic ignores it).
CACHE_MIN_CHARS = 4096
_EPHEMERAL = {"type": "ephemeral"}
_ATTRIBUTION = {
    "HTTP-Referer": "https://github.com/wikismith/wikismith",
    "X-OpenRouter-Title": "wikismith",
    "X-Title": "wikismith",
}


class OpenRouterClient(OpenAICompatClient):
    kind: ClassVar[str] = "openrouter"
    default_base_url: ClassVar[str | None] = DEFAULT_BASE_URL
    native_fallback: ClassVar[bool] = True  # takes `models: [...]` and falls back itself (openrouter-api.md §6)

    def headers(self) -> dict[str, str]:
        headers = super().headers()
        for name, value in _ATTRIBUTION.items():
            headers.setdefault(name, value)
        return headers

    def body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body = super().body(request, stream=stream)
        if "stream_options" not in request.extra:
            body.pop("stream_options", None)
        body.setdefault("usage", {"include": True})
        if self.provider.prompt_cache and "cache_control" not in body:  # a top-level one: automatic caching
            add_cache_breakpoint(body)
        return body

    async def list_models(self) -> list[ModelInfo]:
        data = await self.http.json("GET", "/models", None, model=None)
        rows = data.get("data", []) if isinstance(data, Mapping) else []
        return [parse_model(row, self.provider.id) for row in rows if isinstance(row, Mapping) and "id" in row]


def add_cache_breakpoint(body: dict[str, Any]) -> None:
    """Mark the leading system message, else the first user message, as the end of the cached prefix when the
    model needs explicit breakpoints and that text is long enough; its content becomes one text part."""
    model = str(body.get("model") or "")
    if not model.startswith(CACHE_BREAKPOINT_PREFIXES):
        return
    messages = body.get("messages") or []
    roles = [m.get("role") for m in messages]
    candidates = [0] if roles[:1] == ["system"] else []
    candidates += [roles.index("user")] if "user" in roles else []
    for index in candidates:
        content = messages[index].get("content")
        if isinstance(content, str) and len(content) >= CACHE_MIN_CHARS:
            part = {"type": "text", "text": content, "cache_control": dict(_EPHEMERAL)}
            messages[index] = {**messages[index], "content": [part]}
            return
