"""The state of one routed call: its targets, which are still worth trying, every attempt and when to give up.

The router walks the targets in order (a "round"); a failure whose class says `try_next_target` moves on to
the next target at once; when a round ends without an answer, the call waits as `RetryPolicy` says and starts
another round over the targets that may still succeed. Each target's tries are its own: a round in which it was
skipped (waiting out its Retry-After, or its circuit open) does not count against its attempts, and its wait
comes from its latest error alone. An error that is the caller's to fix (`try_next_target` and `retryable` both
false: 400, 401, 403) ends the call at once. A refusal by our own limiter (`LocalRateLimited`) is an attempt like a
provider's 429 (recorded, moved on from, its Retry-After honoured) but never counts against the target's circuit.

Native plans (every target on one provider that runs a `models` fallback list itself, OpenRouter): a request
carries the live targets from the first not yet tried this round onwards, and the provider falls back along them
on its own, until an answer starts. What a failed request says about each target of its list (`blame`): a
failed answer names its model (`served_model`): the targets before it were moved on from by the provider, the
rest are still to be tried, in a new request of their own; an error status means the provider went through
the whole list and reports the last one's error; a failure with no answer (a timeout, a broken connection)
is the first target's. Each target is accounted as its own attempt, within the same deadline and tries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from wikismith.config.models import ModelTarget
from wikismith.llm.errors import AllTargetsFailed, ContextTooLong, LLMError, RateLimited, StatusError
from wikismith.llm.types import Attempt, ModelInfo
from wikismith.router.breaker import CircuitBreaker
from wikismith.router.limits import LocalRateLimited
from wikismith.router.retry import RetryPolicy

log = logging.getLogger("wikismith.router")


@dataclass(slots=True)
class Target:
    """A route target with what the router caches about it: config parameters and catalogue facts."""

    target: ModelTarget
    name: str
    info: ModelInfo | None
    config_params: object  # GenerationParams, typed loosely to keep this module free of pydantic work

    @property
    def context_length(self) -> int | None:
        return self.info.context_length if self.info is not None else None


def was_sent(error: LLMError) -> bool:
    """Did the failed request leave this process? Our limiter's refusal is the one failure that was never sent."""
    return not isinstance(error, LocalRateLimited)


def answered_by(group: list[Target], model: str | None) -> Target | None:
    """The target of `group` that `model` (as an answer names it) is: the same id, else the longest id it extends
    (a dated snapshot of a listed model); None when it is none of them."""
    if model is None:
        return None
    best: Target | None = None
    for target in group:
        listed = target.target.model
        if listed == model:
            return target
        if model.startswith(listed) and (best is None or len(listed) > len(best.target.model)):
            best = target
    return best


def serving(group: list[Target], model: str | None) -> Target:
    """The target of `group` that answered, as the answer names its `model` (the first when it names none)."""
    if len(group) == 1:
        return group[0]
    return answered_by(group, model) or group[0]


def _index(targets: list[Target], target: Target) -> int:
    return next(i for i, t in enumerate(targets) if t is target)


def _kind(error: LLMError) -> type[LLMError]:
    """The kind of failure the caller is told about: our limiter's refusal is a rate limit like a provider's 429."""
    return RateLimited if isinstance(error, LocalRateLimited) else type(error)


