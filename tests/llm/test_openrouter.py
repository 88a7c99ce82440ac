"""The OpenRouter client against the emulator over real sockets: the wire details of shared/openrouter-api.md §15."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.llm.conftest import KEY, ask, provider
from tests.support.emulator import Emulator, Reply, error_in_200, mid_stream_error
from wikismith.llm.errors import AuthError, EmptyResponse, LLMError, RateLimited, StreamError, UpstreamError
from wikismith.llm.events import (
    ChunkExtra,
    DeltaExtra,
    Finish,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    UsageReport,
    collect,
)
from wikismith.llm.providers import create_client
from wikismith.llm.providers.openrouter import CACHE_MIN_CHARS, OpenRouterClient
from wikismith.llm.types import ChatRequest, GenerationParams, Message


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[OpenRouterClient]:
    c = create_client(provider("openrouter", emulator.base_url))
    assert isinstance(c, OpenRouterClient)
    yield c
    await c.aclose()


async def events(client: OpenRouterClient, model: str = "m", **kw: object) -> list[StreamEvent]:
    return [e async for e in client.stream(ask(model, **kw))]  # type: ignore[arg-type]


async def test_complete_returns_text_usage_cost_and_upstream(client: OpenRouterClient, emulator: Emulator) -> None:
    emulator.script("m", Reply(text="Paris.", model="m-actual", provider="Upstream Inc"))
    answer = await client.complete(ask("m"))
    assert answer.text == "Paris."
    assert answer.finish_reason == "stop"
    assert answer.usage is not None and answer.usage.cost == 0.00042 and answer.usage.prompt_tokens == 12
    assert answer.model == "m-actual"  # the model that served (fallback / auto), not the one asked
    assert answer.upstream_provider == "Upstream Inc"
    assert answer.id is not None and answer.id.startswith("gen-emu-")


async def test_headers_auth_attribution_and_usage_include(client: OpenRouterClient, emulator: Emulator) -> None:
    await client.complete(ask("m"))
    request = emulator.chat_requests()[-1]
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["HTTP-Referer"]
    assert request.headers["X-OpenRouter-Title"] == request.headers["X-Title"] == "wikismith"
    assert request.json["usage"] == {"include": True}
    assert "stream" not in request.json


async def test_openrouter_extras_pass_through_untouched(client: OpenRouterClient, emulator: Emulator) -> None:
    extra = {
        "models": ["a/b", "c/d"],
        "provider": {"order": ["anthropic"], "allow_fallbacks": False},
        "transforms": ["middle-out"],
        "route": "fallback",
    }
    params = GenerationParams(temperature=0.1, max_tokens=9, reasoning={"effort": "low"})
    await client.complete(ask("m", params=params, extra=extra))
    body = emulator.chat_requests()[-1].json
    for key, value in extra.items():
        assert body[key] == value
    assert body["temperature"] == 0.1 and body["max_tokens"] == 9 and body["reasoning"] == {"effort": "low"}


async def test_stream_with_split_events_comments_and_crlf(client: OpenRouterClient, emulator: Emulator) -> None:
    emulator.script("m", Reply(text="one two three", comments=3, split=True, crlf=True))
    got = await events(client)
    assert [e.text for e in got if isinstance(e, TextDelta)] == ["one ", "two ", "three"]
    usage = [e for e in got if isinstance(e, UsageReport)]
    assert len(usage) == 1 and usage[0].usage.cost == 0.00042
    assert isinstance(got[-1], Finish) and got[-1].reason == "stop" and got[-1].upstream_provider == "EmuProvider"
    body = emulator.chat_requests()[-1].json
    assert body["stream"] is True and body["usage"] == {"include": True}


async def test_stream_usage_chunk_has_no_choices(client: OpenRouterClient, emulator: Emulator) -> None:
    emulator.script("m", Reply(text="x", usage={"prompt_tokens": 3, "completion_tokens": 1, "cost": 0.5}))
    answer = await collect(client.stream(ask("m")))
    assert answer.usage is not None and answer.usage.cost == 0.5 and answer.usage.total_tokens == 4


@pytest.mark.parametrize("code", [502, "server_error"])
async def test_mid_stream_error_raises_stream_error_with_partial_text(
    client: OpenRouterClient, emulator: Emulator, code: int | str
) -> None:
    emulator.script("m", mid_stream_error("partial answer", code=code))
    seen: list[str] = []
    with pytest.raises(StreamError) as info:
        async for event in client.stream(ask("m")):
            if isinstance(event, TextDelta):
                seen.append(event.text)
    assert "".join(seen) == info.value.partial_text == "partial answer"
    assert isinstance(info.value.cause, UpstreamError)
    assert "Provider disconnected" in str(info.value)


async def test_mid_stream_rate_limit_keeps_its_class_as_cause(client: OpenRouterClient, emulator: Emulator) -> None:
    emulator.script("m", mid_stream_error("abc", code=429, message="Rate limit exceeded"))
    with pytest.raises(StreamError) as info:
        await collect(client.stream(ask("m")))
    assert isinstance(info.value.cause, RateLimited)
    assert info.value.retryable and info.value.try_next_target


async def test_error_chunk_before_any_text_raises_the_typed_error(client: OpenRouterClient, emulator: Emulator) -> None:
    emulator.script("m", mid_stream_error("", code=429, message="Rate limit exceeded", chunks=[]))
    with pytest.raises(RateLimited):
        await collect(client.stream(ask("m")))


async def test_stream_without_done_but_finished_is_a_success(client: OpenRouterClient, emulator: Emulator) -> None:
    emulator.script("m", Reply(text="done anyway", done=False))
    answer = await collect(client.stream(ask("m")))
    assert answer.text == "done anyway" and answer.finish_reason == "stop"


async def test_stream_that_just_closes_is_interrupted(client: OpenRouterClient, emulator: Emulator) -> None:
    emulator.script("m", Reply(text="cut short", done=False, finish_reason=None, usage=None))
    with pytest.raises(StreamError) as info:
        await collect(client.stream(ask("m")))
    assert info.value.partial_text == "cut short"


async def test_finish_reason_error_without_error_object_is_reported(
    client: OpenRouterClient, emulator: Emulator
) -> None:
    emulator.script("m", Reply(text="x", finish_reason="error"))
    answer = await collect(client.stream(ask("m")))
    assert answer.finish_reason == "error"  # reported faithfully; the router treats it as a failure


@pytest.mark.parametrize("where", ["top", "choice"])
async def test_error_inside_a_200_body_is_raised(client: OpenRouterClient, emulator: Emulator, where: str) -> None:
    emulator.script("m", error_in_200(429, "Provider returned error", where=where))
    with pytest.raises(RateLimited, match="Provider returned error") as info:
        await client.complete(ask("m"))
    assert info.value.metadata["provider_name"] == "Kluster"


async def test_empty_content_is_reported_not_invented(client: OpenRouterClient, emulator: Emulator) -> None:
    emulator.script("m", Reply(text=None), Reply(text=""))
    assert (await client.complete(ask("m"))).text == ""
    answer = await collect(client.stream(ask("m")))
    assert answer.text == "" and answer.finish_reason == "stop"


async def test_tool_call_fragments_stream_and_assemble(client: OpenRouterClient, emulator: Emulator) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "paris"}'}}
    emulator.script("m", Reply(text=None, tool_calls=[call], finish_reason="tool_calls"))
    got = await events(client)
    assert len([e for e in got if isinstance(e, ToolCallDelta)]) == 2
    emulator.script("m", Reply(text=None, tool_calls=[call], finish_reason="tool_calls"))
    answer = await collect(client.stream(ask("m")))
    assert answer.tool_calls[0].name == "lookup" and answer.tool_calls[0].arguments == '{"q": "paris"}'
    assert answer.finish_reason == "tool_calls"


async def test_reasoning_streams_as_reasoning(client: OpenRouterClient, emulator: Emulator) -> None:
    emulator.script("m", Reply(text="42", reasoning="thinking hard"))
    answer = await collect(client.stream(ask("m")))
    assert answer.reasoning == "thinking hard" and answer.text == "42"


async def test_delta_fields_not_modelled_stream_as_delta_extras(client: OpenRouterClient, emulator: Emulator) -> None:
    """`reasoning_details` with its reasoning chunk, `annotations` in a chunk of their own, OpenAI's
    `refusal: null` on a content chunk: only fields with a value become `DeltaExtra`, after their chunk's text."""
    details = [{"type": "reasoning.text", "text": "hm", "signature": "s"}]
    cites = [{"type": "url_citation", "url_citation": {"url": "https://example.com"}}]
    extra_deltas = [{"content": "!", "refusal": None}, {"annotations": cites}]
    emulator.script("m", Reply(text="42", reasoning="hm", reasoning_details=details, extra_deltas=extra_deltas))
    got = [e for e in await events(client) if not isinstance(e, UsageReport | Finish)]
    assert got == [
        ChunkExtra({"provider": "EmuProvider"}),  # on every chunk: passed on once, ahead of the rest
        ReasoningDelta("hm"),
        DeltaExtra({"reasoning_details": details}),
        TextDelta("42"),
        TextDelta("!"),
        DeltaExtra({"annotations": cites}),
    ]


