"""A real `ChatModel` that replays scripted events and failures, for the layers above the providers.

Each call to `complete`/`stream` takes the next script for the requested model (or the default script).
A script is a list of steps: a `StreamEvent` to yield, an `LLMError` to raise, or a float to sleep (seconds).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Sequence

from wikismith.llm.errors import LLMError, StreamError
from wikismith.llm.events import Finish, StreamEvent, TextDelta, UsageReport, collect
from wikismith.llm.types import ChatRequest, ChatResponse, ModelInfo, Usage

Step = StreamEvent | LLMError | float


def answer(text: str, *, prompt_tokens: int = 10, completion_tokens: int = 5, cost: float | None = None) -> list[Step]:
    """A script that streams `text` in word-sized pieces, then usage, then Finish('stop')."""
    pieces = [w + " " for w in text.split(" ")]
    pieces[-1] = pieces[-1].rstrip(" ")
    usage = Usage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
        cost=cost,
    )
    return [*(TextDelta(p) for p in pieces if p), UsageReport(usage), Finish("stop")]


class ScriptedModel:
    """Replays scripts in order, per model id. Records every request it was given in `requests`."""

    def __init__(
        self, scripts: dict[str, Sequence[Sequence[Step]]] | None = None, *, default: Sequence[Step] | None = None
    ) -> None:
        self._scripts: dict[str, deque[Sequence[Step]]] = defaultdict(deque)
        for model, queue in (scripts or {}).items():
            self._scripts[model].extend(queue)
        self._default = default
        self.requests: list[ChatRequest] = []
        self.closed = False

    def add(self, model: str, *steps: Step) -> None:
        self._scripts[model].append(list(steps))

    def _next(self, model: str) -> Sequence[Step]:
        if self._scripts[model]:
            return self._scripts[model].popleft()
        if self._default is not None:
            return self._default
        raise AssertionError(f"ScriptedModel has no script left for model {model!r}")

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.requests.append(request)
        sent: list[str] = []
        for step in self._next(request.model):
            if isinstance(step, float | int):
                await asyncio.sleep(float(step))
            elif isinstance(step, LLMError):
                if sent and not isinstance(step, StreamError):
                    raise StreamError(str(step), partial_text="".join(sent), cause=step)
                raise step
            else:
                if isinstance(step, TextDelta):
                    sent.append(step.text)
                yield step

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await collect(self.stream(request))

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(id=f"scripted/{m}", provider="scripted", model=m) for m in self._scripts]

    async def aclose(self) -> None:
        self.closed = True
