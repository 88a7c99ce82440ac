"""Cost, ledger and budgets: pure values and a real SQLite file."""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wikismith.config.models import ConfigError
from wikismith.llm.errors import BudgetExceeded
from wikismith.llm.types import ModelInfo, Usage
from wikismith.router.cost import (
    Budget,
    Budgets,
    Ledger,
    UsageRecord,
    budgets_from_env,
    estimate_cost,
    parse_budgets,
    priced,
    summarise,
    worst_case_cost,
)

INFO = ModelInfo(
    id="or/m", provider="or", model="m", prompt_price=1e-6, completion_price=2e-6, request_price=0.001,
    max_completion_tokens=1000,
)  # fmt: skip


def test_reported_cost_is_authoritative() -> None:
    usage = Usage(prompt_tokens=100, completion_tokens=10, cost=0.5)
    assert priced(usage, INFO) is usage


def test_missing_cost_is_estimated_from_catalogue_prices_and_marked() -> None:
    usage = priced(Usage(prompt_tokens=1000, completion_tokens=500), INFO)
    assert usage is not None
    assert usage.cost == pytest.approx(1000 * 1e-6 + 500 * 2e-6 + 0.001)
    assert usage.cost_is_estimate


def test_unknown_price_leaves_cost_unknown() -> None:
    usage = priced(Usage(prompt_tokens=10), ModelInfo(id="x/y", provider="x", model="y"))
    assert usage is not None and usage.cost is None


def test_worst_case_uses_max_tokens_else_the_model_cap() -> None:
    assert worst_case_cost(INFO, 100, 50) == pytest.approx(100e-6 + 50 * 2e-6 + 0.001)
    assert worst_case_cost(INFO, 100, None) == pytest.approx(100e-6 + 1000 * 2e-6 + 0.001)
    assert worst_case_cost(None, 100, None) == 0.0


def test_parse_budgets() -> None:
    assert parse_budgets("day=5, month=50,wiki:day=1.5") == [
        Budget(5.0, "day"),
        Budget(50.0, "month"),
        Budget(1.5, "day", "wiki"),
    ]
    for bad in ("week=3", "day=lots", "day=-1", "day"):
        with pytest.raises(ValueError, match="must look like"):
            parse_budgets(bad)


def test_budgets_from_a_malformed_environment_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="WIKISMITH_BUDGETS='day=lots'"):
        budgets_from_env({"WIKISMITH_BUDGETS": "day=lots"}, None)
    assert budgets_from_env({}, None).budgets == []


def record(cost: float | None, *, tag: str | None = None, ts: float | None = None, status: str = "ok") -> UsageRecord:
    return UsageRecord(
        ts=ts or time.time(), route=None, target="or/m", tag=tag, prompt_tokens=10, completion_tokens=5, cost=cost,
        cost_is_estimate=False, latency_ms=12.0, status=status,
    )  # fmt: skip


def test_budget_refuses_a_call_that_would_exceed_it() -> None:
    budgets = Budgets([Budget(1.0, "day")])
    budgets.add(None, 0.9)
    budgets.check(None, 0.05)
    with pytest.raises(BudgetExceeded, match="daily budget of \\$1"):
        budgets.check(None, 0.2)


def test_tag_budget_applies_only_to_that_tag() -> None:
    budgets = Budgets([Budget(0.1, "month", "wiki")])
    budgets.add("wiki", 0.1)
    budgets.check("chat", 5.0)
    with pytest.raises(BudgetExceeded, match="'wiki'"):
        budgets.check("wiki", 0.01)


def test_a_reservation_holds_its_estimate_until_released() -> None:
    budgets = Budgets([Budget(1.0, "day"), Budget(0.5, "day", "wiki")])
    held = budgets.check("wiki", 0.4)
    with pytest.raises(BudgetExceeded, match="in flight"):
        budgets.check("wiki", 0.2)  # the tag's budget: 0.4 held + 0.2 > 0.5
    budgets.check("chat", 0.5)  # the overall budget holds 0.4 + 0.5; the tag's budget does not apply
    budgets.release(held)
    budgets.release(held)  # a second release is no second refund
    with pytest.raises(BudgetExceeded):
        budgets.check("chat", 0.6)  # 0.5 still held by the unreleased "chat" call
    budgets.check("wiki", 0.5)


