"""A circuit breaker per target: after `threshold` failures in a row a target is cooled down for `cooldown`
seconds (skipped by routes, so fallbacks answer at once), then one trial call is let through ("half open"):
success closes the circuit, failure opens it again for twice as long (capped). A call that was allowed but never sent
(refused by our own rate limiter) is reported with `untried`: it counts for nothing and hands a trial back."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("wikismith.router")


@dataclass(slots=True)
class _Circuit:
    failures: int = 0
    open_until: float = 0.0
    cooldown: float = 0.0
    trial: bool = False


class CircuitBreaker:
    def __init__(
        self,
        threshold: int = 5,
        cooldown: float = 30.0,
        max_cooldown: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self._clock = clock
        self._circuits: dict[str, _Circuit] = {}

    def allow(self, name: str) -> bool:
        """May `name` be tried now? When an open circuit has cooled down, the first caller gets the one trial
        (and the circuit stays closed to others for another cooldown, so a trial that never reports back
        does not block the target for good)."""
        circuit = self._circuits.get(name)
        if circuit is None or circuit.open_until == 0.0:
            return True
        now = self._clock()
        if now < circuit.open_until:
            return False
        circuit.trial = True
        circuit.open_until = now + circuit.cooldown
        return True

    def wait(self, name: str) -> float:
        """Seconds until `name` may be tried again (0 when it may be tried now)."""
        circuit = self._circuits.get(name)
        if circuit is None or circuit.open_until == 0.0:
            return 0.0
        return max(0.0, circuit.open_until - self._clock())

    def state(self, name: str) -> str:
        circuit = self._circuits.get(name)
        if circuit is None or circuit.open_until == 0.0:
            return "closed"
        return "open" if self._clock() < circuit.open_until else "half_open"

    def success(self, name: str) -> None:
        if name in self._circuits:
            del self._circuits[name]

    def untried(self, name: str) -> None:
        """An allowed call that was never sent (our own limiter refused it): it says nothing about health. If it
        held the half-open trial, the trial goes to the next caller instead of waiting out another cooldown."""
        circuit = self._circuits.get(name)
        if circuit is not None and circuit.trial:
            circuit.trial = False
            circuit.open_until = self._clock()

    def failure(self, name: str, *, counts: bool = True) -> None:
        """A failed call. `counts=False` (e.g. a 402 or a moderation refusal) says nothing about health."""
        circuit = self._circuits.setdefault(name, _Circuit())
        if circuit.trial:
            circuit.trial = False
            circuit.cooldown = min(self.max_cooldown, circuit.cooldown * 2)
            circuit.open_until = self._clock() + circuit.cooldown
            log.warning("circuit for %s re-opened for %.0fs after a failed trial", name, circuit.cooldown)
            return
        if not counts:
            return
        circuit.failures += 1
        if circuit.failures >= self.threshold and circuit.open_until == 0.0:
            circuit.cooldown = self.cooldown
            circuit.open_until = self._clock() + circuit.cooldown
            log.warning("circuit for %s opened for %.0fs after %d failures", name, circuit.cooldown, circuit.failures)
