"""An OpenRouter/OpenAI-shaped and Ollama-shaped upstream for tests: a real aiohttp server on 127.0.0.1.

It runs in a background thread with its own event loop, so tests on any loop (and benchmarks in another
process: `python -m tests.support.emulator --port 8123`) talk to it over real sockets.

    def test_x(emulator: Emulator) -> None:          # the pytest fixture (reset before each test)
        emulator.base_url                             # http://127.0.0.1:PORT/api/v1 (also served under /v1)
        emulator.ollama_url                           # http://127.0.0.1:PORT (/api/chat, /api/tags, /api/embed)
        emulator.script("m1", Reply(text="hi"), error(429, "slow down", retry_after=2))
        ...                                           # each call for model "m1" takes the next reply;
                                                      # unscripted models answer DEFAULT_TEXT,
                                                      # unscripted `words-N` an N-word answer (one write)
        emulator.requests[-1].json["messages"]        # every request: method, path, headers, query, json
        emulator.answered                             # per chat request, the model that answered (`models`)
        emulator.disconnects                          # models whose stream the client abandoned mid-way
        await emulator.until(lambda: emulator.disconnects, timeout=2)   # (sync tests: wait_until)

Wire behaviour reproduced (shared/openrouter-api.md §12, §13, §15): SSE with `: OPENROUTER PROCESSING` comments,
events split across TCP writes, CRLF line ends, a final usage chunk with `choices: []` and `cost`, `[DONE]` (or
not), a mid-stream error chunk (top-level `error`, numeric or string code, `finish_reason: "error"`), error
statuses with `{"error": {"code", "message", "metadata"}}` and `Retry-After`, an `error` inside a 200 body
(top level or in `choices[0]`), empty content, delays before headers and between chunks, OpenRouter's `models`
fallback list (§6: an error status moves on to the next model, a 200 of any kind is the answer and names its
model). Ollama: NDJSON
streaming with a final `done: true` line carrying token counts, `{"error": "..."}` bodies and lines.
Embeddings are deterministic (a hash of the text), `dimensions` honoured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from tests.support.replies import (
    DEFAULT_MODELS,
    DEFAULT_TEXT,
    PROCESSING,
    Reply,
    chunks,
    completion,
    embedding,
    error,
    error_in_200,
    mid_stream_error,
    ollama_lines,
    ollama_whole,
)

__all__ = [
    "DEFAULT_TEXT",
    "Emulator",
    "Recorded",
    "Reply",
    "emulator",
    "emulator_server",
    "error",
    "error_in_200",
    "mid_stream_error",
]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    json: Any
    peer: int | None = None  # the client's port: equal ports = one pooled connection reused


class Emulator:
    """The scripted upstream. Thread-safe: tests script it from their thread, the server reads from its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self.requests: list[Recorded] = []
        self.disconnects: list[str] = []
        self.answered: list[str] = []  # per chat request, the model that answered it (or the last one tried)
        self.models: list[dict[str, Any]] = list(DEFAULT_MODELS)
        self.embedding_dim = 16
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._seq = 0

    # --- test API --------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    @property
    def ollama_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, model: str, *replies: Reply) -> None:
        """Queue replies for `model` (chat and Ollama chat alike); each call takes the next one."""
        with self._lock:
            self._scripts[model].extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self.requests.clear()
            self.disconnects.clear()
            self.answered.clear()
            self.models = list(DEFAULT_MODELS)
            self.embedding_dim = 16

    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith(("/chat/completions", "/api/chat"))]

    def wait_until(self, condition: Callable[[], object], timeout: float = 5.0) -> bool:
        """Poll `condition` (e.g. `lambda: emulator.disconnects`) until true or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.01)
        return bool(condition())

    async def until(self, condition: Callable[[], object], timeout: float = 5.0) -> bool:
        """`wait_until` for async tests: polls without blocking the test's event loop (which may still have
        to close the client's socket)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            await asyncio.sleep(0.01)
        return bool(condition())

    def _next(self, model: str) -> Reply:
        with self._lock:
            queue = self._scripts.get(model)
            if queue:
                return queue.popleft()
        count = model.removeprefix("words-")
        if count != model and count.isdigit():  # unscripted `words-N`: an N-word answer (benchmarks)
            return Reply(text=" ".join(f"w{i}" for i in range(int(count))), coalesce=True)
        return Reply()

    # --- lifecycle -------------------------------------------------------------------------------------------

    def start(self, port: int = 0) -> Emulator:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(port, ready), name="emulator", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the emulator did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def _serve(self, port: int, ready: threading.Event) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._runner = web.AppRunner(self.app(), access_log=None)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        loop.run_until_complete(site.start())
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()
        loop.run_forever()
        loop.close()

    def app(self) -> web.Application:
        app = web.Application()
        for prefix in ("/api/v1", "/v1"):
            app.router.add_post(f"{prefix}/chat/completions", self._chat)
            app.router.add_get(f"{prefix}/models", self._models)
            app.router.add_post(f"{prefix}/embeddings", self._embeddings)
        app.router.add_post("/api/chat", self._ollama_chat)
        app.router.add_get("/api/tags", self._ollama_tags)
        app.router.add_post("/api/embed", self._ollama_embed)
        return app

    # --- shared ------------------------------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> Any:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        with self._lock:
            self.requests.append(
                Recorded(request.method, request.path, dict(request.headers), dict(request.query), body, _peer(request))
            )
        return body

    def _gen_id(self) -> str:
        with self._lock:
            self._seq += 1
            return f"gen-emu-{self._seq}"

    def _disconnected(self, model: str) -> None:
        with self._lock:
            self.disconnects.append(model)

    @staticmethod
    async def _error_response(reply: Reply, body: Any) -> web.Response:
        if reply.raw_body is not None:
            return web.Response(status=reply.status, body=reply.raw_body, headers=reply.headers)
        return web.json_response(body, status=reply.status, headers=reply.headers)

    # --- OpenAI / OpenRouter --------------------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        model, reply = await self._answering(body or {})
        if reply.status != 200 or (reply.raw_body is not None):
            return await self._error_response(reply, {"error": reply.error or {"code": reply.status}})
        gen_id = self._gen_id()
        headers = {"X-Generation-Id": gen_id, **reply.headers}
        if (body or {}).get("stream"):
            return await self._chat_stream(request, reply, model, gen_id, headers)
        return web.json_response(completion(reply, model, gen_id), headers=headers)

    async def _answering(self, body: dict[str, Any]) -> tuple[str, Reply]:
        """The model that answers and its reply. With `models` (OpenRouter's fallback list, openrouter-api.md §6):
        `model` first, then `models` in order; a model whose reply is an error status is moved on from, the
        last one's error is returned; any 200 (an error body, an empty answer, a stream, however it goes on)
        is the answer, as it is."""
        fallbacks = body.get("models")
        names = [str(body.get("model", ""))]
        if isinstance(fallbacks, list):
            names = list(dict.fromkeys(n for n in [*names, *map(str, fallbacks)] if n))
        for name in names:
            reply = self._next(name)
            if reply.delay:
                await asyncio.sleep(reply.delay)
            if reply.status == 200:
                break
        with self._lock:
            self.answered.append(name)
        return name, reply

    async def _chat_stream(
        self, request: web.Request, reply: Reply, model: str, gen_id: str, headers: dict[str, str]
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **headers})
        await response.prepare(request)
        eol = "\r\n" if reply.crlf else "\n"
        events = [PROCESSING.replace(b"\n", eol.encode())] * reply.comments
        events += [f"data: {json.dumps(chunk)}{eol}{eol}".encode() for chunk in chunks(reply, model, gen_id)]
        if reply.done:
            events.append(f"data: [DONE]{eol}{eol}".encode())
        if reply.coalesce:
            events = [b"".join(events)]
        try:
            for data in events:
                await self._write(response, data, reply)
            if reply.linger:
                await asyncio.sleep(reply.linger)
            await response.write_eof()
        except ConnectionResetError:  # the client went away mid-stream
            self._disconnected(model)
        except asyncio.CancelledError:
            self._disconnected(model)
            raise
        return response

    async def _write(self, response: web.StreamResponse, data: bytes, reply: Reply) -> None:
        if reply.chunk_delay:
            await asyncio.sleep(reply.chunk_delay)
        if not reply.split or len(data) < 4:
            await response.write(data)
            return
        third = max(1, len(data) // 3)
        for piece in (data[:third], data[third : 2 * third], data[2 * third :]):
            await response.write(piece)
            await asyncio.sleep(0.002)  # separate TCP segments, so the client's reads see partial events

    async def _models(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response({"data": self.models})

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await self._record(request) or {}
        texts = body.get("input", [])
        texts = [texts] if isinstance(texts, str) else list(texts)
        dim = int(body.get("dimensions") or self.embedding_dim)
        data = [{"object": "embedding", "index": i, "embedding": embedding(t, dim)} for i, t in enumerate(texts)]
        tokens = sum(len(t.split()) for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return web.json_response({"object": "list", "data": data, "model": body.get("model"), "usage": usage})

    # --- Ollama --------------------------------------------------------------------------------------------------

    async def _ollama_chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request) or {}
        model = str(body.get("model", ""))
        reply = self._next(model)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status != 200 or reply.raw_body is not None:
            message = (reply.error or {}).get("message", "error")
            return await self._error_response(reply, {"error": message})
        lines = ollama_lines(reply, model)
        if not body.get("stream", True):  # Ollama streams unless told not to
            return web.json_response(ollama_whole(reply, model, lines))
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson", **reply.headers})
        await response.prepare(request)
        try:
            for line in lines:
                await self._write(response, json.dumps(line).encode() + b"\n", reply)
            await response.write_eof()
        except ConnectionResetError:  # the client went away mid-stream
            self._disconnected(model)
        except asyncio.CancelledError:
            self._disconnected(model)
            raise
        return response

    async def _ollama_tags(self, request: web.Request) -> web.Response:
        await self._record(request)
        names = ["qwen3:1.7b", "llama3:8b"]
        models = [{"name": n, "model": n, "size": 1_000_000, "details": {"family": n.split(":")[0]}} for n in names]
        return web.json_response({"models": models})

    async def _ollama_embed(self, request: web.Request) -> web.Response:
        body = await self._record(request) or {}
        texts = body.get("input", [])
        texts = [texts] if isinstance(texts, str) else list(texts)
        dim = int(body.get("dimensions") or self.embedding_dim)
        vectors = [embedding(t, dim) for t in texts]
        return web.json_response({"model": body.get("model"), "embeddings": vectors, "prompt_eval_count": len(texts)})


# --- pytest fixtures ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[Emulator]:
    """One emulator for the whole session (started lazily by the first test that needs it)."""
    server = Emulator().start()
    yield server
    with contextlib.suppress(Exception):
        server.stop()


@pytest.fixture
def emulator(emulator_server: Emulator) -> Emulator:
    """The session's emulator with scripts, recorded requests and disconnects cleared."""
    emulator_server.reset()
    return emulator_server


def _peer(request: web.Request) -> int | None:
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    return int(peer[1]) if peer else None


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the test emulator (OpenRouter/OpenAI + Ollama shapes).")
    parser.add_argument("--port", type=int, default=8123)
    args = parser.parse_args()
    server = Emulator().start(args.port)
    print(f"emulator on {server.base_url} (also /v1) and {server.ollama_url}/api/chat", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
