"""When to try again, and after how long: a pure policy, tested without a network.

`RetryPolicy.delay(error, attempt, elapsed)` returns the seconds to wait before attempt `attempt + 1`, or None
to give up. Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter"), the
latest `Retry-After` / `X-RateLimit-Reset` honoured when the provider sent one (the error carries it, parsed by
`wikismith.llm.errors.parse_retry_after`), bounded by a number of attempts and a total deadline.

Never retried: errors whose class says `retryable = False` (400, 401, 403, 404, …) and a 402 without a
Retry-After (OpenRouter: "retry only if Retry-After present").
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from wikismith.llm.errors import InsufficientCredits, LLMError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`max_attempts` counts the tries of each target of a route (the first one included); `deadline` bounds
    the whole call, waiting included. `initial`/`cap` are openai-python's figures (0.5 s, 8 s)."""

    max_attempts: int = 3
    deadline: float = 60.0
    initial: float = 0.5
    cap: float = 8.0
    rand: Callable[[], float] = field(default=random.random, compare=False)

    def should_retry(self, error: LLMError) -> bool:
        if isinstance(error, InsufficientCredits):
            return error.retry_after is not None
        return error.retryable

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, initial * 2**attempt)) for the attempt that just failed (0-based)."""
        ceiling = min(self.cap, self.initial * 2.0 ** min(attempt, 30))
        return ceiling * self.rand()

    def delay(self, error: LLMError, attempt: int, elapsed: float = 0.0) -> float | None:
        """Seconds to wait before the next try after `error` ended try number `attempt` (0-based), `elapsed`
        seconds into the call; None means give up (not retryable, attempts used up, or the wait would pass
        the deadline)."""
        if not self.should_retry(error) or attempt + 1 >= self.max_attempts:
            return None
        wait = error.retry_after if error.retry_after is not None else self.backoff(attempt)
        if elapsed + wait > self.deadline:
            return None
        return wait

    def remaining(self, elapsed: float) -> float:
        return max(0.0, self.deadline - elapsed)
