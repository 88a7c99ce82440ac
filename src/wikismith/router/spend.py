"""What the usage ledger says over time, for charts: calls and cost per day by model or by caller tag, and each
budget with what is spent of it and what is left (both read from the ledger, as budgets are seeded)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from wikismith.router.cost import Budget, Ledger, periods, spent_in

Group = Literal["target", "tag"]


@dataclass(frozen=True, slots=True)
class DayUsage:
    day: str  # YYYY-MM-DD (UTC)
    key: str  # the model (target) or the caller tag ("untagged" for none)
    calls: int
    failed: int
    tokens: int
    cost: float


@dataclass(frozen=True, slots=True)
class BudgetState:
    budget: Budget
    spent: float

    @property
    def left(self) -> float:
        return max(0.0, self.budget.limit - self.spent)

    @property
    def used(self) -> float:
        """The fraction spent (1.0 when the limit is 0)."""
        return 1.0 if self.budget.limit <= 0 else min(1.0, self.spent / self.budget.limit)


def daily_usage(ledger: Ledger, *, since: float, by: Group) -> list[DayUsage]:
    """Per UTC day and per model or tag, oldest day first, since `since` (epoch seconds)."""
    column = "target" if by == "target" else "COALESCE(tag, 'untagged')"
    sql = (
        f"SELECT day, {column}, COUNT(*), COUNT(*) - SUM(status = 'ok'), "
        "COALESCE(SUM(prompt_tokens + completion_tokens), 0), COALESCE(SUM(cost), 0) "
        f"FROM usage WHERE ts >= ? GROUP BY day, {column} ORDER BY day, {column}"
    )
    return [
        DayUsage(str(d), str(k), int(n), int(f or 0), int(t), float(c))
        for d, k, n, f, t, c in ledger.query(sql, (since,))
    ]


def budget_states(budgets: list[Budget], ledger: Ledger | None, now: float | None = None) -> list[BudgetState]:
    """Each budget with what the ledger records against it in its current period (calls in flight and records
    not yet flushed are not counted)."""
    current = periods(time.time() if now is None else now)
    return [BudgetState(b, spent_in(ledger, b, current) if ledger is not None else 0.0) for b in budgets]
