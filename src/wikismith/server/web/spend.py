"""`/spend`: the usage ledger as charts — cost and calls per day, stacked by model and by caller tag — and the
budgets (WIKISMITH_BUDGETS) with what is left, all drawn on the server as inline SVG (no script, no chart
library), from `router.spend` over the router's own ledger."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from wikismith.router.spend import BudgetState, DayUsage, Group, budget_states, daily_usage
from wikismith.server.deps import state
from wikismith.server.web.views import view

router = APIRouter(include_in_schema=False)
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
MAX_SERIES = len(PALETTE) - 1  # the rest are summed as "other"


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    height: float
    color: str
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    unit: str
    width: int
    height: int
    bars: tuple[Bar, ...]
    days: tuple[str, ...]
    legend: tuple[tuple[str, str], ...]
    top: float
    total: float


def chart(rows: list[DayUsage], *, title: str, metric: str, days: list[str]) -> Chart:
    """A stacked bar per day, one colour per model or tag (the largest first), scaled to the busiest day."""
    totals: dict[str, float] = defaultdict(float)
    for row in rows:
        totals[row.key] += _value(row, metric)
    ranked = sorted(totals, key=lambda k: -totals[k])
    series = [*ranked[:MAX_SERIES], *(["other"] if len(ranked) > MAX_SERIES else [])]
    colors = {key: PALETTE[i] for i, key in enumerate(ranked[:MAX_SERIES])} | {"other": PALETTE[-1]}
    per_day = _per_day(rows, metric, days, set(ranked[:MAX_SERIES]))
    top = max((sum(v.values()) for v in per_day.values()), default=0.0) or 1.0
    width, height, slot = 640, 180, 640 / max(1, len(days))
    bars = []
    for i, day in enumerate(days):
        y = float(height)
        for key in series:
            amount = per_day[day].get(key, 0.0)
            if amount > 0:
                h = amount / top * (height - 10)
                y -= h
                shown = f"${amount:.4f}" if metric == "cost" else f"{amount:.0f} calls"
                bars.append(Bar(i * slot + slot * 0.1, y, h, colors[key], f"{day} · {key}: {shown}"))
    legend = tuple((k, colors[k]) for k in series)
    unit = "USD" if metric == "cost" else "calls"
    return Chart(title, unit, width, height, tuple(bars), tuple(days), legend, top, sum(totals.values()))


def _value(row: DayUsage, metric: str) -> float:
    return row.cost if metric == "cost" else float(row.calls)


def _per_day(rows: list[DayUsage], metric: str, days: list[str], kept: set[str]) -> dict[str, dict[str, float]]:
    per_day: dict[str, dict[str, float]] = {d: defaultdict(float) for d in days}
    for row in rows:
        if row.day in per_day:
            per_day[row.day][row.key if row.key in kept else "other"] += _value(row, metric)
    return per_day


def _days(since: float, now: float) -> list[str]:
    days, at = [], since
    while at <= now + 1:
        day = time.strftime("%Y-%m-%d", time.gmtime(at))
        if day not in days:
            days.append(day)
        at += 86400
    return days


@router.get("/spend")
async def spend_page(request: Request, days: Annotated[int, Query(ge=1, le=366)] = 30) -> Response:
    server = state(request)
    router_ = server.router
    now = time.time()
    since = now - (days - 1) * 86400
    since -= since % 86400  # from the start of the first UTC day
    ledger = router_.ledger
    by: dict[Group, list[DayUsage]] = {"target": [], "tag": []}
    budgets: list[BudgetState] = []
    if ledger is not None:
        await ledger.flush()  # what this server recorded a moment ago is in the charts
        for group in by:
            by[group] = await asyncio.to_thread(daily_usage, ledger, since=since, by=group)
    configured = router_.budgets.budgets if router_.budgets is not None else []
    budgets = await asyncio.to_thread(budget_states, configured, ledger, now)
    span = _days(since, now)
    charts = [
        chart(by["target"], title="Cost per day by model", metric="cost", days=span),
        chart(by["target"], title="Calls per day by model", metric="calls", days=span),
        chart(by["tag"], title="Cost per day by tag", metric="cost", days=span),
        chart(by["tag"], title="Calls per day by tag", metric="calls", days=span),
    ]
    return view(request, "spend.html", nav="spend", charts=charts, budgets=budgets, days=days,
                has_ledger=ledger is not None, recorded=bool(by["target"]))  # fmt: skip
