"""Router test helpers: a generator.json written for the test, routers over scripted models or the emulator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.emulator import Emulator
from tests.support.scripted import ScriptedModel
from wikismith.config.models import AppConfig, ResolvedProvider, load_config
from wikismith.llm.base import ChatModel
from wikismith.llm.types import ChatRequest, GenerationParams, Message
from wikismith.router import Router
from wikismith.router.retry import RetryPolicy

MODELS: dict[str, dict[str, Any]] = {
    "small": {"context_window": 60},
    "big": {"context_window": 100_000},
    "m": {"temperature": 0.3},
}
FAST = RetryPolicy(max_attempts=1)


def write_config(
    directory: Path,
    providers: Mapping[str, Mapping[str, Any]],
    routes: Mapping[str, list[str]] | None = None,
    default: str | None = None,
) -> AppConfig:
    directory.mkdir(parents=True, exist_ok=True)
    generator = {
        "default_provider": default or next(iter(providers)),
        "providers": {
            pid: {
                "client_class": "OpenAICompatibleClient",
                "default_model": "m",
                "supportsCustomModel": True,
                "base_url": "http://127.0.0.1:9",
                "models": MODELS,
                **spec,
            }
            for pid, spec in providers.items()
        },
        "routes": dict(routes or {}),
    }
    (directory / "generator.json").write_text(json.dumps(generator))
    return load_config(directory, {})


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., AppConfig]:
    def make(
        providers: Mapping[str, Mapping[str, Any]] | None = None,
        routes: Mapping[str, list[str]] | None = None,
        **kw: Any,
    ) -> AppConfig:
        return write_config(tmp_path / "config", providers or {"a": {}, "b": {}, "c": {}}, routes, **kw)

    return make


def factory_for(models: Mapping[str, ChatModel]) -> Callable[[ResolvedProvider], ChatModel]:
    def create(provider: ResolvedProvider) -> ChatModel:
        return models[provider.id]

    return create


def scripted(config: AppConfig, **kw: Any) -> tuple[Router, dict[str, ScriptedModel]]:
    """A router over one `ScriptedModel` per configured provider (one try per target unless `policy` says)."""
    models = {pid: ScriptedModel() for pid in config.generator.providers}
    router = Router(config, client_factory=factory_for(models), policy=kw.pop("policy", FAST), **kw)
    return router, models


def ask(model: str, text: str = "hello", **kw: Any) -> ChatRequest:
    params = kw.pop("params", None) or GenerationParams()
    return ChatRequest(model=model, messages=[Message(role="user", content=text)], params=params, **kw)


# --- over the emulator ---------------------------------------------------------------------------------------

QUICK = RetryPolicy(max_attempts=1, deadline=10)


def emulated_config(
    directory: Path,
    emulator: Emulator,
    provider_a: dict[str, Any] | None = None,
    provider_b: dict[str, Any] | None = None,
    routes: dict[str, list[str]] | None = None,
) -> AppConfig:
    """Providers `a` and `b` on the emulator (OpenAI-compatible), route `ab` = a/m1 then b/m2 (plus `routes`)."""

    def spec(**more: Any) -> dict[str, Any]:
        return {
            "client_class": "OpenAICompatibleClient",
            "default_model": "m1",
            "supportsCustomModel": True,
            "base_url": emulator.base_url,
            **more,
        }

    generator = {
        "default_provider": "a",
        "providers": {"a": spec(**(provider_a or {})), "b": spec(**(provider_b or {}))},
        "routes": {"ab": ["a/m1", "b/m2"], **(routes or {})},
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "generator.json").write_text(json.dumps(generator))
    return load_config(directory, {})


@pytest.fixture
async def make_router(tmp_path: Path, emulator: Emulator) -> AsyncIterator[Callable[..., Router]]:
    made: list[Router] = []

    def make(
        provider_a: dict[str, Any] | None = None,
        provider_b: dict[str, Any] | None = None,
        routes: dict[str, list[str]] | None = None,
        **kw: Any,
    ) -> Router:
        kw.setdefault("policy", QUICK)
        config = emulated_config(tmp_path / "config", emulator, provider_a, provider_b, routes)
        router = Router(config, **kw)
        made.append(router)
        return router

    yield make
    for router in made:
        await router.aclose()
