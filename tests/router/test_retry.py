"""RetryPolicy maths: pure, no network."""

from __future__ import annotations

import pytest

from wikismith.llm.errors import (
    AuthError,
    BadRequest,
    ContextTooLong,
    Forbidden,
    InsufficientCredits,
    RateLimited,
    TransportError,
    Unavailable,
    UpstreamError,
)
from wikismith.router.retry import RetryPolicy


def policy(value: float = 1.0, **kw: float) -> RetryPolicy:
    return RetryPolicy(rand=lambda: value, **kw)  # type: ignore[arg-type]


def test_backoff_is_exponential_up_to_the_cap() -> None:
    p = policy(1.0, initial=0.5, cap=8.0)
    assert [p.backoff(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    assert policy(0.0).backoff(3) == 0.0
    assert policy(0.25, initial=1.0, cap=100.0).backoff(2) == 1.0


def test_default_jitter_stays_within_bounds() -> None:
    p = RetryPolicy(initial=0.5, cap=8.0)
    delays = [p.backoff(3) for _ in range(200)]
    assert all(0.0 <= d < 4.0 for d in delays)
    assert len(set(delays)) > 100  # really random


def test_retry_after_is_honoured_instead_of_backoff() -> None:
    error = RateLimited("slow down", retry_after=7.5)
    assert policy(0.0, max_attempts=5, deadline=60).delay(error, 0) == 7.5


def test_retry_after_past_the_deadline_gives_up() -> None:
    error = RateLimited("slow down", retry_after=30)
    assert policy(deadline=60).delay(error, 0, elapsed=31) is None
    assert policy(deadline=60).delay(error, 0, elapsed=29) == 30


@pytest.mark.parametrize(
    "error",
    [BadRequest("bad"), AuthError("key"), Forbidden("no"), ContextTooLong("long"), InsufficientCredits("pay")],
)
def test_caller_errors_and_402_without_retry_after_are_never_retried(error: Exception) -> None:
    assert policy().delay(error, 0) is None  # type: ignore[arg-type]


def test_402_with_retry_after_is_retried_after_it() -> None:
    assert policy().delay(InsufficientCredits("in-flight budget", retry_after=2.0), 0) == 2.0


@pytest.mark.parametrize("error", [RateLimited("r"), UpstreamError("u"), Unavailable("u"), TransportError("t")])
def test_transient_errors_are_retried(error: Exception) -> None:
    assert policy(1.0, initial=0.5).delay(error, 0) == 0.5  # type: ignore[arg-type]


def test_attempts_are_bounded() -> None:
    p = policy(max_attempts=3)
    error = UpstreamError("boom")
    assert p.delay(error, 0) is not None
    assert p.delay(error, 1) is not None
    assert p.delay(error, 2) is None
