"""Resolving providers and models: placeholders, strict models, canonical parameters, DeepWiki's file shape,
the shipped defaults."""

from __future__ import annotations

import pytest

from tests.config.conftest import LoadFn, generator, provider
from wikismith.config.models import ConfigError, canonical_params, load_config

# DeepWiki's generator.json shape (shared/deepwiki-compat.md §2.2): no wikismith extras, Ollama `options`,
# `supportsCustomModel`, `client_class` optional.
DEEPWIKI_GENERATOR = {
    "default_provider": "openrouter",
    "providers": {
        "openrouter": {
            "client_class": "OpenRouterClient",
            "default_model": "openai/gpt-5-nano",
            "supportsCustomModel": True,
            "models": {
                "openai/gpt-5-nano": {"temperature": 1.0},
                "openai/gpt-4o": {"temperature": 0.7, "top_p": 0.8, "max_tokens": 4096},
            },
        },
        "ollama": {
            "default_model": "qwen3:1.7b",
            "supportsCustomModel": True,
            "models": {
                "qwen3:1.7b": {"options": {"temperature": 0.7, "top_p": 0.8, "num_ctx": 32000, "num_predict": 512}},
                "llama3:8b": {"options": {"temperature": 0.7, "top_p": 0.8, "num_ctx": 8000}},
            },
        },
        "google": {
            "default_model": "gemini-2.5-flash",
            "supportsCustomModel": True,
            "models": {"gemini-2.5-flash": {"temperature": 1.0, "top_p": 0.8, "top_k": 20}},
        },
        "iflow": {
            "client_class": "OpenAIClient",
            "default_model": "Qwen3-Coder",
            "supportsCustomModel": False,
            "base_url": "https://apis.iflow.cn/v1",
            "api_key_env": "IFLOW_API_KEY",
            "models": {"Qwen3-Coder": {"temperature": 0.7, "max_tokens": 8000}},
        },
    },
}


def test_deepwiki_shaped_generator_json_is_accepted(load: LoadFn) -> None:
    config = load(DEEPWIKI_GENERATOR)
    assert config.resolve().name == "openrouter/openai/gpt-5-nano"
    ollama = config.resolve("ollama")
    assert ollama.provider.kind == "ollama" and ollama.model == "qwen3:1.7b"
    assert dict(ollama.params) == {"temperature": 0.7, "top_p": 0.8, "context_window": 32000, "max_tokens": 512}
    assert config.resolve("google").provider.kind == "openai_compat"
    assert config.resolve("iflow").provider.base_url == "https://apis.iflow.cn/v1"


def test_canonical_params_flatten_options_and_rename_aliases() -> None:
    raw = {"options": {"num_predict": 100, "num_ctx": 4096, "temperature": 0.1}, "max_completion_tokens": 7}
    assert canonical_params(raw) == {"max_tokens": 7, "context_window": 4096, "temperature": 0.1}
    assert canonical_params({"top_k": 20, "seed": 1}) == {"top_k": 20, "seed": 1}


def test_an_unknown_model_is_an_error_not_the_default(load: LoadFn) -> None:
    config = load(DEEPWIKI_GENERATOR)
    with pytest.raises(ConfigError) as info:
        config.resolve("iflow", "gpt-4o")
    assert info.value.path == "providers.iflow.models"
    assert "'gpt-4o' is not configured" in str(info.value) and "Qwen3-Coder" in str(info.value)


def test_a_custom_model_is_kept_as_asked_without_the_default_params(load: LoadFn) -> None:
    target = load(DEEPWIKI_GENERATOR).resolve("openrouter", "mistralai/devstral")
    assert target.model == "mistralai/devstral" and dict(target.params) == {}


def test_an_unknown_provider_is_an_error(load: LoadFn) -> None:
    config = load(DEEPWIKI_GENERATOR)
    with pytest.raises(ConfigError) as info:
        config.resolve("nope")
    assert info.value.path == "providers" and "unknown provider 'nope'" in str(info.value)
    assert "openrouter" in str(info.value)


