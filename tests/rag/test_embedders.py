"""Embedders: the local default needs no key, remote ones go through the provider clients over real HTTP
(the emulator on 127.0.0.1), and one test runs the real packaged MiniLM."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.rag.conftest import SAMPLE, write_tree
from tests.support.emulator import Emulator
from wikismith.config.models import AppConfig, ConfigError, load_config
from wikismith.config.settings import Settings
from wikismith.rag import build_index, create_embedder, open_repo
from wikismith.rag.embedders import LocalEmbedder, RemoteEmbedder


def test_the_default_embedder_is_local_and_needs_no_key() -> None:
    config = load_config(None, {"OPENROUTER_API_KEY": "sk-or-only"})  # OpenRouter for chat, no OpenAI key
    embedder = create_embedder(config)
    assert isinstance(embedder, LocalEmbedder)
    assert embedder.id == "local/all-MiniLM-L6-v2" and embedder.dimension == 384


def test_the_openai_embedder_says_which_key_is_missing_only_when_chosen() -> None:
    config = load_config(None, {})
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        create_embedder(config, "openai")


def test_the_embedder_can_be_chosen_by_environment() -> None:
    config = load_config(None, {"DEEPWIKI_EMBEDDER_TYPE": "ollama"})
    embedder = create_embedder(config)
    assert isinstance(embedder, RemoteEmbedder) and embedder.id.startswith("ollama:")


def test_an_unknown_embedder_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown embedder"):
        create_embedder(load_config(None, {}), "nope")


def emulator_config(make_config: Callable[..., AppConfig], emulator: Emulator) -> AppConfig:
    entries: dict[str, Any] = {
        "default": "emu",
        "embedder_emu": {
            "client_class": "OpenAIClient",
            "batch_size": 2,
            "initialize_kwargs": {"api_key": "${EMU_KEY}", "base_url": emulator.base_url},
            "model_kwargs": {"model": "text-embedding-3-small", "dimensions": 24},
        },
        "embedder_ollama": {
            "client_class": "OllamaClient",
            "initialize_kwargs": {"base_url": emulator.ollama_url},
            "model_kwargs": {"model": "nomic-embed-text"},
        },
        "text_splitter": {"chunk_size": 120, "chunk_overlap": 20},
    }
    return make_config(embedder=entries, env={"EMU_KEY": "emu-key-123456"})


async def test_an_openai_compatible_embedder_batches_and_normalises(
    make_config: Callable[..., AppConfig], emulator: Emulator
) -> None:
    embedder = create_embedder(emulator_config(make_config, emulator))
    try:
        vectors = await embedder.embed(["alpha", "beta", "gamma", "alpha"])
    finally:
        await embedder.aclose()
    assert vectors.shape == (4, 24) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], vectors[3])
    calls = [r for r in emulator.requests if r.path.endswith("/embeddings")]
    assert [len(r.json["input"]) for r in calls] == [2, 2]
    assert calls[0].json["dimensions"] == 24 and calls[0].headers["Authorization"] == "Bearer emu-key-123456"


async def test_an_ollama_embedder_works_through_the_native_api(
    make_config: Callable[..., AppConfig], emulator: Emulator
) -> None:
    embedder = create_embedder(emulator_config(make_config, emulator), "ollama")
    try:
        vectors = await embedder.embed(["one", "two"])
    finally:
        await embedder.aclose()
    assert vectors.shape[0] == 2 and embedder.dimension == vectors.shape[1]
    assert any(r.path == "/api/embed" for r in emulator.requests)


async def test_an_index_built_with_a_remote_embedder(
    tmp_path: Path, settings: Settings, make_config: Callable[..., AppConfig], emulator: Emulator
) -> None:
    config = emulator_config(make_config, emulator)
    repo = write_tree(tmp_path / "repo", SAMPLE)
    embedder = create_embedder(config)
    try:
        index = await build_index(await open_repo(str(repo), settings, config), settings, config, embedder=embedder)
    finally:
        await embedder.aclose()
    assert index.manifest["embedder"] == {"id": embedder.id, "dimension": 24}
    assert len(index.chunks) >= 4


@pytest.mark.slow
async def test_the_real_local_minilm_embeds_offline_and_retrieves_by_meaning(
    tmp_path: Path, settings: Settings, config: AppConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    embedder = LocalEmbedder()
    vectors = await embedder.embed(["how to send an email", "deliver a mail message", "parse a number"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    repo = write_tree(tmp_path / "repo", SAMPLE)
    index = await build_index(await open_repo(str(repo), settings, config), settings, config, embedder=embedder)
    hits = await index.retrieve("which function delivers mail over SMTP?", k=2)
    assert hits[0].chunk.path == "src/mailer.py"
    await embedder.aclose()


def test_the_local_sequence_length_is_configurable_and_part_of_the_id(make_config: Callable[..., AppConfig]) -> None:
    entries = {
        "default": "local",
        "embedder_local": {"client_class": "LocalEmbedder", "model_kwargs": {"max_seq_length": 128}},
    }
    embedder = create_embedder(make_config(embedder=entries))
    assert isinstance(embedder, LocalEmbedder)
    assert embedder.max_seq_length == 128 and embedder.id == "local/all-MiniLM-L6-v2@128"


def test_an_unknown_precision_is_a_config_error(make_config: Callable[..., AppConfig]) -> None:
    entries = {
        "default": "local",
        "embedder_local": {"client_class": "LocalEmbedder", "model_kwargs": {"precision": "fp8"}},
    }
    with pytest.raises(ConfigError, match="precision"):
        create_embedder(make_config(embedder=entries))


def test_a_password_in_the_embedder_url_is_not_in_its_id(make_config: Callable[..., AppConfig]) -> None:
    """The id names index directories and manifests, and is logged."""
    entries: dict[str, Any] = {
        "default": "proxy",
        "embedder_proxy": {
            "client_class": "OpenAIClient",
            "initialize_kwargs": {"api_key": "k-123456", "base_url": "http://alice:pw-secret-123@127.0.0.1:9/v1"},
            "model_kwargs": {"model": "text-embedding-3-small"},
        },
    }
    embedder = create_embedder(make_config(embedder=entries))
    assert embedder.id == "openai_compat:127.0.0.1:9/text-embedding-3-small"


async def test_an_embedder_key_is_stripped_of_a_line_end_and_refused_with_one_inside(
    make_config: Callable[..., AppConfig], emulator: Emulator
) -> None:
    """As provider keys are: a `.env` line end is an accident; a line break inside cannot be meant."""
    init = {"api_key": "${EMB_KEY}", "base_url": emulator.base_url}
    entries = {"default": "e", "embedder_e": {"client_class": "OpenAIClient", "initialize_kwargs": init,
                                              "model_kwargs": {"model": "text-embedding-3-small"}}}  # fmt: skip
    embedder = create_embedder(make_config(embedder=entries, env={"EMB_KEY": "emb-key-123456\r\n"}))
    try:
        await embedder.embed(["alpha"])
    finally:
        await embedder.aclose()
    [call] = [r for r in emulator.requests if r.path.endswith("/embeddings")]
    assert call.headers["Authorization"] == "Bearer emb-key-123456"
    with pytest.raises(ConfigError, match="line break") as info:
        create_embedder(make_config(embedder=entries, env={"EMB_KEY": "emb-key\n123456"}))
    assert "123456" not in str(info.value)
