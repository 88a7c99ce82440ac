"""The gateway's request body -> the model layer's request, and the usage it answers with."""

from __future__ import annotations

import pytest

from wikismith.llm.types import Message, Usage
from wikismith.server.errors import HTTPProblem
from wikismith.server.routes.openai import to_chat_request, usage_body
from wikismith.server.schemas import ChatCompletionBody

USER = [{"role": "user", "content": "hi"}]


def body(**fields: object) -> ChatCompletionBody:
    return ChatCompletionBody.model_validate({"model": "emu/m", "messages": USER, **fields})


def test_only_parameters_the_caller_set_are_passed_on() -> None:
    assert body().params().set_fields() == {}
    assert body(temperature=None, stream=True, user="u").params().set_fields() == {}  # null = provider default
    params = body(temperature=0.2, stop="END", top_k=3).params()
    assert params.set_fields() == {"temperature": 0.2, "stop": ["END"], "top_k": 3}


def test_max_completion_tokens_is_max_tokens_and_max_tokens_wins() -> None:
    assert body(max_completion_tokens=7).params().set_fields() == {"max_tokens": 7}
    assert body(max_tokens=5, max_completion_tokens=7).params().set_fields() == {"max_tokens": 5}


def test_messages_keep_their_fields_and_developer_is_system() -> None:
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    chat = body(
        messages=[
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "name": "ann"},
            {"role": "assistant", "content": None, "tool_calls": calls},
            {"role": "tool", "content": "42", "tool_call_id": "c1"},
        ]
    )
    messages = to_chat_request(chat, "team", 10).messages
    assert messages[0] == Message(role="system", content="be brief")
    assert messages[1] == Message(role="user", content="ab", name="ann")
    assert messages[2].tool_calls is not None and messages[2].tool_calls[0].name == "f"
    assert messages[3] == Message(role="tool", content="42", tool_call_id="c1")


def test_too_many_messages_is_a_400_naming_the_limit() -> None:
    with pytest.raises(HTTPProblem) as caught:
        to_chat_request(body(messages=USER * 3), None, 2)
    assert caught.value.status == 400 and "limit 2" in str(caught.value)


def test_usage_reports_cache_reads_and_writes_in_openai_shape() -> None:
    usage = Usage(prompt_tokens=100, completion_tokens=5, total_tokens=105, cached_tokens=60, cache_write_tokens=30)
    body = usage_body(usage)
    assert body["prompt_tokens_details"] == {"cached_tokens": 60, "cache_write_tokens": 30}
    assert "prompt_tokens_details" not in usage_body(Usage(prompt_tokens=1, completion_tokens=1))
