"""Typed values that cross the model layer's boundary, the same for every provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant", "tool"]


class ToolCall(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    name: str
    arguments: str = ""
    type: Literal["function"] = "function"


class Message(BaseModel):
    """One chat message. `content` is its text. `parts` keeps OpenAI content parts as the caller sent them when
    they carry more than text (images, audio, files, a `cache_control` breakpoint…): providers that speak
    OpenAI's format send them as they are; the others refuse a message they cannot represent (`media_parts`)."""

    model_config = ConfigDict(frozen=True)
    role: Role
    content: str | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    parts: list[dict[str, Any]] | None = None

    def media_parts(self) -> list[str]:
        """The types of the parts that are not text (`image_url`, `input_audio`, `file`…)."""
        return [str(p.get("type")) for p in self.parts or () if p.get("type") != "text"]


class GenerationParams(BaseModel):
    """The canonical parameter set. Providers map these names to their own (see `params.py`).

    `context_window` is the context size to allocate where the backend needs to be told (Ollama `num_ctx`,
    llama.cpp `n_ctx`); it is not sent to hosted APIs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, gt=0)
    stop: list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    context_window: int | None = Field(None, gt=0)

    def set_fields(self) -> dict[str, Any]:
        """Only the parameters the caller actually set (None means: provider default). Read from the set
        fields rather than `model_dump(exclude_none=True)`: the same values (every default is None) for a tenth
        of the cost, and this runs on every call (nearly always with nothing set)."""
        return {k: v for k in self.model_fields_set if (v := getattr(self, k)) is not None}

    def over(self, base: GenerationParams | dict[str, Any]) -> GenerationParams:
        """These params layered over `base` (e.g. request params over config defaults): set fields win."""
        merged = dict(base.set_fields() if isinstance(base, GenerationParams) else base)
        merged.update(self.set_fields())
        return GenerationParams.model_validate(merged)


class ChatRequest(BaseModel):
    """One chat call. `model` is the provider's model id (no provider prefix) at the provider level, and
    `provider/model`, a route name or `auto` at the router level.

    `extra` holds provider-specific body fields passed through untouched (OpenRouter's `models`, `provider`,
    `route`, `transforms`, `plugins`, …). `tag` names the caller for the usage ledger and per-tag budgets.
    """

    model_config = ConfigDict(frozen=True)
    model: str
    messages: list[Message]
    params: GenerationParams = GenerationParams()
    extra: dict[str, Any] = Field(default_factory=dict)  # a factory: a `{}` default is deep-copied per instance
    tag: str | None = None
    strict_params: bool = False


class Usage(BaseModel):
    """Token counts and cost in USD. `cost` is authoritative when the provider reported it, else an estimate."""

    model_config = ConfigDict(frozen=True)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None  # prompt tokens read from the provider's prompt cache (part of prompt_tokens)
    cache_write_tokens: int | None = None  # prompt tokens written to it (part of prompt_tokens; Anthropic bills more)
    cost: float | None = None
    cost_is_estimate: bool = False


class Attempt(BaseModel):
    """One try at one target, as the router reports it."""

    model_config = ConfigDict(frozen=True)
    target: str
    ok: bool
    error_type: str | None = None
    status: int | None = None
    message: str | None = None
    latency_ms: float = 0.0


@dataclass(slots=True, kw_only=True)
class ChatResponse:
    """A whole answer. `model` is the model that served it (may differ from the one asked, e.g. a fallback);
    `target` is `provider/model` as wikismith named it; `attempts` lists every try (router only).

    A plain dataclass, not a pydantic model: it is built from values a client has already checked, once per
    call, and the router fills in `target`, `attempts`, `usage` and `provider` on the object a client returned
    (each call returns a new one, owned by its caller) instead of copying it."""

    text: str = ""
    reasoning: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    provider: str | None = None
    upstream_provider: str | None = None
    id: str | None = None
    target: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    # The body as the provider sent it (OpenAI-compatible providers), so the gateway can answer with the fields
    # wikismith does not model (logprobs, system_fingerprint, refusal, annotations, …). `Any`: not validated.
    raw: Any = field(default=None, repr=False, compare=False)


class PriceOverride(BaseModel):
    """A conditional price set from the catalogue (OpenRouter's `pricing.overrides`). It applies when every
    condition it has holds: more than `min_prompt_tokens` prompt tokens (long-context pricing), and/or the UTC
    time of day within [`utc_start`, `utc_end`) as HHMM (the window may wrap midnight). Its `prices` (keyed by
    ModelInfo's price field names) replace the base prices key by key; later overrides win."""

    model_config = ConfigDict(frozen=True)
    min_prompt_tokens: int | None = None
    utc_start: int | None = None
    utc_end: int | None = None
    prices: dict[str, float] = Field(default_factory=dict)

    def applies(self, prompt_tokens: int, hhmm: int) -> bool:
        if self.min_prompt_tokens is not None and prompt_tokens <= self.min_prompt_tokens:
            return False
        if self.utc_start is None or self.utc_end is None:
            return True
        if self.utc_start <= self.utc_end:
            return self.utc_start <= hhmm < self.utc_end
        return hhmm >= self.utc_start or hhmm < self.utc_end  # wraps midnight


class ModelInfo(BaseModel):
    """What the catalogue knows of one model. Prices are USD per token (OpenRouter's unit); None = unknown.
    `cache_read_price`/`cache_write_price` are for prompt tokens read from / written to the provider's prompt
    cache (None: the prompt price); `discount` is a fraction taken off every price; `price_overrides` are the
    conditional prices (`effective()` applies them)."""

    model_config = ConfigDict(frozen=True)
    id: str  # provider/model
    provider: str
    model: str
    name: str = ""
    context_length: int | None = None
    max_completion_tokens: int | None = None
    prompt_price: float | None = None
    completion_price: float | None = None
    request_price: float = 0.0
    cache_read_price: float | None = None
    cache_write_price: float | None = None
    discount: float = 0.0
    price_overrides: tuple[PriceOverride, ...] = ()
    supported_parameters: frozenset[str] | None = None  # None: unknown, everything is allowed
    modality: str | None = None
    description: str | None = None

    def effective(self, prompt_tokens: int, hhmm: int) -> ModelInfo:
        """This model with the prices in force for a call of `prompt_tokens` at UTC time `hhmm` (HHMM)."""
        update: dict[str, float] = {}
        for override in self.price_overrides:
            if override.applies(prompt_tokens, hhmm):
                update.update(override.prices)
        return self.model_copy(update=update) if update else self
