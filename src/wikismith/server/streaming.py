"""A streamed response that stops its producer as soon as the client goes away.

The body iterator runs in its own task next to a task that waits for `http.disconnect`; whichever ends first
cancels the other, and the iterator is always closed (`aclose()`), so the upstream call under it is closed at
once — the provider sees its connection drop and stops generating (and, for most providers, billing).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from wikismith.deadline import Deadline

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before the answer was ready; there is nobody to answer."""


# A call or stream that ends within this never starts its watcher task (most of the watching's cost): a client
# that leaves during it is noticed when the answer is written, like one that leaves just after. The watching is
# there to stop model calls that run for seconds; 50 ms keeps it off every call a gateway answers quickly, also
# under load (at 2 ms, most requests at concurrency 16 started a watcher task).
_WATCH_AFTER = 0.05


async def unless_disconnected(receive: Receive, call: Awaitable[T], timeout: float | None = None) -> T:
    """Await `call` (a whole, non-streamed answer) while watching the connection: when the client goes away
    first, the call is cancelled at once (closing its upstream request) and `ClientGone` is raised; when
    `timeout` seconds pass first, it is cancelled and `TimeoutError` is raised. Call it after the request
    body has been read."""
    task = asyncio.current_task()
    assert task is not None
    watch = _Watch(task, receive)
    try:
        if timeout is None:
            return await call
        with Deadline(task.get_loop().time() + timeout):
            return await call
    except asyncio.CancelledError:
        if not watch.gone:
            raise
        task.uncancel()
        raise ClientGone from None
    finally:
        watch.close()


class _Watch:
    """Cancels `task` when the client disconnects (`gone` is then True). Until `_WATCH_AFTER` has passed it is
    one timer; then a task reads `receive`."""

    __slots__ = ("gone", "handle", "receive", "task", "watcher")

    def __init__(self, task: asyncio.Task[Any], receive: Receive) -> None:
        self.task = task
        self.receive = receive
        self.watcher: asyncio.Future[None] | None = None
        self.gone = False
        self.handle: asyncio.TimerHandle | None = task.get_loop().call_later(_WATCH_AFTER, self.start)

    def start(self) -> None:
        self.handle = None
        self.watcher = asyncio.ensure_future(self.watch())

    async def watch(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        self.task.cancel()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
        if self.watcher is not None:
            self.watcher.cancel()


class AbortStream(Exception):
    """Raised by a body iterator to end the response without its final chunk: the client sees an incomplete
    body (the honest signal for "this answer broke", when the format has no way to say so in-band)."""


class _EndOfBody(bytes):
    """The type of `END_OF_BODY` and `end_of_body()`."""


# Yielded by a body iterator once the client has everything: the response ends at once (its last chunk is
# sent), and the iterator is still run to its end, without sending, for what remains to do (returning the
# upstream connection to its pool, accounting) — work the client need not wait for.
END_OF_BODY = _EndOfBody()


def end_of_body(last: bytes) -> bytes:
    """`END_OF_BODY` carrying the body's last bytes: both go out in one write."""
    return _EndOfBody(last)


class StreamResponse(Response):
    def __init__(
        self,
        body: AsyncIterator[bytes],
        *,
        media_type: str = "text/event-stream",
        headers: Mapping[str, str] | None = None,
        on_close: Callable[[], Awaitable[None] | None] | None = None,
        coalesce: bool = True,
    ) -> None:
        """`coalesce`: join the chunks `body` produces in one go into one write (`_Coalescer`); off for a body
        whose every chunk is already a whole piece (the gateway's: one per upstream read), sent as it comes."""
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)  # no body yet, so no Content-Length: the body is chunked
        self.iterator = body
        self.on_close = on_close
        self.coalesce = coalesce

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pump the body in this task; a watcher (`_Watch`, started once the stream has run `_WATCH_AFTER`)
        cancels it when the client disconnects."""
        task = asyncio.current_task()
        assert task is not None
        watch = _Watch(task, receive)
        body = _Coalescer(send) if self.coalesce else _Direct(send)
        try:
            await self._pump(send, body, watch)
        except asyncio.CancelledError:
            if not watch.gone:
                raise
            task.uncancel()
        except (OSError, AbortStream):  # OSError: the client went away
            pass
        finally:
            watch.close()
            body.cancel()
            closer = getattr(self.iterator, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()
            if self.on_close is not None:
                result = self.on_close()
                if result is not None:
                    await result

    async def _pump(self, send: Send, body: _Coalescer | _Direct, watch: _Watch) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        ended = False
        try:
            async for chunk in self.iterator:
                if ended:
                    continue
                if type(chunk) is _EndOfBody:
                    ended = True
                    # A client that leaves once it has the whole answer must not cancel what follows it.
                    watch.close()
                    if chunk:
                        body.write(bytes(chunk))  # not drained: `end` sends it with the end of the body
                    await body.end(final=True)
                elif body.write(chunk):
                    await body.drain()
        except Exception:  # what was produced before the failure is still sent, as it would have been
            if not ended:
                with contextlib.suppress(Exception):
                    await body.end(final=False)
            raise
        if not ended:
            await body.end(final=True)


_HIGH_WATER = 64 * 1024


class _Direct:
    """`_Coalescer`'s interface, sending each chunk as it comes (no flush task, no waiting for a next one)."""

    __slots__ = ("_pending", "_send")

    def __init__(self, send: Send) -> None:
        self._send = send
        self._pending = b""

    def write(self, chunk: bytes) -> bool:
        self._pending = chunk
        return True  # always: `drain()` sends it

    async def drain(self) -> None:
        chunk, self._pending = self._pending, b""
        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def end(self, *, final: bool) -> None:
        chunk, self._pending = self._pending, b""
        if final or chunk:
            await self._send({"type": "http.response.body", "body": chunk, "more_body": not final})

    def cancel(self) -> None:
        self._pending = b""