async def test_list_models_reads_the_catalogue_shape(client: OpenRouterClient) -> None:
    models = await client.list_models()
    cheap = next(m for m in models if m.model == "emu/cheap")
    assert cheap.id == "openrouter/emu/cheap"
    assert cheap.prompt_price == pytest.approx(1e-7) and cheap.context_length == 8192
    assert cheap.supported_parameters is not None and "tools" in cheap.supported_parameters


async def test_embeddings_are_unit_rows_in_order(client: OpenRouterClient, emulator: Emulator) -> None:
    import numpy as np

    vectors = await client.embed(["a", "b", "a"], "emb", dimensions=8)
    assert vectors.shape == (3, 8) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert np.allclose(vectors[0], vectors[2]) and not np.allclose(vectors[0], vectors[1])
    assert emulator.requests[-1].json["dimensions"] == 8


async def test_abandoned_stream_closes_the_connection(client: OpenRouterClient, emulator: Emulator) -> None:
    # 40 words 0.05 s apart: the stream cannot end on its own before the client leaves, even on a loaded machine.
    # Its own model name: a stream that an earlier test gave up on may be noticed gone while this one runs.
    emulator.script("abandoned", Reply(text=" ".join(["w"] * 40), chunk_delay=0.05))
    stream = client.stream(ask("abandoned"))
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    await stream.aclose()  # type: ignore[attr-defined]
    assert await emulator.until(lambda: "abandoned" in emulator.disconnects, timeout=3)
    assert emulator.disconnects.count("abandoned") == 1


