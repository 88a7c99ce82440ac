"""Run one prompt on several models at once and measure each: time to first token, total time, tokens, cost,
finish reason and the answer. Each model is streamed through the router (retries and limits apply; no
fallback to other models, so every row is the model it names)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from wikismith.llm.base import ChatModel
from wikismith.llm.errors import LLMError
from wikismith.llm.events import Finish, ReasoningDelta, Routed, TextDelta, ToolCallDelta, UsageReport
from wikismith.llm.types import ChatRequest, GenerationParams, Message, Usage


@dataclass(frozen=True, slots=True)
class Comparison:
    model: str
    ok: bool
    text: str
    ttft_ms: float | None
    total_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float | None
    cost_is_estimate: bool
    finish_reason: str | None
    served_by: str | None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def compare(
    router: ChatModel,
    models: Sequence[str],
    messages: Sequence[Message],
    *,
    params: GenerationParams | None = None,
    tag: str = "compare",
) -> list[Comparison]:
    """One `Comparison` per model, in the order given; a failing model is a row with `ok=False`."""
    requests = [
        ChatRequest(model=m, messages=list(messages), params=params or GenerationParams(), tag=tag) for m in models
    ]
    return list(await asyncio.gather(*(_measure(router, r) for r in requests)))


@dataclass(frozen=True, slots=True)
class ColumnText:
    """A piece of the answer of model number `column` (in the order given), as it arrives."""

    column: int
    text: str


@dataclass(frozen=True, slots=True)
class ColumnDone:
    column: int
    result: Comparison


async def compare_stream(
    router: ChatModel,
    models: Sequence[str],
    messages: Sequence[Message],
    *,
    params: GenerationParams | None = None,
    tag: str = "compare",
) -> AsyncIterator[ColumnText | ColumnDone]:
    """`compare`, streamed: every model's text as it arrives, then its measured row, in arrival order.
    Closing the iterator early cancels the calls still running."""
    queue: asyncio.Queue[ColumnText | ColumnDone | Exception] = asyncio.Queue()

    async def run(column: int, model: str) -> None:
        request = ChatRequest(model=model, messages=list(messages), params=params or GenerationParams(), tag=tag)
        try:
            result = await _measure(router, request, lambda text: queue.put_nowait(ColumnText(column, text)))
        except Exception as exc:  # not a model error (those are rows): the consumer raises it
            queue.put_nowait(exc)
            return
        queue.put_nowait(ColumnDone(column, result))

    tasks = [asyncio.create_task(run(i, m)) for i, m in enumerate(models)]
    try:
        for _ in range(len(models)):
            while not isinstance(item := await queue.get(), ColumnDone):
                if isinstance(item, Exception):
                    raise item
                yield item
            yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _measure(router: ChatModel, request: ChatRequest, on_text: Callable[[str], None] | None = None) -> Comparison:
    started = time.perf_counter()
    first: float | None = None
    parts: list[str] = []
    usage: Usage | None = None
    finish: str | None = None
    served: str | None = None
    error: str | None = None
    try:
        async for event in router.stream(request):
            if isinstance(event, TextDelta | ReasoningDelta | ToolCallDelta) and first is None:
                first = time.perf_counter()
            if isinstance(event, TextDelta):
                parts.append(event.text)
                if on_text is not None and event.text:
                    on_text(event.text)
            elif isinstance(event, UsageReport):
                usage = event.usage
            elif isinstance(event, Finish):
                finish = event.reason
            elif isinstance(event, Routed):
                served = event.target
    except LLMError as exc:
        error = str(exc)
    return Comparison(
        model=request.model,
        ok=error is None,
        text="".join(parts),
        ttft_ms=(first - started) * 1000 if first is not None else None,
        total_ms=(time.perf_counter() - started) * 1000,
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        cost=usage.cost if usage else None,
        cost_is_estimate=usage.cost_is_estimate if usage else False,
        finish_reason=finish,
        served_by=served,
        error=error,
    )
