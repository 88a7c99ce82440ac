"""A streamed response that stops its producer as soon as the client goes away.

The body iterator runs in its own task next to a task that waits for `http.disconnect`; whichever ends first
cancels the other, and the iterator is always closed (`aclose()`), so the upstream call under it is closed at
once — the provider sees its connection drop and stops generating (and, for most providers, billing).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TypeVar

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before the answer was ready; there is nobody to answer."""


async def unless_disconnected(receive: Receive, call: Awaitable[T]) -> T:
    """Await `call` (a whole, non-streamed answer) while watching the connection: when the client goes away
    first, the call is cancelled at once (closing its upstream request) and `ClientGone` is raised.
    Call it after the request body has been read."""
    task = asyncio.current_task()
    assert task is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        while (await receive())["type"] != "http.disconnect":
            pass
        gone = True
        task.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        return await call
    except asyncio.CancelledError:
        if not gone:
            raise
        task.uncancel()
        raise ClientGone from None
    finally:
        watcher.cancel()


class AbortStream(Exception):
    """Raised by a body iterator to end the response without its final chunk: the client sees an incomplete
    body (the honest signal for "this answer broke", when the format has no way to say so in-band)."""


class StreamResponse(Response):
    def __init__(
        self,
        body: AsyncIterator[bytes],
        *,
        media_type: str = "text/event-stream",
        headers: Mapping[str, str] | None = None,
        on_close: Callable[[], Awaitable[None] | None] | None = None,
    ) -> None:
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)  # no body yet, so no Content-Length: the body is chunked
        self.iterator = body
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pump = asyncio.ensure_future(self._pump(send))
        watch = asyncio.ensure_future(self._watch(receive))
        try:
            done, _ = await asyncio.wait((pump, watch), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, watch):
                if not task.done():
                    task.cancel()
            for task in (pump, watch):
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await task
            closer = getattr(self.iterator, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()
            if self.on_close is not None:
                result = self.on_close()
                if result is not None:
                    await result
        error = pump.exception() if pump in done and not pump.cancelled() else None
        if error is not None and not isinstance(error, OSError | AbortStream):  # OSError: the client went away
            raise error

    async def _pump(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for chunk in self.iterator:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _watch(receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
