"""OpenRouter-style native fallback (`models` sent in one request) over real clients and the emulator: what the
provider's own fallback covers (one request), and the router's continuation after a failed answer (a 200 with an
error, an empty answer, a stream failing before or after its first token, a first-byte timeout), for routes and
`auto`, stream and non-stream, with the emulator's request log and the usage ledger checked."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.router.conftest import ask
from tests.support.emulator import Emulator, Reply, error, error_in_200, mid_stream_error
from wikismith.llm.errors import AllTargetsFailed, ClientTimeout, LLMError, StreamError, Unavailable
from wikismith.llm.events import collect
from wikismith.llm.types import ChatRequest, ChatResponse
from wikismith.router import Router
from wikismith.router.cost import Budget, Budgets, Ledger
from wikismith.router.retry import RetryPolicy

OPENROUTER = {"client_class": "OpenRouterClient", "api_key": "sk-or-test-0001"}
ROUTES = {"three": ["a/m1", "a/m2", "a/m3"], "two": ["a/m1", "a/m2"]}
TOO_LONG = error(400, "too long", metadata={"error_type": "context_length_exceeded"})


@pytest.fixture
def native(make_router: Callable[..., Router]) -> Callable[..., Router]:
    """A router whose provider `a` is OpenRouter (on the emulator), with routes `three` and `two`."""

    def make(**kw: Any) -> Router:
        return make_router({**OPENROUTER, **kw.pop("provider", {})}, routes=ROUTES, **kw)

    return make


async def call(router: Router, request: ChatRequest, streamed: bool) -> ChatResponse:
    return await (collect(router.stream(request)) if streamed else router.complete(request))


def sent(emulator: Emulator) -> list[tuple[str, list[str] | None]]:
    """Each chat request as (model, models) — what the log shows was asked for."""
    return [(r.json["model"], r.json.get("models")) for r in emulator.chat_requests()]


def tried(answer_or_error: ChatResponse | LLMError) -> list[tuple[str, str | None]]:
    attempts = getattr(answer_or_error, "attempts", [])
    return [(a.target, a.error_type) for a in attempts]


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("failure", [error(503, "down"), TOO_LONG], ids=["down", "context-too-long"])
async def test_errors_before_the_answer_are_the_providers_own_fallback_in_one_request(
    native: Callable[..., Router], emulator: Emulator, failure: Reply, streamed: bool
) -> None:
    emulator.script("m1", failure)
    emulator.script("m2", Reply(text="from m2"))
    answer = await call(native(), ask("two"), streamed)
    assert answer.text.replace(" ", "") == "fromm2"
    assert sent(emulator) == [("m1", ["m1", "m2"])] and emulator.answered == ["m2"]
    assert answer.target == "a/m2"
    assert tried(answer) == [("a/m1", "moved_on"), ("a/m2", None)][: 1 if streamed else 2]  # streams: before m2


FAILED_ANSWERS = {
    "200-with-error": (error_in_200(429), "rate_limit_exceeded"),
    "200-with-error-in-choice": (error_in_200(502, where="choice"), "upstream_error"),
    "empty": (Reply(text=""), "empty_response"),
}


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("case", FAILED_ANSWERS, ids=list(FAILED_ANSWERS))
async def test_a_failed_answer_continues_with_the_models_after_the_one_that_answered(
    native: Callable[..., Router], emulator: Emulator, tmp_path: Path, case: str, streamed: bool
) -> None:
    failure, error_type = FAILED_ANSWERS[case]
    emulator.script("m1", error(503, "down"))  # the provider moves on from m1 by itself...
    emulator.script("m2", failure)  # ...and m2's answer fails: ours to go on with m3
    emulator.script("m3", Reply(text="from m3"))
    ledger = Ledger(tmp_path / "usage.sqlite3")
    answer = await call(native(ledger=ledger), ask("three", tag="t"), streamed)
    assert answer.text.replace(" ", "") == "fromm3"
    assert sent(emulator) == [("m1", ["m1", "m2", "m3"]), ("m3", None)]  # the second holds only what remains
    assert emulator.answered == ["m2", "m3"] and answer.target == "a/m3"
    assert tried(answer) == [("a/m1", "moved_on"), ("a/m2", error_type), ("a/m3", None)][: 2 if streamed else 3]
    await ledger.flush()
    rows = ledger.query("SELECT route, target, tag, status, attempts FROM usage ORDER BY ts")
    assert rows == [("three", "a/m2", "t", error_type, 2), ("three", "a/m3", "t", "ok", 3)]


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
async def test_the_continuation_is_itself_a_native_request_of_what_remains(
    native: Callable[..., Router], emulator: Emulator, streamed: bool
) -> None:
    emulator.script("m1", error_in_200(502))
    emulator.script("m2", error(503, "down"))
    emulator.script("m3", Reply(text="third"))
    answer = await call(native(), ask("three"), streamed)
    assert answer.text == "third"
    assert sent(emulator) == [("m1", ["m1", "m2", "m3"]), ("m2", ["m2", "m3"])]
    assert emulator.answered == ["m1", "m3"]


async def test_a_stream_failing_before_its_first_token_continues(
    native: Callable[..., Router], emulator: Emulator
) -> None:
    emulator.script("m1", mid_stream_error("", code=502, message="Provider disconnected"))  # 200, then only an error
    emulator.script("m2", Reply(text="streamed by m2"))
    answer = await collect(native().stream(ask("three")))
    assert answer.text.replace(" ", "") == "streamedbym2" and answer.finish_reason == "stop"
    assert sent(emulator) == [("m1", ["m1", "m2", "m3"]), ("m2", ["m2", "m3"])]


async def test_a_stream_with_no_content_at_all_continues(native: Callable[..., Router], emulator: Emulator) -> None:
    emulator.script("m1", Reply(text="", usage=None))
    answer = await collect(native().stream(ask("two")))
    assert answer.text == "Hello from the emulator." and sent(emulator) == [("m1", ["m1", "m2"]), ("m2", None)]


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
async def test_a_first_byte_timeout_continues_after_the_first_model(
    native: Callable[..., Router], emulator: Emulator, streamed: bool
) -> None:
    emulator.script("m1", Reply(text="too late", delay=2))
    emulator.script("m2", Reply(text="on time"))
    router = native(provider={"timeouts": {"first_byte": 0.3}})
    started = time.monotonic()
    answer = await call(router, ask("three"), streamed)
    assert answer.text.replace(" ", "") == "ontime" and time.monotonic() - started < 1.5
    assert sent(emulator)[1] == ("m2", ["m2", "m3"]) and answer.target == "a/m2"
    assert tried(answer)[0] == ("a/m1", "timeout")


async def test_the_continuation_keeps_to_the_calls_deadline(native: Callable[..., Router], emulator: Emulator) -> None:
    emulator.script("m1", Reply(text="too late", delay=2))
    router = native(provider={"timeouts": {"first_byte": 0.6}}, policy=RetryPolicy(max_attempts=1, deadline=0.5))
    with pytest.raises(ClientTimeout):
        await router.complete(ask("three"))
    assert len(emulator.chat_requests()) == 1  # the deadline had passed: nothing after the timeout


@pytest.mark.parametrize("resume", [True, False], ids=["continue_on_failure", "without"])
async def test_a_mid_stream_failure_goes_on_with_the_partial_answer_as_prefill_only_when_asked(
    native: Callable[..., Router], emulator: Emulator, tmp_path: Path, resume: bool
) -> None:
    emulator.script("m1", mid_stream_error("The answer "))
    emulator.script("m2", Reply(text="is 42."))
    ledger = Ledger(tmp_path / "usage.sqlite3")
    stream = native(ledger=ledger).stream(ask("three", extra={"continue_on_failure": True} if resume else {}))
    if not resume:
        with pytest.raises(StreamError) as info:
            await collect(stream)
        assert info.value.partial_text == "The answer " and len(emulator.chat_requests()) == 1
        return
    answer = await collect(stream)
    assert answer.text == "The answer is 42." and answer.finish_reason == "stop"
    second = emulator.chat_requests()[1].json
    assert (second["model"], second["models"]) == ("m2", ["m2", "m3"])
    assert second["messages"][-1] == {"role": "assistant", "content": "The answer "}
    assert "continue_on_failure" not in second
    await ledger.flush()
    rows = ledger.query("SELECT target, status FROM usage ORDER BY ts")
    assert rows == [("a/m1", "stream_interrupted"), ("a/m2", "ok")]


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
async def test_when_every_model_fails_one_error_names_each_and_why(
    native: Callable[..., Router], emulator: Emulator, tmp_path: Path, streamed: bool
) -> None:
    emulator.script("m1", error_in_200(429, "Rate limit exceeded upstream"))
    emulator.script("m2", Reply(text=""))
    emulator.script("m3", error_in_200(502, "Provider returned error"))
    ledger = Ledger(tmp_path / "usage.sqlite3")
    with pytest.raises(AllTargetsFailed) as info:
        await call(native(ledger=ledger), ask("three"), streamed)
    message = str(info.value)
    for named in ("a/m1: rate_limit_exceeded 429", "a/m2: empty_response", "a/m3: upstream_error 502"):
        assert named in message
    assert "Rate limit exceeded upstream" in message and "Provider returned error" in message
    assert sent(emulator) == [("m1", ["m1", "m2", "m3"]), ("m2", ["m2", "m3"]), ("m3", None)]
    await ledger.flush()
    rows = ledger.query("SELECT target, status FROM usage ORDER BY ts")
    assert rows == [("a/m1", "rate_limit_exceeded"), ("a/m2", "empty_response"), ("a/m3", "upstream_error")]


async def test_an_error_status_after_the_providers_whole_list_is_one_request_naming_every_model(
    native: Callable[..., Router], emulator: Emulator
) -> None:
    emulator.script("m1", error(503, "m1 down"))
    emulator.script("m2", error(503, "m2 down"))
    with pytest.raises(Unavailable) as info:  # the provider reports the last model's error
        await native().complete(ask("two"))
    assert "a/m1: the provider's own fallback moved on" in str(info.value)
    assert "a/m2: provider_unavailable 503 (m2 down)" in str(info.value)
    assert tried(info.value) == [("a/m1", "moved_on"), ("a/m2", "provider_unavailable")]
    assert len(emulator.chat_requests()) == 1


async def test_a_retry_round_sends_the_remaining_list_again(native: Callable[..., Router], emulator: Emulator) -> None:
    emulator.script("m1", error(503, "down", retry_after=0), Reply(text="back"))
    emulator.script("m2", error(503, "down", retry_after=0))
    router = native(policy=RetryPolicy(max_attempts=2, deadline=10, initial=0.01, cap=0.02))
    answer = await router.complete(ask("two"))
    assert answer.text == "back" and answer.target == "a/m1"
    assert sent(emulator) == [("m1", ["m1", "m2"]), ("m1", ["m1", "m2"])]


async def test_a_billed_empty_answer_counts_against_the_budget_and_holds_are_released(
    native: Callable[..., Router], emulator: Emulator
) -> None:
    budgets = Budgets([Budget(1.0, "day")])
    emulator.script("m1", Reply(text=""))  # an empty answer still reports its cost ($0.00042)
    answer = await native(budgets=budgets).complete(ask("two"))
    assert answer.target == "a/m2"
    assert budgets._spent[("day", None)] == pytest.approx(0.00084) and not budgets._held


async def test_auto_over_openrouter_models_continues_too(
    make_router: Callable[..., Router], emulator: Emulator, tmp_path: Path
) -> None:
    from wikismith.llm.catalogue import Catalogue

    models = {"emu/cheap": {}, "emu/big": {}}
    router = make_router({**OPENROUTER, "models": models}, routes={"default": ["a/emu/cheap", "a/emu/big"]})
    router.catalogue = Catalogue(router.config, cache_path=tmp_path / "catalogue.json", ttl=3600)
    await router.refresh_catalogue()
    emulator.script("emu/cheap", error_in_200(429))
    emulator.script("emu/big", Reply(text="from big"))
    answer = await router.complete(ask("auto"))
    assert answer.text == "from big" and answer.target == "a/emu/big"
    assert sent(emulator) == [("emu/cheap", ["emu/cheap", "emu/big"]), ("emu/big", None)]
