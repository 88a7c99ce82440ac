"""Config test helpers: write a generator.json (or any config file) into a directory and load it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from wikismith.config.models import AppConfig, load_config

LoadFn = Callable[..., AppConfig]


def provider(**spec: Any) -> dict[str, Any]:
    """A valid OpenAI-compatible provider entry with model `m`, overridden by `spec`."""
    return {"client_class": "OpenAIClient", "default_model": "m", "base_url": "http://127.0.0.1:9/v1",
            "models": {"m": {}}, **spec}  # fmt: skip


def generator(**providers: Mapping[str, Any]) -> dict[str, Any]:
    return {"default_provider": next(iter(providers)), "providers": dict(providers)}


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    return directory


@pytest.fixture
def load(config_dir: Path) -> LoadFn:
    """`load(generator_dict_or_text, env={...}, **other_files)` writes the files, then `load_config`s them."""

    def write_and_load(gen: Any = None, env: Mapping[str, str] | None = None, **files: Any) -> AppConfig:
        for name, content in {"generator": gen, **files}.items():
            if content is not None:
                text = content if isinstance(content, str) else json.dumps(content)
                (config_dir / f"{name}.json").write_text(text)
        return load_config(config_dir, env or {})

    return write_and_load
