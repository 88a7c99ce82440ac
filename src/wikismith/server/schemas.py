"""Request bodies parsed from outside (pydantic, validated once from the raw JSON bytes) and the small response
models that document the API's shapes in the OpenAPI schema.

OpenAI's chat body: unknown top-level fields are kept and passed to the provider untouched (OpenRouter's
`provider`, `transforms`, `plugins`, …); `models` is wikismith's fallback list.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wikismith.llm.types import GenerationParams, Message, ToolCall
from wikismith.server.errors import HTTPProblem

_NO_PARAMS = GenerationParams()

_M = TypeVar("_M", bound=BaseModel)


class ContentPart(BaseModel):
    """An OpenAI content part: `text`, or `image_url`, `input_audio`, `file`… (their fields kept as sent)."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(min_length=1)
    text: str | None = None

    def plain_text(self) -> bool:
        """A text part with nothing else (no `cache_control` or other field to pass on)."""
        return self.type == "text" and self.text is not None and not self.model_extra


class ToolCallFunction(BaseModel):
    name: str
    arguments: str = ""


class ToolCallIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    type: Literal["function"] = "function"
    function: ToolCallFunction


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None

    def to_message(self) -> Message:
        content = self.content
        parts = None
        if isinstance(content, list):
            if any(p.type == "text" and p.text is None for p in content):
                raise ValueError("a text content part needs its text")
            if not all(p.plain_text() for p in content):  # images, audio, files, breakpoints: sent on as they are
                parts = [p.model_dump(exclude_unset=True) for p in content]
            content = "".join(p.text or "" for p in content if p.type == "text")
        if parts is None and self.name is None and not self.tool_calls and self.tool_call_id is None:
            return Message(role="system" if self.role == "developer" else self.role, content=content)  # the usual case
        calls = None
        if self.tool_calls:
            calls = [ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments) for c in self.tool_calls]
        role = "system" if self.role == "developer" else self.role
        return Message(
            role=role, content=content, name=self.name, tool_calls=calls, tool_call_id=self.tool_call_id, parts=parts
        )


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatCompletionBody(BaseModel):
    """`POST /v1/chat/completions`. Parameter ranges are OpenAI's."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=300)
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    models: list[str] | None = Field(None, max_length=20, description="fallback models, tried in order")
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, gt=0)
    max_completion_tokens: int | None = Field(None, gt=0)
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    n: int | None = Field(None, ge=1, le=1, description="only 1 is supported")
    user: str | None = None

    def params(self) -> GenerationParams:
        # Only the fields the caller set (and not to null), so config defaults stay in force for the rest.
        given = {k: v for k in self.model_fields_set & _PARAMS if (v := getattr(self, k)) is not None}
        if not given:  # nearly every request: the set fields are model, messages, stream
            return _NO_PARAMS  # frozen, so one shared empty value will do
        if "max_completion_tokens" in given:  # OpenAI's newer name; `max_tokens` wins when both are sent
            given.setdefault("max_tokens", given.pop("max_completion_tokens"))
        if isinstance(given.get("stop"), str):
            given["stop"] = [given["stop"]]
        return GenerationParams(**given)


_PARAMS = frozenset(GenerationParams.model_fields) - {"context_window"} | {"max_completion_tokens"}


class EmbeddingsBody(BaseModel):
    """`POST /v1/embeddings`. `model` is an embedder name from embedder.json (`local`, `embedder_ollama`, …)
    or `default`."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=300)
    input: str | list[str] = Field(description="text or list of texts (token arrays are not supported)")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, gt=0)
    user: str | None = None

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class AuthCode(BaseModel):
    code: str


class LanguageConfig(BaseModel):
    supported_languages: dict[str, str]
    default: str


class ModelEntry(BaseModel):
    id: str
    name: str


class ProviderEntry(BaseModel):
    id: str
    name: str
    models: list[ModelEntry]
    supportsCustomModel: bool = False


class ModelsConfig(BaseModel):
    providers: list[ProviderEntry]
    defaultProvider: str


class Health(BaseModel):
    status: str
    timestamp: str
    service: str


class LocalStructure(BaseModel):
    file_tree: str
    readme: str


def parse_body(model: type[_M], body: bytes, *, status: int = 400) -> _M:
    """Validate raw JSON bytes into `model`, or a `status` (OpenAI: 400; DeepWiki's routes: FastAPI's 422) naming
    the first problem. Pydantic's JSON parser, not `json.loads`: it refuses what could not be written back out
    (a lone UTF-16 surrogate such as `"\\ud800"`), so such input is the client's error, not a failure later."""
    if not body:
        raise HTTPProblem(status, "request body is empty; expected a JSON object", code="invalid_json")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        message, param = first_problem(exc)
        raise HTTPProblem(status, message, code="invalid_request", param=param) from None


def first_problem(exc: ValidationError) -> tuple[str, str | None]:
    """A one-line message naming the first invalid field, and that field's path (OpenAI's `param`)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"])
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    if first["type"] == "json_invalid":
        return f"request body is not valid JSON: {first['msg']}", None
    where = f"{loc}: " if loc else ""
    return f"invalid request: {where}{first['msg']}{more}", loc or None


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting `model` as the JSON request body of a route that parses its body itself
    (pydantic's `$defs` inlined, since they would not resolve inside the OpenAPI document)."""
    schema = model.model_json_schema()
    body = _inline(schema, schema.get("$defs", {}))
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": body}}}}
