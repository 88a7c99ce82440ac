"""The wiki structure as JSON, for models that follow a JSON schema (DeepWiki asks for XML only, and its XML
repair is fragile: shared/deepwiki-compat.md §7 item 19).

When the catalogue lists `structured_outputs` among the model's supported parameters (OpenRouter's name for
`response_format: {"type": "json_schema", …}`; `response_format` alone may mean `json_object` only), the
structure is asked for once with a strict schema holding DeepWiki's `wiki_structure` fields. An answer that is
not a usable object, or a request refused as bad (the provider serving the model turned the schema down), gives
None: the caller then asks for the XML, with its own re-ask and fallback.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson

from wikismith.llm.base import ChatModel
from wikismith.llm.errors import AllTargetsFailed, BadRequest, ContextTooLong, LLMError
from wikismith.llm.types import ChatRequest, GenerationParams, Message, ModelInfo
from wikismith.wiki.structure import Structure, StructureError, structure_from
from wikismith.wiki.tally import Tally

log = logging.getLogger("wikismith.wiki.structure")

_FENCE = re.compile(r"^```(?:json)?\s*\n?(.*?)\n?```$", re.DOTALL)


def _strings() -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    # Strict mode (OpenAI structured outputs, which OpenRouter passes on) wants every property required and
    # no others allowed; optional values are empty strings or lists instead.
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


_SECTION = _object(
    {"id": {"type": "string"}, "title": {"type": "string"}, "pages": _strings(), "subsections": _strings()}
)
_PAGE = _object(
    {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "importance": {"type": "string", "enum": ["high", "medium", "low"]},
        "relevant_files": _strings(),
        "related_pages": _strings(),
        "parent_section": {"type": "string"},
    }
)
SCHEMA = _object(
    {
        "title": {"type": "string"},
        "description": {"type": "string"},
        "sections": {"type": "array", "items": _SECTION},
        "pages": {"type": "array", "items": _PAGE},
    }
)
RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "wiki_structure", "strict": True, "schema": SCHEMA},
}


def supports_json_schema(info: ModelInfo | None) -> bool:
    """True when the catalogue says the model takes a JSON schema (unknown models: False, XML is asked for)."""
    params = info.supported_parameters if info is not None else None
    return params is not None and "structured_outputs" in params


def parse_structure_json(answer: str) -> Structure:
    """The structure in a JSON answer (a code fence around it is tolerated). Raises StructureError saying why."""
    text = answer.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise StructureError(f"the answer is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise StructureError(f"the answer is JSON but not an object (a {type(data).__name__})")
    return structure_from(data, "the JSON structure")


async def request_structure_json(model: ChatModel, model_name: str, prompt: str, tally: Tally) -> Structure | None:
    """Ask once for the structure as schema-bound JSON. None when the answer is unusable or the request was
    refused as bad; other errors (auth, credits, every target down, context too long) are raised."""
    request = ChatRequest(
        model=model_name,
        messages=[Message(role="user", content=prompt)],
        params=GenerationParams(response_format=RESPONSE_FORMAT),
        tag="wiki-structure",
    )
    try:
        response = await model.complete(request)
    except LLMError as exc:
        if not _refused(exc):
            raise
        log.warning("%s refused the JSON structure request (%s); asking for XML", model_name, exc)
        return None
    tally.add(response)
    try:
        return parse_structure_json(response.text)
    except StructureError as exc:
        log.warning("JSON structure from %s unusable (%s); asking for XML", model_name, exc)
        return None


def _refused(exc: LLMError) -> bool:
    error = exc.last if isinstance(exc, AllTargetsFailed) and exc.last is not None else exc
    return isinstance(error, BadRequest) and not isinstance(error, ContextTooLong)
