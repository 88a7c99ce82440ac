"""Client-side limits under real concurrency (asyncio, real time, small windows)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest
from pydantic import SecretStr

from tests.router.conftest import ask
from tests.support.emulator import Emulator, Reply
from wikismith.config.models import ModelTarget, ResolvedProvider
from wikismith.config.schemas import Limits, Timeouts
from wikismith.llm.errors import RateLimited
from wikismith.llm.events import collect
from wikismith.llm.types import Usage
from wikismith.router import Router
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


# --- through the router, over the emulator -----------------------------------------------------------------------


async def test_requests_per_minute_wait_is_logged_and_counted(
    make_router: Callable[..., Router], emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wikismith.router")
    router = make_router({"limits": {"requests_per_minute": 2}}, limiter=Limiter(window=0.5))
    started = time.monotonic()
    answers = await asyncio.gather(*(router.complete(ask("a/m1")) for _ in range(4)))
    assert all(a.target == "a/m1" for a in answers)  # waited for a slot rather than falling back
    assert time.monotonic() - started >= 0.45  # the second pair waited for the window to pass
    stats = router.limiter.snapshot()["a"]
    assert stats["waits"] >= 2 and stats["wait_seconds"] > 0.5 and stats["refused"] == 0
    assert any("rate limit on a: waiting" in r.getMessage() for r in caplog.records)


async def test_tokens_per_minute_holds_a_large_prompt_back(
    make_router: Callable[..., Router], emulator: Emulator
) -> None:
    router = make_router({"limits": {"tokens_per_minute": 1000}}, limiter=Limiter(window=0.4))
    prompt = "x" * 1400  # 473 tokens by the limiter's estimate (characters / 3, plus the chat overhead)
    emulator.script("m1", *[Reply(text="ok", usage=None)] * 3)  # no usage reported: the estimate stands
    started = time.monotonic()
    await router.complete(ask("a/m1", prompt))
    await router.complete(ask("a/m1", prompt))  # 946 tokens in the window: still fits
    assert time.monotonic() - started < 0.3
    await router.complete(ask("a/m1", prompt))  # would pass 1000: waits for the first to leave the window
    assert time.monotonic() - started >= 0.35
    assert router.limiter.stats["a"].waits == 1


async def test_an_exhausted_client_side_limit_falls_back_without_a_request(
    make_router: Callable[..., Router], emulator: Emulator
) -> None:
    router = make_router({"limits": {"requests_per_minute": 1}})  # a real one-minute window
    first = await router.complete(ask("ab"))
    second = await router.complete(ask("ab"))
    assert first.target == "a/m1" and second.target == "b/m2"
    assert second.attempts[0].error_type == "rate_limit_exceeded" and "client-side limit" in (
        second.attempts[0].message or ""
    )
    assert [r.json["model"] for r in emulator.chat_requests()] == ["m1", "m2"]
    assert router.limiter.snapshot()["a"]["refused"] == 1


async def test_tokens_per_minute_counts_the_reported_usage_not_just_the_estimate(
    make_router: Callable[..., Router], emulator: Emulator
) -> None:
    long_answer = {"prompt_tokens": 12, "completion_tokens": 995, "total_tokens": 1007, "cost": 0.0}
    emulator.script("m1", Reply(text="a long answer", usage=long_answer))
    router = make_router({"limits": {"tokens_per_minute": 1000}}, limiter=Limiter(window=0.4))
    started = time.monotonic()
    await router.complete(ask("a/m1"))  # estimated at ~8 tokens, really spent 1007
    await router.complete(ask("a/m1"))
    assert time.monotonic() - started >= 0.35  # waited for the long answer to leave the window
    assert router.limiter.stats["a"].waits == 1


async def test_a_streamed_answer_is_settled_too(make_router: Callable[..., Router], emulator: Emulator) -> None:
    long_answer = {"prompt_tokens": 12, "completion_tokens": 995, "total_tokens": 1007, "cost": 0.0}
    emulator.script("m1", Reply(text="a long answer", usage=long_answer))
    router = make_router({"limits": {"tokens_per_minute": 1000}}, limiter=Limiter(window=0.4))
    await collect(router.stream(ask("a/m1")))
    await router.complete(ask("a/m1"))
    assert router.limiter.stats["a"].waits == 1


async def test_a_settled_saving_leaves_the_window_with_the_estimate_it_corrects() -> None:
    limiter = Limiter(window=0.6)
    t = target(Limits(tokens_per_minute=1000))
    async with limiter.slot(t, 900, timeout=1) as admitted:
        await asyncio.sleep(0.3)  # the call takes a while and really spends 20 tokens
    limiter.settle(admitted, Usage(prompt_tokens=10, completion_tokens=10, total_tokens=20))
    await asyncio.sleep(0.35)  # the 900-token estimate has left the window: so must the 880 it was over
    async with limiter.slot(t, 900, timeout=1):
        pass
    with pytest.raises(RateLimited):  # 900 + 900 in one window
        async with limiter.slot(t, 900, timeout=0.1):
            pass


async def test_a_saving_settled_after_its_estimate_left_the_window_changes_nothing() -> None:
    limiter = Limiter(window=0.5)
    t = target(Limits(tokens_per_minute=1000))
    async with limiter.slot(t, 900, timeout=1) as admitted:
        await asyncio.sleep(0.55)  # a call longer than the window: its estimate is gone when it ends
    async with limiter.slot(t, 100, timeout=1):
        pass
    limiter.settle(admitted, Usage(prompt_tokens=10, completion_tokens=10, total_tokens=20))
    async with limiter.slot(t, 900, timeout=1):  # 100 + 900: the window is full
        pass
    with pytest.raises(RateLimited):
        async with limiter.slot(t, 100, timeout=0.05):
            pass