class _Coalescer:
    """Sends body chunks, joining those produced in one go into one message (one socket write): a burst of
    SSE events decoded from one upstream read costs one write downstream instead of one per event. Nothing is
    held back: the flush task runs as soon as the producer waits for more input (its next event-loop turn),
    and a slow reader past `_HIGH_WATER` bytes makes the producer wait (backpressure)."""

    __slots__ = ("_parts", "_send", "_sending", "_size", "_task")

    def __init__(self, send: Send) -> None:
        self._send = send
        self._parts: list[bytes] = []
        self._size = 0
        self._task: asyncio.Task[None] | None = None
        self._sending = False  # the flush task is inside `send` (else, while pending, it has not started)

    def write(self, chunk: bytes) -> bool:
        """Queue `chunk`; True when the producer must `await drain()` (the flush failed, or the reader is slow)."""
        self._parts.append(chunk)
        self._size += len(chunk)
        task = self._task
        if task is None:
            self._task = asyncio.ensure_future(self._flush())
            return False
        return task.done() or self._size >= _HIGH_WATER

    async def drain(self) -> None:
        """Wait for the flush in progress; raise its failure (the client went away)."""
        task = self._task
        if task is not None:
            if task.done():
                task.result()
            else:
                await task

    async def _flush(self) -> None:
        while self._parts:
            body = self._take()
            self._sending = True
            await self._send({"type": "http.response.body", "body": body, "more_body": True})
            self._sending = False
        self._task = None

    def _take(self) -> bytes:
        parts, self._parts, self._size = self._parts, [], 0
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def end(self, *, final: bool) -> None:
        """Send what is pending now; with `final`, as the body's last message (one write for both)."""
        task, self._task = self._task, None
        if task is not None:
            if task.done():
                task.result()
            elif self._sending:
                await task
            else:  # not started yet: its chunks go out with this message instead
                task.cancel()
        if final or self._parts:
            chunk = self._take() if self._parts else b""
            await self._send({"type": "http.response.body", "body": chunk, "more_body": not final})

    def cancel(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        if not task.done():
            task.cancel()
        elif not task.cancelled():
            task.exception()  # retrieved: the failure was already handled (or the client is gone)
