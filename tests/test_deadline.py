"""`Deadline`, the cheap `asyncio.timeout_at` used on every provider call and stream read."""

from __future__ import annotations

import asyncio

import pytest

from wikismith.deadline import Deadline


def _in(seconds: float) -> float:
    return asyncio.get_running_loop().time() + seconds


async def test_a_block_past_its_deadline_raises_timeout_error() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError), Deadline(_in(0.05)):
        await asyncio.sleep(5)
    assert 0.04 <= loop.time() - started < 1.0
    # The cancellation it caused was taken back: the task goes on as if nothing happened.
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)


async def test_a_block_that_finishes_in_time_is_left_alone() -> None:
    with Deadline(_in(0.2)):
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)  # the timer was disarmed: nothing is cancelled later


async def test_a_deadline_already_past_fires_at_the_first_wait() -> None:
    with pytest.raises(TimeoutError), Deadline(_in(-1)):
        await asyncio.sleep(1)


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    async def call() -> None:
        with Deadline(_in(5)):
            await asyncio.sleep(5)

    task = asyncio.ensure_future(call())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_outer_cancellation_racing_the_deadline_is_not_swallowed() -> None:
    """The deadline and the caller cancel the task in the same loop iteration: the caller's cancellation wins,
    as with `asyncio.timeout`."""
    loop = asyncio.get_running_loop()
    when = _in(0.02)

    async def call() -> None:
        with Deadline(when):
            await asyncio.sleep(5)

    task = asyncio.ensure_future(call())
    await asyncio.sleep(0)  # the task enters the block and arms its timer first
    loop.call_at(when, task.cancel)  # same time, scheduled after it: both run before the task wakes
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_nested_deadlines_report_the_one_that_expired() -> None:
    with Deadline(_in(5)):
        with pytest.raises(TimeoutError), Deadline(_in(0.02)):
            await asyncio.sleep(1)
        await asyncio.sleep(0.01)  # the outer block goes on: its deadline is far
