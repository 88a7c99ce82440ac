"""Stream forms: batches flattened to events and events read as batches, with closing passed through."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from wikismith.llm.events import Finish, StreamEvent, TextDelta, batched, flatten


async def test_flatten_gives_the_events_in_order_and_closes_the_batches_when_left_early() -> None:
    closed: list[str] = []

    async def batches() -> AsyncGenerator[list[StreamEvent], None]:
        try:
            yield [TextDelta("a"), TextDelta("b")]
            yield [TextDelta("c"), Finish("stop")]
        finally:
            closed.append("batches")

    assert [e async for e in flatten(batches())] == [TextDelta("a"), TextDelta("b"), TextDelta("c"), Finish("stop")]
    events = flatten(batches())
    assert await anext(events) == TextDelta("a")
    await events.aclose()  # type: ignore[attr-defined]
    assert closed == ["batches", "batches"]  # the upstream call under an abandoned stream is closed at once


async def test_batched_reads_a_stream_as_batches_of_one_and_closes_it() -> None:
    closed: list[str] = []

    async def events() -> AsyncGenerator[StreamEvent, None]:
        try:
            yield TextDelta("a")
            yield Finish("stop")
        finally:
            closed.append("events")

    assert [b async for b in batched(events())] == [[TextDelta("a")], [Finish("stop")]]
    batches = batched(events())
    assert await anext(batches) == [TextDelta("a")]
    await batches.aclose()
    assert closed == ["events", "events"]
