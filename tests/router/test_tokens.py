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


def test_images_count_as_a_high_estimate_each_and_low_detail_as_85() -> None:
    """An image is neither free nor its base64 read as text (a data URL of 1 MB would be ~300k tokens)."""
    photo = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 1_000_000}}
    thumb = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}
    text = {"type": "text", "text": "what is this?"}
    plain = [Message(role="user", content="what is this?")]
    with_images = [Message(role="user", content="what is this?", parts=[text, photo, thumb])]
    assert count_messages(with_images) == count_messages(plain) + 1_600 + 85
    assert estimate_messages(with_images) == estimate_messages(plain) + 1_600 + 85