def test_budget_is_seeded_from_the_ledger(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "usage.sqlite3")
    ledger.record(record(0.75))  # no running loop: written at once
    ledger.record(record(5.0, ts=time.time() - 40 * 86400))  # another month
    budgets = Budgets([Budget(1.0, "month")], ledger)
    with pytest.raises(BudgetExceeded):
        budgets.check(None, 0.3)


async def test_ledger_batches_writes_off_the_loop_and_flushes_on_close(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "usage.sqlite3", flush_interval=30)
    for i in range(5):
        ledger.record(record(0.01 * i, tag="t"))
    assert not ledger.path.exists()  # nothing written yet: batched
    await ledger.aclose()
    rows = ledger.query("SELECT COUNT(*), SUM(cost) FROM usage WHERE tag = 't'")
    assert rows[0][0] == 5
    assert rows[0][1] == pytest.approx(0.1)


async def test_ledger_flushes_by_itself_after_the_interval(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "usage.sqlite3", flush_interval=0.01)
    ledger.record(record(0.5))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if ledger.path.exists() and ledger.query("SELECT COUNT(*) FROM usage")[0][0]:
            break
    assert ledger.query("SELECT COUNT(*) FROM usage")[0][0] == 1
    await ledger.aclose()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """`path`'s database held locked by another connection, as another process would hold it."""
    blocker = sqlite3.connect(path)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        blocker.rollback()
        blocker.close()


async def started_ledger(path: Path, **options: Any) -> Ledger:
    """A ledger whose database exists (one record written) and that gives up on a lock after 20 ms."""
    ledger = Ledger(path, busy_timeout=0.02, **options)
    ledger.record(record(0.0))
    assert await ledger.flush()
    return ledger


