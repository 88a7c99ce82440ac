"""Configuration: process settings from the environment and the DeepWiki-shaped JSON files."""

from wikismith.config.models import AppConfig, ConfigError, ModelTarget, load_config
from wikismith.config.schemas import EmbedderConfig, GeneratorConfig, LangConfig, ProviderConfig, RepoConfig
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
