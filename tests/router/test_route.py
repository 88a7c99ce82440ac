"""How a routed call spends its tries and waits, over scripted models (no network)."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.router.conftest import ask, scripted
from tests.support.scripted import answer
from wikismith.config.models import AppConfig
from wikismith.llm.errors import RateLimited, UpstreamError
from wikismith.router.retry import RetryPolicy

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
