"""Router logic over scripted models (no network): resolution, fallback policy, params, budgets, breaker."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.router.conftest import ask, scripted
from tests.support.scripted import answer
from wikismith.config.models import AppConfig, ConfigError
from wikismith.llm.base import ChatModel
from wikismith.llm.errors import (
    AllTargetsFailed,
    AuthError,
    BadRequest,
    BudgetExceeded,
    ClientTimeout,
    ContextTooLong,
    Forbidden,
    InsufficientCredits,
    LLMError,
    ModerationError,
    NotFound,
    RateLimited,
    RequestTimeout,
    StreamError,
    TransportError,
    Unavailable,
    UpstreamError,
)
from wikismith.llm.events import Finish, Routed, TextDelta, UsageReport, collect
from wikismith.llm.types import GenerationParams, Usage
from wikismith.router.breaker import CircuitBreaker
from wikismith.router.cost import Budget, Budgets, Ledger
from wikismith.router.retry import RetryPolicy

MakeConfig = Callable[..., AppConfig]


@pytest.mark.parametrize(
    "error",
    [
        RateLimited("429"),
        UpstreamError("500"),
        Unavailable("503"),
        RequestTimeout("408"),
        TransportError("reset"),
        ClientTimeout("idle"),
        InsufficientCredits("402"),
        ModerationError("flagged"),
        NotFound("no endpoints"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_falls_back_to_the_next_target_on(make_config: MakeConfig, error: LLMError) -> None:
    router, models = scripted(make_config(routes={"r": ["a/m", "b/m"]}))
    models["a"].add("m", error)
    models["b"].add("m", *answer("from b"))
    response = await router.complete(ask("r"))
    assert response.text == "from b"
    assert response.target == "b/m"
    assert [(a.target, a.ok, a.error_type) for a in response.attempts] == [
        ("a/m", False, error.error_type),
        ("b/m", True, None),
    ]


@pytest.mark.parametrize(
    "error", [AuthError("401"), BadRequest("400"), Forbidden("403")], ids=lambda e: type(e).__name__
)
async def test_does_not_fall_back_on_caller_errors(make_config: MakeConfig, error: LLMError) -> None:
    router, models = scripted(make_config(routes={"r": ["a/m", "b/m"]}))
    models["a"].add("m", error)
    with pytest.raises(type(error)):
        await router.complete(ask("r"))
    assert models["b"].requests == []


async def test_context_too_long_skips_to_a_target_whose_window_fits(make_config: MakeConfig) -> None:
    router, models = scripted(make_config(routes={"r": ["a/small", "b/small", "c/big"]}))
    models["a"].add("small", ContextTooLong("too long"))
    models["c"].add("big", *answer("fits"))
    response = await router.complete(ask("r", "word " * 200))
    assert response.target == "c/big"
    assert models["b"].requests == []  # its 60-token window cannot hold the prompt


async def test_context_too_long_everywhere_is_raised_as_such(make_config: MakeConfig) -> None:
    router, models = scripted(make_config(routes={"r": ["a/small", "b/small"]}))
    models["a"].add("small", ContextTooLong("too long"))
    with pytest.raises(ContextTooLong):  # callers degrade (drop retrieved context) on this
        await router.complete(ask("r", "word " * 200))


async def test_an_empty_answer_is_a_failure_that_falls_back(make_config: MakeConfig) -> None:
    router, models = scripted(make_config(routes={"r": ["a/m", "b/m"]}))
    models["a"].add("m", UsageReport(Usage(prompt_tokens=3)), Finish("stop"))
    models["b"].add("m", *answer("real"))
    response = await router.complete(ask("r"))
    assert response.text == "real"
    assert response.attempts[0].error_type == "empty_response"


async def test_finish_reason_error_is_a_failure_that_falls_back(make_config: MakeConfig) -> None:
    router, models = scripted(make_config(routes={"r": ["a/m", "b/m"]}))
    models["a"].add("m", TextDelta("par"), Finish("error"))
    models["b"].add("m", *answer("whole"))
    response = await router.complete(ask("r"))
    assert response.text == "whole"


async def test_every_target_failing_differently_raises_all_targets_failed(make_config: MakeConfig) -> None:
    router, models = scripted(make_config(routes={"r": ["a/m", "b/m"]}))
    models["a"].add("m", UpstreamError("boom"))
    models["b"].add("m", RateLimited("slow", retry_after=42))
    with pytest.raises(AllTargetsFailed) as caught:
        await router.complete(ask("r"))
    assert [a.target for a in caught.value.attempts] == ["a/m", "b/m"]
    assert caught.value.retry_after == pytest.approx(42, abs=1)


async def test_request_models_list_appends_fallbacks(make_config: MakeConfig) -> None:
    router, models = scripted(make_config())
    models["a"].add("m", UpstreamError("down"))
    models["c"].add("x", *answer("from c"))
    response = await router.complete(ask("a/m", extra={"models": ["c/x"]}))
    assert response.target == "c/x"


async def test_router_only_extra_keys_are_not_sent_upstream(make_config: MakeConfig) -> None:
    router, models = scripted(make_config())
    models["a"].add("m", *answer("ok"))
    await router.complete(ask("a/m", extra={"models": [], "continue_on_failure": True, "transforms": ["x"]}))
    assert models["a"].requests[0].extra == {"transforms": ["x"]}


async def test_unknown_target_is_a_config_error(make_config: MakeConfig) -> None:
    router, _ = scripted(make_config())
    with pytest.raises(ConfigError, match="unknown provider 'nope'"):
        await router.complete(ask("nope/m"))


async def test_config_params_sit_under_request_params(make_config: MakeConfig) -> None:
    router, models = scripted(make_config())
    models["a"].add("m", *answer("ok"))
    await router.complete(ask("a/m", params=GenerationParams(max_tokens=20)))
    sent = models["a"].requests[0]
    assert sent.model == "m"
    assert (sent.params.temperature, sent.params.max_tokens) == (0.3, 20)


async def test_unsupported_parameter_is_dropped_with_one_warning(
    make_config: MakeConfig, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config({"or": {"client_class": "OpenRouterClient", "models": {}}})
    router, models = scripted(config)
    slug = "anthropic/claude-3.5-haiku"  # snapshot: no seed, no response_format
    for _ in range(2):
        models["or"].add(slug, *answer("ok"))
    with caplog.at_level(logging.WARNING, logger="wikismith.router"):
        for _ in range(2):
            await router.complete(ask(f"or/{slug}", params=GenerationParams(seed=1, temperature=0.5)))
    assert [r.params.seed for r in models["or"].requests] == [None, None]
    assert models["or"].requests[0].params.temperature == 0.5
    assert len([r for r in caplog.records if "'seed'" in r.getMessage()]) == 1


async def test_unsupported_parameter_is_refused_when_strict(make_config: MakeConfig) -> None:
    router, models = scripted(make_config({"or": {"client_class": "OpenRouterClient", "models": {}}}))
    with pytest.raises(BadRequest, match="does not support parameter"):
        await router.complete(ask("or/anthropic/claude-3.5-haiku", params=GenerationParams(seed=1), strict_params=True))
    assert models["or"].requests == []


async def test_all_openrouter_targets_use_native_fallback(make_config: MakeConfig) -> None:
    config = make_config(
        {"or": {"client_class": "OpenRouterClient", "models": {}}},
        routes={"r": ["or/openai/gpt-4o-mini", "or/anthropic/claude-3.5-haiku"]},
    )
    router, models = scripted(config)
    models["or"].add("openai/gpt-4o-mini", *answer("native"))
    response = await router.complete(ask("r"))
    assert models["or"].requests[0].extra["models"] == ["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"]
    assert response.text == "native"


async def test_budget_refuses_before_sending(make_config: MakeConfig) -> None:
    config = make_config({"or": {"client_class": "OpenRouterClient", "models": {}}})
    router, models = scripted(config, budgets=Budgets([Budget(0.001, "day")]))
    with pytest.raises(BudgetExceeded):
        await router.complete(ask("or/anthropic/claude-opus-4.1", params=GenerationParams(max_tokens=1000)))
    assert models["or"].requests == []


async def test_open_circuit_skips_the_target(make_config: MakeConfig) -> None:
    router, models = scripted(make_config(routes={"r": ["a/m", "b/m"]}), breaker=CircuitBreaker(threshold=2))
    for _ in range(2):
        models["a"].add("m", UpstreamError("down"))
        models["b"].add("m", *answer("b"))
        await router.complete(ask("r"))
    models["b"].add("m", *answer("b again"))
    response = await router.complete(ask("r"))
    assert len(models["a"].requests) == 2  # not called the third time
    assert response.attempts[0].error_type == "circuit_open"


async def test_single_target_is_retried_with_backoff(make_config: MakeConfig) -> None:
    router, models = scripted(make_config(), policy=RetryPolicy(max_attempts=3, initial=0.001))
    models["a"].add("m", Unavailable("busy"))
    models["a"].add("m", UpstreamError("boom"))
    models["a"].add("m", *answer("third time"))
    response = await router.complete(ask("a/m"))
    assert response.text == "third time"
    assert len(response.attempts) == 3


async def test_stream_sends_routed_before_the_first_content(make_config: MakeConfig) -> None:
    router, models = scripted(make_config(routes={"r": ["a/m", "b/m"]}))
    models["a"].add("m", RateLimited("busy"))
    models["b"].add("m", *answer("hi there"))
    events = [e async for e in router.stream(ask("r"))]
    assert isinstance(events[0], Routed)
    assert events[0].target == "b/m"
    assert [a.error_type for a in events[0].attempts] == ["rate_limit_exceeded"]


async def test_stream_falls_back_before_the_first_token(make_config: MakeConfig) -> None:
    router, models = scripted(make_config(routes={"r": ["a/m", "b/m"]}))
    models["a"].add("m", UsageReport(Usage()), UpstreamError("died before text"))
    models["b"].add("m", *answer("fine"))
    response = await collect(router.stream(ask("r")))
    assert (response.text, response.target) == ("fine", "b/m")


async def test_stream_failure_after_the_first_token_raises_with_partial_text(make_config: MakeConfig) -> None:
    router, models = scripted(make_config(routes={"r": ["a/m", "b/m"]}))
    models["a"].add("m", TextDelta("Hello "), TextDelta("wor"), UpstreamError("cut"))
    received: list[str] = []
    with pytest.raises(StreamError) as caught:
        async for event in router.stream(ask("r")):
            if isinstance(event, TextDelta):
                received.append(event.text)
    assert caught.value.partial_text == "Hello wor" == "".join(received)
    assert models["b"].requests == []  # no silent restart after text was shown


async def test_continue_on_failure_resumes_on_the_next_target_with_a_prefill(make_config: MakeConfig) -> None:
    router, models = scripted(make_config(routes={"r": ["a/m", "b/m"]}))
    models["a"].add("m", TextDelta("The answer "), UpstreamError("cut"))
    models["b"].add("m", *answer("is 42."))
    response = await collect(router.stream(ask("r", extra={"continue_on_failure": True})))
    assert response.text == "The answer is 42."
    assert response.target == "b/m"
    prefill = models["b"].requests[0].messages[-1]
    assert (prefill.role, prefill.content) == ("assistant", "The answer ")


async def test_ledger_records_each_request_sent(make_config: MakeConfig, tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "usage.sqlite3", flush_interval=60)
    router, models = scripted(make_config(routes={"r": ["a/m", "b/m"]}), ledger=ledger)
    models["a"].add("m", UpstreamError("down"))
    models["b"].add("m", *answer("ok", prompt_tokens=7, completion_tokens=3, cost=0.002))
    await router.complete(ask("r", tag="wiki"))
    models["a"].add("m", AuthError("bad key"))
    with pytest.raises(AuthError):
        await router.complete(ask("a/m", tag="chat"))
    await router.aclose()
    columns = "route, target, tag, prompt_tokens, completion_tokens, cost, status, attempts"
    rows = ledger.query(f"SELECT {columns} FROM usage")
    assert rows == [
        ("r", "a/m", "wiki", 0, 0, None, "upstream_error", 1),
        ("r", "b/m", "wiki", 7, 3, 0.002, "ok", 2),
        (None, "a/m", "chat", 0, 0, None, "authentication", 1),
    ]


async def test_auto_picks_the_cheapest_available_model_that_fits(make_config: MakeConfig) -> None:
    config = make_config(
        {
            "paid": {"client_class": "OpenAIClient", "api_key": "sk-test-123456", "models": {"gpt-4o": {}}},
            "free": {"client_class": "OllamaClient", "models": {"tiny": {"num_ctx": 50}, "roomy": {"num_ctx": 8000}}},
        },
        default="paid",
    )
    router, models = scripted(config)
    models["free"].add("roomy", *answer("cheap and fits"))
    response = await router.complete(ask("auto", "word " * 100))
    assert response.target == "free/roomy"


async def test_aclose_closes_every_client(make_config: MakeConfig) -> None:
    router, models = scripted(make_config())
    models["a"].add("m", *answer("x"))
    await router.complete(ask("a/m"))
    await router.aclose()
    assert models["a"].closed and not models["b"].closed  # b was never created


async def test_the_router_is_a_chat_model_listing_the_catalogue(make_config: MakeConfig) -> None:
    router, _ = scripted(make_config())
    assert isinstance(router, ChatModel)
    assert "a/big" in {m.id for m in await router.list_models()}


async def test_retry_after_is_waited_before_trying_again(make_config: MakeConfig) -> None:
    router, models = scripted(make_config(), policy=RetryPolicy(max_attempts=3, deadline=10))
    models["a"].add("m", RateLimited("slow down", retry_after=0.3))
    models["a"].add("m", *answer("after the wait"))
    started = time.monotonic()
    response = await router.complete(ask("a/m"))
    waited = time.monotonic() - started
    assert response.text == "after the wait"
    assert 0.3 <= waited < 5  # at least what the provider asked for, and bounded


async def test_retry_after_beyond_the_deadline_gives_up_at_once_and_passes_it_on(make_config: MakeConfig) -> None:
    router, models = scripted(make_config(), policy=RetryPolicy(max_attempts=5, deadline=2))
    models["a"].add("m", RateLimited("slow down", retry_after=120))
    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        await router.complete(ask("a/m"))
    assert time.monotonic() - started < 2
    assert caught.value.retry_after == pytest.approx(120, abs=1)
    assert len(models["a"].requests) == 1


async def test_each_target_waits_for_its_own_retry_after(make_config: MakeConfig) -> None:
    router, models = scripted(make_config(routes={"r": ["a/m", "b/m"]}), policy=RetryPolicy(max_attempts=3))
    models["a"].add("m", RateLimited("a busy", retry_after=30))
    models["b"].add("m", RateLimited("b busy", retry_after=0.05))
    models["b"].add("m", *answer("b, second round"))
    started = time.monotonic()
    response = await router.complete(ask("r"))
    assert response.text == "b, second round"
    assert [a.target for a in response.attempts] == ["a/m", "b/m", "b/m"]  # a is not retried inside its 30 s
    assert time.monotonic() - started < 5


async def test_the_latest_retry_after_of_a_target_is_honoured(make_config: MakeConfig) -> None:
    router, models = scripted(make_config(), policy=RetryPolicy(max_attempts=3, deadline=10))
    models["a"].add("m", RateLimited("busy", retry_after=0.05))
    models["a"].add("m", RateLimited("still busy", retry_after=0.25))
    models["a"].add("m", *answer("done"))
    started = time.monotonic()
    response = await router.complete(ask("a/m"))
    assert response.text == "done"
    assert 0.3 <= time.monotonic() - started < 5


async def test_cheapest_strategy_reorders_the_route_by_catalogue_price(make_config: MakeConfig) -> None:
    config = make_config(
        {"or": {"client_class": "OpenRouterClient", "models": {}}, "b": {}},
        routes={"r": ["or/anthropic/claude-opus-4.1", "b/m", "or/openai/gpt-4o-mini"]},
    )
    router, models = scripted(config)
    models["or"].add("openai/gpt-4o-mini", *answer("cheap"))
    response = await router.complete(ask("r", extra={"strategy": "cheapest"}))
    assert response.target == "or/openai/gpt-4o-mini"  # b/m has no known price: last


async def test_fastest_strategy_prefers_the_lowest_observed_latency(make_config: MakeConfig) -> None:
    router, models = scripted(make_config(routes={"r": ["a/m", "b/m"]}))
    models["a"].add("m", 0.05, *answer("slow a"))
    models["b"].add("m", *answer("quick b"))
    await router.complete(ask("a/m"))
    await router.complete(ask("b/m"))
    models["b"].add("m", *answer("b first"))
    response = await router.complete(ask("r", extra={"strategy": "fastest"}))
    assert response.text == "b first"


async def test_unknown_strategy_is_a_bad_request(make_config: MakeConfig) -> None:
    router, _ = scripted(make_config())
    with pytest.raises(BadRequest, match="unknown strategy"):
        await router.complete(ask("a/m", extra={"strategy": "psychic"}))
