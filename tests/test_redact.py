"""redact(): registered secrets and credential shapes masked in strings, URLs, headers, dicts and log records."""

from __future__ import annotations

import logging

import pytest

from wikismith.redact import MASK, RedactingFilter, is_sensitive, redact, redact_mapping, register_secret

SECRET = "registered-secret-value-9f8e7d"
register_secret(SECRET)


def test_a_registered_secret_is_masked_anywhere_in_a_string() -> None:
    assert redact(f"failed with key {SECRET}!") == f"failed with key {MASK}!"
    assert redact(f"{SECRET}{SECRET}") == MASK + MASK


def test_short_values_are_not_registered() -> None:
    register_secret("abc")
    register_secret(None)
    assert redact("abc def") == "abc def"


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("https://user:ghp_abcdefgh12345678@github.com/o/r.git", "ghp_abcdefgh12345678"),
        ("clone https://oauth2:glpat-xyz987654321@gitlab.com/o/r failed", "glpat-xyz987654321"),
        ("https://x-access-token:tok123456789@github.com/o/r", "tok123456789"),
    ],
)
def test_credentials_in_urls_are_masked(text: str, leaked: str) -> None:
    out = redact(text)
    assert leaked not in out and f"://{MASK}@" in out


def test_a_url_without_credentials_is_unchanged() -> None:
    assert redact("see https://openrouter.ai/api/v1/models") == "see https://openrouter.ai/api/v1/models"


@pytest.mark.parametrize(
    "url",
    [
        "https://generativelanguage.googleapis.com/v1beta/models?key=AIzaSyD-unregistered-123",
        "https://h/v1?api_key=AIzaSyD-unregistered-123&x=1",
        "https://h/v1?x=1&access_token=AIzaSyD-unregistered-123#frag",
    ],
)
def test_query_string_keys_are_masked(url: str) -> None:
    out = redact(url)
    assert "AIzaSyD-unregistered-123" not in out and MASK in out
    assert out.startswith("https://")


def test_a_query_parameter_named_like_a_key_inside_a_word_is_kept() -> None:
    assert redact("https://h/search?monkey=1&keyword=2") == "https://h/search?monkey=1&keyword=2"


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer abcdefghijklmnop",
        "authorization: bearer abcdefghijklmnop",
        "Incorrect API key provided: sk-proj-abcdefghijklmnop",
        "token ghp_0123456789abcdefghij in use",
    ],
)
def test_credential_shapes_are_masked_without_registration(text: str) -> None:
    out = redact(text)
    assert "abcdefghijklmnop" not in out and "0123456789abcdefghij" not in out


def test_bearer_keeps_the_scheme_word() -> None:
    assert redact("Bearer abcdefghijklmnop") == f"Bearer {MASK}"


def test_headers_mapping_masks_sensitive_names() -> None:
    headers = {
        "Authorization": "Bearer whatever-unregistered",
        "api-key": "azure-key-unregistered",
        "X-Api-Key": "x",
        "Cookie": "session=1",
        "X-Title": "wikismith",
        "Content-Type": "application/json",
    }
    out = redact_mapping(headers)
    assert out["Authorization"] == out["api-key"] == out["X-Api-Key"] == out["Cookie"] == MASK
    assert out["X-Title"] == "wikismith" and out["Content-Type"] == "application/json"
    assert headers["Authorization"] == "Bearer whatever-unregistered"  # the input is not modified


def test_nested_dicts_and_lists_are_redacted() -> None:
    data = {
        "provider": {"api_key": "plain-unregistered", "base_url": "https://u:p4ssword@h/v1"},
        "messages": [{"content": f"my key is {SECRET}"}, "and again " + SECRET],
        "max_tokens": 100,
        "token": "",
    }
    out = redact_mapping(data)
    assert out["provider"]["api_key"] == MASK
    assert "p4ssword" not in out["provider"]["base_url"]
    assert out["messages"][0]["content"] == f"my key is {MASK}" and out["messages"][1] == f"and again {MASK}"
    assert out["max_tokens"] == 100  # not a credential, though it says "token"
    assert out["token"] == ""  # nothing to hide


@pytest.mark.parametrize("name", ["Authorization", "api_key", "X-Api-Key", "access_token", "GITHUB_TOKEN", "key"])
def test_sensitive_names(name: str) -> None:
    assert is_sensitive(name)


@pytest.mark.parametrize("name", ["max_tokens", "tokens_per_minute", "tokenizer", "monkey", "keyword", "X-Title"])
def test_ordinary_names(name: str) -> None:
    assert not is_sensitive(name)


def test_the_log_filter_redacts_message_args_and_exception() -> None:
    try:
        raise ValueError(f"bad key {SECRET}")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "calling %s with %s", ("x", SECRET), exc_info)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == f"calling x with {MASK}"
    assert record.exc_text is not None and SECRET not in record.exc_text and "ValueError" in record.exc_text
    assert SECRET not in logging.Formatter().format(record)


def test_the_log_filter_survives_a_malformed_call() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, f"%d items {SECRET}", ("not a number",), None)
    assert RedactingFilter().filter(record)
    assert SECRET not in record.getMessage()
