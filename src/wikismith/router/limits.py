"""Client-side limits per provider (and key): requests per minute, tokens per minute, concurrent requests.

Limits come from `ResolvedProvider.limits` (generator.json `providers.{id}.limits`). Free model variants
(`…:free`) share one extra bucket per provider at 20 requests/minute, OpenRouter's documented free-model limit
(shared/openrouter-api.md §11), unless the provider sets its own RPM.

Tokens are metered by an estimate before the call (prompt + max_tokens) and settled with the provider's reported
usage after it (`settle`, given what `slot` yielded). Waiting for a slot is logged and counted (`Limiter.stats`,
`snapshot()`), and bounded: when the wait would pass the call's deadline the limiter raises `LocalRateLimited` (with
`retry_after`) instead, so a call never hangs on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from wikismith.config.models import ModelTarget
from wikismith.config.schemas import Limits
from wikismith.llm.errors import RateLimited
from wikismith.llm.types import Usage

log = logging.getLogger("wikismith.router")

FREE_MODEL_RPM = 20
_WINDOW = 60.0


class LocalRateLimited(RateLimited):
    """Our own limiter refused the call before anything was sent. To the caller it is a rate limit like a provider's
    429 (same `error_type`, status 429 and `retry_after`, so the gateway answers 429 with Retry-After); to the circuit
    breaker it is no evidence about the target's health, so the router does not count it as a failure there."""


@dataclass(slots=True)
class LimitStats:
    waits: int = 0
    wait_seconds: float = 0.0
    refused: int = 0


@dataclass(slots=True)
class _Spend:
    """One call's tokens in one bucket's TPM window (lowered in place when the call turns out to spend less)."""

    stamp: float
    tokens: int
    counted: bool = True  # still in the window's sum (False once aged out)


@dataclass(frozen=True, slots=True)
class Admission:
    """What `Limiter.slot` admitted a call with: its TPM entries, for `Limiter.settle` to correct."""

    spends: tuple[tuple[_Bucket, _Spend], ...] = ()


_NOTHING_ADMITTED = Admission()  # no TPM limit: nothing to settle


class _Bucket:
    def __init__(self, key: str, limits: Limits, window: float = _WINDOW) -> None:
        self.key = key
        self.window = window
        self.rpm = limits.requests_per_minute
        self.tpm = limits.tokens_per_minute
        self.semaphore = asyncio.Semaphore(limits.max_concurrent) if limits.max_concurrent else None
        self.requests: deque[float] = deque()
        self.tokens: deque[_Spend] = deque()
        self.token_sum = 0

    def wait_needed(self, now: float, tokens: int) -> float:
        """Seconds until one more request of `tokens` fits both windows (0: it fits now)."""
        while self.requests and self.requests[0] <= now - self.window:
            self.requests.popleft()
        while self.tokens and self.tokens[0].stamp <= now - self.window:
            gone = self.tokens.popleft()
            self.token_sum -= gone.tokens
            gone.counted = False
        wait = 0.0
        if self.rpm is not None and len(self.requests) >= self.rpm:
            wait = self.requests[len(self.requests) - self.rpm] + self.window - now
        if self.tpm is not None and self.tokens and self.token_sum + min(tokens, self.tpm) > self.tpm:
            excess = self.token_sum + min(tokens, self.tpm) - self.tpm
            for spend in self.tokens:
                excess -= spend.tokens
                if excess <= 0:
                    wait = max(wait, spend.stamp + self.window - now)
                    break
        return max(0.0, wait)

    def record(self, now: float, tokens: int) -> _Spend | None:
        if self.rpm is not None:
            self.requests.append(now)
        if self.tpm is None:
            return None
        spend = _Spend(now, tokens)
        self.tokens.append(spend)
        self.token_sum += tokens
        return spend

    def settle(self, spend: _Spend, tokens: int, now: float) -> None:
        """Count `tokens` (what the call really spent) instead of what `spend` was admitted with. A saving is
        taken off that entry, so it leaves the window with it (a separate negative entry would outlive the
        estimate and let the window over-admit); an excess is counted from now, when it is known."""
        delta = tokens - spend.tokens
        if delta < 0 and spend.counted:
            spend.tokens = tokens
            self.token_sum += delta
        elif delta > 0:
            self.tokens.append(_Spend(now, delta))
            self.token_sum += delta


