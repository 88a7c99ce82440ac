"""Client-side limits under real concurrency (asyncio, real time, small windows)."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from wikismith.config.models import Limits, ModelTarget, ResolvedProvider, Timeouts
from wikismith.llm.errors import RateLimited
from wikismith.router.limits import FREE_MODEL_RPM, Limiter


def target(limits: Limits, model: str = "m") -> ModelTarget:
    provider = ResolvedProvider(
        id="p", kind="openai_compat", client_class="OpenAIClient", base_url="http://127.0.0.1:1",
        api_key=SecretStr("k"), api_key_env=None, api_key_header=None, query_params={}, headers={},
        timeouts=Timeouts(), limits=limits,
    )  # fmt: skip
    return ModelTarget(provider=provider, model=model)


async def test_max_concurrent_is_never_exceeded_and_waits_are_counted() -> None:
    limiter = Limiter()
    t = target(Limits(max_concurrent=2))
    active = peak = 0

    async def call() -> None:
        nonlocal active, peak
        async with limiter.slot(t, 10, timeout=5):
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.02)
            active -= 1

    await asyncio.gather(*(call() for _ in range(8)))
    assert peak == 2
    assert limiter.stats["p"].waits >= 6


async def test_waiting_past_the_deadline_raises_instead_of_hanging() -> None:
    limiter = Limiter()
    t = target(Limits(max_concurrent=1))
    async with limiter.slot(t, 1, timeout=5):
        with pytest.raises(RateLimited, match="no concurrency slot"):
            async with limiter.slot(t, 1, timeout=0.05):
                pass
    assert limiter.stats["p"].refused == 1


async def test_requests_per_minute_refuses_when_the_next_slot_is_after_the_deadline() -> None:
    limiter = Limiter()
    t = target(Limits(requests_per_minute=2))
    for _ in range(2):
        async with limiter.slot(t, 1, timeout=1):
            pass
    with pytest.raises(RateLimited) as caught:
        async with limiter.slot(t, 1, timeout=1):
            pass
    assert caught.value.retry_after is not None and 59 < caught.value.retry_after <= 60


async def test_tokens_per_minute_counts_estimated_tokens() -> None:
    limiter = Limiter()
    t = target(Limits(tokens_per_minute=1000))
    async with limiter.slot(t, 600, timeout=1):
        pass
    with pytest.raises(RateLimited):
        async with limiter.slot(t, 600, timeout=1):
            pass
    async with limiter.slot(t, 400, timeout=1):  # still fits the window: 600 + 400
        pass


async def test_no_limits_means_no_bookkeeping() -> None:
    limiter = Limiter()
    async with limiter.slot(target(Limits()), 10**9, timeout=0):
        pass
    assert limiter.stats == {}


async def test_free_models_share_the_free_rpm_bucket() -> None:
    limiter = Limiter()
    free = target(Limits(), model="x/y:free")
    for _ in range(FREE_MODEL_RPM):
        async with limiter.slot(free, 1, timeout=1):
            pass
    with pytest.raises(RateLimited, match="p:free"):
        async with limiter.slot(target(Limits(), model="other:free"), 1, timeout=1):
            pass
    async with limiter.slot(target(Limits(), model="paid"), 1, timeout=0):
        pass
