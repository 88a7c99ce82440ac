"""Canonical generation parameters -> each wire format's names, and the "does this model take it?" filter.

Two steps, both here so the mapping table is one place:

1. `drop_unsupported(params, info.supported_parameters, …)` (the router calls it): a parameter the target model
   does not list in the catalogue's `supported_parameters` is dropped with one warning per (model, parameter),
   or refused with `BadRequest` when the caller asked for `strict_params`. Unknown support (None) allows all.
2. `to_wire(params, kind)` (each provider client calls it): canonical names -> body fields of that wire kind.
   A parameter the wire cannot express at all (e.g. `tool_choice` for Ollama) is returned in `dropped`.

| canonical         | openai_compat         | openrouter     | ollama                      | llamacpp (kwargs)  |
|-------------------|-----------------------|----------------|-----------------------------|--------------------|
| temperature, top_p, seed, stop, presence_penalty, frequency_penalty: same name  | `options.<same>` | same |
| top_k             | top_k                 | top_k          | options.top_k               | top_k              |
| max_tokens        | max_tokens            | max_tokens     | options.num_predict         | max_tokens         |
| context_window    | (not sent)            | (not sent)     | options.num_ctx             | (n_ctx at load)    |
| response_format   | response_format       | response_format| format ("json" or schema)   | response_format    |
| tools             | tools                 | tools          | tools                       | tools              |
| tool_choice       | tool_choice           | tool_choice    | — dropped                   | tool_choice        |
| reasoning         | reasoning_effort      | reasoning      | think                       | — dropped          |

Sources: OpenAI chat API; OpenRouter parameters (shared/openrouter-api.md §4, §7); Ollama API docs
(`options`, `format`, `think`; https://github.com/ollama/ollama/blob/main/docs/api.md); llama-cpp-python
`Llama.create_chat_completion`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, MutableSet, Sequence
from typing import Any

from wikismith.llm.errors import BadRequest
from wikismith.llm.types import GenerationParams

__all__ = ["WIRE_KINDS", "drop_unsupported", "to_wire", "unsupported", "wire_params"]

log = logging.getLogger("wikismith.llm.params")

# Told to local backends only (Ollama num_ctx, llama.cpp n_ctx); never checked against a hosted model.
_LOCAL_ONLY = frozenset({"context_window"})
# Catalogue names that also grant a canonical parameter (OpenRouter lists `structured_outputs` for json_schema).
_ALSO_GRANTED_BY = {"response_format": ("structured_outputs",), "reasoning": ("include_reasoning",)}

Converter = Callable[[Any], dict[str, Any] | None]  # value -> body fragment, or None: not expressible


def unsupported(params: GenerationParams, supported: frozenset[str] | None) -> list[str]:
    """The set parameters of `params` the model does not list (empty when support is unknown)."""
    if supported is None:
        return []
    missing = []
    for name in params.model_fields_set:
        if name in _LOCAL_ONLY or getattr(params, name) is None or name in supported:
            continue
        if any(alt in supported for alt in _ALSO_GRANTED_BY.get(name, ())):
            continue
        missing.append(name)
    return sorted(missing)


def drop_unsupported(
    params: GenerationParams,
    supported: frozenset[str] | None,
    *,
    strict: bool,
    target: str,
    provider: str | None = None,
    model: str | None = None,
    warned: MutableSet[tuple[str, str]] | None = None,
) -> GenerationParams:
    """`params` without what `target` does not support: dropped with one warning each, or `BadRequest` if strict.

    `warned` remembers what was already warned about (the caller owns it, e.g. one set per router)."""
    missing = unsupported(params, supported)
    if not missing:
        return params
    _refuse_or_warn(
        missing, strict, warned, target, f"{target} does not support", f"{target} does not support it", provider, model
    )
    return params.model_copy(update=dict.fromkeys(missing))


def _refuse_or_warn(
    names: Sequence[str],
    strict: bool,
    warned: MutableSet[tuple[str, str]] | None,
    key: str,
    refusal: str,
    reason: str,
    provider: str | None,
    model: str | None,
) -> None:
    """Strict: BadRequest naming `names`. Else one warning per (`key`, name), remembered in `warned`."""
    if strict:
        raise BadRequest(
            f"{refusal} parameter(s) {', '.join(names)} (strict parameters requested)", provider=provider, model=model
        )
    for name in names:
        if warned is None or (key, name) not in warned:
            if warned is not None:
                warned.add((key, name))
            log.warning("dropping parameter %r: %s", name, reason)


# --- the mapping table ------------------------------------------------------------------------------------------


def _reasoning_effort(value: Mapping[str, Any]) -> dict[str, Any] | None:
    effort = value.get("effort")
    if value.get("enabled") is False:
        effort = effort or "none"
    return {"reasoning_effort": effort} if isinstance(effort, str) else None


def _ollama_format(value: Mapping[str, Any]) -> dict[str, Any] | None:
    kind = value.get("type")
    if kind == "json_object":
        schema = value.get("schema")
        return {"format": schema if isinstance(schema, Mapping) else "json"}
    if kind == "json_schema":
        spec = value.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        return {"format": schema if isinstance(schema, Mapping) else "json"}
    if kind == "text":
        return {}
    return None


def _ollama_think(value: Mapping[str, Any]) -> dict[str, Any]:
    # Ollama `think`: a bool, or "low"/"medium"/"high" for models that take an effort (gpt-oss).
    effort = value.get("effort")
    if value.get("enabled") is False or effort == "none" or value.get("exclude") is True:
        return {"think": False}
    return {"think": effort if effort in ("low", "medium", "high") else True}


_SAME = ("temperature", "top_p", "top_k", "max_tokens", "seed", "stop", "presence_penalty", "frequency_penalty")
_CHAT_API = {
    **{n: n for n in _SAME},
    "response_format": "response_format",
    "tools": "tools",
    "tool_choice": "tool_choice",
}

_TABLE: dict[str, dict[str, str | Converter | None]] = {
    "openai_compat": {**_CHAT_API, "reasoning": _reasoning_effort, "context_window": ""},
    "openrouter": {**_CHAT_API, "reasoning": "reasoning", "context_window": ""},
    "ollama": {
        **{n: f"options.{n}" for n in _SAME},
        "max_tokens": "options.num_predict",
        "context_window": "options.num_ctx",
        "response_format": _ollama_format,
        "tools": "tools",
        "tool_choice": None,
        "reasoning": _ollama_think,
    },
    "llamacpp": {**_CHAT_API, "reasoning": None, "context_window": ""},
}
WIRE_KINDS = frozenset(_TABLE)


def to_wire(params: GenerationParams, kind: str) -> tuple[dict[str, Any], list[str]]:
    """(body fields, dropped names) for wire `kind`. `""` in the table: not sent (silently); None: dropped."""
    table = _TABLE.get(kind)
    if table is None:
        raise ValueError(f"unknown wire kind {kind!r}; expected one of {', '.join(sorted(_TABLE))}")
    body: dict[str, Any] = {}
    dropped: list[str] = []
    for name, value in params.set_fields().items():
        rule = table.get(name)
        if rule == "":
            continue
        fragment = rule(value) if callable(rule) else (None if rule is None else {rule: value})
        if fragment is None:
            dropped.append(name)
            continue
        for key, val in fragment.items():
            head, dot, leaf = key.partition(".")
            if dot:
                body.setdefault(head, {})[leaf] = val
            else:
                body[key] = val
    return body, sorted(dropped)


def wire_params(
    params: GenerationParams,
    kind: str,
    *,
    strict: bool,
    provider: str | None = None,
    model: str | None = None,
    warned: MutableSet[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """`to_wire` for a client: what the wire cannot express is dropped with one warning, or refused if strict."""
    body, dropped = to_wire(params, kind)
    if dropped:
        _refuse_or_warn(
            dropped,
            strict,
            warned,
            kind,
            f"the {kind} API cannot take",
            f"the {kind} API has no equivalent",
            provider,
            model,
        )
    return body
