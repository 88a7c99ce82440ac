"""The schemas of the DeepWiki-shaped configuration files (pydantic): generator.json's providers, embedder.json's
entries, repo.json's filters and limits, lang.json. Loading, placeholders and resolution are in `models`.

A schema that may hold a key (headers, query parameters, embedder kwargs; a literal `api_key` is a `SecretStr`)
shows those values redacted in its repr, and so in the repr of anything holding it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from wikismith.redact import redact_value


class _RedactedRepr(BaseModel):
    """A schema whose repr/str (and so every repr holding it) shows mappings with sensitive names masked
    (`headers`, `query_params`, `initialize_kwargs`) and strings redacted (`user:pw@` in a base URL)."""

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, redact_value(value)


class Timeouts(BaseModel):
    """Seconds. `first_byte`: until response headers/first chunk; `idle`: between stream chunks."""

    model_config = ConfigDict(extra="forbid")
    connect: float = Field(10.0, gt=0)
    first_byte: float = Field(120.0, gt=0)
    idle: float = Field(120.0, gt=0)
    total: float = Field(600.0, gt=0)


class Limits(BaseModel):
    """Client-side limits per provider (and key). `None` means no limit of that kind."""

    model_config = ConfigDict(extra="forbid")
    requests_per_minute: int | None = Field(None, gt=0)
    tokens_per_minute: int | None = Field(None, gt=0)
    max_concurrent: int | None = Field(None, gt=0)


class ProviderConfig(_RedactedRepr):
    """One entry of `generator.json` `providers` (DeepWiki's keys, plus wikismith's optional extras)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    client_class: str | None = None
    name: str | None = None
    default_model: str
    supports_custom_model: bool = Field(False, alias="supportsCustomModel")
    base_url: str | None = None
    api_key_env: str | None = None
    api_key: SecretStr | None = None  # a literal key, or a `${NAME}` placeholder expanded on use
    api_key_header: str | None = None
    query_params: dict[str, str] = {}
    headers: dict[str, str] = {}
    timeouts: Timeouts = Timeouts()
    limits: Limits = Limits()
    prompt_cache: bool = True  # cache breakpoints where the provider needs them (OpenRouter: Claude, Gemini)
    models: dict[str, dict[str, Any]] = {}


class GeneratorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default_provider: str = "openrouter"
    providers: dict[str, ProviderConfig]
    routes: dict[str, list[str]] = {}


class EmbedderEntry(_RedactedRepr):
    """One embedder (DeepWiki's `embedder*` entries): client, batch size, model kwargs, constructor kwargs."""

    model_config = ConfigDict(extra="forbid")
    client_class: str
    batch_size: int = Field(32, gt=0)
    model_kwargs: dict[str, Any] = {}
    initialize_kwargs: dict[str, Any] = {}


class RetrieverConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    top_k: int = Field(20, gt=0)


class TextSplitterConfig(BaseModel):
    """Chunk size and overlap in tokens (DeepWiki counted words; `split_by` is accepted for compatibility)."""

    model_config = ConfigDict(extra="forbid")
    split_by: str = "token"
    chunk_size: int = Field(350, gt=16)
    chunk_overlap: int = Field(50, ge=0)


class EmbedderConfig(_RedactedRepr):
    """`embedder.json`: named embedders (`embedder`, `embedder_ollama`, `embedder_local`, …) and the default."""

    model_config = ConfigDict(extra="allow")
    default: str = "local"
    retriever: RetrieverConfig = RetrieverConfig()
    text_splitter: TextSplitterConfig = TextSplitterConfig()

    def entries(self) -> dict[str, EmbedderEntry]:
        extra = self.model_extra or {}
        return {k: EmbedderEntry.model_validate(v) for k, v in extra.items() if k.startswith("embedder")}


class FileFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    excluded_dirs: list[str] = []
    excluded_files: list[str] = []
    included_dirs: list[str] = []
    included_files: list[str] = []


class RepositoryLimits(BaseModel):
    model_config = ConfigDict(extra="allow")
    max_size_mb: float = 50000
    max_file_bytes: int = Field(1_000_000, gt=0)
    allowed_hosts: list[str] = ["github.com", "gitlab.com", "bitbucket.org"]
    allow_private_hosts: bool = False


class RepoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file_filters: FileFilters = FileFilters()
    repository: RepositoryLimits = RepositoryLimits()


class LangConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    supported_languages: dict[str, str]
    default: str = "en"
