"""What the benchmarks share: the generator.json that points wikismith at the provider emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_generator(
    directory: Path,
    base_url: str,
    *,
    model: str = "m",
    model_params: dict[str, Any] | None = None,
    api_key: str | None = None,
) -> Path:
    """`directory/generator.json` with one OpenAI-compatible provider `emu` at `base_url`, serving `model`;
    returns `directory` (a config dir for `load_config` or `WIKISMITH_CONFIG_DIR`)."""
    directory.mkdir(parents=True, exist_ok=True)
    provider: dict[str, Any] = {
        "client_class": "OpenAICompatibleClient",
        "default_model": model,
        "supportsCustomModel": True,
        "base_url": base_url,
        "models": {model: dict(model_params or {})},
    }
    if api_key is not None:
        provider["api_key"] = api_key
    generator = {"default_provider": "emu", "providers": {"emu": provider}}
    (directory / "generator.json").write_text(json.dumps(generator))
    return directory