async def test_missing_key_names_the_variable(emulator: Emulator) -> None:
    c = create_client(provider("openrouter", emulator.base_url, key=None, api_key_env="OPENROUTER_API_KEY"))
    with pytest.raises(AuthError, match="set OPENROUTER_API_KEY"):
        await c.complete(ask("m"))
    await c.aclose()
    assert emulator.chat_requests() == []  # refused before sending


async def test_empty_stream_is_not_an_error_at_this_layer(client: OpenRouterClient, emulator: Emulator) -> None:
    emulator.script("m", Reply(text=None, usage=None))
    answer = await collect(client.stream(ask("m")))
    assert answer.text == "" and answer.finish_reason == "stop"
    assert not isinstance(answer, EmptyResponse)  # the router's check_answer turns this into EmptyResponse


def test_secret_never_in_an_error_even_when_the_upstream_echoes_it() -> None:
    error = LLMError(f"invalid key {KEY}", provider="openrouter")
    assert KEY not in str(error) and KEY not in repr(error)


async def test_streams_reuse_one_pooled_connection(client: OpenRouterClient, emulator: Emulator) -> None:
    for _ in range(3):
        await collect(client.stream(ask("m")))
    await client.complete(ask("m"))
    assert len({r.peer for r in emulator.chat_requests()}) == 1


# --- prompt caching (OpenRouter "Prompt Caching": explicit breakpoints for Anthropic and Gemini) -------------

