"""Settings from the environment, the config directory (WIKISMITH_CONFIG_DIR / DEEPWIKI_CONFIG_DIR) with the
packaged defaults as the per-file fallback."""

from __future__ import annotations

import json
from pathlib import Path

from tests.config.conftest import generator, provider
from wikismith.config.models import load_config
from wikismith.config.settings import Settings


def test_home_defaults_to_dot_wikismith(tmp_path: Path) -> None:
    assert Settings.from_env({}).home == Path.home() / ".wikismith"
    assert Settings.from_env({"WIKISMITH_HOME": str(tmp_path / "h")}).home == tmp_path / "h"
    assert Settings.from_env({"WIKISMITH_HOME": "~/wk"}).home == Path.home() / "wk"


def test_data_paths_live_under_home(tmp_path: Path) -> None:
    data = Settings.from_env({"WIKISMITH_HOME": str(tmp_path)}).data
    assert data.ledger == tmp_path / "usage.sqlite3" and data.catalogue == tmp_path / "catalogue.json"
    assert not any(tmp_path.iterdir())  # nothing created on disk


def test_wikismith_config_dir_wins_over_deepwiki_config_dir(tmp_path: Path) -> None:
    both = Settings.from_env({"WIKISMITH_CONFIG_DIR": str(tmp_path / "w"), "DEEPWIKI_CONFIG_DIR": str(tmp_path / "d")})
    assert both.config_dir == tmp_path / "w"
    assert Settings.from_env({"DEEPWIKI_CONFIG_DIR": str(tmp_path / "d")}).config_dir == tmp_path / "d"
    assert Settings.from_env({}).config_dir is None


def test_a_config_dir_with_only_generator_json_falls_back_per_file(tmp_path: Path) -> None:
    (tmp_path / "generator.json").write_text(json.dumps(generator(mine=provider())))
    settings = Settings.from_env({"DEEPWIKI_CONFIG_DIR": str(tmp_path)})
    config = load_config(settings.config_dir, settings.env)
    assert list(config.generator.providers) == ["mine"]
    assert config.files["generator"] == str(tmp_path / "generator.json")
    assert config.files["embedder"] == "<packaged defaults>/embedder.json"
    assert config.files["lang"] == "<packaged defaults>/lang.json"
    assert config.lang.default == "en" and config.embedder.retriever.top_k > 0


def test_a_config_dir_may_override_lang_only(tmp_path: Path) -> None:
    (tmp_path / "lang.json").write_text(json.dumps({"supported_languages": {"fr": "Français"}, "default": "fr"}))
    config = load_config(tmp_path, {})
    assert config.lang.default == "fr" and config.files["lang"] == str(tmp_path / "lang.json")
    assert "openrouter" in config.generator.providers  # generator.json still the packaged one


def test_base_urls_and_flags_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "OPENROUTER_BASE_URL": "http://127.0.0.1:8/api/v1/",
            "OLLAMA_HOST": "http://127.0.0.1:11434/",
            "DEEPWIKI_AUTH_MODE": "True",
            "DEEPWIKI_AUTH_CODE": "open-sesame-42",
            "WIKISMITH_API_KEYS": "key-one-123, key-two-456,",
            "WIKISMITH_LOCAL_ROOTS": "/tmp:/srv",
        }
    )
    assert settings.openrouter_base_url == "http://127.0.0.1:8/api/v1"
    assert settings.ollama_host == "http://127.0.0.1:11434"
    assert settings.auth_mode is True
    assert settings.auth_code is not None and settings.auth_code.get_secret_value() == "open-sesame-42"
    assert [k.get_secret_value() for k in settings.api_keys] == ["key-one-123", "key-two-456"]
    assert settings.local_roots == (Path("/tmp").resolve(), Path("/srv").resolve())
    assert not Settings.from_env({"DEEPWIKI_AUTH_MODE": "0"}).auth_mode
