"""The router over real provider clients and the emulator on 127.0.0.1: what makes it fall back, what does not,
Retry-After waits, budgets, limits, the breaker, stream resumption and the usage ledger."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.router.conftest import ask
from tests.support.emulator import Emulator, Reply, error, error_in_200, mid_stream_error
from wikismith.config.models import AppConfig, load_config
from wikismith.llm.errors import AuthError, BadRequest, BudgetExceeded, Forbidden, RateLimited, StreamError
from wikismith.llm.events import TextDelta, collect
from wikismith.router import Router
from wikismith.router.breaker import CircuitBreaker
from wikismith.router.cost import Budget, Budgets, Ledger
from wikismith.router.retry import RetryPolicy

QUICK = RetryPolicy(max_attempts=1, deadline=10)


def emulated_config(directory: Path, emulator: Emulator, **provider_a: Any) -> AppConfig:
    """Providers `a` and `b` on the emulator (OpenAI-compatible), route `ab` = a/m1 then b/m2."""

    def spec(**more: Any) -> dict[str, Any]:
        return {
            "client_class": "OpenAICompatibleClient",
            "default_model": "m1",
            "supportsCustomModel": True,
            "base_url": emulator.base_url,
            **more,
        }

    generator = {
        "default_provider": "a",
        "providers": {"a": spec(**provider_a), "b": spec()},
        "routes": {"ab": ["a/m1", "b/m2"]},
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "generator.json").write_text(json.dumps(generator))
    return load_config(directory, {})


@pytest.fixture
async def make_router(tmp_path: Path, emulator: Emulator) -> AsyncIterator[Callable[..., Router]]:
    made: list[Router] = []

    def make(provider_a: dict[str, Any] | None = None, **kw: Any) -> Router:
        kw.setdefault("policy", QUICK)
        router = Router(emulated_config(tmp_path / "config", emulator, **(provider_a or {})), **kw)
        made.append(router)
        return router

    yield make
    for router in made:
        await router.aclose()


@pytest.mark.parametrize(
    ("failure", "error_type"),
    [
        (error(429, "slow down"), "rate_limit_exceeded"),
        (error(500, "boom"), "upstream_error"),
        (error(502, "bad gateway"), "upstream_error"),
        (error(503, "no capacity"), "provider_unavailable"),
        (error(408, "took too long"), "timeout"),
        (error(402, "add credits"), "payment_required"),
        (error(403, "flagged", metadata={"reasons": ["violence"], "flagged_input": "x"}), "moderation"),
        (error_in_200(502), "upstream_error"),
        (Reply(text=""), "empty_response"),
    ],
)
async def test_failure_falls_back_to_the_next_target(
    make_router: Callable[..., Router], emulator: Emulator, failure: Reply, error_type: str
) -> None:
    emulator.script("m1", failure)
    emulator.script("m2", Reply(text="second"))
    answer = await make_router().complete(ask("ab"))
    assert answer.text == "second" and answer.target == "b/m2"
    assert [(a.target, a.error_type) for a in answer.attempts] == [("a/m1", error_type), ("b/m2", None)]


@pytest.mark.parametrize(
    ("failure", "raised"),
    [(error(400, "bad field"), BadRequest), (error(401, "no key"), AuthError), (error(403, "not allowed"), Forbidden)],
)
async def test_caller_errors_do_not_fall_back(
    make_router: Callable[..., Router], emulator: Emulator, failure: Reply, raised: type[Exception]
) -> None:
    emulator.script("m1", failure)
    with pytest.raises(raised):
        await make_router().complete(ask("ab"))
    assert [r.json["model"] for r in emulator.chat_requests()] == ["m1"]


async def test_connection_refused_falls_back(make_router: Callable[..., Router], emulator: Emulator) -> None:
    router = make_router({"base_url": "http://127.0.0.1:9/v1"})  # nothing listens on the discard port
    answer = await router.complete(ask("ab"))
    assert answer.target == "b/m2" and answer.attempts[0].error_type == "connection_error"


async def test_slow_first_byte_times_out_and_falls_back(make_router: Callable[..., Router], emulator: Emulator) -> None:
    emulator.script("m1", Reply(text="late", delay=3))
    router = make_router({"timeouts": {"first_byte": 0.3}})
    started = time.monotonic()
    answer = await router.complete(ask("ab"))
    assert answer.target == "b/m2" and time.monotonic() - started < 2.5


async def test_retry_after_is_waited_before_the_same_target_again(
    make_router: Callable[..., Router], emulator: Emulator
) -> None:
    emulator.script("m1", error(429, "slow down", retry_after=1), Reply(text="now"))
    router = make_router(policy=RetryPolicy(max_attempts=3, deadline=10, initial=0.01, cap=0.02))
    started = time.monotonic()
    answer = await router.complete(ask("a/m1"))
    waited = time.monotonic() - started
    assert answer.text == "now" and len(answer.attempts) == 2
    assert waited >= 0.95  # the header said 1 s; the policy's own backoff would have been ≤ 20 ms


async def test_giving_up_on_rate_limits_tells_the_caller_when_to_retry(
    make_router: Callable[..., Router], emulator: Emulator
) -> None:
    emulator.script("m1", error(429, "slow down", retry_after=30))
    emulator.script("m2", error(429, "slow down", retry_after=20))
    with pytest.raises(RateLimited) as info:
        await make_router().complete(ask("ab"))
    assert info.value.retry_after is not None and 15 < info.value.retry_after <= 20


async def test_budget_refuses_before_sending(make_router: Callable[..., Router], emulator: Emulator) -> None:
    router = make_router(budgets=Budgets([Budget(0.0004, "day")]))
    first = await router.complete(ask("a/m1"))  # the emulator reports a cost of $0.00042
    assert first.usage is not None and first.usage.cost == pytest.approx(0.00042)
    with pytest.raises(BudgetExceeded, match="daily budget"):
        await router.complete(ask("a/m1"))
    assert len(emulator.chat_requests()) == 1


async def test_concurrency_limit_holds_requests_back(make_router: Callable[..., Router], emulator: Emulator) -> None:
    emulator.script("m1", *[Reply(text="ok", delay=0.3) for _ in range(6)])
    router = make_router({"limits": {"max_concurrent": 2}})
    started = time.monotonic()
    answers = await asyncio.gather(*(router.complete(ask("a/m1")) for _ in range(6)))
    assert [a.text for a in answers] == ["ok"] * 6
    assert time.monotonic() - started >= 0.85  # three waves of two, 0.3 s each
    assert router.limiter.stats["a"].waits >= 4


async def test_open_circuit_skips_the_target_without_a_request(
    make_router: Callable[..., Router], emulator: Emulator
) -> None:
    emulator.script("m1", error(500, "down"), error(500, "down"))
    router = make_router(breaker=CircuitBreaker(threshold=2, cooldown=60))
    for _ in range(2):
        await router.complete(ask("ab"))
    third = await router.complete(ask("ab"))
    assert third.attempts[0].error_type == "circuit_open"
    assert [r.json["model"] for r in emulator.chat_requests()].count("m1") == 2


async def test_stream_resumes_on_the_next_target_with_the_partial_answer(
    make_router: Callable[..., Router], emulator: Emulator
) -> None:
    emulator.script("m1", mid_stream_error("The answer is"))
    emulator.script("m2", Reply(text=" forty-two."))
    request = ask("ab", extra={"continue_on_failure": True})
    events = [e async for e in make_router().stream(request)]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text.replace(" ", "") == "Theansweris" + "forty-two."
    prefill = emulator.chat_requests()[-1].json["messages"][-1]
    assert prefill["role"] == "assistant" and prefill["content"].replace(" ", "") == "Theansweris"


async def test_stream_failure_after_text_is_a_typed_error(
    make_router: Callable[..., Router], emulator: Emulator
) -> None:
    emulator.script("m1", mid_stream_error("partial words"))
    with pytest.raises(StreamError) as info:
        await collect(make_router().stream(ask("ab")))
    assert info.value.partial_text.replace(" ", "") == "partialwords"
    assert [r.json["model"] for r in emulator.chat_requests()] == ["m1"]  # no fallback after content


async def test_extras_for_the_primary_are_not_sent_to_other_providers(
    make_router: Callable[..., Router], emulator: Emulator
) -> None:
    emulator.script("m1", error(503, "busy"))
    await make_router().complete(ask("ab", extra={"transforms": ["middle-out"]}))
    bodies = [r.json for r in emulator.chat_requests()]
    assert bodies[0]["transforms"] == ["middle-out"] and "transforms" not in bodies[1]


async def test_ledger_records_every_call(
    make_router: Callable[..., Router], emulator: Emulator, tmp_path: Path
) -> None:
    ledger = Ledger(tmp_path / "usage.sqlite3")
    router = make_router(ledger=ledger)
    emulator.script("m1", error(500, "down"))
    await router.complete(ask("ab", tag="wiki"))
    emulator.script("m1", error(400, "bad"))
    with pytest.raises(BadRequest):
        await router.complete(ask("a/m1"))
    await ledger.flush()
    rows = ledger.query("SELECT route, target, tag, status, attempts, cost FROM usage ORDER BY ts")
    assert rows[0][:5] == ("ab", "b/m2", "wiki", "ok", 2) and rows[0][5] == pytest.approx(0.00042)
    assert rows[1][1:4] == ("a/m1", None, "invalid_request")
