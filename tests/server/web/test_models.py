"""The router's face over real HTTP: the catalogue table, models compared side by side (streamed columns),
and the usage ledger as charts with the budgets."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tests.server.web.conftest import WebApp, start_app
from tests.support.emulator import Emulator, Reply, error
from wikismith.router.cost import Budget, Ledger, UsageRecord
from wikismith.router.spend import budget_states, daily_usage

HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, emulator_server: Emulator) -> Iterator[WebApp]:
    started = start_app(tmp_path_factory.mktemp("models"), emulator_server, WIKISMITH_BUDGETS="day=5,compare:day=0.001")
    yield started
    started.server.stop()


def events(response: httpx2.Response) -> list[tuple[str, Any]]:
    out = []
    for block in response.text.strip().split("\n\n"):
        name, data = block.split("\n", 1)
        out.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


def test_the_catalogue_is_a_table_filtered_and_sorted_by_the_query(app: WebApp) -> None:
    body = httpx2.get(app.url + "/models", headers=HTML, timeout=10).text
    assert '<span class="mono">emu/m1</span> <span class="tag">configured</span>' in body
    few = httpx2.get(app.url + "/models?q=m2&sort=context", headers=HTML, timeout=10).text
    table = few[few.index('<table id="catalogue"') :]
    assert '<span class="mono">emu/m2</span>' in table and '<span class="mono">emu/m1</span>' not in table


def test_models_compared_stream_their_answers_in_columns(app: WebApp, emulator: Emulator) -> None:
    emulator.script("m1", Reply(text="first answer"))
    emulator.script("m2", error(402, "Insufficient credits"))
    body = {"prompt": "Explain RAII", "models": ["emu/m1", "emu/m2"]}
    response = httpx2.post(app.url + "/models/compare", json=body, timeout=30)
    assert response.status_code == 200
    got = events(response)
    assert "".join(d["text"] for n, d in got if n == "text" and d["column"] == 0) == "first answer"
    results = {d["column"]: d for n, d in got if n == "result"}
    assert results[0]["ok"] and results[0]["completion_tokens"] == 5 and results[0]["cost"] == 0.00042
    assert results[0]["total_ms"] > 0 and results[0]["ttft_ms"] is not None
    assert not results[1]["ok"] and "Insufficient credits" in results[1]["error"]
    assert got[-1][0] == "done"


def test_compare_refuses_an_unknown_model_before_any_call(app: WebApp, emulator: Emulator) -> None:
    response = httpx2.post(app.url + "/models/compare", json={"prompt": "x", "models": ["nowhere/x"]}, timeout=10)
    assert response.status_code == 404 and not emulator.chat_requests()


def test_spend_charts_the_ledger_and_shows_what_is_left_of_each_budget(app: WebApp, emulator: Emulator) -> None:
    httpx2.post(app.url + "/models/compare", json={"prompt": "hi", "models": ["emu/m1"]}, timeout=30)

    def spend() -> str:
        return httpx2.get(app.url + "/spend?days=7", headers=HTML, timeout=10).text

    # The call is accounted once the upstream's stream has ended, which may be just after the client has it all.
    assert emulator.wait_until(lambda: "<rect " in spend(), timeout=5)
    body = spend()
    assert "Cost per day by model" in body and "Calls per day by tag" in body
    assert "emu/m1" in body and "compare" in body  # the legend: by model, and by tag
    assert re.search(r"<title>\d{4}-\d\d-\d\d · emu/m1: \$0\.000[48]</title>", body)  # one call or two
    assert "daily budget of $5" in body and "daily budget of $0.001 for tag &#39;compare&#39;" in body
    assert "left</strong> of $5" in body


def test_daily_usage_groups_by_day_and_model_or_tag(tmp_path: Any) -> None:
    ledger = Ledger(tmp_path / "usage.sqlite3")
    day = 86400 * 20_000
    for ts, target, tag, cost, status in [
        (day + 10, "a/x", "wiki", 0.5, "ok"), (day + 20, "a/x", None, 0.25, "RateLimited"),
        (day + 86400, "b/y", "chat", 1.0, "ok"),
    ]:  # fmt: skip
        ledger.record(UsageRecord(ts, None, target, tag, 10, 5, cost, False, 12.0, status))
    by_model = daily_usage(ledger, since=day, by="target")
    assert [(r.day, r.key, r.calls, r.failed, r.cost) for r in by_model] == [
        (time.strftime("%Y-%m-%d", time.gmtime(day)), "a/x", 2, 1, 0.75),
        (time.strftime("%Y-%m-%d", time.gmtime(day + 86400)), "b/y", 1, 0, 1.0),
    ]
    assert [r.key for r in daily_usage(ledger, since=day, by="tag")] == ["untagged", "wiki", "chat"]
    states = budget_states([Budget(2.0, "day"), Budget(0.4, "day", "wiki")], ledger, now=day + 30)
    assert [(s.spent, s.left, round(s.used, 3)) for s in states] == [(0.75, 1.25, 0.375), (0.5, 0.0, 1.0)]
