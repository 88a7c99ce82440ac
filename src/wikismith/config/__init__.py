"""Configuration: process settings from the environment and the DeepWiki-shaped JSON files."""

from wikismith.config.models import (
    AppConfig,
    ConfigError,
    EmbedderConfig,
    GeneratorConfig,
    LangConfig,
    ModelTarget,
    ProviderConfig,
    RepoConfig,
    load_config,
)
from wikismith.config.settings import Settings

__all__ = [
    "AppConfig",
    "ConfigError",
    "EmbedderConfig",
    "GeneratorConfig",
    "LangConfig",
    "ModelTarget",
    "ProviderConfig",
    "RepoConfig",
    "Settings",
    "load_config",
]
