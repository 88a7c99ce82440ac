"""`wikismith models`, `usage`, `compare` and the shared CLI runtime helpers."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from tests.support.emulator import Emulator, Reply, error
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

    def invoke(*args: str, env: dict[str, str] | None = None) -> typer.testing.Result:
        return runner.invoke(app, list(args), env=env)

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


def _table_rows(stdout: str) -> list[list[str]]:
    """The body rows of a rich table, each a list of its cells, a wrapped cell's lines joined."""
    rows: list[list[str]] = []
    for line in stdout.splitlines():
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if rows and not any(cells[1:]):  # a wrapped id's next line: the other cells are empty
            rows[-1][0] += cells[0]
        else:
            rows.append(cells)
    return rows


@pytest.mark.parametrize("columns", [80, 200])
def test_models_table_fits_the_terminal_and_keeps_every_id_whole(
    cli: Callable[..., typer.testing.Result], home: Path, columns: int
) -> None:
    result = cli("models", "--offline", env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    header = next(line for line in lines if "model" in line)
    assert all(f" {name} " in header for name in ("context", "$/M in", "$/M out", "tools"))  # never squeezed
    assert (" name " in header) is (columns > 80)  # dropped when narrow
    ids = [r["id"] for r in orjson.loads(cli("models", "--offline", "--json", env={"COLUMNS": "80"}).stdout)]
    rows = _table_rows(result.stdout)
    assert [r[0] for r in rows] == ids and len(ids) > 40
    longest = max(ids, key=len)
    if columns == 80:  # a long id wraps after a `/`, the rest of its row stays on its first line
        assert len(longest) > 37 and longest not in result.stdout
        assert any(line.startswith(f"│ {longest.rsplit('/', 1)[0]}/ ") for line in lines)
    else:
        assert longest in result.stdout and "OpenAI: GPT-4o-mini" in result.stdout


def test_model_ids_wrap_after_a_slash_else_a_dash_else_anywhere() -> None:
    wrapped = models.wrap_id("openrouter/anthropic/claude-3.5-sonnet", 24)
    assert wrapped == ["openrouter/anthropic/", "claude-3.5-sonnet"]
    assert models.wrap_id("openrouter/meta-llama/llama-3.3-70b-instruct", 16) == [
        "openrouter/", "meta-llama/", "llama-3.3-70b-", "instruct"
    ]  # fmt: skip
    assert models.wrap_id("averyveryverylongname", 8) == ["averyver", "yverylon", "gname"]
    assert models.wrap_id("local/smollm2", 40) == ["local/smollm2"]


def test_models_rejects_an_unknown_sort(cli: Callable[..., typer.testing.Result], home: Path) -> None:
    assert cli("models", "--offline", "--sort", "speed").exit_code == 2


@pytest.mark.parametrize("option", [["--max-price", "-1"], ["--min-context", "0"]])
def test_models_rejects_a_negative_price_or_an_empty_context(
    cli: Callable[..., typer.testing.Result], home: Path, option: list[str]
) -> None:
    result = cli("models", "--offline", *option)
    assert result.exit_code == 2 and option[0] in result.output


def test_compare_refuses_an_empty_prompt(cli: Callable[..., typer.testing.Result], home: Path) -> None:
    result = cli("compare", "", "--models", "local/smollm2")
    assert result.exit_code == 2 and "the prompt is empty" in result.output


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


# --- against the emulator ------------------------------------------------------------------------------------------


@pytest.fixture
def upstream(home: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The default config's OpenRouter provider pointed at the emulator."""
    monkeypatch.setenv("OPENROUTER_BASE_URL", emulator.base_url)
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-cli-test-key-0001")
    monkeypatch.delenv("WIKISMITH_CATALOGUE_TTL", raising=False)
    return emulator


def model_fetches(emulator: Emulator) -> int:
    return sum(r.path == "/api/v1/models" for r in emulator.requests)


def test_models_fetches_the_live_list_once_per_ttl(
    cli: Callable[..., typer.testing.Result], upstream: Emulator, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = cli("models", "--json", "--search", "emu/")
    assert first.exit_code == 0, first.output
    assert [r["id"] for r in orjson.loads(first.stdout)] == ["openrouter/emu/big", "openrouter/emu/cheap"]
    assert model_fetches(upstream) == 1 and (home / "catalogue.json").is_file()
    assert upstream.requests[0].headers["Authorization"] == "Bearer sk-or-v1-cli-test-key-0001"
    cli("models", "--json")
    assert model_fetches(upstream) == 1  # the cache is fresh
    assert "catalogue: cache" in cli("models", "--search", "emu/cheap").stdout
    cli("models", "--refresh", "--json")
    assert model_fetches(upstream) == 2  # forced
    monkeypatch.setenv("WIKISMITH_CATALOGUE_TTL", "0")
    cli("models", "--offline", "--json")
    assert model_fetches(upstream) == 2  # offline never fetches, even when stale
    cli("models", "--json")
    assert model_fetches(upstream) == 3  # stale: fetched again


def test_models_keeps_the_snapshot_when_the_fetch_fails(
    cli: Callable[..., typer.testing.Result], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_BASE_URL", "http://127.0.0.1:9/api/v1")
    result = cli("models", "--search", "gpt-4o-mini")
    assert result.exit_code == 0 and "openrouter/openai/gpt-4o-mini" in result.stdout
    assert "catalogue: snapshot" in result.stdout


def test_models_refuses_refresh_with_offline(cli: Callable[..., typer.testing.Result], home: Path) -> None:
    assert cli("models", "--refresh", "--offline").exit_code == 2


def test_compare_json_against_the_emulator_then_usage(
    cli: Callable[..., typer.testing.Result], upstream: Emulator
) -> None:
    upstream.script("emu/cheap", Reply(text="cheap answer"))
    upstream.script("emu/big", Reply(text="big answer", chunk_delay=0.05))
    upstream.script("emu/broken", error(401, "bad key"))
    models_arg = "openrouter/emu/cheap,openrouter/emu/big,openrouter/emu/broken"
    result = cli("compare", "--models", models_arg, "--json", "--max-tokens", "20", "Say hi")
    assert result.exit_code == 0, result.output
    rows = {r["model"]: r for r in orjson.loads(result.stdout)}
    assert list(rows) == models_arg.split(",")
    cheap, big, broken = rows.values()
    assert (cheap["ok"], cheap["text"], cheap["finish_reason"]) == (True, "cheap answer", "stop")
    assert (cheap["prompt_tokens"], cheap["completion_tokens"], cheap["cost"]) == (12, 5, pytest.approx(0.00042))
    assert cheap["served_by"] == "openrouter/emu/cheap" and 0 <= cheap["ttft_ms"] <= cheap["total_ms"]
    assert big["ok"] and big["text"] == "big answer" and big["total_ms"] >= 90  # two words, 50 ms apart
    assert not broken["ok"] and "bad key" in broken["error"] and broken["ttft_ms"] is None
    assert {r.json["max_tokens"] for r in upstream.chat_requests()} == {20}
    summary = orjson.loads(cli("usage", "--json").stdout)
    assert summary["totals"]["calls"] == 3 and summary["totals"]["failed"] == 1
    assert [m["target"] for m in summary["by_model"]] == sorted(models_arg.split(","))


def test_usage_by_day_and_tag(cli: Callable[..., typer.testing.Result], home: Path) -> None:
    ledger = Ledger(home / "usage.sqlite3")
    now = time.time()
    for days_ago, tag, cost in ((0, "wiki", 0.01), (0, "chat", 0.02), (1, "wiki", 0.04), (40, "wiki", 1.0)):
        ledger.record(
            UsageRecord(
                ts=now - days_ago * 86400, route=None, target="local/smollm2", tag=tag, prompt_tokens=10,
                completion_tokens=5, cost=cost, cost_is_estimate=tag == "chat", latency_ms=100.0, status="ok",
            )
        )  # fmt: skip
    summary = orjson.loads(cli("usage", "--json").stdout)
    assert [d["calls"] for d in summary["by_day"]] == [1, 2]  # oldest first; 40 days ago is outside --days 30
    assert summary["totals"]["cost"] == pytest.approx(0.07)
    assert summary["totals"]["estimated_cost"] == pytest.approx(0.02)
    wiki = orjson.loads(cli("usage", "--json", "--tag", "wiki", "--days", "60").stdout)
    assert wiki["totals"]["calls"] == 3 and wiki["totals"]["cost"] == pytest.approx(1.05)
    table = cli("usage").stdout
    assert "by day (UTC)" in table and "0.070000*" in table