def test_resolve_name_splits_at_the_first_slash(load: LoadFn) -> None:
    config = load(DEEPWIKI_GENERATOR)
    assert config.resolve_name("openrouter/openai/gpt-4o").model == "openai/gpt-4o"
    with pytest.raises(ConfigError, match="provider/model"):
        config.resolve_name("openrouter")


def test_an_unset_placeholder_is_an_error_only_for_the_provider_that_uses_it(load: LoadFn) -> None:
    config = load(
        {
            "default_provider": "ok",
            "providers": {"ok": provider(), "azure": provider(base_url="${AZURE_OPENAI_ENDPOINT}/openai/v1")},
        }
    )
    assert config.resolve("ok").provider.base_url == "http://127.0.0.1:9/v1"
    with pytest.raises(ConfigError) as info:
        config.resolve("azure")
    assert info.value.path == "providers.azure.base_url"
    assert "AZURE_OPENAI_ENDPOINT is not set" in str(info.value)


def test_placeholders_expand_with_defaults_and_values(load: LoadFn) -> None:
    spec = provider(
        base_url="${HOST:-http://127.0.0.1:1}/v1",
        headers={"X-Title": "${TITLE:-wikismith}", "X-Team": "${TEAM}"},
    )
    config = load(generator(x=spec), env={"TEAM": "docs", "TITLE": ""})
    resolved = config.provider("x")
    assert resolved.base_url == "http://127.0.0.1:1/v1"  # unset → default
    assert resolved.headers == {"X-Title": "wikismith", "X-Team": "docs"}  # empty counts as unset
    assert load(generator(x=spec), env={"HOST": "http://h", "TEAM": "t"}).provider("x").base_url == "http://h/v1"


def test_the_key_comes_from_api_key_env_or_an_api_key_placeholder(load: LoadFn) -> None:
    env = {"MY_KEY": "key-from-env-123", "OTHER": "key-from-placeholder-456"}
    config = load(generator(a=provider(api_key_env="MY_KEY"), b=provider(api_key="${OTHER}")), env=env)
    a_key, b_key = config.provider("a").api_key, config.provider("b").api_key
    assert a_key is not None and a_key.get_secret_value() == "key-from-env-123"
    assert b_key is not None and b_key.get_secret_value() == "key-from-placeholder-456"
    assert config.provider("a").api_key_env == "MY_KEY"
    assert load(generator(a=provider(api_key_env="MY_KEY"))).provider("a").api_key is None  # resolved lazily


DEFAULT_KINDS = {
    "openrouter": "openrouter",
    "openai": "openai_compat",
    "ollama": "ollama",
    "local": "llamacpp",
    "google": "openai_compat",
    "dashscope": "openai_compat",
    "azure": "openai_compat",
    "bedrock": "openai_compat",
    "github": "openai_compat",
}


def test_default_generator_json_has_every_catalogue_row_with_a_client() -> None:
    config = load_config(None, {"AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com"})
    assert config.generator.default_provider == "openrouter"
    assert set(DEFAULT_KINDS) <= set(config.generator.providers)
    for pid, kind in DEFAULT_KINDS.items():
        target = config.resolve(pid)
        assert target.provider.kind == kind, pid
        assert target.name == f"{pid}/{config.generator.providers[pid].default_model}"
    assert config.files["generator"] == "<packaged defaults>/generator.json"


async def test_every_client_class_has_a_client_and_every_default_provider_builds_one() -> None:
    from wikismith.llm.providers import PROVIDERS, create_client

    config = load_config(None, {"AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com"})
    assert set(config.client_classes.values()) <= set(PROVIDERS)
    for pid in DEFAULT_KINDS:
        client = create_client(config.provider(pid))  # no connection and no model load until first use
        assert isinstance(client, PROVIDERS[DEFAULT_KINDS[pid]])
        await client.aclose()


def test_default_openrouter_follows_openrouter_base_url() -> None:
    config = load_config(None, {"OPENROUTER_BASE_URL": "http://127.0.0.1:5/api/v1/"})
    assert config.provider("openrouter").base_url == "http://127.0.0.1:5/api/v1"
    assert load_config(None, {}).provider("openrouter").base_url == "https://openrouter.ai/api/v1"


