"""What a call cost, the usage ledger (SQLite under WIKISMITH_HOME) and budgets refused before sending.

Cost: the provider's reported `usage.cost` is authoritative (OpenRouter returns it with `usage: {include:
true}`); otherwise catalogue prices x tokens, marked `cost_is_estimate`. The ledger holds one row per request
sent (a failed one too, with its error type: a failed answer may still be billed; `target` is the model that
answered, `attempts` the attempts of its call so far), and one for a call refused before anything was sent. It
is written off the event loop in batches (a record is a cheap append; a flush runs in a worker thread at most
every `flush_interval`).

Budgets (`WIKISMITH_BUDGETS`, e.g. `day=5,month=50,wiki:day=1`): USD per UTC day or month, overall or per
caller tag. A call whose worst-case estimate would pass one is refused with `BudgetExceeded` before it is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wikismith.config.models import ConfigError
from wikismith.llm.errors import BudgetExceeded
from wikismith.llm.types import ModelInfo, Usage

log = logging.getLogger("wikismith.router")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
  ts REAL NOT NULL, day TEXT NOT NULL, month TEXT NOT NULL, route TEXT, target TEXT NOT NULL, tag TEXT,
  prompt_tokens INTEGER, completion_tokens INTEGER, cost REAL, cost_is_estimate INTEGER,
  latency_ms REAL, status TEXT NOT NULL, error_type TEXT, attempts INTEGER
);
CREATE INDEX IF NOT EXISTS usage_day ON usage(day);
"""
_COLUMNS = (
    "ts, day, month, route, target, tag, prompt_tokens, completion_tokens, cost, cost_is_estimate, latency_ms, "
    "status, error_type, attempts"
)
_INSERT = f"INSERT INTO usage ({_COLUMNS}) VALUES ({','.join('?' * 14)})"


def priced(usage: Usage | None, info: ModelInfo | None, now: float | None = None) -> Usage | None:
    """`usage` with a cost: the reported one, else an estimate from catalogue prices (None if unknown)."""
    if usage is None or usage.cost is not None or info is None or info.prompt_price is None:
        return usage
    cost = estimate_cost(
        info,
        usage.prompt_tokens,
        usage.completion_tokens,
        cached=usage.cached_tokens or 0,
        written=usage.cache_write_tokens or 0,
        now=now,
    )
    return usage.model_copy(update={"cost": cost, "cost_is_estimate": True})


def estimate_cost(
    info: ModelInfo, prompt: int, completion: int, *, cached: int = 0, written: int = 0, now: float | None = None
) -> float:
    """A call's cost from catalogue prices, as OpenRouter bills it: the conditional prices in force for this
    prompt size and time of day (`pricing.overrides`, e.g. long-context pricing), prompt tokens read from or
    written to the prompt cache at their own prices (both counted inside `prompt`), the per-request price, and
    the discount. Reasoning tokens are completion tokens. Unknown prices count as 0."""
    p = info
    if info.price_overrides:
        moment = time.gmtime(time.time() if now is None else now)
        p = info.effective(prompt, moment.tm_hour * 100 + moment.tm_min)
    prompt_price = p.prompt_price or 0.0
    cached = max(0, min(cached, prompt))
    written = max(0, min(written, prompt - cached))
    cost = (
        (prompt - cached - written) * prompt_price
        + cached * (p.cache_read_price if p.cache_read_price is not None else prompt_price)
        + written * (p.cache_write_price if p.cache_write_price is not None else prompt_price)
        + completion * (p.completion_price or 0.0)
        + p.request_price
    )
    return cost * (1.0 - p.discount) if p.discount else cost


def worst_case_cost(info: ModelInfo | None, prompt_tokens: int, max_tokens: int | None) -> float:
    """An upper estimate of a call's cost before it is sent (completion sized by max_tokens or the model cap)."""
    if info is None or info.prompt_price is None:
        return 0.0
    completion = max_tokens or info.max_completion_tokens or 4096
    return estimate_cost(info, prompt_tokens, completion)


def periods(ts: float) -> tuple[str, str]:
    day = time.strftime("%Y-%m-%d", time.gmtime(ts))
    return day, day[:7]


@dataclass(frozen=True, slots=True)
class UsageRecord:
    ts: float
    route: str | None
    target: str
    tag: str | None
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    cost_is_estimate: bool
    latency_ms: float
    status: str  # "ok" or the error type
    error_type: str | None = None
    attempts: int = 1

    def row(self) -> tuple[Any, ...]:
        day, month = periods(self.ts)
        return (
            self.ts, day, month, self.route, self.target, self.tag, self.prompt_tokens, self.completion_tokens,
            self.cost, int(self.cost_is_estimate), self.latency_ms, self.status, self.error_type, self.attempts,
        )  # fmt: skip


