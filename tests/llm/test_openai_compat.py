"""The OpenAI-compatible client over real sockets: status and body -> error class, timeouts, auth variants."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from tests.llm.conftest import KEY, ask, provider
from tests.support.emulator import Emulator, Reply, error
from wikismith.config.models import ConfigError
from wikismith.llm import errors
from wikismith.llm.events import ChunkExtra, TextDelta, collect
from wikismith.llm.providers import create_client
from wikismith.llm.providers.openai_compat import OpenAICompatClient
from wikismith.llm.types import GenerationParams


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[OpenAICompatClient]:
    c = create_client(provider("openai_compat", emulator.base_url, pid="vendor"))
    assert isinstance(c, OpenAICompatClient)
    yield c
    await c.aclose()


ERROR_CASES = [
    (error(400, "bad field"), errors.BadRequest),
    (error(400, "too long", metadata={"error_type": "context_length_exceeded"}), errors.ContextTooLong),
    (
        error(400, "This model's maximum context length is 4096 tokens. However, you requested 5000"),
        errors.ContextTooLong,
    ),
    (error(400, "no such model", code="model_not_found"), errors.NotFound),
    (error(401, "No auth credentials found"), errors.AuthError),
    (error(402, "Insufficient credits"), errors.InsufficientCredits),
    (error(403, "Key not allowed"), errors.Forbidden),
    (error(403, "flagged", metadata={"reasons": ["violence"], "flagged_input": "…"}), errors.ModerationError),
    (error(404, "No endpoints found"), errors.NotFound),
    (error(408, "Request timed out"), errors.RequestTimeout),
    (error(413, "Payload too large"), errors.PayloadTooLarge),
    (error(422, "Unprocessable"), errors.Unprocessable),
    (error(429, "Rate limit exceeded"), errors.RateLimited),
    # OpenAI's 429 for an exhausted balance: a billing problem, not worth retrying on the same key.
    (error(429, "You exceeded your current quota", code="insufficient_quota"), errors.InsufficientCredits),
    (error(500, "Internal Server Error"), errors.UpstreamError),
    (error(502, "Provider returned error", metadata={"error_type": "provider_unavailable"}), errors.UpstreamError),
    (error(503, "No provider available", metadata={"error_type": "provider_overloaded"}), errors.Unavailable),
    (error(504, "Gateway timeout"), errors.RequestTimeout),
    (error(529, "Overloaded"), errors.Unavailable),
]


@pytest.mark.parametrize(("reply", "cls"), ERROR_CASES, ids=lambda v: getattr(v, "__name__", None) or "")
@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
async def test_status_maps_to_error_class(
    client: OpenAICompatClient, emulator: Emulator, reply: Reply, cls: type[errors.LLMError], streaming: bool
) -> None:
    emulator.script("m", reply)
    with pytest.raises(errors.LLMError) as info:
        if streaming:
            await collect(client.stream(ask("m")))
        else:
            await client.complete(ask("m"))
    assert type(info.value) is cls
    assert info.value.status == reply.status
    assert info.value.provider == "vendor" and info.value.model == "m"
    assert reply.error is not None and reply.error["message"][:20] in str(info.value)


async def test_retry_after_seconds_is_parsed(client: OpenAICompatClient, emulator: Emulator) -> None:
    emulator.script("m", error(429, "slow down", retry_after=7))
    with pytest.raises(errors.RateLimited) as info:
        await client.complete(ask("m"))
    assert info.value.retry_after == 7.0 and info.value.retryable


async def test_retry_after_http_date_is_parsed(client: OpenAICompatClient, emulator: Emulator) -> None:
    emulator.script("m", error(503, "busy", retry_after="Wed, 21 Oct 2099 07:28:00 GMT"))
    with pytest.raises(errors.Unavailable) as info:
        await client.complete(ask("m"))
    assert info.value.retry_after is not None and info.value.retry_after > 1e6


@pytest.mark.parametrize("value", ["inf", "nan", "1e400"])
async def test_a_retry_after_that_is_no_number_of_seconds_is_ignored(
    client: OpenAICompatClient, emulator: Emulator, value: str
) -> None:
    emulator.script("m", error(429, "slow down", retry_after=value))
    with pytest.raises(errors.RateLimited) as info:
        await client.complete(ask("m"))
    assert info.value.retry_after is None


async def test_402_with_and_without_retry_after(client: OpenAICompatClient, emulator: Emulator) -> None:
    emulator.script("m", error(402, "budget", retry_after=3), error(402, "no credits"))
    for expected in (3.0, None):
        with pytest.raises(errors.InsufficientCredits) as info:
            await client.complete(ask("m"))
        assert info.value.retry_after == expected


async def test_non_json_error_body_keeps_its_text(client: OpenAICompatClient, emulator: Emulator) -> None:
    emulator.script("m", Reply(status=502, raw_body=b"<html>502 Bad Gateway</html>"))
    with pytest.raises(errors.UpstreamError, match="502 Bad Gateway"):
        await client.complete(ask("m"))


async def test_first_byte_timeout(emulator: Emulator) -> None:
    c = create_client(provider("openai_compat", emulator.base_url, timeouts={"first_byte": 0.2}))
    emulator.script("m", Reply(delay=2))
    with pytest.raises(errors.ClientTimeout, match="first_byte"):
        await c.complete(ask("m"))
    await c.aclose()


async def test_idle_timeout_between_chunks_keeps_partial_text(emulator: Emulator) -> None:
    c = create_client(provider("openai_compat", emulator.base_url, timeouts={"idle": 0.3}))
    emulator.script("m", Reply(text="a b", chunks=["a ", "b"], chunk_delay=1.0))
    with pytest.raises(errors.LLMError) as info:
        await collect(c.stream(ask("m")))
    assert "idle" in str(info.value)
    await c.aclose()


async def test_total_timeout(emulator: Emulator) -> None:
    c = create_client(provider("openai_compat", emulator.base_url, timeouts={"total": 0.4}))
    emulator.script("m", Reply(text="a b c d e f", chunk_delay=0.15))
    with pytest.raises(errors.StreamError, match="total") as info:
        await collect(c.stream(ask("m")))
    assert isinstance(info.value.cause, errors.ClientTimeout)
    assert info.value.partial_text.startswith("a ")
    await c.aclose()


async def test_connection_refused_is_a_transport_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once the socket is closed
    c = create_client(provider("openai_compat", f"http://127.0.0.1:{port}/v1"))
    with pytest.raises(errors.TransportError) as info:
        await c.complete(ask("m"))
    assert info.value.try_next_target and info.value.retryable
    await c.aclose()


async def test_key_echoed_by_the_upstream_is_redacted(client: OpenAICompatClient, emulator: Emulator) -> None:
    emulator.script("m", error(401, f"Invalid key: {KEY}"))
    with pytest.raises(errors.AuthError) as info:
        await client.complete(ask("m"))
    assert KEY not in str(info.value) and KEY not in repr(info.value) and KEY not in info.value.message
    assert "***" in str(info.value)


async def test_azure_style_api_key_header_and_query_params(emulator: Emulator) -> None:
    spec = provider(
        "openai_compat",
        emulator.base_url,
        api_key_header="api-key",
        query_params={"api-version": "2024-10-21"},
        headers={"X-Custom": "1"},
    )
    c = create_client(spec)
    await c.complete(ask("m"))
    request = emulator.chat_requests()[-1]
    assert request.headers["api-key"] == KEY and "Authorization" not in request.headers
    assert request.query == {"api-version": "2024-10-21"} and request.headers["X-Custom"] == "1"
    await c.aclose()


async def test_stream_asks_for_usage_and_maps_reasoning_effort(client: OpenAICompatClient, emulator: Emulator) -> None:
    params = GenerationParams(reasoning={"effort": "low"}, max_tokens=5)
    answer = await collect(client.stream(ask("m", params=params)))
    assert answer.usage is not None and answer.usage.prompt_tokens == 12
    body = emulator.chat_requests()[-1].json
    assert body["stream_options"] == {"include_usage": True}
    assert body["reasoning_effort"] == "low" and "reasoning" not in body and "usage" not in body


async def test_no_key_configured_sends_no_auth_header(emulator: Emulator) -> None:
    c = create_client(provider("openai_compat", emulator.base_url, key=None))  # e.g. a local vLLM
    await c.complete(ask("m"))
    assert "Authorization" not in emulator.chat_requests()[-1].headers
    await c.aclose()


async def test_pool_is_reused_across_calls(client: OpenAICompatClient) -> None:
    await client.complete(ask("m"))
    session = client.http.session()
    await client.complete(ask("m"))
    assert client.http.session() is session


@pytest.mark.parametrize(
    "base_url",
    ["https://api.openai.com/v1", "https://api.openai.com:443/v1", "https://my-res.OpenAI.Azure.com/openai/v1"],
)
def test_openai_hosts_get_max_completion_tokens(base_url: str) -> None:
    client = OpenAICompatClient(provider("openai_compat", base_url))
    body = client.body(ask("o3", params=GenerationParams(max_tokens=10)), stream=False)
    assert body["max_completion_tokens"] == 10 and "max_tokens" not in body


async def test_key_never_in_logs_or_reprs(
    client: OpenAICompatClient, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    emulator.script("m", error(401, f"bad key {KEY}"))
    with caplog.at_level(logging.DEBUG), pytest.raises(errors.AuthError) as info:
        await client.complete(ask("m"))
    logging.getLogger("wikismith.test").warning("failed: %s %r", info.value, info.value)
    assert KEY not in caplog.text
    assert KEY not in repr(client) and KEY not in repr(client.provider) and KEY not in repr(client.http)


async def test_credentials_in_base_url_next_to_a_key_is_a_config_error(emulator: Emulator) -> None:
    url = emulator.base_url.replace("http://", "http://user:pw@")
    client = OpenAICompatClient(provider("openai_compat", url))
    try:
        with pytest.raises(ConfigError, match="credentials"):
            await client.complete(ask())
    finally:
        await client.aclose()


async def test_the_chunks_own_fields_come_once_before_the_text(client: OpenAICompatClient, emulator: Emulator) -> None:
    """Fields on every chunk that wikismith does not model become one `ChunkExtra`, ahead of the first text: not
    repeated per token, and without nulls or OpenAI's per-chunk `obfuscation` padding."""
    fields = {"system_fingerprint": "fp_1", "service_tier": None, "obfuscation": "pad"}
    emulator.script("m", Reply(text="one two three", provider="Up", extra=fields))
    events = [e async for e in client.stream(ask("m"))]
    extras = [e for e in events if isinstance(e, ChunkExtra)]
    assert [e.fields for e in extras] == [{"provider": "Up", "system_fingerprint": "fp_1"}]
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert events.index(extras[0]) < first_text
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "one two three"
