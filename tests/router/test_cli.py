"""`wikismith models`, `usage`, `compare` and the shared CLI runtime helpers."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from wikismith.cli import compare, models, usage
from wikismith.cli.runtime import model_name
from wikismith.config.models import AppConfig, ConfigError, load_config
from wikismith.router.cost import Ledger, UsageRecord


@pytest.fixture
def cli() -> Callable[..., typer.testing.Result]:
    app = typer.Typer()
    for module in (models, usage, compare):
        module.register(app)
    runner = CliRunner()

    def invoke(*args: str) -> typer.testing.Result:
        return runner.invoke(app, list(args))

    return invoke


def test_models_json_filters_and_sorts(cli: Callable[..., typer.testing.Result], home: Path) -> None:
    result = cli("models", "--offline", "--json", "--provider", "openrouter", "--max-price", "1", "--sort", "price")
    assert result.exit_code == 0, result.output
    rows = orjson.loads(result.stdout)
    prices = [r["prompt_price"] + r["completion_price"] for r in rows]
    assert prices == sorted(prices)
    assert all(r["provider"] == "openrouter" and r["prompt_price"] <= 1e-6 for r in rows)
    assert any(r["id"] == "openrouter/openai/gpt-4o-mini" for r in rows)


def test_models_search_and_min_context(cli: Callable[..., typer.testing.Result], home: Path) -> None:
    result = cli("models", "--offline", "--json", "--search", "gemini", "--min-context", "1000000", "--sort", "context")
    rows = orjson.loads(result.stdout)
    assert rows and all("gemini" in r["id"] and r["context_length"] >= 1_000_000 for r in rows)


def test_models_table(cli: Callable[..., typer.testing.Result], home: Path) -> None:
    result = cli("models", "--offline", "--search", "smollm2")
    assert result.exit_code == 0
    assert "local/smollm2" in result.stdout and "free" in result.stdout


def test_models_rejects_an_unknown_sort(cli: Callable[..., typer.testing.Result], home: Path) -> None:
    assert cli("models", "--offline", "--sort", "speed").exit_code == 2


def test_usage_summarises_the_ledger(cli: Callable[..., typer.testing.Result], home: Path) -> None:
    ledger = Ledger(home / "usage.sqlite3")
    for cost in (0.01, 0.02):
        record = UsageRecord(
            ts=time.time(), route="wiki", target="openrouter/openai/gpt-4o-mini", tag="wiki", prompt_tokens=100,
            completion_tokens=20, cost=cost, cost_is_estimate=False, latency_ms=250.0, status="ok",
        )  # fmt: skip
        ledger.record(record)
    result = cli("usage", "--json")
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout)
    assert summary["totals"]["calls"] == 2
    assert summary["totals"]["cost"] == pytest.approx(0.03)
    assert summary["by_model"][0]["target"] == "openrouter/openai/gpt-4o-mini"
    table = cli("usage")
    assert "openrouter/openai/gpt-4o-mini" in table.stdout and "0.030000" in table.stdout


def test_usage_with_an_empty_ledger(cli: Callable[..., typer.testing.Result], home: Path) -> None:
    result = cli("usage")
    assert result.exit_code == 0 and "no model calls" in result.stdout


def test_compare_with_an_unknown_model_exits_2(cli: Callable[..., typer.testing.Result], home: Path) -> None:
    result = cli("compare", "--models", "local/gpt-9", "hi")
    assert result.exit_code == 2
    assert "not configured" in result.output


@pytest.fixture
def config() -> AppConfig:
    return load_config(None, {})


def test_model_name_defaults_to_the_default_provider(config: AppConfig) -> None:
    assert model_name(config) == "openrouter/openai/gpt-4o-mini"
    assert model_name(config, provider="local") == "local/smollm2"


def test_model_provider_is_an_alias_of_provider(config: AppConfig) -> None:
    assert model_name(config, model_provider="ollama", model="qwen3:8b") == "ollama/qwen3:8b"
    with pytest.raises(ConfigError, match="disagree"):
        model_name(config, provider="local", model_provider="ollama")


def test_model_may_be_given_as_provider_slash_model(config: AppConfig) -> None:
    assert model_name(config, model="ollama/qwen3:8b") == "ollama/qwen3:8b"
    # an OpenRouter slug of the default provider is not mistaken for provider "openai"
    assert model_name(config, model="openai/gpt-4o") == "openrouter/openai/gpt-4o"


def test_route_options(config: AppConfig) -> None:
    assert model_name(config, route="wiki") == "wiki"
    assert model_name(config, route="auto") == "auto"
    with pytest.raises(ConfigError, match="unknown route"):
        model_name(config, route="nope")
    with pytest.raises(ConfigError, match="not both"):
        model_name(config, route="wiki", provider="local")


def test_unknown_model_of_a_closed_provider_is_refused(config: AppConfig) -> None:
    with pytest.raises(ConfigError, match="not configured"):
        model_name(config, provider="local", model="gpt-9")