async def test_a_failed_ledger_write_keeps_its_records_and_is_tried_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process holds the database locked past the busy timeout: the batch is not lost, the failure is
    logged once, and the records are written once the lock is gone."""
    ledger = await started_ledger(tmp_path / "usage.sqlite3", flush_interval=0.02)
    with locked(ledger.path):
        ledger.record(record(0.2))
        ledger.record(record(0.4))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if "kept for the next try" in caplog.text:
                break
        assert "2 usage records kept for the next try" in caplog.text
        await asyncio.sleep(0.1)  # more tries fail while the lock is held, quietly
        assert caplog.text.count("kept for the next try") == 1
    for _ in range(200):
        await asyncio.sleep(0.01)
        if ledger.query("SELECT COUNT(*) FROM usage")[0][0] == 3:
            break
    assert ledger.query("SELECT COUNT(*), SUM(cost) FROM usage")[0] == (3, pytest.approx(0.6))
    ledger.record(record(0.5))
    await ledger.aclose()
    assert ledger.query("SELECT COUNT(*) FROM usage")[0][0] == 4


async def test_records_the_ledger_cannot_write_at_close_are_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = await started_ledger(tmp_path / "usage.sqlite3", flush_interval=30)
    with locked(ledger.path):
        ledger.record(record(0.2))
        await ledger.aclose()
    assert "1 usage record could not be written" in caplog.text


async def test_while_writes_fail_the_ledger_keeps_at_most_max_kept_records(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = await started_ledger(tmp_path / "usage.sqlite3", flush_interval=30, max_kept=3)
    with locked(ledger.path):
        for cost in (0.1, 0.2, 0.3, 0.4, 0.5):
            ledger.record(record(cost))
        assert await ledger.flush() is False
    assert "the oldest 2 usage records dropped" in caplog.text
    assert await ledger.flush() is True
    costs = [row[0] for row in ledger.query("SELECT cost FROM usage ORDER BY ts, rowid")]
    assert costs == pytest.approx([0.0, 0.3, 0.4, 0.5])  # the newest kept, in their order
    await ledger.aclose()


def test_a_sync_write_that_fails_keeps_its_record(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    ledger = Ledger(path, busy_timeout=0.02)
    ledger.record(record(0.1))
    with locked(path), pytest.raises(sqlite3.OperationalError):
        ledger.record(record(0.2))
    ledger.record(record(0.3))
    assert ledger.query("SELECT COUNT(*), SUM(cost) FROM usage")[0] == (3, pytest.approx(0.6))


def test_summary_by_model_and_day(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "usage.sqlite3")
    ledger.record(record(0.25))
    ledger.record(record(0.25))
    ledger.record(record(None, status="rate_limit_exceeded"))
    summary = summarise(ledger, since=time.time() - 3600)
    assert summary["totals"]["calls"] == 3
    assert summary["totals"]["failed"] == 1
    assert summary["totals"]["cost"] == pytest.approx(0.5)
    assert summary["by_model"][0]["target"] == "or/m"
    assert len(summary["by_day"]) == 1


def test_cached_prompt_tokens_are_priced_at_the_cache_prices() -> None:
    info = INFO.model_copy(update={"cache_read_price": 1e-7, "cache_write_price": 1.25e-6})
    usage = priced(Usage(prompt_tokens=1000, completion_tokens=10, cached_tokens=600, cache_write_tokens=300), info)
    assert usage is not None and usage.cost_is_estimate
    # 100 plain + 600 read + 300 written prompt tokens, 10 completion tokens, the request price
    assert usage.cost == pytest.approx(100 * 1e-6 + 600 * 1e-7 + 300 * 1.25e-6 + 10 * 2e-6 + 0.001)
    # without cache prices, cached tokens cost what other prompt tokens cost
    plain = priced(Usage(prompt_tokens=1000, completion_tokens=10, cached_tokens=600), INFO)
    assert plain is not None and plain.cost == pytest.approx(1000 * 1e-6 + 10 * 2e-6 + 0.001)


def test_long_context_pricing_from_the_shipped_catalogue() -> None:
    from wikismith.llm.catalogue import Catalogue

    sonnet = Catalogue().get("openrouter/anthropic/claude-sonnet-4")
    assert sonnet is not None and sonnet.price_overrides  # $3/$15 per million, $6/$22.50 above 200k prompt tokens
    short = estimate_cost(sonnet, 200_000, 1000)
    long = estimate_cost(sonnet, 200_001, 1000)
    assert short == pytest.approx(200_000 * 3e-6 + 1000 * 15e-6)
    assert long == pytest.approx(200_001 * 6e-6 + 1000 * 22.5e-6)
    assert worst_case_cost(sonnet, 250_000, 100) == pytest.approx(250_000 * 6e-6 + 100 * 22.5e-6)


def test_time_of_day_overrides_apply_in_their_utc_window_and_discount_applies_last() -> None:
    from wikismith.llm.catalogue import parse_model

    raw = {
        "id": "cheap/night",
        "pricing": {
            "prompt": "0.000002",
            "completion": "0.000004",
            "discount": 0.5,
            "overrides": [
                {"utc_start": 2200, "utc_end": 600, "prompt": "0.000001"},  # wraps midnight
                {"utc_start": "bad"},  # unreadable: skipped
            ],
        },
    }
    info = parse_model(raw, "or")
    assert len(info.price_overrides) == 1
    night = calendar.timegm((2026, 1, 1, 23, 30, 0))  # 23:30 UTC
    day = night + 12 * 3600  # 11:30 UTC
    assert estimate_cost(info, 100, 10, now=night) == pytest.approx((100 * 1e-6 + 10 * 4e-6) * 0.5)
    assert estimate_cost(info, 100, 10, now=day) == pytest.approx((100 * 2e-6 + 10 * 4e-6) * 0.5)
