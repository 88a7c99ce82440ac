"""The error tree of the model layer. Callers catch at the level they care about.

    LLMError                          every failure of a model call; carries provider, model, status, message
    ├── TransportError                connection refused/reset, DNS, TLS — nothing or a broken answer came back
    │   └── ClientTimeout             our own timeout (connect, first byte, idle between chunks, total)
    ├── StatusError                   the provider answered with an error status (or an error inside a 200)
    │   ├── BadRequest          400   the request is wrong: fix it, do not retry
    │   │   ├── ContextTooLong        the prompt does not fit the model's context window
    │   │   ├── PayloadTooLarge 413
    │   │   └── Unprocessable   422
    │   ├── AuthError           401   missing or invalid key
    │   ├── InsufficientCredits 402   out of credits (retry only when the provider says when)
    │   ├── Forbidden           403   not allowed
    │   │   └── ModerationError       flagged by moderation (metadata: reasons, flagged_input)
    │   ├── NotFound            404   no such model / no endpoint for it
    │   ├── RequestTimeout      408
    │   ├── RateLimited         429   `retry_after` parsed from the headers/body when given
    │   ├── UpstreamError       5xx   the provider failed
    │   │   └── EmptyResponse         HTTP 200 with no content, no tool call and no reasoning
    │   └── Unavailable      503/529  overloaded or no provider available
    ├── StreamError                   the stream failed after it started; `partial_text`, `cause`
    ├── BudgetExceeded                a budget would be exceeded; refused before sending
    ├── AllTargetsFailed              the router tried every target; `attempts`, `retry_after`
    └── (ConfigError lives in wikismith.config and is re-exported here)

Each class says how the router treats it, as data: `retryable` (same target again, after a backoff) and
`try_next_target` (fall back to the next target). The router reads these attributes; it has no isinstance ladder.
`served_model` is the model a failed *answer* names (an error inside a 200 body or in a stream, an empty answer):
a provider that runs a `models` fallback list itself (OpenRouter) had moved on to it; None when no answer came
(an error status, a connection failure, a timeout before the first byte).
Messages are redacted: no key or token ever appears in `str(error)` or `repr(error)`.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from typing import Any

import orjson

from wikismith.config.models import ConfigError
from wikismith.redact import redact, redact_mapping

__all__ = [
    "AllTargetsFailed",
    "AuthError",
    "BadRequest",
    "BudgetExceeded",
    "ClientTimeout",
    "ConfigError",
    "ContextTooLong",
    "EmptyResponse",
    "Forbidden",
    "InsufficientCredits",
    "LLMError",
    "ModerationError",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "RequestTimeout",
    "StatusError",
    "StreamError",
    "TransportError",
    "Unavailable",
    "Unprocessable",
    "UpstreamError",
    "error_for_status",
    "parse_error_body",
    "parse_retry_after",
]


class LLMError(Exception):
    retryable: bool = False
    try_next_target: bool = False
    error_type: str = "error"
    default_status: int | None = None

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        code: str | int | None = None,
    ) -> None:
        self.message = redact(message)
        self.provider = provider
        self.model = model
        self.status = status if status is not None else self.default_status
        self.retry_after = retry_after
        self.metadata = redact_mapping(metadata or {})  # e.g. OpenRouter's `raw`: the upstream's own error text
        self.code = code
        self.served_model: str | None = None  # the model that answered, when a failed answer names it
        super().__init__(self.message)

    def __str__(self) -> str:
        where = "/".join(p for p in (self.provider, self.model) if p)
        status = f" {self.status}" if self.status else ""
        prefix = f"[{where}{status}] " if where or status else ""
        return f"{prefix}{self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class TransportError(LLMError):
    retryable = True
    try_next_target = True
    error_type = "connection_error"


class ClientTimeout(TransportError):
    error_type = "timeout"
    default_status = 408


class StatusError(LLMError):
    error_type = "upstream_error"


class BadRequest(StatusError):
    error_type = "invalid_request"
    default_status = 400


class ContextTooLong(BadRequest):
    """The router tries a target with a larger context window; callers may then drop retrieved context."""

    error_type = "context_length_exceeded"
    try_next_target = True


class PayloadTooLarge(BadRequest):
    error_type = "payload_too_large"
    default_status = 413


class Unprocessable(BadRequest):
    error_type = "unprocessable"
    default_status = 422


class AuthError(StatusError):
    error_type = "authentication"
    default_status = 401


class InsufficientCredits(StatusError):
    """402. Another provider/key may still have credit, so the router falls back; it retries only with a
    Retry-After (OpenRouter: "retry only if Retry-After present")."""

    error_type = "payment_required"
    default_status = 402
    try_next_target = True


class Forbidden(StatusError):
    error_type = "permission_denied"
    default_status = 403


class ModerationError(Forbidden):
    """Moderation refused this input for this model; another model may accept it."""

    error_type = "moderation"
    try_next_target = True


class NotFound(StatusError):
    error_type = "not_found"
    default_status = 404
    try_next_target = True


class RequestTimeout(StatusError):
    error_type = "timeout"
    default_status = 408
    retryable = True
    try_next_target = True


class RateLimited(StatusError):
    error_type = "rate_limit_exceeded"
    default_status = 429
    retryable = True
    try_next_target = True


class UpstreamError(StatusError):
    error_type = "upstream_error"
    default_status = 502
    retryable = True
    try_next_target = True


class EmptyResponse(UpstreamError):
    error_type = "empty_response"


class Unavailable(StatusError):
    error_type = "provider_unavailable"
    default_status = 503
    retryable = True
    try_next_target = True


class StreamError(LLMError):
    """The stream broke after content had been sent. Retry/fallback behaviour follows the cause."""

    error_type = "stream_interrupted"
    default_status = 502

    def __init__(self, message: str, *, partial_text: str = "", cause: LLMError | None = None, **kw: Any) -> None:
        if cause is not None:
            kw.setdefault("provider", cause.provider)
            kw.setdefault("model", cause.model)
            kw.setdefault("retry_after", cause.retry_after)
            kw.setdefault("code", cause.code)
        super().__init__(message, **kw)
        self.partial_text = partial_text
        self.cause = cause
        self.served_model = cause.served_model if cause is not None else None
        self.retryable = cause.retryable if cause is not None else True
        self.try_next_target = cause.try_next_target if cause is not None else True


class BudgetExceeded(LLMError):
    error_type = "budget_exceeded"
    default_status = 402


class AllTargetsFailed(LLMError):
    """Every target of a route failed. `last` is the final error; `retry_after` the earliest moment any
    rate-limited target said it could be tried again."""

    error_type = "all_targets_failed"

    def __init__(self, message: str, *, attempts: list[Any], last: LLMError | None = None, **kw: Any) -> None:
        if last is not None:
            kw.setdefault("status", last.status)
            kw.setdefault("provider", last.provider)
            kw.setdefault("model", last.model)
        super().__init__(message, **kw)
        self.attempts = attempts
        self.last = last
        if last is not None:
            self.error_type = last.error_type


_BY_STATUS: dict[int, type[StatusError]] = {
    400: BadRequest,
    401: AuthError,
    402: InsufficientCredits,
    403: Forbidden,
    404: NotFound,
    408: RequestTimeout,
    413: PayloadTooLarge,
    422: Unprocessable,
    429: RateLimited,
    500: UpstreamError,
    502: UpstreamError,
    503: Unavailable,
    504: RequestTimeout,
    524: RequestTimeout,
    529: Unavailable,
}

# Structured codes (OpenRouter's metadata.error_type and availability codes, OpenAI's error.code) that refine
# the status: https://openrouter.ai/docs/api-reference/errors-and-debugging (see shared/openrouter-api.md §13).
_BY_CODE: dict[str, type[StatusError]] = {
    "context_length_exceeded": ContextTooLong,
    "max_tokens_exceeded": ContextTooLong,
    "token_limit_exceeded": ContextTooLong,
    "string_too_long": ContextTooLong,
    "authentication": AuthError,
    "invalid_api_key": AuthError,
    "payment_required": InsufficientCredits,
    "insufficient_quota": InsufficientCredits,  # OpenAI sends it with 429, but it is an exhausted balance
    "rate_limit_exceeded": RateLimited,
    "capacity_exhausted": RateLimited,
    "provider_overloaded": Unavailable,
    "temporarily_unavailable": Unavailable,
    "provider_unavailable": UpstreamError,
    "model_not_found": NotFound,
    "no_endpoints": NotFound,
    "model_deprecated": NotFound,
    "timeout": RequestTimeout,
    "payload_too_large": PayloadTooLarge,
    "unprocessable": Unprocessable,
}


def parse_error_body(body: bytes | str | Mapping[str, Any] | None) -> tuple[str, Mapping[str, Any]]:
    """(message, error object) from an OpenAI/OpenRouter-shaped error body; tolerant of anything else."""
    data: Any = body
    if isinstance(body, bytes | str):
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            return (text.strip()[:500] or "no error message"), {}
    if not isinstance(data, Mapping):
        return "no error message", {}
    err = data.get("error", data)
    if isinstance(err, str):
        return err, {"message": err}
    if not isinstance(err, Mapping):
        return "no error message", {}
    message = err.get("message") or data.get("message") or data.get("detail") or "no error message"
    return str(message), err


def error_for_status(
    status: int,
    body: bytes | str | Mapping[str, Any] | None,
    *,
    provider: str | None = None,
    model: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> StatusError:
    """The typed error for an HTTP error status (or an error object in a 200 body, then `status` is its code)."""
    message, err = parse_error_body(body)
    metadata = err.get("metadata") if isinstance(err.get("metadata"), Mapping) else {}
    assert isinstance(metadata, Mapping)
    code = err.get("code")
    availability = err.get("availability") if isinstance(err.get("availability"), Mapping) else {}
    assert isinstance(availability, Mapping)
    cls: type[StatusError] = _BY_STATUS.get(status) or (UpstreamError if status >= 500 else BadRequest)
    for key in (metadata.get("error_type"), availability.get("code"), err.get("type"), code):
        if isinstance(key, str) and key in _BY_CODE:
            cls = _BY_CODE[key]
            break
    if cls is Forbidden and ("reasons" in metadata or "flagged_input" in metadata):
        cls = ModerationError
    retry_after = parse_retry_after(headers or {})
    if retry_after is None and isinstance(availability.get("retry_after"), int | float):
        retry_after = float(availability["retry_after"])
    return cls(
        message,
        provider=provider,
        model=model,
        status=status,
        retry_after=retry_after,
        metadata=metadata,
        code=code if isinstance(code, str | int) else None,
    )


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait, from `retry-after-ms`, then `Retry-After` (seconds or HTTP-date), then
    `X-RateLimit-Reset` (epoch, in ms as OpenRouter sends it, or s). None if none is usable."""
    lower = {k.lower(): v for k, v in headers.items()}
    now = time.time() if now is None else now
    if "retry-after-ms" in lower:
        try:
            return _seconds(float(lower["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if value:
        try:
            return _seconds(float(value))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value) if _looks_like_date(value) else None
            if parsed is not None:
                return max(0.0, parsed.timestamp() - now)
    reset = lower.get("x-ratelimit-reset")
    if reset:
        try:
            stamp = float(reset)
        except ValueError:
            return None
        if not math.isfinite(stamp):
            return None
        if stamp > 1e11:  # milliseconds since the epoch (OpenRouter)
            stamp /= 1000
        if stamp > 1e9:
            return max(0.0, stamp - now)
        return max(0.0, stamp)  # some providers send seconds-until-reset
    return None


def _seconds(value: float) -> float | None:
    """A wait in seconds, or None for `inf`/`nan` (which `float()` takes, and no wait can be)."""
    return max(0.0, value) if math.isfinite(value) else None


def _looks_like_date(value: str) -> bool:
    try:
        return email.utils.parsedate_to_datetime(value) is not None
    except (TypeError, ValueError):
        return False
