"""Model-layer test helpers: a ResolvedProvider pointed at the emulator, a one-message request."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from wikismith.config.models import ResolvedProvider
from wikismith.config.schemas import Limits, Timeouts
from wikismith.llm.types import ChatRequest, GenerationParams, Message
from wikismith.redact import register_secret

KEY = "sk-or-v1-0123456789abcdef-test-key"
register_secret(KEY)


def provider(
    kind: str,
    base_url: str | None,
    *,
    pid: str | None = None,
    key: str | None = KEY,
    timeouts: dict[str, float] | None = None,
    **kw: Any,
) -> ResolvedProvider:
    fields: dict[str, Any] = {
        "id": pid or kind,
        "kind": kind,
        "client_class": "test",
        "base_url": base_url,
        "api_key": SecretStr(key) if key else None,
        "api_key_env": None,
        "api_key_header": None,
        "query_params": {},
        "headers": {},
        "timeouts": Timeouts(**(timeouts or {})),
        "limits": Limits(),
    }
    fields.update(kw)
    return ResolvedProvider(**fields)


def ask(model: str = "m", text: str = "hello", params: GenerationParams | None = None, **kw: Any) -> ChatRequest:
    return ChatRequest(
        model=model, messages=[Message(role="user", content=text)], params=params or GenerationParams(), **kw
    )
