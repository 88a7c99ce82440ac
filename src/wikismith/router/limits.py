"""Client-side limits per provider (and key): requests per minute, tokens per minute, concurrent requests.

Limits come from `ResolvedProvider.limits` (generator.json `providers.{id}.limits`). Free model variants
(`…:free`) share one extra bucket per provider at 20 requests/minute, OpenRouter's documented free-model limit
(shared/openrouter-api.md §11), unless the provider sets its own RPM.

Waiting for a slot is logged and counted (`Limiter.stats`), and bounded: when the wait would pass the call's
deadline the limiter raises `RateLimited` (with `retry_after`) instead, so a call never hangs on it.
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

from wikismith.config.models import Limits, ModelTarget
from wikismith.llm.errors import RateLimited

log = logging.getLogger("wikismith.router")

FREE_MODEL_RPM = 20
_WINDOW = 60.0


@dataclass(slots=True)
class LimitStats:
    waits: int = 0
    wait_seconds: float = 0.0
    refused: int = 0


class _Bucket:
    def __init__(self, key: str, limits: Limits) -> None:
        self.key = key
        self.rpm = limits.requests_per_minute
        self.tpm = limits.tokens_per_minute
        self.semaphore = asyncio.Semaphore(limits.max_concurrent) if limits.max_concurrent else None
        self.requests: deque[float] = deque()
        self.tokens: deque[tuple[float, int]] = deque()
        self.token_sum = 0

    def wait_needed(self, now: float, tokens: int) -> float:
        """Seconds until one more request of `tokens` fits both windows (0: it fits now)."""
        while self.requests and self.requests[0] <= now - _WINDOW:
            self.requests.popleft()
        while self.tokens and self.tokens[0][0] <= now - _WINDOW:
            self.token_sum -= self.tokens.popleft()[1]
        wait = 0.0
        if self.rpm is not None and len(self.requests) >= self.rpm:
            wait = self.requests[len(self.requests) - self.rpm] + _WINDOW - now
        if self.tpm is not None and self.tokens and self.token_sum + min(tokens, self.tpm) > self.tpm:
            excess = self.token_sum + min(tokens, self.tpm) - self.tpm
            for stamp, spent in self.tokens:
                excess -= spent
                if excess <= 0:
                    wait = max(wait, stamp + _WINDOW - now)
                    break
        return max(0.0, wait)

    def record(self, now: float, tokens: int) -> None:
        if self.rpm is not None:
            self.requests.append(now)
        if self.tpm is not None:
            self.tokens.append((now, tokens))
            self.token_sum += tokens


@dataclass(slots=True)
class Limiter:
    stats: dict[str, LimitStats] = field(default_factory=dict)
    _buckets: dict[str, list[_Bucket]] = field(default_factory=dict)

    def slot(self, target: ModelTarget, tokens: int, timeout: float) -> AbstractAsyncContextManager[None]:
        """An async context holding one request slot for `target`; `tokens` is its estimated size."""
        buckets = self._buckets.get(target.provider.id if not target.model.endswith(":free") else target.name)
        if buckets is None:
            buckets = self._make(target)
        if not buckets:
            return contextlib.nullcontext()
        return self._hold(buckets, tokens, timeout)

    def _make(self, target: ModelTarget) -> list[_Bucket]:
        pid = target.provider.id
        if pid not in self._buckets:
            limits = target.provider.limits
            values = (limits.requests_per_minute, limits.tokens_per_minute, limits.max_concurrent)
            has = any(v is not None for v in values)
            self._buckets[pid] = [_Bucket(pid, limits)] if has else []
        if not target.model.endswith(":free"):
            return self._buckets[pid]
        free_key = f"{pid}:free"
        if free_key not in self._buckets:
            rpm = target.provider.limits.requests_per_minute
            self._buckets[free_key] = [] if rpm else [_Bucket(free_key, Limits(requests_per_minute=FREE_MODEL_RPM))]
        self._buckets[target.name] = self._buckets[pid] + self._buckets[free_key]
        return self._buckets[target.name]

    @contextlib.asynccontextmanager
    async def _hold(self, buckets: list[_Bucket], tokens: int, timeout: float) -> AsyncIterator[None]:
        deadline = time.monotonic() + timeout
        held: list[asyncio.Semaphore] = []
        try:
            for bucket in buckets:
                if bucket.semaphore is not None:
                    await self._acquire(bucket, bucket.semaphore, deadline)
                    held.append(bucket.semaphore)
            await self._admit(buckets, tokens, deadline)
            yield
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
            raise RateLimited(
                f"client-side limit: no concurrency slot on {bucket.key} before the deadline",
                provider=bucket.key,
                retry_after=1.0,
            ) from None
        self._count_wait(bucket.key, time.monotonic() - started)

    async def _admit(self, buckets: list[_Bucket], tokens: int, deadline: float) -> None:
        while True:
            now = time.monotonic()
            waits = [(b.wait_needed(now, tokens), b) for b in buckets]
            wait, bucket = max(waits, key=lambda pair: pair[0])
            if wait <= 0:
                for b in buckets:
                    b.record(now, tokens)
                return
            if now + wait > deadline:
                self._stat(bucket.key).refused += 1
                raise RateLimited(
                    f"client-side limit on {bucket.key}: next slot in {wait:.1f}s, after the call's deadline",
                    provider=bucket.key,
                    retry_after=wait,
                )
            log.info("rate limit on %s: waiting %.2fs for a slot", bucket.key, wait)
            self._count_wait(bucket.key, wait)
            await asyncio.sleep(wait)

    def _stat(self, key: str) -> LimitStats:
        stats = self.stats.get(key)
        if stats is None:
            stats = self.stats[key] = LimitStats()
        return stats

    def _count_wait(self, key: str, seconds: float) -> None:
        stats = self._stat(key)
        stats.waits += 1
        stats.wait_seconds += seconds
