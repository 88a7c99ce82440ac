"""Running totals of one wiki run's model calls: calls, tokens and cost (USD, None while no price is known)."""

from __future__ import annotations

from dataclasses import dataclass

from wikismith.llm.types import ChatResponse


@dataclass(slots=True)
class Tally:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    cost_known: bool = False

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, response: ChatResponse) -> None:
        self.calls += 1
        usage = response.usage
        if usage is None:
            return
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        if usage.cost is not None:
            self.cost += usage.cost
            self.cost_known = True

    def merge(self, other: Tally) -> None:
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost += other.cost
        self.cost_known = self.cost_known or other.cost_known
