"""Budgets through the router: the worst case of every call in flight is held against them until it ends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.router.conftest import ask, scripted
from tests.support.scripted import ScriptedModel, answer
from wikismith.config.models import AppConfig
from wikismith.llm.errors import BudgetExceeded, UpstreamError
from wikismith.llm.events import TextDelta, collect
from wikismith.llm.types import ChatRequest, GenerationParams
from wikismith.router import Router
from wikismith.router.cost import Budget, Budgets

MakeConfig = Callable[..., AppConfig]
MODEL = "or/anthropic/claude-opus-4.1"  # catalogue prices: 1000 completion tokens at most cost about $0.075


def one_call_budget(make_config: MakeConfig) -> tuple[Router, ScriptedModel]:
    """A router whose daily budget ($0.10) fits the worst case of one call of `request()`, not of two."""
    config = make_config({"or": {"client_class": "OpenRouterClient", "models": {}}})
    router, models = scripted(config, budgets=Budgets([Budget(0.1, "day")]))
    return router, models["or"]


def request() -> ChatRequest:
    return ask(MODEL, params=GenerationParams(max_tokens=1000))


async def test_calls_in_flight_hold_their_worst_case_against_the_budget(make_config: MakeConfig) -> None:
    router, model = one_call_budget(make_config)
    for _ in range(3):
        model.add("anthropic/claude-opus-4.1", 0.1, *answer("ok", cost=0.001))
    results = await asyncio.gather(*(router.complete(request()) for _ in range(3)), return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["ChatResponse", "BudgetExceeded", "BudgetExceeded"]
    assert len(model.requests) == 1
    await router.complete(request())  # ended: its hold is gone, its real cost ($0.001) counted


async def test_a_failed_call_releases_its_hold(make_config: MakeConfig) -> None:
    router, model = one_call_budget(make_config)
    model.add("anthropic/claude-opus-4.1", UpstreamError("boom"))
    model.add("anthropic/claude-opus-4.1", *answer("ok", cost=0.001))
    with pytest.raises(UpstreamError):
        await router.complete(request())
    assert (await router.complete(request())).text == "ok"


async def test_a_cancelled_call_releases_its_hold(make_config: MakeConfig) -> None:
    router, model = one_call_budget(make_config)
    model.add("anthropic/claude-opus-4.1", 30.0, *answer("never"))
    model.add("anthropic/claude-opus-4.1", *answer("ok", cost=0.001))
    call = asyncio.ensure_future(router.complete(request()))
    while not model.requests:  # sent: its hold is taken
        await asyncio.sleep(0.01)
    with pytest.raises(BudgetExceeded):
        await router.complete(request())
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert (await router.complete(request())).text == "ok"


async def test_a_stream_closed_early_by_its_reader_releases_its_hold(make_config: MakeConfig) -> None:
    router, model = one_call_budget(make_config)
    model.add("anthropic/claude-opus-4.1", TextDelta("first "), 30.0, *answer("never"))
    model.add("anthropic/claude-opus-4.1", *answer("ok", cost=0.001))
    stream = router.stream_batches(request())
    async for batch in stream:
        if any(isinstance(e, TextDelta) for e in batch):
            break
    with pytest.raises(BudgetExceeded):
        await collect(router.stream(request()))
    await stream.aclose()
    assert (await collect(router.stream(request()))).text == "ok"
