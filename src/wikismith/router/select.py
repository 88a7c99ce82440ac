"""Choosing targets: `explicit` (the route as written, the default), `cheapest` (cheapest catalogue model that
fits the prompt and supports the required parameters, optionally within an allow-list), `fastest` (lowest
observed latency, an exponential moving average per target) and `auto` (cheapest that fits, then the route).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from wikismith.llm.types import ModelInfo

STRATEGIES = ("explicit", "cheapest", "fastest", "auto")


def unit_price(info: ModelInfo) -> float:
    """A sortable price: prompt + completion per token (unknown prices sort last)."""
    if info.prompt_price is None:
        return float("inf")
    return info.prompt_price + (info.completion_price or 0.0)


def fits(info: ModelInfo, prompt_tokens: int, required: Iterable[str] = (), reserve: int = 0) -> bool:
    """True when `info` can take the prompt (plus `reserve` completion tokens) and every required parameter."""
    if info.context_length is not None and prompt_tokens + reserve > info.context_length:
        return False
    supported = info.supported_parameters
    return supported is None or all(p in supported for p in required)


def cheapest(
    candidates: Iterable[ModelInfo], prompt_tokens: int, required: Iterable[str] = (), reserve: int = 0
) -> list[ModelInfo]:
    """Candidates that fit, cheapest first (ties: larger context first, then by id for a stable order)."""
    needed = tuple(required)
    fitting = [m for m in candidates if fits(m, prompt_tokens, needed, reserve)]
    return sorted(fitting, key=lambda m: (unit_price(m), -(m.context_length or 0), m.id))


@dataclass
class LatencyTracker:
    """Moving average of successful call latency per target (seconds)."""

    alpha: float = 0.3
    _average: dict[str, float] = field(default_factory=dict)

    def observe(self, target: str, seconds: float) -> None:
        old = self._average.get(target)
        self._average[target] = seconds if old is None else old + self.alpha * (seconds - old)

    def average(self, target: str) -> float | None:
        return self._average.get(target)

    def fastest(self, names: Sequence[str]) -> list[str]:
        """`names` ordered by observed latency; targets never observed keep their order, after the known ones."""
        known = sorted((n for n in names if n in self._average), key=lambda n: self._average[n])
        return known + [n for n in names if n not in self._average]