def test_default_azure_needs_its_endpoint_only_when_used() -> None:
    config = load_config(None, {})
    with pytest.raises(ConfigError, match="AZURE_OPENAI_ENDPOINT"):
        config.resolve("azure")
    assert config.resolve("openrouter").provider.kind == "openrouter"


def test_default_routes_resolve() -> None:
    config = load_config(None, {})
    for name, targets in config.generator.routes.items():
        for target in targets:
            assert config.resolve_name(target).name == target, name


def test_deepwiki_shaped_embedder_repo_and_lang_files_are_accepted(load: LoadFn) -> None:
    config = load(
        None,
        embedder={
            "embedder": {
                "client_class": "OpenAIClient",
                "batch_size": 500,
                "model_kwargs": {"model": "text-embedding-3-small", "dimensions": 256, "encoding_format": "float"},
            },
            "embedder_ollama": {"client_class": "OllamaClient", "model_kwargs": {"model": "nomic-embed-text"}},
            "embedder_google": {
                "client_class": "GoogleEmbedderClient",
                "batch_size": 100,
                "model_kwargs": {"model": "gemini-embedding-001", "task_type": "SEMANTIC_SIMILARITY"},
            },
            "retriever": {"top_k": 20},
            "text_splitter": {"split_by": "word", "chunk_size": 350, "chunk_overlap": 100},
        },
        repo={
            "file_filters": {"excluded_dirs": ["./.venv/", "./node_modules/"], "excluded_files": ["yarn.lock"]},
            "repository": {"max_size_mb": 50000},
        },
        lang={"supported_languages": {"en": "English", "ja": "Japanese (日本語)"}, "default": "en"},
    )
    entries = config.embedder.entries()
    assert set(entries) == {"embedder", "embedder_ollama", "embedder_google"}
    assert entries["embedder"].batch_size == 500 and entries["embedder_google"].model_kwargs["task_type"]
    assert config.embedder.text_splitter.chunk_overlap == 100
    assert config.repo.file_filters.excluded_dirs == ["./.venv/", "./node_modules/"]
    assert config.lang.supported_languages["ja"] == "Japanese (日本語)"


def test_whitespace_around_a_key_or_header_value_is_dropped(load: LoadFn) -> None:
    """A `.env` file with CRLF line ends, or `echo key > file`, leaves a line break no key ever holds."""
    spec = provider(api_key_env="MY_KEY", headers={"X-Team": "${TEAM}"}, query_params={"key": "${Q}"})
    env = {"MY_KEY": " key-from-env-123\r\n", "TEAM": "docs\n", "Q": "query-key-456\n"}
    resolved = load(generator(x=spec), env=env).provider("x")
    assert resolved.api_key is not None and resolved.api_key.get_secret_value() == "key-from-env-123"
    assert resolved.headers == {"X-Team": "docs"} and resolved.query_params == {"key": "query-key-456"}


def test_a_literal_key_or_secret_header_is_not_shown_in_config_reprs(load: LoadFn) -> None:
    key = "AIzaSyD-EXAMPLEexample0123456789abcdEF"  # a Google-style key: no `sk-` shape to catch it by
    spec = provider(
        api_key=key,
        headers={"X-Goog-Api-Key": key, "X-Title": "wikismith"},
        query_params={"key": key},
        base_url="https://alice:pw-0123456789@h/v1",
    )
    embedder = {"embedder": {"client_class": "OpenAIClient", "initialize_kwargs": {"api_key": key}}}
    config = load(generator(x=spec), embedder=embedder)
    config.provider("x")  # registers the key, which must not be what keeps it out
    for shown in (repr(config), str(config.generator), repr(config.generator.providers["x"]), str(config.embedder)):
        assert key not in shown and "pw-0123456789" not in shown
    assert "X-Title': 'wikismith'" in repr(config.generator)  # what is not secret is still shown
    assert config.provider("x").api_key is not None and config.provider("x").api_key.get_secret_value() == key
