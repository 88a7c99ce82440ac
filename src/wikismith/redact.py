"""Strip secrets (API keys, access tokens) from strings, URLs, headers and dicts; a logging filter.

Every message that is logged, raised or written passes through `redact()`. Secrets are known two ways:
values registered at run time (`register_secret`, called wherever a key or token enters the process) and
well-known key shapes (`sk-…`, `ghp_…`, Bearer headers, credentials in URLs).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

MASK = "***"

_lock = threading.Lock()
_secrets: set[str] = set()

# Shapes of credentials that must never be shown even if nobody registered them.
_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"),
    re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat|glpat)_[A-Za-z0-9_-]{8,}"),
    re.compile(r"(?<=://)[^/@\s:]+(?::[^/@\s]*)?@"),  # user[:password]@ in URLs
    # Credentials in query strings: Google's `?key=`, `api_key=`, `access_token=`, signed-URL signatures.
    re.compile(r"(?i)([?&](?:key|api[-_]?key|access[-_]?token|token|auth|sig|signature|password)=)[^&#\s\"']+"),
]
_SENSITIVE_KEYS = re.compile(r"(?i)(authorization|api[-_]?key|token(?!s|izer)|secret|password|x-api-key|cookie|^key$)")


def register_secret(value: str | None) -> None:
    """Remember a secret value so that every later `redact()` masks it (short values are ignored)."""
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """Return `text` with every registered secret and every credential-shaped substring masked."""
    if not text:
        return text
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        elif pattern.pattern.startswith("(?<=://)"):
            text = pattern.sub(MASK + "@", text)
        else:
            text = pattern.sub(MASK, text)
    return text


def is_sensitive(name: str) -> bool:
    """Whether a header, query parameter or config key of this name holds a credential."""
    return bool(_SENSITIVE_KEYS.search(name))


def redact_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """Copy of a headers/config mapping with sensitive keys masked and every string value redacted
    (nested mappings and lists included)."""
    return {key: MASK if is_sensitive(str(key)) and value else redact_value(value) for key, value in data.items()}


def redact_value(value: Any) -> Any:
    """`value` with strings redacted and mappings masked as `redact_mapping` does, lists and tuples walked;
    anything else is returned as it is."""
    if isinstance(value, Mapping):
        return redact_mapping(value)
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value


class RedactingFilter(logging.Filter):
    """Logging filter that redacts the formatted message (args included) of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call must not break logging
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Attach the redacting filter to every handler of `logger` (root by default) and to the logger itself."""
    target = logger or logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for f in target.filters):
        target.addFilter(RedactingFilter())
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
