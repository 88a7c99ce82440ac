"""The official `openai` SDK, unchanged, against wikismith serving the provider emulator."""

from __future__ import annotations

import httpx2
import openai
import pytest

from tests.server.conftest import API_KEY, UPSTREAM_KEY, LiveServer, ServerFactory, emulator_providers
from tests.support.emulator import DEFAULT_TEXT, Emulator, Reply, error, mid_stream_error

USER = [{"role": "user", "content": "hi"}]


def client(server: LiveServer, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=10)


def test_chat_completion_returns_text_usage_and_target(emu_server: LiveServer, emulator: Emulator) -> None:
    raw = client(emu_server).chat.completions.with_raw_response.create(model="emu/m1", messages=USER)
    completion = raw.parse()
    assert completion.choices[0].message.content == DEFAULT_TEXT
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert raw.headers["x-wikismith-target"] == "emu/m1"
    assert completion.model_extra is not None and completion.model_extra["target"] == "emu/m1"
    sent = emulator.chat_requests()[-1]
    assert sent.json["model"] == "m1"
    assert sent.json["messages"] == USER


def test_fields_wikismith_does_not_model_reach_the_client(emu_server: LiveServer, emulator: Emulator) -> None:
    """logprobs, system_fingerprint, refusal, a provider's own usage details: a gateway passes them on."""
    logprobs = {"content": [{"token": "Hi", "logprob": -0.25, "bytes": [72, 105], "top_logprobs": []}]}
    emulator.script(
        "m1",
        Reply(
            text="Hi",
            extra={"system_fingerprint": "fp_emu_1", "service_tier": "default"},
            choice_extra={"logprobs": logprobs},
            message_extra={"refusal": None, "annotations": []},
            usage={"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4, "cost": 0.001,
                   "completion_tokens_details": {"reasoning_tokens": 0, "accepted_prediction_tokens": 0}},
        ),
    )  # fmt: skip
    completion = client(emu_server).chat.completions.create(model="emu/m1", messages=USER, logprobs=True)
    assert completion.system_fingerprint == "fp_emu_1" and completion.service_tier == "default"
    choice = completion.choices[0]
    assert choice.logprobs is not None and choice.logprobs.content is not None
    assert choice.logprobs.content[0].token == "Hi" and choice.logprobs.content[0].logprob == -0.25
    assert choice.message.content == "Hi" and choice.message.annotations == []
    # What wikismith owns is still its own: the target as the model, and the usage with its details merged.
    assert completion.model == "emu/m1"
    assert completion.usage is not None and completion.usage.total_tokens == 4
    details = completion.usage.completion_tokens_details
    assert details is not None and details.accepted_prediction_tokens == 0 and details.reasoning_tokens == 0
    assert emulator.chat_requests()[-1].json["logprobs"] is True  # the request field went upstream


def test_content_parts_reach_the_provider_as_sent(emu_server: LiveServer, emulator: Emulator) -> None:
    """Images and text parts with a cache breakpoint pass through unchanged; plain text parts become one string."""
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}}
    cached = {"type": "text", "text": "a long system prompt", "cache_control": {"type": "ephemeral"}}
    messages = [
        {"role": "system", "content": [cached]},
        {"role": "user", "content": [{"type": "text", "text": "What is "}, {"type": "text", "text": "this?"}, image]},
        {"role": "assistant", "content": [{"type": "text", "text": "A "}, {"type": "text", "text": "pixel."}]},
    ]
    completion = client(emu_server).chat.completions.create(model="emu/m1", messages=messages)
    assert completion.choices[0].message.content == DEFAULT_TEXT
    sent = emulator.chat_requests()[-1].json["messages"]
    assert sent[0]["content"] == [cached]
    assert sent[1]["content"] == messages[1]["content"]
    assert sent[2]["content"] == "A pixel."


def test_a_text_part_without_text_is_a_400(emu_server: LiveServer) -> None:
    with pytest.raises(openai.BadRequestError, match="text content part needs its text"):
        client(emu_server).chat.completions.create(
            model="emu/m1", messages=[{"role": "user", "content": [{"type": "text"}]}]
        )


