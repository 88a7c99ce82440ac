"""The contracts every backend implements: `ChatModel` (chat, streaming, catalogue) and `Embedder`.

A `ChatModel` serves many models; `ChatRequest.model` says which. Provider clients are thin: no retries, no
fallback (that is the router's job, and the `Router` is itself a `ChatModel`). `stream()` yields typed events
and raises typed `LLMError`s; it never yields an error as text. `aclose()` releases pooled connections.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from wikismith.llm.errors import BadRequest
from wikismith.llm.events import StreamEvent
from wikismith.llm.types import ChatRequest, ChatResponse, ModelInfo

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


def refuse_media(request: ChatRequest, provider: str) -> None:
    """For backends that take text only: a message with image, audio or file parts is refused (400), never
    sent on with its media silently dropped."""
    for message in request.messages:
        kinds = message.media_parts()
        if kinds:
            raise BadRequest(
                f"provider {provider!r} takes text messages only; this request has {', '.join(sorted(set(kinds)))}"
                " content parts (use a provider that speaks OpenAI's format, e.g. OpenRouter)",
                provider=provider,
                model=request.model,
            )


@runtime_checkable
class ChatModel(Protocol):
    async def complete(self, request: ChatRequest) -> ChatResponse:
        """The whole answer. Raises LLMError (an error inside a 200 body, or an empty answer, included)."""
        ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Events as they arrive: deltas, then usage, then Finish. Mid-stream failure raises StreamError."""
        ...

    async def list_models(self) -> list[ModelInfo]:
        """The models this backend offers (may be the configured list for backends with no catalogue)."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Embedder(Protocol):
    """Text -> unit-length float32 vectors of a fixed `dimension`. `id` names model and settings, so an
    index built with one embedder is never searched with another."""

    @property
    def id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    async def embed(self, texts: Sequence[str]) -> NDArray[np.float32]: ...

    async def aclose(self) -> None: ...
