"""The gateway's own work per request: wikismith's ASGI app vs a bare FastAPI + aiohttp pass-through, in one
process, both calling the same provider emulator.

    .venv/bin/python benchmarks/gateway_cpu.py                  # 7 rounds of 1,500 requests per app and case
    .venv/bin/python benchmarks/gateway_cpu.py --rounds 5 --requests 1000

The two apps are called directly as ASGI applications (no HTTP server or load generator in front, so neither's
cost blurs the figures), alternating round by round, and timed with this process's CPU clock (the emulator runs
in a child process and is not counted). Prints, for a whole answer and for a 20-chunk stream: CPU per request
(median and best of the rounds) for both apps, what wikismith adds, and the ratio; and the Python function calls
per request, counted by cProfile: a figure that does not depend on the machine or its load (for streams it
moves by a few per cent with how the upstream's bytes happen to be split into reads), for comparing two
versions of the code when the machine is too noisy to time them (`PYTHONPATH=<other checkout>/src`).
`gateway_bench.py` measures the same over real HTTP, with latency and throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway_bench import bare_app, chat_body, start_emulator, write_config

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def call(app: App, body: bytes, state: dict[str, Any]) -> None:
    """One POST /v1/chat/completions through `app`; the response must be a 200."""
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions", "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8001),
        "state": state,
    }  # fmt: skip
    await app(scope, receive, send)
    if sent[0].get("status") != 200:
        raise RuntimeError(f"HTTP {sent[0].get('status')}: {sent[1:2]}")


class Lifespan:
    """The app's lifespan: `start()` runs its start-up (wikismith builds its router there), `stop()` its
    shutdown (the ledger is flushed, connections closed)."""

    def __init__(self, app: App, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Future[None] | None = None

    async def start(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        self.task = asyncio.ensure_future(self.app(scope, self.inbox.get, self.outbox.put))
        await self._step("startup")

    async def stop(self) -> None:
        await self._step("shutdown")
        if self.task is not None:
            await self.task

    async def _step(self, what: str) -> None:
        await self.inbox.put({"type": f"lifespan.{what}"})
        message = await self.outbox.get()
        if message["type"] != f"lifespan.{what}.complete":
            raise RuntimeError(f"{what} failed: {message}")


def calls_per_request(app: App, body: bytes, state: dict[str, Any], n: int) -> Awaitable[float]:
    async def counted() -> float:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(n):
            await call(app, body, state)
        profile.disable()
        return float(pstats.Stats(profile).total_calls) / n  # type: ignore[attr-defined]

    return counted()


async def measure(emu_port: int, home: Path, rounds: int, requests: int) -> None:
    os.environ.update(write_config(home, emu_port))
    from wikismith.server.app import app_from_env

    ours: App = app_from_env()
    bare: App = bare_app(emu_port)
    logging.getLogger().setLevel(logging.WARNING)  # as `serve --log-level warning` in gateway_bench.py
    state: dict[str, Any] = {}
    lifespan = Lifespan(ours, state)
    await lifespan.start()
    for stream in (False, True):
        body = chat_body("emu/stream20" if stream else "emu/m", stream)
        apps = {"bare": bare, "wikismith": ours}
        for app in apps.values():  # warm-up: connections pooled, caches filled
            for _ in range(200):
                await call(app, body, state)
        cpu: dict[str, list[float]] = {name: [] for name in apps}
        for _ in range(rounds):
            for name, app in apps.items():
                started = time.process_time()
                for _ in range(requests):
                    await call(app, body, state)
                cpu[name].append((time.process_time() - started) / requests * 1e6)
        counts = {name: await calls_per_request(app, body, state, min(requests, 500)) for name, app in apps.items()}
        b, w = (statistics.median(cpu[name]) for name in apps)
        kind = "stream (20 chunks)" if stream else "whole answer"
        print(
            f"{kind:18} CPU per request: bare {b:5.0f} us (best {min(cpu['bare']):5.0f}),"
            f" wikismith {w:5.0f} us (best {min(cpu['wikismith']):5.0f}); wikismith adds {w - b:4.0f} us, x{w / b:4.2f}"
            f" | Python calls per request: bare {counts['bare']:6.1f}, wikismith {counts['wikismith']:6.1f}"
            f" (+{counts['wikismith'] - counts['bare']:.0f})",
            flush=True,
        )
    await lifespan.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="alternating timed rounds per app and case")
    parser.add_argument("--requests", type=int, default=1500, help="requests per round")
    args = parser.parse_args()
    import uvloop

    emulator, port = start_emulator()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            uvloop.run(measure(port, Path(tmp), args.rounds, args.requests))
    finally:
        emulator.terminate()
        emulator.wait(10)


if __name__ == "__main__":
    main()