def test_streaming_yields_the_text_then_a_usage_chunk(emu_server: LiveServer) -> None:
    stream = client(emu_server).chat.completions.create(
        model="emu/m1", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == DEFAULT_TEXT
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


def test_streamed_chunks_keep_the_upstreams_own_fields(emu_server: LiveServer, emulator: Emulator) -> None:
    """system_fingerprint, service_tier and OpenRouter's provider are on every chunk of the upstream's stream, as
    on a whole answer; the gateway's chunks carry them too (the role chunk and the usage chunk included), while
    the id, model and usage stay wikismith's, and OpenAI's per-chunk `obfuscation` padding is not copied."""
    fields = {"system_fingerprint": "fp_emu_2", "service_tier": "default", "obfuscation": "x1"}
    emulator.script("m1", Reply(text="one two", provider="EmuCloud", extra=fields))
    stream = client(emu_server).chat.completions.create(
        model="emu/m1", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert len(chunks) >= 4 and len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    for chunk in chunks:
        assert chunk.system_fingerprint == "fp_emu_2" and chunk.service_tier == "default"
        assert (chunk.model_extra or {}).get("provider") == "EmuCloud" and "obfuscation" not in (
            chunk.model_extra or {}
        )
        assert chunk.model == "emu/m1"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


def test_streamed_tokens_keep_their_logprobs(emu_server: LiveServer, emulator: Emulator) -> None:
    logprobs = {"content": [{"token": "w", "logprob": -0.5, "bytes": [119], "top_logprobs": []}]}
    emulator.script("m1", Reply(text="one two three", choice_extra={"logprobs": logprobs}))
    stream = client(emu_server).chat.completions.create(model="emu/m1", messages=USER, stream=True, logprobs=True)
    content = [c.choices[0] for c in stream if c.choices and c.choices[0].delta.content]
    assert "".join(c.delta.content or "" for c in content) == "one two three"
    assert len(content) == 3
    for choice in content:
        assert choice.logprobs is not None and choice.logprobs.content is not None
        assert choice.logprobs.content[0].logprob == -0.5


def test_streamed_delta_fields_wikismith_does_not_model_reach_the_client(
    emu_server: LiveServer, emulator: Emulator
) -> None:
    """OpenRouter's `reasoning_details` (sent back unmodified with the next turn) and web search `annotations`
    arrive in stream deltas; a gateway passes them on, as it does for a whole answer."""
    details = [{"type": "reasoning.text", "text": "think", "signature": "sig-1", "format": "anthropic-claude-v1"}]
    annotations = [{"type": "url_citation", "url_citation": {"url": "https://example.com", "title": "Example"}}]
    emulator.script(
        "m1",
        Reply(
            text="one two", reasoning="think", reasoning_details=details, extra_deltas=[{"annotations": annotations}]
        ),
    )
    stream = client(emu_server).chat.completions.create(model="emu/m1", messages=USER, stream=True)
    deltas = [c.choices[0].delta for c in stream if c.choices]
    extras = [d.model_extra or {} for d in deltas]
    assert [e["reasoning_details"] for e in extras if "reasoning_details" in e] == [details]
    assert [e["annotations"] for e in extras if "annotations" in e] == [annotations]
    assert "".join(e.get("reasoning") or "" for e in extras) == "think"
    assert "".join(d.content or "" for d in deltas) == "one two"


def test_a_stream_without_extras_sends_no_null_fields(emu_server: LiveServer, emulator: Emulator) -> None:
    """OpenAI sends `"logprobs": null` on every chunk; those nulls are not copied onto ours."""
    emulator.script("m1", Reply(text="one two", choice_extra={"logprobs": None}))
    with httpx2.stream(
        "POST",
        f"{emu_server.url}/v1/chat/completions",
        json={"model": "emu/m1", "messages": USER, "stream": True},
        timeout=10,
    ) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: {")]
    assert lines and all("logprobs" not in line for line in lines)


def test_streaming_without_include_usage_sends_no_usage_chunk(emu_server: LiveServer) -> None:
    chunks = list(client(emu_server).chat.completions.create(model="emu/m1", messages=USER, stream=True))
    assert all(c.choices for c in chunks)


def test_models_lists_the_catalogue_and_routes(emu_server: LiveServer) -> None:
    ids = [m.id for m in client(emu_server).models.list()]
    assert "emu/m1" in ids and "emu/m2" in ids
    assert "auto" in ids


def test_embeddings_float_and_sdk_default_base64(emu_server: LiveServer, emulator: Emulator) -> None:
    sdk = client(emu_server)
    default = sdk.embeddings.create(model="emu", input=["alpha", "beta"])  # the SDK asks for base64
    floats = sdk.embeddings.create(model="emu", input="alpha", encoding_format="float")
    assert len(default.data) == 2 and len(default.data[0].embedding) == emulator.embedding_dim
    assert default.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-6)
    assert default.usage.prompt_tokens > 0


def test_unknown_embedder_is_not_found(emu_server: LiveServer) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client(emu_server).embeddings.create(model="nope", input="x")
    assert "unknown embedder" in str(info.value)


def test_unknown_model_is_not_found(emu_server: LiveServer, emulator: Emulator) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client(emu_server).chat.completions.create(model="nope/m1", messages=USER)
    assert "unknown provider 'nope'" in str(info.value)
    assert emulator.chat_requests() == []


def test_context_too_long_is_a_400_with_its_code(emu_server: LiveServer, emulator: Emulator) -> None:
    emulator.script("m1", error(400, "too long", metadata={"error_type": "context_length_exceeded"}))
    with pytest.raises(openai.BadRequestError) as info:
        client(emu_server).chat.completions.create(model="emu/m1", messages=USER)
    assert info.value.code == "context_length_exceeded"


def test_rate_limit_is_a_429_with_retry_after(start_server: ServerFactory, emulator: Emulator) -> None:
    server = start_server(emulator_providers(emulator.base_url), WIKISMITH_ROUTER_DEADLINE="1")
    emulator.script("m1", error(429, "slow down", retry_after=30))
    with pytest.raises(openai.RateLimitError) as info:
        client(server).chat.completions.create(model="emu/m1", messages=USER)
    assert int(info.value.response.headers["retry-after"]) >= 29


def test_upstream_failure_falls_back_to_the_models_list(emu_server: LiveServer, emulator: Emulator) -> None:
    emulator.script("m1", error(503, "overloaded"))
    raw = client(emu_server).chat.completions.with_raw_response.create(
        model="emu/m1", messages=USER, extra_body={"models": ["emu/m2"]}
    )
    assert raw.headers["x-wikismith-target"] == "emu/m2"
    assert raw.parse().choices[0].message.content == DEFAULT_TEXT


def test_mid_stream_failure_raises_in_the_sdk_after_the_partial_text(
    emu_server: LiveServer, emulator: Emulator
) -> None:
    emulator.script("m1", mid_stream_error(text="partial answer here"))
    seen: list[str] = []
    with pytest.raises(openai.APIError):
        for chunk in client(emu_server).chat.completions.create(model="emu/m1", messages=USER, stream=True):
            if chunk.choices:
                seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen).startswith("partial")


def test_gateway_keys_are_required_when_configured(start_server: ServerFactory, emulator: Emulator) -> None:
    server = start_server(emulator_providers(emulator.base_url), WIKISMITH_API_KEYS=f"other-key-999999,{API_KEY}")
    with pytest.raises(openai.AuthenticationError):
        client(server, "wrong-key-000000").chat.completions.create(model="emu/m1", messages=USER)
    ok = client(server, API_KEY).chat.completions.create(model="emu/m1", messages=USER)
    assert ok.choices[0].message.content == DEFAULT_TEXT
    assert len(emulator.chat_requests()) == 1


def test_the_upstream_key_never_reaches_the_client(emu_server: LiveServer, emulator: Emulator) -> None:
    emulator.script("m1", error(401, f"bad key {UPSTREAM_KEY}"))
    with pytest.raises(openai.AuthenticationError) as info:
        client(emu_server).chat.completions.create(model="emu/m1", messages=USER)
    assert UPSTREAM_KEY not in str(info.value.body) and UPSTREAM_KEY not in info.value.response.text
