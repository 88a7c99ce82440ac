"""The router over the real provider clients (its default client factory) and the emulator: the model layer's
errors and events drive fallback, and parameters are filtered and mapped on their way to the wire."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.llm.conftest import KEY, ask
from tests.support.emulator import Emulator, Reply, error, error_in_200, mid_stream_error
from wikismith.config.models import load_config
from wikismith.llm.errors import BadRequest, StreamError
from wikismith.llm.events import Routed, collect
from wikismith.llm.types import GenerationParams
from wikismith.router import Router
from wikismith.router.retry import RetryPolicy


@pytest.fixture
async def router(emulator: Emulator, tmp_path: Path) -> AsyncIterator[Router]:
    generator = {
        "default_provider": "openrouter",
        "providers": {
            "openrouter": {
                "client_class": "OpenRouterClient",
                "default_model": "openai/gpt-4o-mini",
                "supportsCustomModel": True,
                "base_url": "${OPENROUTER_BASE_URL}",
                "api_key_env": "OPENROUTER_API_KEY",
            },
            "backup": {
                "client_class": "OpenAICompatibleClient",
                "default_model": "b",
                "supportsCustomModel": True,
                "base_url": emulator.base_url,
            },
            "ollama": {"default_model": "qwen3:1.7b", "supportsCustomModel": True, "base_url": emulator.ollama_url},
        },
        "routes": {"safe": ["openrouter/openai/gpt-4o-mini", "backup/b", "ollama/qwen3:1.7b"]},
    }
    (tmp_path / "generator.json").write_text(json.dumps(generator))
    env = {"OPENROUTER_BASE_URL": emulator.base_url, "OPENROUTER_API_KEY": KEY}
    r = Router(load_config(tmp_path, env), policy=RetryPolicy(deadline=5, initial=0.01, cap=0.05))
    yield r
    await r.aclose()


async def test_unsupported_parameter_never_reaches_the_wire(router: Router, emulator: Emulator) -> None:
    params = GenerationParams(temperature=0.2, top_k=5)  # the catalogue: gpt-4o-mini takes no top_k
    await router.complete(ask("openrouter/openai/gpt-4o-mini", params=params))
    body = emulator.chat_requests()[-1].json
    assert body["temperature"] == 0.2 and "top_k" not in body


async def test_strict_params_refuses_before_sending(router: Router, emulator: Emulator) -> None:
    with pytest.raises(BadRequest, match="top_k"):
        await router.complete(
            ask("openrouter/openai/gpt-4o-mini", params=GenerationParams(top_k=5), strict_params=True)
        )
    assert emulator.chat_requests() == []


async def test_rate_limit_then_error_in_200_fall_back_to_ollama(router: Router, emulator: Emulator) -> None:
    emulator.script("openai/gpt-4o-mini", error(429, "slow down", retry_after=30))
    emulator.script("b", error_in_200(502, "Provider returned error"))
    emulator.script("qwen3:1.7b", Reply(text="from ollama"))
    answer = await router.complete(ask("safe"))
    assert answer.text == "from ollama" and answer.target == "ollama/qwen3:1.7b"
    assert [(a.target, a.error_type) for a in answer.attempts] == [
        ("openrouter/openai/gpt-4o-mini", "rate_limit_exceeded"),
        ("backup/b", "upstream_error"),
        ("ollama/qwen3:1.7b", None),
    ]
    assert [r.path for r in emulator.chat_requests()] == ["/api/v1/chat/completions"] * 2 + ["/api/chat"]


async def test_stream_falls_back_before_the_first_token(router: Router, emulator: Emulator) -> None:
    emulator.script("openai/gpt-4o-mini", Reply(text=None, usage=None))  # empty stream: a failure
    emulator.script("b", Reply(text="backup answer", comments=2, split=True))
    events = [e async for e in router.stream(ask("safe"))]
    routed = next(e for e in events if isinstance(e, Routed))
    assert routed.target == "backup/b" and routed.attempts[0].error_type == "empty_response"


async def test_stream_failure_after_text_keeps_the_partial_answer(router: Router, emulator: Emulator) -> None:
    emulator.script("openai/gpt-4o-mini", mid_stream_error("half of it"))
    with pytest.raises(StreamError) as info:
        await collect(router.stream(ask("openrouter/openai/gpt-4o-mini")))
    assert info.value.partial_text == "half of it"


async def test_cost_from_usage_is_reported(router: Router, emulator: Emulator) -> None:
    answer = await router.complete(ask("openrouter/openai/gpt-4o-mini"))
    assert answer.usage is not None and answer.usage.cost == 0.00042 and not answer.usage.cost_is_estimate