@dataclass(slots=True)
class RouteState:
    targets: list[Target]
    policy: RetryPolicy
    breaker: CircuitBreaker
    count_prompt: Callable[[], int]
    started: float = field(default_factory=time.monotonic)
    attempts: list[Attempt] = field(default_factory=list)
    errors: list[LLMError] = field(default_factory=list)
    dead: set[str] = field(default_factory=set)
    round: int = 0  # rounds passed, for the log; a target's attempts are counted in `tries`
    tries: dict[str, int] = field(default_factory=dict)  # failed tries per target
    last_error: dict[str, LLMError] = field(default_factory=dict)
    not_before: dict[str, float] = field(default_factory=dict)  # when its latest error's Retry-After allows
    native: bool = False  # one request carries a list of targets that the provider falls back along itself
    done: set[str] = field(default_factory=set)  # targets tried in the current round
    reasons: dict[str, str] = field(default_factory=dict)  # why each target failed last, for the final error
    sent: int = 0  # requests sent (each has its row in the ledger)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return self.policy.remaining(self.elapsed)

    def live(self) -> Iterator[list[Target]]:
        """What to send this round, in order, while the deadline allows: one target per request, or (native) the
        live targets from the first one not yet tried this round onwards, in one request. Skipped: targets that
        failed for good, targets whose latest Retry-After has not passed yet, and targets whose circuit is open
        (reported as an attempt)."""
        now = time.monotonic()
        if self.native:
            self.done = set()
        for index, target in enumerate(self.targets):
            name = target.name
            if name in self.dead or name in self.done or self.not_before.get(name, 0.0) > now:
                continue
            if not self.breaker.allow(name):
                self.attempts.append(Attempt(target=name, ok=False, error_type="circuit_open", message="cooling down"))
                self.reasons.setdefault(name, "circuit open (cooling down)")
                continue
            if self.attempts and self.remaining() <= 0:  # the first request goes out whatever the clock says
                return
            if not self.native:
                yield [target]
                continue
            later = time.monotonic()
            yield [target, *(t for t in self.targets[index + 1 :] if self._ready(t, later))]

    def _ready(self, target: Target, now: float) -> bool:
        name = target.name
        if name in self.dead or name in self.done or self.not_before.get(name, 0.0) > now:
            return False
        return self.breaker.state(name) == "closed"  # an open or half-open circuit is left to `live()`

    def blame(self, group: list[Target], error: LLMError) -> Target:
        """The target of `group` whose failure `error` is (see the module docstring)."""
        if len(group) == 1:
            return group[0]
        served = answered_by(group, error.served_model)
        if served is None and isinstance(error, StatusError) and was_sent(error):
            return group[-1]  # the provider's own error status: it went through the list, this is the last one's
        return served or group[0]

    def failed(self, group: list[Target], failed: Target, error: LLMError, latency: float, *, broke: bool) -> None:
        """Record a failed request of `group` at `failed` (`blame`), after content already (`broke`) or not."""
        index = _index(group, failed)
        for target in group[:index]:
            self.moved_on(target, error)
        if self.native:
            self.done.update(t.name for t in group[: index + 1])
        if broke:
            self.interrupted(failed, error, latency)
        else:
            self.fail(failed, error, latency)

    def moved_on(self, target: Target, error: LLMError | None) -> None:
        """A target of a native request that the provider moved on from before answering. Why is not reported; it
        is an attempt of its own, retried (or not) as the request's `error` says, and never counts against its
        circuit."""
        name = target.name
        self.tries[name] = self.tries.get(name, 0) + 1
        why = "the provider's own fallback moved on from it before answering (it does not say why)"
        self.attempts.append(Attempt(target=name, ok=False, error_type="moved_on", message=why))
        self.reasons[name] = why
        if error is not None:
            self._retry_later(target, error, self.policy.should_retry(error))

    def reached(self, group: list[Target], served: Target) -> list[Target]:
        """`served` has started answering a request of `group`: the targets before it were moved on from. Returns
        what is left of the group, from `served` on."""
        index = _index(group, served)
        for target in group[:index]:
            self.moved_on(target, None)
            self.done.add(target.name)
        return group[index:]

    def succeeded(self, group: list[Target], served: Target, latency: float) -> tuple[Attempt, ...]:
        if len(group) > 1:
            self.reached(group, served)
        return self.succeed(served, latency)

    def succeed(self, target: Target, latency: float) -> tuple[Attempt, ...]:
        self.breaker.success(target.name)
        self.attempts.append(Attempt(target=target.name, ok=True, latency_ms=latency * 1000))
        return tuple(self.attempts)

    def fail(self, target: Target, error: LLMError, latency: float) -> None:
        """Record a failed attempt; raise at once when the error is the caller's to fix."""
        self._record_failure(target, error, latency)
        log.info("target %s failed (%s): %s", target.name, error.error_type, error)
        retry = self.policy.should_retry(error)
        if isinstance(error, LocalRateLimited):  # nothing was sent: no evidence that the target is unhealthy
            self.breaker.untried(target.name)
        elif retry or error.try_next_target:
            self.breaker.failure(target.name, counts=retry)
        if not retry and not error.try_next_target:
            error.attempts = list(self.attempts)  # type: ignore[attr-defined]
            raise error
        self._retry_later(target, error, retry)

    def _retry_later(self, target: Target, error: LLMError, retry: bool) -> None:
        self.last_error[target.name] = error
        if error.retry_after is not None:
            self.not_before[target.name] = time.monotonic() + error.retry_after
        else:  # an earlier Retry-After says nothing about this failure: it is backed off instead
            self.not_before.pop(target.name, None)
        if not retry:
            self.dead.add(target.name)
        if isinstance(error, ContextTooLong):
            self._drop_too_small(target)

    def _drop_too_small(self, failed: Target) -> None:
        """After a context overflow, keep only targets whose known window is larger and fits the prompt."""
        self.dead.add(failed.name)
        needed = self.count_prompt()
        for target in self.targets:
            window = target.context_length
            if window is not None and (window < needed or window <= (failed.context_length or 0)):
                self.dead.add(target.name)

    def has_next(self, after: Target) -> bool:
        names = [t.name for t in self.targets]
        later = names[names.index(after.name) + 1 :] if after.name in names else []
        return any(name not in self.dead for name in later)

    async def next_round(self) -> None:
        """Wait until the first target may be tried again (its latest Retry-After, else the policy's backoff),
        or give up (raising) when no target may be retried within the attempts and the deadline."""
        now = time.monotonic()
        waits = []
        for target in self.targets:
            if target.name not in self.dead:
                wait = self._wait(target.name, now)
                if wait is None:
                    self.dead.add(target.name)
                else:
                    waits.append(wait)
        if not waits:
            raise self.give_up()
        delay = min(waits)
        if self.elapsed + delay > self.policy.deadline:
            raise self.give_up()
        log.info("retrying route in %.2fs (round %d)", delay, self.round + 1)
        self.round += 1
        await asyncio.sleep(delay)

    def _wait(self, name: str, now: float) -> float | None:
        """Seconds until `name` may be tried again, from its latest error: what is left of that error's
        Retry-After, else the backoff after as many tries as it has had. None: not again in this call."""
        error = self.last_error.get(name)
        if error is None:  # skipped this round (open circuit): wait for it to cool down
            return self.breaker.wait(name) or None
        # elapsed=0: the policy rules on retrying and attempts; the deadline is checked on the real wait below
        delay = self.policy.delay(error, self.tries[name] - 1)
        if delay is None:
            return None
        if name in self.not_before:
            delay = max(0.0, self.not_before[name] - now)
        delay = max(delay, self.breaker.wait(name))
        return None if self.elapsed + delay > self.policy.deadline else delay

    def give_up(self) -> LLMError:
        """The error for the caller: the last error itself when every attempt failed the same way (so a
        caller can still catch `ContextTooLong` or `RateLimited`), else `AllTargetsFailed`. Either carries
        `attempts` and, when rate limits caused it, the `retry_after` the caller should honour."""
        retry_after = self._retry_after()
        if not self.errors:
            err: LLMError = AllTargetsFailed(
                "no target could be tried (circuit open on every target)", attempts=list(self.attempts)
            )
            err.retry_after = retry_after
            return err
        last = self.errors[-1]
        summary = "; ".join(f"{name}: {why}" for name, why in self.reasons.items())
        if all(_kind(e) is _kind(last) for e in self.errors):
            last.retry_after = retry_after if retry_after is not None else last.retry_after
            last.attempts = list(self.attempts)  # type: ignore[attr-defined]
            if len(self.reasons) > 1:  # the message names every target tried, and why each failed
                last.message = f"every target failed: {summary}"
            return last
        return AllTargetsFailed(
            f"every target failed: {summary}", attempts=list(self.attempts), last=last, retry_after=retry_after
        )

    def _retry_after(self) -> float | None:
        """When the caller may try again: the earliest moment a Retry-After allows, else (rate limited without
        a header) one second, else when the first open circuit cools down."""
        now = time.monotonic()
        if self.not_before:
            return max(0.0, min(self.not_before.values()) - now)
        if any(isinstance(e, RateLimited) for e in self.errors):
            return 1.0
        waits = [self.breaker.wait(t.name) for t in self.targets]
        return min((w for w in waits if w > 0), default=None)

    def _record_failure(self, target: Target, error: LLMError, latency: float) -> None:
        self.tries[target.name] = self.tries.get(target.name, 0) + 1
        status = f" {error.status}" if error.status else ""
        self.reasons[target.name] = f"{error.error_type}{status} ({error.message[:200]})"
        self.attempts.append(
            Attempt(
                target=target.name,
                ok=False,
                error_type=error.error_type,
                status=error.status,
                message=str(error)[:300],
                latency_ms=latency * 1000,
            )
        )
        self.errors.append(error)

    def interrupted(self, target: Target, error: LLMError, latency: float) -> None:
        """A stream that broke after content was sent: recorded; that target is not tried again."""
        self._record_failure(target, error, latency)
        self.breaker.failure(target.name, counts=error.retryable)
        self.dead.add(target.name)
