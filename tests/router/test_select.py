"""Selection strategies: pure."""

from __future__ import annotations

from wikismith.llm.types import ModelInfo
from wikismith.router.select import LatencyTracker, cheapest, fits, unit_price


def info(mid: str, price: float | None, context: int | None = 100_000, params: set[str] | None = None) -> ModelInfo:
    return ModelInfo(
        id=mid,
        provider=mid.partition("/")[0],
        model=mid.partition("/")[2],
        context_length=context,
        prompt_price=price,
        completion_price=price,
        supported_parameters=frozenset(params) if params is not None else None,
    )


def test_cheapest_orders_by_price_and_puts_unknown_prices_last() -> None:
    models = [info("a/x", 3e-6), info("b/y", None), info("c/z", 1e-7), info("d/w", 0.0)]
    assert [m.id for m in cheapest(models, 10)] == ["d/w", "c/z", "a/x", "b/y"]


def test_cheapest_skips_models_whose_context_does_not_fit() -> None:
    models = [info("small/free", 0.0, context=4_000), info("big/paid", 1e-6, context=200_000)]
    assert [m.id for m in cheapest(models, 10_000)] == ["big/paid"]
    assert [m.id for m in cheapest(models, 3_000, reserve=2_000)] == ["big/paid"]


def test_cheapest_requires_the_parameters_asked_for() -> None:
    models = [info("a/no-tools", 0.0, params={"temperature"}), info("b/tools", 1e-6, params={"tools", "temperature"})]
    assert [m.id for m in cheapest(models, 10, required=["tools"])] == ["b/tools"]


def test_unknown_supported_parameters_allow_everything() -> None:
    assert fits(info("a/x", 0.0, params=None), 10, ["tools", "seed"])


def test_unit_price_sums_prompt_and_completion() -> None:
    assert unit_price(info("a/x", 1e-6)) == 2e-6


def test_fastest_orders_by_moving_average_unknown_last() -> None:
    tracker = LatencyTracker(alpha=0.5)
    tracker.observe("a", 1.0)
    tracker.observe("b", 0.2)
    tracker.observe("a", 0.0)  # average 0.5
    assert tracker.average("a") == 0.5
    assert tracker.fastest(["c", "a", "b"]) == ["b", "a", "c"]