class Ledger:
    """Append-only usage ledger. `record()` never blocks; a flush writes what is pending from a worker thread.

    A write that fails (the database locked by another process past `busy_timeout`, a full disk) loses nothing:
    its records go back to the front of the queue and are tried again every `flush_interval`, and the failure is
    logged once until a write succeeds. While writes keep failing at most `max_kept` records are held; older
    ones are dropped, with an error in the log, rather than letting memory grow without bound."""

    def __init__(
        self,
        path: Path,
        *,
        flush_interval: float = 1.0,
        batch_size: int = 500,
        busy_timeout: float = 5.0,
        max_kept: int = 100_000,
    ) -> None:
        self.path = path
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.busy_timeout = busy_timeout
        self.max_kept = max_kept
        self._pending: list[UsageRecord] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._failing = False  # the last write failed (logged once, until a write succeeds)

    def record(self, record: UsageRecord) -> None:
        self._pending.append(record)
        if self._task is None or self._task.done():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (sync caller): write now; a failure is the caller's, nothing lost
                batch = self._take()
                try:
                    self._write(batch)
                except BaseException:
                    self._pending[:0] = batch
                    raise
                return
            delay = 0.0 if len(self._pending) >= self.batch_size else self.flush_interval
            self._task = loop.create_task(self._flush_later(delay))

    async def _flush_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        while not await self.flush():
            await asyncio.sleep(self.flush_interval)

    async def flush(self) -> bool:
        """Write what is pending. False when the write failed: the records are kept for the next try."""
        batch = self._take()
        if not batch:
            return True
        try:
            await asyncio.to_thread(self._write, batch)
        except (sqlite3.Error, OSError) as exc:
            self._pending[:0] = batch  # ahead of those recorded meanwhile: rows keep their order
            if not self._failing:
                self._failing = True
                log.warning("usage ledger %s: %s kept for the next try: %s", self.path, _records(len(batch)), exc)
            self._bound()
            return False
        if self._failing:
            self._failing = False
            log.warning("usage ledger %s: written again", self.path)
        return True

    def _bound(self) -> None:
        over = len(self._pending) - self.max_kept
        if over > 0:
            del self._pending[:over]
            log.error("usage ledger %s: the oldest %s dropped (writes keep failing)", self.path, _records(over))

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if not await self.flush():
            count, self._pending = len(self._pending), []
            log.error("usage ledger %s: %s could not be written, and are lost", self.path, _records(count))
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _take(self) -> list[UsageRecord]:
        batch, self._pending = self._pending, []
        return batch

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=self.busy_timeout, check_same_thread=False)
            try:
                db.executescript(_SCHEMA)
            except sqlite3.Error:
                db.close()  # kept only once the table is sure to exist
                raise
            self._db = db
        return self._db

    def _write(self, batch: list[UsageRecord]) -> None:
        if not batch:
            return
        with self._lock:
            db = self._connect()
            with db:
                db.executemany(_INSERT, [r.row() for r in batch])

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Read the ledger (sync; for the CLI and budget seeding). An absent ledger reads as empty."""
        if not self.path.exists() and self._db is None:
            return []
        with self._lock:
            return list(self._connect().execute(sql, params).fetchall())


def _records(count: int) -> str:
    return f"{count} usage record{'' if count == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class Budget:
    limit: float
    period: str  # "day" | "month"
    tag: str | None = None

    def describe(self) -> str:
        scope = f" for tag {self.tag!r}" if self.tag else ""
        return f"{self.period}ly budget of ${self.limit:g}{scope}".replace("dayly", "daily")


def parse_budgets(spec: str) -> list[Budget]:
    """`day=5,month=50,wiki:day=1` -> budgets. Raises ValueError on a malformed entry."""
    budgets = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, value = part.partition("=")
        tag, _, period = key.rpartition(":")
        try:
            limit = float(value)
        except ValueError:
            limit = -1.0
        if not sep or period not in ("day", "month") or limit < 0:
            raise ValueError(f"budget {part!r} must look like day=5, month=50 or TAG:day=1 (USD, 0 or more)")
        budgets.append(Budget(limit, period, tag or None))
    return budgets


@dataclass
class Budgets:
    """Spending so far per (period, tag), seeded from the ledger on first use and kept in memory, and the
    worst case of the calls in flight, held until they end (so that concurrent calls cannot overspend)."""

    budgets: list[Budget]
    ledger: Ledger | None = None
    _spent: dict[tuple[str, str | None], float] = field(default_factory=dict)
    _periods: tuple[str, str] | None = None
    # Held per budget: (amount, calls). Not reset with the period: a call in flight still ends, and is paid, in
    # the new one. The count lets the last release put the amount back to exactly 0, free of float drift.
    _held: dict[tuple[str, str | None], tuple[float, int]] = field(default_factory=dict)
    _holds: dict[int, tuple[list[tuple[str, str | None]], float]] = field(default_factory=dict)  # by ticket
    _tickets: int = 0

    def check(self, tag: str | None, estimate: float, now: float | None = None) -> int:
        """Refuse with `BudgetExceeded` when what is spent, what the calls in flight may still spend and
        `estimate` would pass a budget that applies to `tag`; else hold `estimate` against each of them and
        return a ticket for `release()`, which the caller must reach however the call ends."""
        if not self.budgets:
            return 0
        self._roll(now or time.time())
        keys = []
        for budget in self.budgets:
            if budget.tag is not None and budget.tag != tag:
                continue
            key = (budget.period, budget.tag)
            spent = self._spent.get(key, 0.0)
            held = self._held.get(key, (0.0, 0))[0]
            if spent + held + estimate > budget.limit:
                in_flight = f", ${held:.4f} held by calls in flight" if held else ""
                raise BudgetExceeded(
                    f"refused before sending: the {budget.describe()} would be exceeded "
                    f"(spent ${spent:.4f}{in_flight}, this call up to ${estimate:.4f})",
                    metadata=dict(limit=budget.limit, spent=spent, held=held, period=budget.period, tag=budget.tag),
                )
            keys.append(key)
        for key in keys:
            amount, calls = self._held.get(key, (0.0, 0))
            self._held[key] = (amount + estimate, calls + 1)
        self._tickets += 1
        self._holds[self._tickets] = (keys, estimate)
        return self._tickets

    def release(self, ticket: int) -> None:
        """The call that `check()` gave `ticket` has ended: its hold goes (its real cost, if any, is `add`ed).
        Releasing a ticket twice releases it once."""
        keys, estimate = self._holds.pop(ticket, ([], 0.0))
        for key in keys:
            amount, calls = self._held[key]
            if calls == 1:
                del self._held[key]
            else:
                self._held[key] = (amount - estimate, calls - 1)

    def add(self, tag: str | None, cost: float | None, now: float | None = None) -> None:
        if not self.budgets or not cost:
            return
        self._roll(now or time.time())
        for budget in self.budgets:
            if budget.tag is None or budget.tag == tag:
                key = (budget.period, budget.tag)
                self._spent[key] = self._spent.get(key, 0.0) + cost

    def _roll(self, now: float) -> None:
        current = periods(now)
        if current == self._periods:
            return
        self._periods = current
        self._spent = {}
        for budget in self.budgets:
            self._spent[(budget.period, budget.tag)] = self._seed(budget, current)

    def _seed(self, budget: Budget, current: tuple[str, str]) -> float:
        return 0.0 if self.ledger is None else spent_in(self.ledger, budget, current)


def spent_in(ledger: Ledger, budget: Budget, current: tuple[str, str]) -> float:
    """What the ledger records against `budget` in the period of `current` (`periods(ts)`: day, month)."""
    column, value = ("day", current[0]) if budget.period == "day" else ("month", current[1])
    sql = f"SELECT COALESCE(SUM(cost), 0) FROM usage WHERE {column} = ?"
    params: tuple[Any, ...] = (value,)
    if budget.tag is not None:
        sql += " AND tag = ?"
        params += (budget.tag,)
    rows = ledger.query(sql, params)
    return float(rows[0][0]) if rows else 0.0


def budgets_from_env(env: Mapping[str, str], ledger: Ledger | None) -> Budgets:
    """Budgets from `WIKISMITH_BUDGETS`; a malformed value is a ConfigError naming the variable."""
    spec = env.get("WIKISMITH_BUDGETS", "")
    try:
        return Budgets(parse_budgets(spec) if spec else [], ledger)
    except ValueError as exc:
        raise ConfigError(f"WIKISMITH_BUDGETS={spec!r}: {exc}") from None


def summarise(ledger: Ledger, *, since: float, tag: str | None = None) -> dict[str, Any]:
    """Totals, per target and per day since `since` (epoch seconds), optionally for one caller tag."""
    where = "ts >= ?" if tag is None else "ts >= ? AND tag = ?"
    params: tuple[Any, ...] = (since,) if tag is None else (since, tag)
    fields = (
        "COUNT(*), SUM(status = 'ok'), COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), "
        "COALESCE(SUM(cost), 0), COALESCE(SUM(CASE WHEN cost_is_estimate THEN cost END), 0), AVG(latency_ms)"
    )

    def rows(group: str | None) -> list[dict[str, Any]]:
        select = f"SELECT {group + ', ' if group else ''}{fields} FROM usage WHERE {where}"
        sql = select + (f" GROUP BY {group} ORDER BY {group}" if group else "")
        out = []
        for row in ledger.query(sql, params):
            key, values = (row[0], row[1:]) if group else (None, row)
            calls, ok, prompt, completion, cost, estimated, latency = values
            out.append(
                {
                    **({group: key} if group else {}),
                    "calls": calls,
                    "ok": ok or 0,
                    "failed": calls - (ok or 0),
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "cost": round(cost, 8),
                    "estimated_cost": round(estimated, 8),
                    "avg_latency_ms": round(latency or 0.0, 1),
                }
            )
        return out

    return {"totals": rows(None)[0] if rows(None) else {}, "by_model": rows("target"), "by_day": rows("day")}
