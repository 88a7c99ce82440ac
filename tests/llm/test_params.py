"""The parameter mapping table per wire kind, and the supported-parameter filter."""

from __future__ import annotations

import logging

import pytest

from wikismith.llm.errors import BadRequest
from wikismith.llm.params import WIRE_KINDS, drop_unsupported, to_wire, wire_params
from wikismith.llm.types import GenerationParams

ALL = GenerationParams(
    temperature=0.5,
    top_p=0.9,
    top_k=40,
    max_tokens=100,
    stop=["END"],
    seed=7,
    presence_penalty=0.1,
    frequency_penalty=0.2,
    response_format={"type": "json_object"},
    tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
    tool_choice="auto",
    reasoning={"effort": "high"},
    context_window=4096,
)
SAMPLING = {"temperature": 0.5, "top_p": 0.9, "top_k": 40, "seed": 7, "stop": ["END"]}
PENALTIES = {"presence_penalty": 0.1, "frequency_penalty": 0.2}


def test_openrouter_keeps_canonical_names_and_the_reasoning_object() -> None:
    body, dropped = to_wire(ALL, "openrouter")
    assert body == {
        **SAMPLING,
        **PENALTIES,
        "max_tokens": 100,
        "response_format": {"type": "json_object"},
        "tools": ALL.tools,
        "tool_choice": "auto",
        "reasoning": {"effort": "high"},
    }
    assert dropped == []


def test_openai_compat_sends_reasoning_as_reasoning_effort_and_no_context_window() -> None:
    body, dropped = to_wire(ALL, "openai_compat")
    assert body["reasoning_effort"] == "high"
    assert "reasoning" not in body and "context_window" not in body
    assert body["max_tokens"] == 100
    assert dropped == []


def test_openai_compat_cannot_express_a_reasoning_token_budget() -> None:
    body, dropped = to_wire(GenerationParams(reasoning={"max_tokens": 2000}), "openai_compat")
    assert body == {}
    assert dropped == ["reasoning"]


def test_ollama_puts_sampling_in_options_with_ollama_names() -> None:
    body, dropped = to_wire(ALL, "ollama")
    assert body["options"] == {**SAMPLING, **PENALTIES, "num_predict": 100, "num_ctx": 4096}
    assert body["format"] == "json"
    assert body["tools"] == ALL.tools
    assert body["think"] == "high"
    assert dropped == ["tool_choice"]


def test_ollama_json_schema_becomes_the_format_schema() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    rf = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    body, _ = to_wire(GenerationParams(response_format=rf), "ollama")
    assert body == {"format": schema}


def test_ollama_reasoning_disabled_is_think_false() -> None:
    body, _ = to_wire(GenerationParams(reasoning={"enabled": False}), "ollama")
    assert body == {"think": False}


def test_llamacpp_kwargs_drop_reasoning_and_leave_context_to_load_time() -> None:
    body, dropped = to_wire(ALL, "llamacpp")
    assert body == {
        **SAMPLING,
        **PENALTIES,
        "max_tokens": 100,
        "response_format": {"type": "json_object"},
        "tools": ALL.tools,
        "tool_choice": "auto",
    }
    assert dropped == ["reasoning"]


def test_unset_parameters_are_never_sent() -> None:
    for kind in WIRE_KINDS:
        assert to_wire(GenerationParams(), kind) == ({}, [])


def test_unknown_wire_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown wire kind"):
        to_wire(ALL, "carrier-pigeon")


def test_unsupported_parameter_dropped_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    warned: set[tuple[str, str]] = set()
    params = GenerationParams(temperature=0.2, top_k=5, seed=1)
    supported = frozenset({"temperature", "seed"})
    with caplog.at_level(logging.WARNING, logger="wikismith.llm.params"):
        first = drop_unsupported(params, supported, strict=False, target="p/m", warned=warned)
        second = drop_unsupported(params, supported, strict=False, target="p/m", warned=warned)
    assert first.set_fields() == {"temperature": 0.2, "seed": 1} == second.set_fields()
    assert [r.getMessage() for r in caplog.records] == ["dropping parameter 'top_k': p/m does not support it"]


def test_unsupported_parameter_refused_when_strict() -> None:
    with pytest.raises(BadRequest, match="top_k"):
        drop_unsupported(GenerationParams(top_k=5), frozenset({"temperature"}), strict=True, target="p/m")


def test_unknown_support_allows_everything() -> None:
    assert drop_unsupported(ALL, None, strict=True, target="p/m") is ALL


def test_structured_outputs_grants_response_format_and_context_window_is_never_checked() -> None:
    params = GenerationParams(response_format={"type": "json_object"}, context_window=2048)
    kept = drop_unsupported(params, frozenset({"structured_outputs"}), strict=True, target="p/m")
    assert kept is params


def test_wire_params_refuses_what_the_wire_cannot_say_when_strict() -> None:
    with pytest.raises(BadRequest, match="tool_choice"):
        wire_params(GenerationParams(tool_choice="auto"), "ollama", strict=True)


def test_wire_params_drops_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    warned: set[tuple[str, str]] = set()
    with caplog.at_level(logging.WARNING, logger="wikismith.llm.params"):
        for _ in range(3):
            assert wire_params(GenerationParams(tool_choice="auto"), "ollama", strict=False, warned=warned) == {}
    assert len(caplog.records) == 1
