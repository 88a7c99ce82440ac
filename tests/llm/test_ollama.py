"""The Ollama client against the emulator's /api routes: NDJSON streaming, options, errors, tags, embed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from yarl import URL

from tests.llm.conftest import ask, provider
from tests.support.emulator import Emulator, Reply, error, mid_stream_error
from wikismith.config.models import ConfigError
from wikismith.llm import errors
from wikismith.llm.events import Finish, TextDelta, UsageReport, collect
from wikismith.llm.providers import create_client
from wikismith.llm.providers.ollama import OllamaClient, normalise_host
from wikismith.llm.types import ChatRequest, GenerationParams, Message


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[OllamaClient]:
    c = create_client(provider("ollama", emulator.ollama_url, key=None))
    assert isinstance(c, OllamaClient)
    yield c
    await c.aclose()


async def test_stream_yields_text_then_usage_then_finish(client: OllamaClient, emulator: Emulator) -> None:
    emulator.script("qwen3:1.7b", Reply(text="hi there you", split=True))
    got = [e async for e in client.stream(ask("qwen3:1.7b"))]
    assert [e.text for e in got if isinstance(e, TextDelta)] == ["hi ", "there ", "you"]
    assert isinstance(got[-2], UsageReport) and got[-2].usage.completion_tokens == 5 and got[-2].usage.cost == 0.0
    assert isinstance(got[-1], Finish) and got[-1].reason == "stop"


async def test_options_use_ollama_names(client: OllamaClient, emulator: Emulator) -> None:
    params = GenerationParams(temperature=0.3, max_tokens=50, context_window=4096, stop=["x"])
    answer = await client.complete(ask("qwen3:1.7b", params=params, extra={"keep_alive": "5m"}))
    assert answer.text == "Hello from the emulator." and answer.provider == "ollama"
    body = emulator.chat_requests()[-1].json
    assert body["options"] == {"temperature": 0.3, "num_predict": 50, "num_ctx": 4096, "stop": ["x"]}
    assert body["stream"] is True and body["keep_alive"] == "5m"


async def test_unknown_model_is_not_found(client: OllamaClient, emulator: Emulator) -> None:
    emulator.script("nope", error(404, 'model "nope" not found, try pulling it first'))
    with pytest.raises(errors.NotFound, match="try pulling"):
        await client.complete(ask("nope"))


async def test_error_line_mid_stream_keeps_partial_text(client: OllamaClient, emulator: Emulator) -> None:
    emulator.script("m", mid_stream_error("half an", message="llama runner process has terminated"))
    with pytest.raises(errors.StreamError, match="terminated") as info:
        await collect(client.stream(ask("m")))
    assert info.value.partial_text == "half an"


async def test_stream_without_done_is_interrupted(client: OllamaClient, emulator: Emulator) -> None:
    emulator.script("m", Reply(text="cut", finish_reason=None))
    with pytest.raises(errors.StreamError):
        await collect(client.stream(ask("m")))


async def test_tool_calls_arrive_whole(client: OllamaClient, emulator: Emulator) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "lookup", "arguments": '{"q": 1}'}}
    emulator.script("m", Reply(text=None, tool_calls=[call]))
    answer = await client.complete(ask("m"))
    assert answer.tool_calls[0].name == "lookup" and json.loads(answer.tool_calls[0].arguments) == {"q": 1}


async def test_list_models_from_tags(client: OllamaClient) -> None:
    models = await client.list_models()
    assert [m.id for m in models] == ["ollama/qwen3:1.7b", "ollama/llama3:8b"]
    assert all(m.prompt_price == 0.0 for m in models)


async def test_embed(client: OllamaClient, emulator: Emulator) -> None:
    vectors = await client.embed(["x", "y"], "nomic-embed-text")
    assert vectors.shape == (2, 16)
    assert emulator.requests[-1].path == "/api/embed"


@pytest.mark.parametrize(
    ("value", "url"),
    [
        (None, "http://127.0.0.1:11434"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("example.com:8080", "http://example.com:8080"),
        ("https://ollama.example.com", "https://ollama.example.com:443"),
        ("http://localhost:11434/", "http://localhost:11434"),
        ("http://[::1]:11434", "http://[::1]:11434"),
        ("[::1]:11434", "http://[::1]:11434"),
        ("[::1]", "http://[::1]:11434"),
        ("[::]:8080", "http://[::1]:8080"),
        ("https://[fd00::5]/ollama/", "https://[fd00::5]:443/ollama"),
    ],
)
def test_ollama_host_forms(value: str | None, url: str) -> None:
    assert normalise_host(value) == url
    assert URL(url + "/api/chat").host is not None  # what aiohttp will parse


def test_an_ollama_host_with_a_bad_port_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="port"):
        normalise_host("localhost:11434x")


def _with(part: dict[str, object]) -> ChatRequest:
    message = Message(role="user", content="what is this?", parts=[{"type": "text", "text": "what is this?"}, part])
    return ChatRequest(model="qwen3:1.7b", messages=[message])


async def test_an_image_data_url_becomes_ollamas_images_field(client: OllamaClient, emulator: Emulator) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    await client.complete(_with(image))
    sent = emulator.chat_requests()[-1].json["messages"][0]
    assert sent == {"role": "user", "content": "what is this?", "images": ["iVBORw0KGgo="]}


@pytest.mark.parametrize(
    ("part", "says"),
    [
        ({"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}, "data URLs"),
        ({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}, "input_audio part"),
    ],
)
async def test_media_ollama_cannot_take_is_refused_before_anything_is_sent(
    client: OllamaClient, emulator: Emulator, part: dict[str, object], says: str
) -> None:
    with pytest.raises(errors.BadRequest, match=says):
        await client.complete(_with(part))
    with pytest.raises(errors.BadRequest, match=says):
        await collect(client.stream(_with(part)))
    assert emulator.chat_requests() == []
