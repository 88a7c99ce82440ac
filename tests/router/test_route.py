"""How a routed call spends its tries and waits, over scripted models (no network)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from tests.router.conftest import ask, scripted
from tests.support.scripted import answer
from wikismith.config.models import AppConfig
from wikismith.llm.errors import AllTargetsFailed, RateLimited, UpstreamError
from wikismith.router.breaker import CircuitBreaker
from wikismith.router.limits import Limiter
from wikismith.router.retry import RetryPolicy
from wikismith.router.route import answered_by, serving

MakeConfig = Callable[..., AppConfig]


async def test_rounds_spent_waiting_out_a_retry_after_are_not_tries_of_that_target(make_config: MakeConfig) -> None:
    # `b` failing fast drives round after round while `a` waits out its Retry-After: `a` has had one try of three.
    policy = RetryPolicy(max_attempts=3, deadline=10, initial=0.01, cap=0.01)
    router, models = scripted(make_config(routes={"r": ["a/m", "b/m"]}), policy=policy)
    models["a"].add("m", RateLimited("slow down", retry_after=0.2))
    models["a"].add("m", *answer("from a, after its Retry-After"))
    for _ in range(3):
        models["b"].add("m", UpstreamError("boom"))
    response = await router.complete(ask("r"))
    assert response.target == "a/m" and response.text == "from a, after its Retry-After"
    assert len(models["a"].requests) == 2
    assert len(models["b"].requests) == 3  # b's own three tries, no more


async def test_failures_after_a_retry_after_are_backed_off_again(make_config: MakeConfig) -> None:
    # The wait comes from the target's latest error: an earlier 429's Retry-After does not stand for later 500s.
    policy = RetryPolicy(max_attempts=4, deadline=10, initial=0.15, cap=0.15, rand=lambda: 1.0)
    router, models = scripted(make_config(), policy=policy)
    models["a"].add("m", RateLimited("slow down", retry_after=0.05))
    models["a"].add("m", UpstreamError("boom"))
    models["a"].add("m", UpstreamError("boom"))
    models["a"].add("m", *answer("fourth time"))
    started = time.monotonic()
    response = await router.complete(ask("a/m"))
    assert response.text == "fourth time"
    assert time.monotonic() - started >= 0.35  # 0.05 s, then two backoffs of 0.15 s each


async def test_what_is_left_of_a_retry_after_is_weighed_against_the_deadline(make_config: MakeConfig) -> None:
    # Half a second in, `a` has 0.1 s of its 0.6 s Retry-After left: that fits the 1 s deadline, all 0.6 s would not.
    policy = RetryPolicy(max_attempts=3, deadline=1.0, initial=0.25, cap=0.25, rand=lambda: 1.0)
    router, models = scripted(make_config(routes={"r": ["a/m", "b/m"]}), policy=policy)
    models["a"].add("m", RateLimited("slow down", retry_after=0.6))
    models["a"].add("m", *answer("from a"))
    for _ in range(3):
        models["b"].add("m", UpstreamError("boom"))
    response = await router.complete(ask("r"))
    assert response.target == "a/m"
    assert len(models["b"].requests) == 3


# --- our own limiter's refusals and the circuit breaker --------------------------------------------------------------

ONE_PER_WINDOW = {"a": {"limits": {"requests_per_minute": 1}}, "b": {}}
SHORT = RetryPolicy(max_attempts=1, deadline=0.1)  # shorter than the limiter's window: a full window is refused


class Clock:
    """The breaker's clock, moved by hand (the limiter keeps real time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_local_limiter_refusals_do_not_open_the_circuit(make_config: MakeConfig) -> None:
    breaker = CircuitBreaker(threshold=2, cooldown=60)
    router, models = scripted(make_config(ONE_PER_WINDOW), policy=SHORT, limiter=Limiter(window=0.3), breaker=breaker)
    models["a"].add("m", *answer("first"))
    models["a"].add("m", *answer("after the window"))
    await router.complete(ask("a/m"))
    for _ in range(3):  # the window's one request is spent: refused here, nothing sent
        with pytest.raises(RateLimited) as refused:
            await router.complete(ask("a/m"))
        attempt = refused.value.attempts[-1]  # type: ignore[attr-defined]
        assert (attempt.error_type, attempt.status) == ("rate_limit_exceeded", 429)
        assert "client-side limit" in (attempt.message or "")
    assert breaker.state("a/m") == "closed"
    await asyncio.sleep(0.35)  # the limiter allows one more
    response = await router.complete(ask("a/m"))
    assert response.text == "after the window" and len(models["a"].requests) == 2


