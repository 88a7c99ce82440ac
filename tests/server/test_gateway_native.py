"""The official `openai` SDK through `/v1` to an OpenRouter provider (the emulator honouring `models`): a plain
`models` list and a named route sent as one native request, and the router going on after a failed answer, as a
new user would see it: the answer, the target header, the emulator's request log and the usage ledger."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.server.conftest import UPSTREAM_KEY, LiveServer, ServerFactory
from tests.support.emulator import Emulator, Reply, error, error_in_200, mid_stream_error

USER = [{"role": "user", "content": "hi"}]
PROVIDERS = {
    "or": {
        "client_class": "OpenRouterClient",
        "default_model": "m1",
        "supportsCustomModel": True,
        "api_key": UPSTREAM_KEY,
        "models": {"m1": {}, "m2": {}, "m3": {}},
    }
}
FALLBACKS = {"models": ["or/m2", "or/m3"]}


@pytest.fixture
def server(start_server: ServerFactory, emulator: Emulator) -> LiveServer:
    providers = {"or": {**PROVIDERS["or"], "base_url": emulator.base_url}}
    return start_server(providers, routes={"three": ["or/m1", "or/m2", "or/m3"]})


def client(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=10)


def sent(emulator: Emulator) -> list[tuple[str, Any]]:
    return [(r.json["model"], r.json.get("models")) for r in emulator.chat_requests()]


def ledger_rows(home: Path, count: int) -> list[tuple[Any, ...]]:
    """The ledger's (route, target, status) rows once `count` have been written (it flushes every second)."""
    path = home / "usage.sqlite3"
    deadline = time.monotonic() + 5
    rows: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        if path.exists():
            with sqlite3.connect(path) as db:
                try:
                    rows = db.execute("SELECT route, target, status FROM usage ORDER BY ts").fetchall()
                except sqlite3.OperationalError:  # the table is not there yet
                    rows = []
            if len(rows) >= count:
                return rows
        time.sleep(0.05)
    return rows


def streamed_text(stream: Any) -> tuple[str, str | None, str]:
    """(text, last finish_reason, model) of an SDK stream."""
    text, finish, model = [], None, ""
    for chunk in stream:
        model = chunk.model
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    return "".join(text), finish, model


def test_models_list_down_then_ok_is_one_request_openrouter_routes(server: LiveServer, emulator: Emulator) -> None:
    emulator.script("m1", error(503, "down"))
    raw = client(server).chat.completions.with_raw_response.create(model="or/m1", messages=USER, extra_body=FALLBACKS)
    assert raw.headers["x-wikismith-target"] == "or/m2" and raw.parse().model == "or/m2"
    assert sent(emulator) == [("m1", ["m1", "m2", "m3"])]


def test_models_list_context_too_long_then_ok_streams_from_the_next(server: LiveServer, emulator: Emulator) -> None:
    emulator.script("m1", error(400, "too long", metadata={"error_type": "context_length_exceeded"}))
    emulator.script("m2", Reply(text="fits here"))
    stream = client(server).chat.completions.create(model="or/m1", messages=USER, stream=True, extra_body=FALLBACKS)
    assert streamed_text(stream) == ("fits here", "stop", "or/m2")
    assert sent(emulator) == [("m1", ["m1", "m2", "m3"])]


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("failure", [error_in_200(429), Reply(text="")], ids=["200-with-error", "empty"])
def test_a_failed_answer_goes_on_with_what_remains(
    server: LiveServer, emulator: Emulator, tmp_path: Path, failure: Reply, streamed: bool
) -> None:
    emulator.script("m1", failure)
    emulator.script("m2", Reply(text="from m2"))
    create = client(server).chat.completions.create
    if streamed:
        text, finish, model = streamed_text(create(model="or/m1", messages=USER, stream=True, extra_body=FALLBACKS))
    else:
        answer = create(model="or/m1", messages=USER, extra_body=FALLBACKS)
        text, finish, model = answer.choices[0].message.content, answer.choices[0].finish_reason, answer.model
    assert (text, finish, model) == ("from m2", "stop", "or/m2")
    assert sent(emulator) == [("m1", ["m1", "m2", "m3"]), ("m2", ["m2", "m3"])]
    status = "rate_limit_exceeded" if failure.error_in_body else "empty_response"
    assert ledger_rows(tmp_path / "home", 2) == [(None, "or/m1", status), (None, "or/m2", "ok")]


def test_a_route_whose_stream_fails_before_its_first_token_goes_on(
    server: LiveServer, emulator: Emulator, tmp_path: Path
) -> None:
    emulator.script("m1", mid_stream_error("", message="Provider disconnected"))
    emulator.script("m2", Reply(text="streamed by m2"))
    stream = client(server).chat.completions.create(model="three", messages=USER, stream=True)
    assert streamed_text(stream) == ("streamed by m2", "stop", "or/m2")
    assert sent(emulator) == [("m1", ["m1", "m2", "m3"]), ("m2", ["m2", "m3"])]
    assert ledger_rows(tmp_path / "home", 2) == [("three", "or/m1", "upstream_error"), ("three", "or/m2", "ok")]


def test_continue_on_failure_goes_on_after_a_mid_stream_error_with_the_partial_answer(
    server: LiveServer, emulator: Emulator, tmp_path: Path
) -> None:
    emulator.script("m1", mid_stream_error("The answer "))
    emulator.script("m2", Reply(text="is 42."))
    extra = {**FALLBACKS, "continue_on_failure": True}
    stream = client(server).chat.completions.create(model="or/m1", messages=USER, stream=True, extra_body=extra)
    text, finish, _ = streamed_text(stream)
    assert (text, finish) == ("The answer is 42.", "stop")
    second = emulator.chat_requests()[1].json
    assert (second["model"], second["models"]) == ("m2", ["m2", "m3"])
    assert second["messages"] == [*USER, {"role": "assistant", "content": "The answer "}]
    assert ledger_rows(tmp_path / "home", 2) == [(None, "or/m1", "stream_interrupted"), (None, "or/m2", "ok")]


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_when_all_fail_the_sdk_gets_one_error_naming_each_model(
    server: LiveServer, emulator: Emulator, tmp_path: Path, streamed: bool
) -> None:
    # Failures the router does not retry (the server's policy would try a retryable one again, in a new round).
    emulator.script("m1", error_in_200(402, "out of credits upstream"))
    emulator.script("m2", error_in_200(404, "no endpoints found"))
    emulator.script("m3", error_in_200(402, "still out of credits"))
    with pytest.raises(openai.APIStatusError) as info:
        client(server).chat.completions.create(model="three", messages=USER, stream=streamed)
    message = info.value.message
    for named in ("or/m1: payment_required 402", "or/m2: not_found 404", "or/m3: payment_required 402"):
        assert named in message
    assert "no endpoints found" in message and info.value.status_code == 402
    body = info.value.body
    assert isinstance(body, dict) and [a["target"] for a in body["attempts"]] == ["or/m1", "or/m2", "or/m3"]
    assert sent(emulator) == [("m1", ["m1", "m2", "m3"]), ("m2", ["m2", "m3"]), ("m3", None)]
    statuses = [row[2] for row in ledger_rows(tmp_path / "home", 3)]
    assert statuses == ["payment_required", "not_found", "payment_required"]
