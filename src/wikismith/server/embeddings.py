"""`POST /v1/embeddings` over the configured embedders (embedder.json), one instance per embedder, built on
first use and closed with the app. `model` names an embedder: `default`, `local`, `embedder_ollama`, …
Vectors are returned as floats or, as the OpenAI SDK asks by default, base64 of little-endian float32.
"""

from __future__ import annotations

import asyncio
import base64
from typing import TYPE_CHECKING, Any

from wikismith.config.models import ConfigError
from wikismith.router.tokens import count_text
from wikismith.server.deps import ServerState
from wikismith.server.errors import HTTPProblem
from wikismith.server.schemas import EmbeddingsBody

if TYPE_CHECKING:
    from wikismith.llm.base import Embedder

MAX_INPUTS = 2048
_KEY = "embedders"


def embedder_names(server: ServerState) -> list[str]:
    names = sorted(server.config.embedder.entries())
    return ["default", *names, *(n.removeprefix("embedder_") for n in names if n.startswith("embedder_"))]


async def get_embedder(server: ServerState, model: str) -> Embedder:
    cache: dict[str, Embedder] = server.extras.setdefault(_KEY, {})
    name = None if model == "default" else model
    key = name or "default"
    embedder = cache.get(key)
    if embedder is not None:
        return embedder
    if model not in embedder_names(server):
        known = ", ".join(embedder_names(server))
        raise HTTPProblem(404, f"unknown embedder {model!r}; known: {known}", code="model_not_found", param="model")
    from wikismith.rag import create_embedder

    try:
        # Loading a local model reads weights from disk: keep it off the event loop.
        embedder = await asyncio.to_thread(create_embedder, server.config, name)
    except ConfigError as exc:
        raise HTTPProblem(400, f"embedder {model!r} cannot be used: {exc}", code="embedder_unavailable") from None
    cache[key] = embedder
    return embedder


async def close_embedders(server: ServerState) -> None:
    for embedder in server.extras.pop(_KEY, {}).values():
        await embedder.aclose()


async def embed(server: ServerState, body: EmbeddingsBody) -> dict[str, Any]:
    texts = body.texts()
    if not texts or len(texts) > MAX_INPUTS:
        raise HTTPProblem(400, f"input must hold 1 to {MAX_INPUTS} texts", code="invalid_request", param="input")
    if any(not t for t in texts):
        raise HTTPProblem(400, "input texts must not be empty", code="invalid_request", param="input")
    embedder = await get_embedder(server, body.model)
    _check_dimensions(body, embedder.dimension)  # a remote embedder learns its dimension on its first call
    vectors = await embedder.embed(texts)
    _check_dimensions(body, int(vectors.shape[1]) if len(vectors) else 0)
    data = []
    for i, vector in enumerate(vectors):
        if body.encoding_format == "base64":
            value: Any = base64.b64encode(vector.astype("<f4").tobytes()).decode()
        else:
            value = vector.tolist()
        data.append({"object": "embedding", "index": i, "embedding": value})
    tokens = sum(count_text(t) for t in texts)
    return {
        "object": "list",
        "data": data,
        "model": embedder.id,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _check_dimensions(body: EmbeddingsBody, dimension: int) -> None:
    if body.dimensions is not None and dimension and body.dimensions != dimension:
        raise HTTPProblem(
            400,
            f"embedder {body.model!r} produces {dimension}-dimensional vectors, not {body.dimensions}",
            code="invalid_request",
            param="dimensions",
        )