LONG = "You document repositories. " * (CACHE_MIN_CHARS // 20)
EPHEMERAL_PART = {"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}


def with_system(model: str, system: str = LONG) -> ChatRequest:
    return ChatRequest(
        model=model, messages=[Message(role="system", content=system), Message(role="user", content="Go.")]
    )


@pytest.mark.parametrize("model", ["anthropic/claude-sonnet-4", "google/gemini-2.5-pro"])
async def test_long_system_prompt_gets_a_cache_breakpoint(
    client: OpenRouterClient, emulator: Emulator, model: str
) -> None:
    await client.complete(with_system(model))
    messages = emulator.chat_requests()[-1].json["messages"]
    assert messages[0] == {"role": "system", "content": [EPHEMERAL_PART]}
    assert messages[1] == {"role": "user", "content": "Go."}  # only the one breakpoint


async def test_long_first_user_message_gets_the_breakpoint_without_a_system_one(
    client: OpenRouterClient, emulator: Emulator
) -> None:
    await client.complete(ask("anthropic/claude-3.5-haiku", text=LONG))
    assert emulator.chat_requests()[-1].json["messages"] == [{"role": "user", "content": [EPHEMERAL_PART]}]


async def test_long_user_message_after_a_short_system_one_gets_the_breakpoint(
    client: OpenRouterClient, emulator: Emulator
) -> None:
    messages = [Message(role="system", content="Be brief."), Message(role="user", content=LONG)]
    await client.complete(ChatRequest(model="google/gemini-2.5-flash", messages=messages))
    sent = emulator.chat_requests()[-1].json["messages"]
    assert sent == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": [EPHEMERAL_PART]}]


async def test_stream_carries_the_breakpoint_too(client: OpenRouterClient, emulator: Emulator) -> None:
    await collect(client.stream(with_system("anthropic/claude-sonnet-4")))
    assert emulator.chat_requests()[-1].json["messages"][0]["content"] == [EPHEMERAL_PART]


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "deepseek/deepseek-chat", "meta-llama/llama-3-8b"])
async def test_automatically_caching_models_get_no_breakpoint(
    client: OpenRouterClient, emulator: Emulator, model: str
) -> None:
    await client.complete(with_system(model))
    assert emulator.chat_requests()[-1].json["messages"][0] == {"role": "system", "content": LONG}


async def test_short_prompt_gets_no_breakpoint(client: OpenRouterClient, emulator: Emulator) -> None:
    await client.complete(with_system("anthropic/claude-sonnet-4", system="Be brief."))
    assert emulator.chat_requests()[-1].json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Go."},
    ]


async def test_prompt_cache_off_sends_plain_content(emulator: Emulator) -> None:
    off = create_client(provider("openrouter", emulator.base_url, prompt_cache=False))
    try:
        await off.complete(with_system("anthropic/claude-sonnet-4"))
    finally:
        await off.aclose()
    assert emulator.chat_requests()[-1].json["messages"][0] == {"role": "system", "content": LONG}


async def test_top_level_cache_control_is_left_to_openrouter(client: OpenRouterClient, emulator: Emulator) -> None:
    automatic = {"cache_control": {"type": "ephemeral"}}
    request = with_system("anthropic/claude-sonnet-4").model_copy(update={"extra": automatic})
    await client.complete(request)
    body = emulator.chat_requests()[-1].json
    assert body["cache_control"] == {"type": "ephemeral"} and body["messages"][0]["content"] == LONG


async def test_cached_tokens_are_reported(client: OpenRouterClient, emulator: Emulator) -> None:
    usage = {
        "prompt_tokens": 10339,
        "completion_tokens": 60,
        "total_tokens": 10399,
        "prompt_tokens_details": {"cached_tokens": 10318, "cache_write_tokens": 21},
        "cost": 0.001,
    }
    emulator.script("anthropic/claude-sonnet-4", Reply(text="ok", usage=usage), Reply(text="ok", usage=usage))
    answer = await client.complete(with_system("anthropic/claude-sonnet-4"))
    assert answer.usage is not None and answer.usage.cached_tokens == 10318
    assert answer.usage.cache_write_tokens == 21
    streamed = await collect(client.stream(with_system("anthropic/claude-sonnet-4")))
    assert streamed.usage is not None and streamed.usage.cached_tokens == 10318
    assert streamed.usage.cache_write_tokens == 21