@dataclass(slots=True)
class Limiter:
    """Limits per provider. `stats` counts waits and refusals per bucket (a server exports `snapshot()`);
    `window` is the length of the RPM/TPM window in seconds (a minute; shorter only in tests)."""

    stats: dict[str, LimitStats] = field(default_factory=dict)
    window: float = _WINDOW
    _buckets: dict[str, list[_Bucket]] = field(default_factory=dict)

    def slot(self, target: ModelTarget, tokens: int, timeout: float) -> AbstractAsyncContextManager[Admission]:
        """An async context holding one request slot for `target`; `tokens` is its estimated size. It yields the
        `Admission` to hand to `settle` once the call's real usage is known."""
        buckets = self._buckets.get(target.provider.id if not target.model.endswith(":free") else target.name)
        if buckets is None:
            buckets = self._make(target)
        if not buckets:
            return contextlib.nullcontext(_NOTHING_ADMITTED)
        return self._hold(buckets, tokens, timeout)

    def _make(self, target: ModelTarget) -> list[_Bucket]:
        pid = target.provider.id
        if pid not in self._buckets:
            limits = target.provider.limits
            values = (limits.requests_per_minute, limits.tokens_per_minute, limits.max_concurrent)
            has = any(v is not None for v in values)
            self._buckets[pid] = [_Bucket(pid, limits, self.window)] if has else []
        if not target.model.endswith(":free"):
            return self._buckets[pid]
        free_key = f"{pid}:free"
        if free_key not in self._buckets:
            rpm = target.provider.limits.requests_per_minute
            free = Limits(requests_per_minute=FREE_MODEL_RPM)
            self._buckets[free_key] = [] if rpm else [_Bucket(free_key, free, self.window)]
        self._buckets[target.name] = self._buckets[pid] + self._buckets[free_key]
        return self._buckets[target.name]

    @contextlib.asynccontextmanager
    async def _hold(self, buckets: list[_Bucket], tokens: int, timeout: float) -> AsyncIterator[Admission]:
        deadline = time.monotonic() + timeout
        held: list[asyncio.Semaphore] = []
        try:
            for bucket in buckets:
                if bucket.semaphore is not None:
                    await self._acquire(bucket, bucket.semaphore, deadline)
                    held.append(bucket.semaphore)
            yield await self._admit(buckets, tokens, deadline)
        finally:
            for semaphore in held:
                semaphore.release()

    async def _acquire(self, bucket: _Bucket, semaphore: asyncio.Semaphore, deadline: float) -> None:
        if not semaphore.locked():
            await semaphore.acquire()
            return
        started = time.monotonic()
        log.info("waiting for a concurrency slot on %s", bucket.key)
        try:
            await asyncio.wait_for(semaphore.acquire(), max(0.0, deadline - started))
        except TimeoutError:
            self._stat(bucket.key).refused += 1
            raise LocalRateLimited(
                f"client-side limit: no concurrency slot on {bucket.key} before the deadline",
                provider=bucket.key,
                retry_after=1.0,
            ) from None
        self._count_wait(bucket.key, time.monotonic() - started)

    async def _admit(self, buckets: list[_Bucket], tokens: int, deadline: float) -> Admission:
        while True:
            now = time.monotonic()
            waits = [(b.wait_needed(now, tokens), b) for b in buckets]
            wait, bucket = max(waits, key=lambda pair: pair[0])
            if wait <= 0:
                spends = []
                for b in buckets:
                    spend = b.record(now, tokens)
                    if spend is not None:
                        spends.append((b, spend))
                return Admission(tuple(spends))
            if now + wait > deadline:
                self._stat(bucket.key).refused += 1
                raise LocalRateLimited(
                    f"client-side limit on {bucket.key}: next slot in {wait:.1f}s, after the call's deadline",
                    provider=bucket.key,
                    retry_after=wait,
                )
            log.info("rate limit on %s: waiting %.2fs for a slot", bucket.key, wait)
            self._count_wait(bucket.key, wait)
            await asyncio.sleep(wait)

    def settle(self, admission: Admission, usage: Usage | None) -> None:
        """Count what a finished call really spent (the provider's usage) against TPM instead of its estimate,
        so that answers without `max_tokens` are metered too. `admission` is what its `slot` yielded."""
        if not admission.spends or usage is None:
            return
        tokens = usage.prompt_tokens + usage.completion_tokens
        now = time.monotonic()
        for bucket, spend in admission.spends:
            bucket.settle(spend, tokens, now)

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Counters per bucket (`waits`, `wait_seconds`, `refused`), e.g. for a metrics endpoint."""
        return {
            key: {"waits": s.waits, "wait_seconds": s.wait_seconds, "refused": s.refused}
            for key, s in self.stats.items()
        }

    def _stat(self, key: str) -> LimitStats:
        stats = self.stats.get(key)
        if stats is None:
            stats = self.stats[key] = LimitStats()
        return stats

    def _count_wait(self, key: str, seconds: float) -> None:
        stats = self._stat(key)
        stats.waits += 1
        stats.wait_seconds += seconds
