"""The provider registry: wire kind (`ResolvedProvider.kind`, from config/defaults/client_classes.json) -> client.

    client = create_client(config.provider("openrouter"))     # a ChatModel; also `embed()` for HTTP kinds
    answer = await client.complete(ChatRequest(model="openai/gpt-4o-mini", messages=[...]))
    await client.aclose()

Adding a provider is one module and one line here. This package is imported only when a client is created
(the router imports it lazily); llama.cpp itself loads only when the local model first generates.
"""

from __future__ import annotations

from wikismith.config.models import ConfigError, ResolvedProvider
from wikismith.llm.base import ChatModel
from wikismith.llm.providers.llamacpp import LlamaCppClient
from wikismith.llm.providers.ollama import OllamaClient
from wikismith.llm.providers.openai_compat import OpenAICompatClient
from wikismith.llm.providers.openrouter import OpenRouterClient

__all__ = [
    "PROVIDERS",
    "LlamaCppClient",
    "OllamaClient",
    "OpenAICompatClient",
    "OpenRouterClient",
    "create_client",
    "runs_fallbacks",
]

PROVIDERS: dict[str, type[OpenAICompatClient] | type[OllamaClient] | type[LlamaCppClient]] = {
    "openai_compat": OpenAICompatClient,
    "openrouter": OpenRouterClient,
    "ollama": OllamaClient,
    "llamacpp": LlamaCppClient,
}


def create_client(provider: ResolvedProvider) -> ChatModel:
    """A new client for `provider` (its own connection pool, created on first use; close it with `aclose()`)."""
    cls = PROVIDERS.get(provider.kind)
    if cls is None:
        known = ", ".join(sorted(PROVIDERS))
        raise ConfigError(f"no client for provider kind {provider.kind!r} (provider {provider.id!r}); known: {known}")
    client: ChatModel = cls(provider)
    return client


def runs_fallbacks(kind: str) -> bool:
    """Whether the API behind providers of `kind` takes a `models: [...]` list and falls back along it itself
    (then the router sends one request instead of trying the models one by one)."""
    return bool(getattr(PROVIDERS.get(kind), "native_fallback", False))
