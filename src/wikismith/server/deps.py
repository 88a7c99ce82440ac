"""What the routes share: the server's state (built once in the app's lifespan) and its limits.

Routes get the state with `state(request)`; nothing is global, so two apps can run in one process.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import HTTPConnection, Request

from wikismith.config.models import AppConfig
from wikismith.config.settings import Settings
from wikismith.jobs import JobQueue
from wikismith.router import Router
from wikismith.server.auth import Auth
from wikismith.server.errors import HTTPProblem
from wikismith.server.metrics import Metrics
from wikismith.server.streaming import ClientGone

_MAX_BODY = 16 * 1024 * 1024
_MAX_MESSAGES = 512
_MAX_STREAMS = 256
_TIMEOUT = 600.0
_GEN0_THRESHOLD = 20_000


@functools.cache  # once per process
def settle_heap() -> None:
    """Once per process, at the end of the server's start-up: freeze the objects alive after startup (modules, FastAPI's
    routes, pydantic schemas, the config and router) so the cyclic collector never scans them again, and
    collect the youngest generation less often. A request allocates a few hundred short-lived containers;
    at CPython's default threshold (700) the collector ran every other request and a full collection walked
    the whole startup heap, about a tenth of the server's CPU and its worst latency spikes. Objects freed by
    reference counting (nearly all of a request's) are unaffected."""
    gc.collect()
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, _GEN0_THRESHOLD), gen1, gen2)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Request limits. Env: WIKISMITH_MAX_BODY_BYTES (16 MiB), WIKISMITH_MAX_MESSAGES (512),
    WIKISMITH_MAX_STREAMS (concurrent streams, 256), WIKISMITH_REQUEST_TIMEOUT (seconds for a whole
    non-streamed call, 600)."""

    max_body_bytes: int = _MAX_BODY
    max_messages: int = _MAX_MESSAGES
    max_streams: int = _MAX_STREAMS
    request_timeout: float = _TIMEOUT

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServerLimits:
        return cls(
            max_body_bytes=_int(env, "WIKISMITH_MAX_BODY_BYTES", _MAX_BODY),
            max_messages=_int(env, "WIKISMITH_MAX_MESSAGES", _MAX_MESSAGES),
            max_streams=_int(env, "WIKISMITH_MAX_STREAMS", _MAX_STREAMS),
            request_timeout=float(_int(env, "WIKISMITH_REQUEST_TIMEOUT", int(_TIMEOUT))),
        )


@dataclass
class ServerState:
    settings: Settings
    config: AppConfig
    router: Router
    metrics: Metrics
    auth: Auth
    limits: ServerLimits
    streams: int = 0
    extras: dict[str, Any] = field(default_factory=dict)  # lazily built services (wiki store, embedders, …)
    jobs: JobQueue | None = None  # the generation jobs, opened and closed by the lifespan

    @property
    def local_roots(self) -> tuple[Path, ...]:
        return self.settings.local_roots

    def known_target(self, name: str) -> bool:
        """A configured model, a catalogue model, a route or `auto` (not an arbitrary custom model name)."""
        if name == "auto" or name in self.config.generator.routes or self.router.catalogue.get(name) is not None:
            return True
        provider, _, model = name.partition("/")
        cfg = self.config.generator.providers.get(provider)
        return cfg is not None and model in cfg.models

    def acquire_stream(self) -> None:
        """Take one of the `max_streams` concurrent streams, or refuse with 429 at once (a queue would only
        hide overload). Pair with `release_stream()` when the stream ends, however it ends."""
        if self.streams >= self.limits.max_streams:
            raise HTTPProblem(
                429,
                f"too many concurrent streams (limit {self.limits.max_streams}); try again shortly",
                code="too_many_streams",
                retry_after=1,
            )
        self.streams += 1

    def release_stream(self) -> None:
        self.streams -= 1


def state(conn: HTTPConnection) -> ServerState:
    server: ServerState = conn.app.state.server
    return server


async def read_body(request: Request) -> bytes:
    """The request's body, read once (not for `request.body()` afterwards). Nearly every body is one ASGI
    message, taken straight from `receive`: Starlette's `Request.body()` runs a generator over the messages,
    ~3.5 us more per request on the gateway's hot path. A client gone before the body is whole: `ClientGone`."""
    message = await request.receive()
    chunks = [message.get("body", b"")]
    while message.get("more_body", False):
        message = await request.receive()
        chunks.append(message.get("body", b""))
    if message["type"] == "http.disconnect":
        raise ClientGone
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
