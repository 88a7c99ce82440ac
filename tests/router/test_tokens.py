"""Offline token counting."""

from __future__ import annotations

from wikismith.llm.types import Message
from wikismith.router.tokens import count_messages, count_text, estimate_messages


def test_counts_with_the_offline_cl100k_encoding() -> None:
    assert count_text("hello world") == 2  # cl100k_base: "hello", " world"
    assert count_text("") == 0


def test_chat_overhead_is_added_per_message() -> None:
    messages = [Message(role="system", content="hello world"), Message(role="user", content="hello world")]
    assert count_messages(messages) == 3 + 2 * (3 + 2)


def test_the_cheap_estimate_is_not_below_the_count_for_prose() -> None:
    messages = [Message(role="user", content="The quick brown fox jumps over the lazy dog. " * 20)]
    assert estimate_messages(messages) >= count_messages(messages)
