"""The shared HTTP transport: how it names the host in messages, and why it says a request could not be built."""

from __future__ import annotations

import socket

import pytest

from tests.llm.conftest import KEY, ask, provider
from tests.support.emulator import Emulator, Reply
from wikismith.config.models import ConfigError
from wikismith.llm import errors
from wikismith.llm.providers import create_client
from wikismith.llm.providers.http import HTTPTransport

PASSWORD = "hunter2-very-secret-pw"  # never registered: only the transport can keep it out of messages


@pytest.mark.parametrize(
    ("base_url", "host"),
    [
        (f"http://alice:{PASSWORD}@127.0.0.1:9/v1", "127.0.0.1:9"),
        ("http://[::1]:11434", "[::1]:11434"),
        (f"http://bob:{PASSWORD}@[fe80::1]:8080/v1", "[fe80::1]:8080"),
        ("https://API.OpenAI.com:443/v1", "api.openai.com"),
        ("http://proxy.local:80/v1", "proxy.local"),
        ("https://proxy.local:8443/v1", "proxy.local:8443"),
    ],
)
def test_the_host_shown_in_messages_has_no_user_info_and_keeps_ipv6_brackets(base_url: str, host: str) -> None:
    assert HTTPTransport(provider("openai_compat", base_url), base_url, {}).host == host


async def _failure(base_url: str, model: str, **timeouts: float) -> errors.LLMError:
    client = create_client(provider("openai_compat", base_url, key=None, timeouts=timeouts))
    try:
        with pytest.raises(errors.LLMError) as info:
            await client.complete(ask(model))
    finally:
        await client.aclose()
    return info.value


async def test_a_password_in_the_base_url_is_in_no_error_message(emulator: Emulator) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens once the socket is closed
    emulator.script("slow", Reply(delay=2))
    emulator.script("html", Reply(status=200, raw_body=b"<html>hi</html>"))
    with_password = emulator.base_url.replace("http://", f"http://alice:{PASSWORD}@")
    failures = [
        await _failure(f"http://alice:{PASSWORD}@127.0.0.1:{closed}/v1", "m"),
        await _failure(with_password, "slow", first_byte=0.2),
        await _failure(with_password, "html"),
    ]
    assert [type(f) for f in failures] == [errors.TransportError, errors.ClientTimeout, errors.UpstreamError]
    for failure in failures:
        assert PASSWORD not in str(failure) and PASSWORD not in repr(failure) and "alice" not in str(failure)
        assert "127.0.0.1:" in str(failure)


async def _refusal(base_url: str, **kw: object) -> ConfigError:
    client = create_client(provider("openai_compat", base_url, **kw))
    try:
        with pytest.raises(ConfigError) as info:
            await client.complete(ask())
    finally:
        await client.aclose()
    return info.value


async def test_an_ipv6_address_without_brackets_is_called_an_invalid_url() -> None:
    error = await _refusal("http://::1:11434/v1", key=None)
    assert "not a valid URL" in str(error) and "[::1]" in str(error) and "credentials" not in str(error)


async def test_a_line_break_in_the_key_is_named_without_showing_the_key(emulator: Emulator) -> None:
    key = "sk-unregistered-abcdefghijklmnop"
    error = await _refusal(emulator.base_url, key=key + "\n")
    assert "API key" in str(error) and "line break" in str(error) and "credentials" not in str(error)
    assert "abcdefghijklmnop" not in str(error)
    assert emulator.chat_requests() == []


async def test_a_control_character_in_a_header_names_that_header(emulator: Emulator) -> None:
    error = await _refusal(emulator.base_url, headers={"X-Team": "docs\r"})
    assert "'X-Team'" in str(error) and "credentials" not in str(error) and KEY not in str(error)


async def test_credentials_in_the_base_url_and_a_key_are_still_named_as_such(emulator: Emulator) -> None:
    error = await _refusal(emulator.base_url.replace("http://", f"http://alice:{PASSWORD}@"))
    assert "credentials" in str(error) and PASSWORD not in str(error)
