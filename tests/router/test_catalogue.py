"""The catalogue: shipped snapshot, cache file, merging configured providers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.support.emulator import Emulator
from wikismith.config.models import AppConfig, ConfigError, load_config
from wikismith.config.settings import Settings
from wikismith.llm.catalogue import Catalogue, load_snapshot, parse_model


def test_snapshot_has_the_models_api_shape() -> None:
    raw = load_snapshot()
    assert 40 <= len(raw) <= 100
    for entry in raw:
        assert {"id", "name", "context_length", "pricing", "supported_parameters", "top_provider"} <= entry.keys()
        assert isinstance(entry["pricing"]["prompt"], str)  # USD per token, as a decimal string


def test_parse_model_reads_prices_per_token() -> None:
    info = parse_model(
        {
            "id": "openai/gpt-4o",
            "name": "GPT-4o",
            "context_length": 128000,
            "pricing": {"prompt": "0.0000025", "completion": "0.00001", "request": "0"},
            "top_provider": {"max_completion_tokens": 16384},
            "supported_parameters": ["tools", "temperature"],
        },
        "openrouter",
    )
    assert info.id == "openrouter/openai/gpt-4o"
    assert info.prompt_price == 2.5e-6
    assert info.completion_price == 1e-5
    assert info.max_completion_tokens == 16384
    assert info.supported_parameters == frozenset({"tools", "temperature"})


def test_default_config_merges_every_provider() -> None:
    catalogue = Catalogue(load_config(None, {}))
    gpt = catalogue.get("openrouter/openai/gpt-4o-mini")
    assert gpt is not None and gpt.context_length == 128000 and gpt.prompt_price == 1.5e-7
    twin = catalogue.get("openai/gpt-4o")  # OpenAI direct borrows OpenRouter's facts for the same model
    assert twin is not None and twin.provider == "openai" and twin.prompt_price == 2.5e-6
    local = catalogue.get("local/smollm2")
    assert local is not None and local.prompt_price == 0.0 and local.context_length == 8192
    ollama = catalogue.get("ollama/qwen3:8b")
    assert ollama is not None and ollama.completion_price == 0.0 and ollama.context_length == 32000
    assert catalogue.source == "snapshot"


def test_a_fresh_cache_file_is_preferred_to_the_snapshot(tmp_path: Path, make_config: Callable[..., AppConfig]) -> None:
    cache = tmp_path / "catalogue.json"
    entry = {"id": "vendor/new-model", "name": "New", "context_length": 5, "pricing": {"prompt": "0"}}
    cache.write_bytes(orjson.dumps({"fetched_at": time.time(), "data": [entry]}))
    config = make_config({"or": {"client_class": "OpenRouterClient", "models": {}}})
    catalogue = Catalogue(config, cache_path=cache, ttl=60)
    assert [m.id for m in catalogue.models()] == ["or/vendor/new-model"]
    assert catalogue.source == "cache"
    assert not catalogue.is_stale()


def test_an_old_cache_is_stale(tmp_path: Path) -> None:
    cache = tmp_path / "catalogue.json"
    cache.write_bytes(orjson.dumps({"fetched_at": time.time() - 7200, "data": []}))
    assert Catalogue(None, cache_path=cache, ttl=3600).is_stale()


def test_a_corrupt_cache_falls_back_to_the_snapshot(tmp_path: Path) -> None:
    cache = tmp_path / "catalogue.json"
    cache.write_text("{not json")
    catalogue = Catalogue(None, cache_path=cache)
    assert len(catalogue.models()) > 40
    assert catalogue.source == "snapshot"


async def test_refresh_fetches_models_over_http_and_caches_atomically(tmp_path: Path, emulator: Emulator) -> None:
    cache = tmp_path / "catalogue.json"
    catalogue = Catalogue(None, cache_path=cache)
    assert await catalogue.refresh(emulator.base_url, api_key="sk-or-secret-0001")
    assert catalogue.source == "live"
    assert [m.id for m in catalogue.models()] == ["openrouter/emu/cheap", "openrouter/emu/big"]
    assert [(r.path, r.headers["Authorization"]) for r in emulator.requests] == [
        ("/api/v1/models", "Bearer sk-or-secret-0001")
    ]
    assert b"sk-or-secret" not in cache.read_bytes()  # the key is never written
    assert [p.name for p in tmp_path.iterdir()] == ["catalogue.json"]  # no temporary file left
    again = Catalogue(None, cache_path=cache)
    cheap = again.get("openrouter/emu/cheap")
    assert again.source == "cache" and cheap is not None and cheap.max_completion_tokens == 1024


def settings_with(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"WIKISMITH_HOME": str(tmp_path), **env})


async def test_refresh_if_stale_uses_the_configured_aggregator_and_the_ttl(
    tmp_path: Path, emulator: Emulator, make_config: Callable[..., AppConfig]
) -> None:
    config = make_config({"or": {"client_class": "OpenRouterClient", "base_url": emulator.base_url}})
    settings = settings_with(tmp_path, WIKISMITH_CATALOGUE_TTL="0.3")
    catalogue = Catalogue.for_settings(config, settings)
    assert catalogue.ttl == 0.3 and catalogue.cache_path == settings.data.catalogue
    assert await catalogue.refresh_if_stale()  # no cache yet: stale
    assert not await catalogue.refresh_if_stale()  # fresh
    assert catalogue.get("or/emu/big") is not None
    await asyncio.sleep(0.35)
    assert await Catalogue.for_settings(config, settings).refresh_if_stale()  # the cache file has aged
    assert await catalogue.refresh_if_stale(force=True)
    assert sum(r.path.endswith("/models") for r in emulator.requests) == 3


async def test_refresh_if_stale_without_an_aggregator_does_nothing(
    tmp_path: Path, make_config: Callable[..., AppConfig]
) -> None:
    catalogue = Catalogue.for_settings(make_config(), settings_with(tmp_path))
    assert catalogue.ttl == 24 * 3600
    assert not await catalogue.refresh_if_stale(force=True)


def test_a_bad_ttl_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WIKISMITH_CATALOGUE_TTL"):
        Catalogue.for_settings(load_config(None, {}), settings_with(tmp_path, WIKISMITH_CATALOGUE_TTL="a day"))


async def test_a_failed_refresh_keeps_the_list_in_use(tmp_path: Path) -> None:
    catalogue = Catalogue(None, cache_path=tmp_path / "catalogue.json")
    assert not await catalogue.refresh("http://127.0.0.1:9/api/v1", timeout=2)  # nothing listens on port 9
    assert len(catalogue.models()) > 40 and catalogue.source == "snapshot"
    assert not (tmp_path / "catalogue.json").exists()
