"""Configuration errors at the command line: one line on stderr, exit 2, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

WIKISMITH = str(Path(sys.executable).parent / "wikismith")


def wikismith(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WIKISMITH_", "DEEPWIKI_", "OPENROUTER_"))}
    base.update({"WIKISMITH_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "400", **env})
    return subprocess.run([WIKISMITH, *args], env=base, capture_output=True, text=True, timeout=60)


def test_an_unknown_provider_exits_2_with_one_line(tmp_path: Path) -> None:
    result = wikismith(tmp_path, "chat", "--provider", "nope", "hello")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "unknown provider 'nope'" in lines[0] and "generator.json" in lines[0]
    assert result.stdout == ""


def test_a_malformed_config_file_exits_2_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "generator.json").write_text('{"providers": ')
    result = wikismith(tmp_path, "chat", "hello", WIKISMITH_CONFIG_DIR=str(config))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and str(config / "generator.json") in result.stderr
    assert "not valid JSON" in result.stderr and "Traceback" not in result.stderr


def test_deepwiki_config_dir_is_honoured_by_the_cli(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    spec = {"client_class": "LocalClient", "default_model": "tiny", "models": {"tiny": {}}}
    (config / "generator.json").write_text(json.dumps({"default_provider": "only", "providers": {"only": spec}}))
    result = wikismith(tmp_path, "chat", "--model", "huge", "hello", DEEPWIKI_CONFIG_DIR=str(config))
    assert result.returncode == 2
    assert "model 'huge' is not configured for provider 'only'" in result.stderr


def test_malformed_router_settings_exit_2_naming_the_variable(tmp_path: Path) -> None:
    for name, value in (
        ("WIKISMITH_BUDGETS", "day=lots"),
        ("WIKISMITH_BUDGETS", "week=5"),
        ("WIKISMITH_ROUTER_DEADLINE", "soon"),
        ("WIKISMITH_CATALOGUE_TTL", "a day"),
    ):
        result = wikismith(tmp_path, "chat", "--provider", "local", "hello", **{name: value})
        assert result.returncode == 2, (name, result.stderr)
        assert result.stderr.count("\n") == 1 and name in result.stderr and "Traceback" not in result.stderr
