"""Circuit breaker state machine, with a hand-driven clock."""

from __future__ import annotations

from wikismith.router.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_failures_in_a_row() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown=10, clock=clock)
    for _ in range(2):
        breaker.failure("t")
    assert breaker.allow("t")
    breaker.failure("t")
    assert not breaker.allow("t")
    assert breaker.state("t") == "open"
    assert breaker.wait("t") == 10


def test_success_resets_the_count() -> None:
    breaker = CircuitBreaker(threshold=2, clock=Clock())
    breaker.failure("t")
    breaker.success("t")
    breaker.failure("t")
    assert breaker.allow("t")


def test_half_open_lets_one_trial_through_then_closes_on_success() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=10, clock=clock)
    breaker.failure("t")
    clock.now += 10
    assert breaker.state("t") == "half_open"
    assert breaker.allow("t")
    assert not breaker.allow("t")  # only one trial at a time
    assert breaker.state("t") == "open"
    breaker.success("t")
    assert breaker.state("t") == "closed"
    assert breaker.allow("t")


def test_failed_trial_reopens_for_twice_as_long() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=10, max_cooldown=15, clock=clock)
    breaker.failure("t")
    clock.now += 10
    assert breaker.allow("t")
    breaker.failure("t")
    assert breaker.wait("t") == 15  # doubled, capped


def test_failures_that_say_nothing_about_health_do_not_count() -> None:
    breaker = CircuitBreaker(threshold=1, clock=Clock())
    breaker.failure("t", counts=False)
    assert breaker.allow("t")


def test_targets_are_independent() -> None:
    breaker = CircuitBreaker(threshold=1, clock=Clock())
    breaker.failure("a")
    assert not breaker.allow("a")
    assert breaker.allow("b")


def test_a_trial_that_never_reports_back_does_not_block_the_target_for_good() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=10, clock=clock)
    breaker.failure("t")
    clock.now += 10
    assert breaker.allow("t")  # the trial caller vanishes (cancelled)
    clock.now += 10
    assert breaker.allow("t")


def test_a_trial_that_was_never_sent_goes_to_the_next_caller() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=10, clock=clock)
    breaker.failure("t")
    clock.now += 10
    assert breaker.allow("t")
    breaker.untried("t")  # e.g. refused by our own rate limiter before any request
    assert breaker.state("t") == "half_open"
    assert breaker.allow("t")


def test_a_call_never_sent_leaves_a_closed_circuit_alone() -> None:
    breaker = CircuitBreaker(threshold=1, clock=Clock())
    breaker.untried("t")
    assert breaker.state("t") == "closed" and breaker.allow("t")
