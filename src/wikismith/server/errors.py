"""The one place where failures become HTTP responses.

Every error leaves the server in OpenAI's shape, which the official SDKs parse into their exception classes:

    {"error": {"message": "...", "type": "invalid_request_error", "param": null, "code": "context_length_exceeded"}}

`type` is OpenAI's family for the status; `code` is wikismith's precise error type (the `error_type` of the
`LLMError`). Routes outside `/v1` (DeepWiki's) also carry `detail` with the message, as FastAPI errors do, so
DeepWiki's front end and scripts keep reading `detail`. A 429/503 with a known wait carries `Retry-After`.

Status by class (`LLMError` subclasses carry their status; the few that do not are listed here):
  BadRequest 400 (ContextTooLong 400, PayloadTooLarge 413, Unprocessable 422), AuthError 401,
  InsufficientCredits/BudgetExceeded 402, Forbidden 403, NotFound/unknown model 404, RequestTimeout and our
  own ClientTimeout 408, RateLimited 429, UpstreamError/TransportError/StreamError 502, Unavailable 503,
  AllTargetsFailed: the status of its last error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from wikismith.config.models import ConfigError
from wikismith.llm.errors import AllTargetsFailed, LLMError, StatusError, TransportError
from wikismith.rag.source import RepoAuthError, RepoNotFound, SourceError, UnknownRef, UnsafeSource
from wikismith.redact import redact

# OpenAI's error `type` per status (what its SDKs and clients switch on).
_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    502: "api_error",
    503: "service_unavailable_error",
}
# Statuses we pass through to clients; anything else from upstream is reported as a 502 bad gateway.
_PASSED = frozenset(_TYPE_BY_STATUS)


class HTTPProblem(Exception):
    """A request the server refuses before doing any work (bad input, auth, limits). Raised by routes and deps;
    rendered by `problem_response` in the same shape as model errors."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = redact(message)
        self.code = code
        self.param = param
        self.retry_after = retry_after
        self.headers = dict(headers or {})


def status_for(error: LLMError) -> int:
    """The HTTP status a client sees for `error`."""
    if isinstance(error, AllTargetsFailed) and error.last is not None:
        return status_for(error.last)
    if isinstance(error, TransportError):
        return 408 if error.status == 408 else 502
    status = error.status
    if status is None:
        return 502
    if status in _PASSED:
        return status
    if isinstance(error, StatusError) and 400 <= status < 500:
        return 400
    return 503 if status in (529,) else 502


def error_body(status: int, message: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": _TYPE_BY_STATUS.get(status, "api_error" if status >= 500 else "invalid_request_error"),
            "param": param,
            "code": code,
        }
    }


def _json(status: int, body: dict[str, Any], retry_after: float | None, deepwiki: bool, **headers: str) -> Response:
    if deepwiki:
        body["detail"] = body["error"]["message"]
    if retry_after is not None:
        headers["retry-after"] = str(max(0, math.ceil(retry_after)))
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def llm_error_response(error: LLMError, *, deepwiki: bool = False) -> Response:
    """An `LLMError` (or AllTargetsFailed) as an HTTP error response."""
    status = status_for(error)
    body = error_body(status, str(error), error.error_type)
    attempts = getattr(error, "attempts", None)
    if attempts:
        body["error"]["attempts"] = [a.model_dump() if hasattr(a, "model_dump") else a for a in attempts]
    retry_after = error.retry_after if status in (429, 503, 402) else None
    if status == 429 and retry_after is None:
        retry_after = 1.0
    return _json(status, body, retry_after, deepwiki)


def config_error_response(error: ConfigError, *, deepwiki: bool = False) -> Response:
    """A request naming something the configuration does not know (model, provider, route): 404."""
    message = str(error)
    if error.file:  # drop "<config file>, at <json path>: ": the client named a model, not a file
        message = message.split(": ", 1)[-1]
    return _json(404, error_body(404, redact(message), "model_not_found", "model"), None, deepwiki)


def problem_response(problem: HTTPProblem, *, deepwiki: bool = False) -> Response:
    body = error_body(problem.status, problem.message, problem.code, problem.param)
    return _json(problem.status, body, problem.retry_after, deepwiki, **problem.headers)


def stream_error_payload(error: LLMError) -> dict[str, Any]:
    """The body of the final SSE event of a stream that failed after it started."""
    return error_body(status_for(error), str(error), error.error_type)


def source_error_status(error: SourceError) -> int:
    """A repository that cannot be opened: refused 400, not found 404, access denied 403, otherwise 400."""
    for cls, status in ((UnsafeSource, 400), (RepoNotFound, 404), (UnknownRef, 404), (RepoAuthError, 403)):
        if isinstance(error, cls):
            return status
    return 400
