"""OpenRouter: the OpenAI wire format plus a few real differences (shared/openrouter-api.md).

- attribution headers `HTTP-Referer` and `X-OpenRouter-Title` / `X-Title` (the old name, still accepted; §1);
  generator.json sets them, defaults fill in what it leaves out;
- `usage: {include: true}` in every body: usage with `cost` comes back (now always included, "harmless" to
  send, and old deployments and proxies still need it; §4); `stream_options` is left to OpenAI;
- OpenRouter-only fields (`models`, `provider`, `route`, `transforms`, `plugins`, `reasoning`…) arrive in
  `ChatRequest.extra` and pass through untouched (§4, §15.10); `reasoning` is a canonical parameter too;
- the response names the model that served (after fallback) and the upstream `provider` (§8, §15.6); both are
  reported on `ChatResponse` / `Finish`;
- `list_models()` reads `GET /models` in the catalogue's shape (§3).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from wikismith.llm.catalogue import parse_model
from wikismith.llm.providers.openai_compat import OpenAICompatClient
from wikismith.llm.types import ChatRequest, ModelInfo

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
_ATTRIBUTION = {
    "HTTP-Referer": "https://github.com/wikismith/wikismith",
    "X-OpenRouter-Title": "wikismith",
    "X-Title": "wikismith",
}


class OpenRouterClient(OpenAICompatClient):
    kind: ClassVar[str] = "openrouter"
    default_base_url: ClassVar[str | None] = DEFAULT_BASE_URL

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
        return body

    async def list_models(self) -> list[ModelInfo]:
        data = await self.http.json("GET", "/models", None, model=None)
        rows = data.get("data", []) if isinstance(data, Mapping) else []
        return [parse_model(row, self.provider.id) for row in rows if isinstance(row, Mapping) and "id" in row]
