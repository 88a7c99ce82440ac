"""The /v1 gateway over a router with a scripted model: tool calls, reasoning, routes, per-key tags."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import openai
import pytest

from tests.server.conftest import API_KEY, LiveServer, ServerFactory, scripted_providers, scripted_router
from tests.support.scripted import ScriptedModel, answer
from wikismith.llm.events import Finish, ReasoningDelta, TextDelta, ToolCallDelta, UsageReport
from wikismith.llm.types import ChatRequest, ChatResponse, Usage
from wikismith.server.auth import key_tag

USER = [{"role": "user", "content": "weather?"}]
TOOL_CALL = [
    ToolCallDelta(index=0, id="call_1", name="get_weather"),
    ToolCallDelta(index=0, arguments='{"city": '),
    ToolCallDelta(index=0, arguments='"Paris"}'),
    UsageReport(Usage(prompt_tokens=3, completion_tokens=4, total_tokens=7)),
    Finish("tool_calls"),
]


def client(server: LiveServer, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=10)


def test_streamed_tool_call_is_assembled_by_the_sdk(scripted_server: LiveServer, scripted: ScriptedModel) -> None:
    scripted.add("m", *TOOL_CALL)
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in client(scripted_server).chat.completions.create(model="a/m", messages=USER, stream=True):
        for call in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] = call.id or entry["id"]
            entry["name"] = (call.function.name if call.function else None) or entry["name"]
            entry["arguments"] += (call.function.arguments if call.function else None) or ""
        finish = chunk.choices[0].finish_reason or finish
    assert calls == {0: {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}}
    assert finish == "tool_calls"


def test_tool_call_in_a_whole_answer(scripted_server: LiveServer, scripted: ScriptedModel) -> None:
    scripted.add("m", *TOOL_CALL)
    message = client(scripted_server).chat.completions.create(model="a/m", messages=USER).choices[0].message
    assert message.content is None
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == ("call_1", "get_weather", '{"city": "Paris"}')


def test_reasoning_is_streamed_and_returned(scripted_server: LiveServer, scripted: ScriptedModel) -> None:
    scripted.add("m", ReasoningDelta("thinking"), TextDelta("done"), Finish("stop"))
    chunks = list(client(scripted_server).chat.completions.create(model="a/m", messages=USER, stream=True))
    reasoning = [c.choices[0].delta.model_extra.get("reasoning") for c in chunks if c.choices]
    assert "thinking" in reasoning
    scripted.add("m", ReasoningDelta("thinking"), TextDelta("done"), Finish("stop"))
    whole = client(scripted_server).chat.completions.create(model="a/m", messages=USER).choices[0].message
    assert whole.content == "done" and whole.model_extra is not None and whole.model_extra["reasoning"] == "thinking"


def test_parameters_reach_the_model(scripted_server: LiveServer, scripted: ScriptedModel) -> None:
    scripted.add("m", *answer("ok"))
    client(scripted_server).chat.completions.create(
        model="a/m", messages=[{"role": "developer", "content": "be brief"}, *USER], temperature=0.2,
        max_completion_tokens=50, stop="END", extra_body={"transforms": ["middle-out"]},
    )  # fmt: skip
    request = scripted.requests[-1]
    assert request.messages[0].role == "system" and request.messages[0].content == "be brief"
    assert request.params.temperature == 0.2 and request.params.max_tokens == 50 and request.params.stop == ["END"]
    assert request.extra == {"transforms": ["middle-out"]}


def test_a_named_route_is_served_by_its_first_target(start_server: ServerFactory, scripted: ScriptedModel) -> None:
    server = start_server(scripted_providers(), router=scripted_router(scripted), routes={"fast": ["a/n", "a/m"]})
    scripted.add("n", *answer("from n"))
    raw = client(server).chat.completions.with_raw_response.create(model="fast", messages=USER)
    assert raw.headers["x-wikismith-target"] == "a/n" and raw.parse().choices[0].message.content == "from n"


def test_calls_are_tagged_with_the_key_that_made_them(start_server: ServerFactory, scripted: ScriptedModel) -> None:
    server = start_server(scripted_providers(), router=scripted_router(scripted), WIKISMITH_API_KEYS=API_KEY)
    scripted.add("m", *answer("ok"))
    client(server, API_KEY).chat.completions.create(model="a/m", messages=USER)
    assert scripted.requests[-1].tag == key_tag(API_KEY) and API_KEY not in key_tag(API_KEY)


class CancelRecordingModel(ScriptedModel):
    """A scripted model that notes when a call is cancelled (the client went away)."""

    def __init__(self) -> None:
        super().__init__(default=[5.0, *answer("too late")])
        self.cancelled = threading.Event()

    async def complete(self, request: ChatRequest) -> ChatResponse:
        try:
            return await super().complete(request)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


def test_client_disconnect_cancels_a_whole_answer_call(start_server: ServerFactory) -> None:
    model = CancelRecordingModel()
    server = start_server(scripted_providers(), router=scripted_router(model))
    body = json.dumps({"model": "a/m", "messages": USER}).encode()
    sock = socket.create_connection(("127.0.0.1", server.port))
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}"
    sock.sendall(head.encode() + b"\r\n\r\n" + body)
    time.sleep(0.3)
    sock.close()
    assert model.cancelled.wait(3), "the model call was not cancelled"


def test_a_call_over_the_request_timeout_is_408(start_server: ServerFactory) -> None:
    model = CancelRecordingModel()
    server = start_server(scripted_providers(), router=scripted_router(model), WIKISMITH_REQUEST_TIMEOUT="1")
    with pytest.raises(openai.APIStatusError) as info:
        client(server).chat.completions.create(model="a/m", messages=USER)
    assert info.value.status_code == 408 and "WIKISMITH_REQUEST_TIMEOUT" in info.value.message
    assert model.cancelled.is_set()


@pytest.mark.parametrize("stream", [False, True])
def test_a_custom_model_name_a_header_cannot_hold_is_percent_encoded_in_the_target_header(
    scripted_server: LiveServer, scripted: ScriptedModel, stream: bool
) -> None:
    import httpx2

    scripted.add("m\U0004fa41", *answer("ok"))
    body = {"model": "a/m\U0004fa41", "messages": USER, "stream": stream}
    response = httpx2.post(scripted_server.url + "/v1/chat/completions", json=body, timeout=10)
    assert response.status_code == 200, response.text  # was a 500: the header could not be encoded
    assert response.headers["x-wikismith-target"] == "a/m%F1%8F%A9%81"