async def test_an_upstream_429_still_counts_toward_opening_the_circuit(make_config: MakeConfig) -> None:
    breaker = CircuitBreaker(threshold=2, cooldown=60)
    router, models = scripted(make_config(routes={"r": ["a/m", "b/m"]}), breaker=breaker)
    for _ in range(2):
        models["a"].add("m", RateLimited("slow down"))
        models["b"].add("m", *answer("from b"))
        await router.complete(ask("r"))
    assert breaker.state("a/m") == "open"
    models["b"].add("m", *answer("from b again"))
    response = await router.complete(ask("r"))
    assert response.attempts[0].error_type == "circuit_open" and len(models["a"].requests) == 2


async def test_a_half_open_trial_refused_locally_goes_to_the_next_call(make_config: MakeConfig) -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=60, clock=clock)
    router, models = scripted(make_config(ONE_PER_WINDOW), policy=SHORT, limiter=Limiter(window=0.3), breaker=breaker)
    models["a"].add("m", UpstreamError("down"))
    models["a"].add("m", *answer("recovered"))
    with pytest.raises(UpstreamError):
        await router.complete(ask("a/m"))  # opens the circuit (and spends the window's one request)
    clock.now += 60
    with pytest.raises(RateLimited):
        await router.complete(ask("a/m"))  # gets the trial, but our limiter refuses it before sending
    assert breaker.state("a/m") == "half_open"  # not re-opened, and the trial is free again
    await asyncio.sleep(0.35)
    assert (await router.complete(ask("a/m"))).text == "recovered"
    assert breaker.state("a/m") == "closed"


async def test_a_local_refusal_and_an_upstream_429_give_up_as_a_rate_limit(make_config: MakeConfig) -> None:
    # The caller sees one kind of failure, a rate limit (catchable as such), not "every target failed differently".
    router, models = scripted(make_config(ONE_PER_WINDOW, routes={"r": ["a/m", "b/m"]}), policy=SHORT)
    models["a"].add("m", *answer("first"))
    models["b"].add("m", RateLimited("slow down", retry_after=5))
    await router.complete(ask("a/m"))
    with pytest.raises(RateLimited) as caught:
        await router.complete(ask("r"))
    assert not isinstance(caught.value, AllTargetsFailed)
    assert [a.target for a in caught.value.attempts] == ["a/m", "b/m"]  # type: ignore[attr-defined]


def test_the_answering_model_is_matched_exactly_else_by_the_longest_listed_id_it_extends(
    make_config: MakeConfig,
) -> None:
    router, _ = scripted(make_config({"or": {}}))
    group = [router.target(name) for name in ("or/openai/gpt-4o", "or/openai/gpt-4o-mini", "or/anthropic/claude")]
    assert answered_by(group, "openai/gpt-4o-mini") is group[1]
    assert answered_by(group, "openai/gpt-4o-mini-2024-07-18") is group[1]  # a dated snapshot of a listed id
    assert answered_by(group, "openai/gpt-4o-2024-08-06") is group[0]
    assert answered_by(group, "mistral/large") is None and answered_by(group, None) is None
    assert serving(group, "mistral/large") is group[0] and serving(group[2:], "openai/gpt-4o") is group[2]
