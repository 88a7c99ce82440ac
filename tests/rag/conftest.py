"""RAG test helpers: a config directory written for the test, settings under a temporary home, tiny repos."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.embedders import HashEmbedder
from wikismith.config.models import AppConfig, load_config
from wikismith.config.settings import Settings

GENERATOR = {
    "default_provider": "s",
    "providers": {
        "s": {
            "client_class": "OpenAICompatibleClient",
            "default_model": "m",
            "supportsCustomModel": True,
            "base_url": "http://127.0.0.1:9",
            "models": {"m": {}},
        }
    },
}


def write_config(
    directory: Path,
    *,
    repository: Mapping[str, Any] | None = None,
    file_filters: Mapping[str, Any] | None = None,
    embedder: Mapping[str, Any] | None = None,
    generator: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> AppConfig:
    """A config dir with repo.json (and optionally embedder.json / generator.json) for one test."""
    directory.mkdir(parents=True, exist_ok=True)
    repo: dict[str, Any] = {"repository": dict(repository or {})}
    if file_filters is not None:
        repo["file_filters"] = dict(file_filters)
    (directory / "repo.json").write_text(json.dumps(repo))
    (directory / "generator.json").write_text(json.dumps(generator or GENERATOR))
    if embedder is not None:
        (directory / "embedder.json").write_text(json.dumps(embedder))
    return load_config(directory, dict(env or {}))


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", env={})


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., AppConfig]:
    def make(**kw: Any) -> AppConfig:
        return write_config(tmp_path / "config", **kw)

    return make


@pytest.fixture
def config(make_config: Callable[..., AppConfig]) -> AppConfig:
    return make_config(file_filters={"excluded_dirs": ["node_modules", "build"], "excluded_files": ["*.min.js"]})


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


SAMPLE = {
    "README.md": "# Sample\n\nA sample project about parsing invoices and sending emails.\n",
    "src/invoice.py": "\n".join(
        ["def parse_invoice(text):", '    """Parse an invoice total from text."""', "    total = 0"]
        + [f"    total += line_{i}" for i in range(60)]
        + ["    return total", ""]
    ),
    "src/mailer.py": "def send_email(address, body):\n    smtp_connect()\n    smtp_send(address, body)\n",
    "docs/guide.md": "How to configure the mailer: set SMTP_HOST.\n",
}
