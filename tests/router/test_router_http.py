"""The router over real provider clients and the emulator on 127.0.0.1: what makes it fall back, what does not,
context overflow moving to a larger window, Retry-After (seconds, HTTP-date) and X-RateLimit-Reset waits,
budgets, limits, the breaker, stream resumption, the usage ledger and the live catalogue."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.router.conftest import ask
from tests.support.emulator import Emulator, Reply, error, error_in_200, mid_stream_error
from wikismith.llm.errors import (
    AuthError,
    BadRequest,
    BudgetExceeded,
    ContextTooLong,
    Forbidden,
    RateLimited,
    StreamError,
)
from wikismith.llm.events import Routed, TextDelta, collect
from wikismith.router import Router
from wikismith.router.breaker import CircuitBreaker
from wikismith.router.cost import Budget, Budgets, Ledger
from wikismith.router.retry import RetryPolicy


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


async def test_ledger_records_every_request_sent(
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
    assert rows[0] == ("ab", "a/m1", "wiki", "upstream_error", 1, None)
    assert rows[1][:5] == ("ab", "b/m2", "wiki", "ok", 2) and rows[1][5] == pytest.approx(0.00042)
    assert rows[2][1:4] == ("a/m1", None, "invalid_request") and len(rows) == 3


PROSE = "This model's maximum context length is 100 tokens. However, your messages resulted in 612 tokens."


@pytest.mark.parametrize(
    "too_long",
    [
        error(400, "prompt too long", code="context_length_exceeded", type="invalid_request_error"),  # OpenAI
        error(400, "too long", metadata={"error_type": "context_length_exceeded"}),  # OpenRouter's metadata
        error(400, PROSE),  # vLLM and others say it in prose only
    ],
    ids=["code", "metadata", "prose"],
)
async def test_context_too_long_moves_to_a_larger_window_that_fits(
    make_router: Callable[..., Router], emulator: Emulator, too_long: Reply
) -> None:
    windows = {"small": {"context_window": 100}, "mid": {"context_window": 300}, "big": {"context_window": 100_000}}
    router = make_router({"models": windows}, {"models": windows}, routes={"long": ["a/small", "b/mid", "b/big"]})
    emulator.script("small", too_long)
    emulator.script("big", Reply(text="it fits"))
    answer = await router.complete(ask("long", "word " * 600))
    assert answer.text == "it fits" and answer.target == "b/big"
    assert [(a.target, a.error_type) for a in answer.attempts] == [
        ("a/small", "context_length_exceeded"),
        ("b/big", None),
    ]
    assert [r.json["model"] for r in emulator.chat_requests()] == ["small", "big"]  # `mid` (300) cannot hold it
    assert all("context_window" not in r.json for r in emulator.chat_requests())


async def test_context_too_long_while_streaming_moves_on_before_any_text(
    make_router: Callable[..., Router], emulator: Emulator
) -> None:
    windows = {"small": {"context_window": 100}, "big": {"context_window": 100_000}}
    router = make_router({"models": windows}, {"models": windows}, routes={"long": ["a/small", "b/big"]})
    emulator.script("small", error(400, PROSE))
    emulator.script("big", Reply(text="streamed and fits"))
    events = [e async for e in router.stream(ask("long", "word " * 600))]
    routed = [e for e in events if isinstance(e, Routed)]
    assert len(routed) == 1 and routed[0].target == "b/big"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "streamed and fits"


async def test_context_too_long_with_no_larger_window_is_raised_for_the_caller_to_degrade(
    make_router: Callable[..., Router], emulator: Emulator
) -> None:
    windows = {"small": {"context_window": 100}, "mid": {"context_window": 300}}
    router = make_router({"models": windows}, {"models": windows}, routes={"long": ["a/small", "b/mid"]})
    emulator.script("small", error(400, "prompt is too long", code="context_length_exceeded"))
    with pytest.raises(ContextTooLong):
        await router.complete(ask("long", "word " * 600))
    assert len(emulator.chat_requests()) == 1


async def test_x_ratelimit_reset_is_waited_before_the_same_target_again(
    make_router: Callable[..., Router], emulator: Emulator
) -> None:
    limited = error(429, "Rate limit exceeded: free-models-per-min")
    limited.headers["X-RateLimit-Reset"] = str(int((time.time() + 1.0) * 1000))  # epoch ms, as OpenRouter sends
    emulator.script("m1", limited, Reply(text="after the reset"))
    router = make_router(policy=RetryPolicy(max_attempts=3, deadline=10, initial=0.01, cap=0.02))
    started = time.monotonic()
    answer = await router.complete(ask("a/m1"))
    assert answer.text == "after the reset"
    assert time.monotonic() - started >= 0.8  # the reset time, not the policy's ≤ 20 ms backoff


async def test_http_date_retry_after_is_waited(make_router: Callable[..., Router], emulator: Emulator) -> None:
    at = email.utils.formatdate(time.time() + 2, usegmt=True)  # whole seconds: waits 1-2 s
    emulator.script("m1", error(503, "overloaded", retry_after=at), Reply(text="back"))
    router = make_router(policy=RetryPolicy(max_attempts=3, deadline=10, initial=0.01, cap=0.02))
    started = time.monotonic()
    answer = await router.complete(ask("a/m1"))
    assert answer.text == "back" and 0.9 <= time.monotonic() - started < 3.5


async def test_the_latest_retry_after_wins_over_an_earlier_one(
    make_router: Callable[..., Router], emulator: Emulator
) -> None:
    emulator.script("m1", error(429, "busy", retry_after=0.1), error(429, "busy", retry_after=1), Reply(text="ok"))
    router = make_router(policy=RetryPolicy(max_attempts=3, deadline=10, initial=0.01, cap=0.02))
    started = time.monotonic()
    answer = await router.complete(ask("a/m1"))
    assert answer.text == "ok" and len(answer.attempts) == 3
    assert time.monotonic() - started >= 1.0


async def test_refresh_catalogue_fetches_models_and_targets_see_them(
    make_router: Callable[..., Router], emulator: Emulator, tmp_path: Path
) -> None:
    from wikismith.llm.catalogue import Catalogue

    router = make_router({"client_class": "OpenRouterClient"})
    router.catalogue = Catalogue(router.config, cache_path=tmp_path / "catalogue.json", ttl=3600)
    assert router.target("a/emu/big").info is None  # not in the shipped snapshot
    assert await router.refresh_catalogue()
    assert [r.path for r in emulator.requests] == ["/api/v1/models"]
    info = router.target("a/emu/big").info
    assert info is not None and info.context_length == 128000 and info.prompt_price == 3e-6
    assert not await router.refresh_catalogue()  # fresh within the TTL: no second request
    assert len(emulator.requests) == 1


async def test_an_all_openrouter_route_is_sent_once_with_models_and_reports_who_served(
    make_router: Callable[..., Router], emulator: Emulator
) -> None:
    router = make_router({"client_class": "OpenRouterClient"}, routes={"native": ["a/m1", "a/m2"]})
    emulator.script("m1", Reply(text="from the fallback", model="m2"))  # OpenRouter fell back by itself
    answer = await router.complete(ask("native"))
    assert answer.target == "a/m2" and answer.text == "from the fallback"
    [sent] = emulator.chat_requests()
    assert sent.json["model"] == "m1" and sent.json["models"] == ["m1", "m2"]
