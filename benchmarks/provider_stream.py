"""Streaming cost of our OpenRouter client vs a bare aiohttp loop reading the same SSE stream, in one run.

    .venv/bin/python benchmarks/provider_stream.py [--words 500] [--streams 60]

The test emulator runs in a subprocess on 127.0.0.1 and streams an N-word answer: one SSE event per word,
then a usage chunk and `[DONE]`, written at once so that the server is not what is timed. Arm "raw" is the
least a correct client must do: read lines, skip comments, `orjson.loads` each event, take
`choices[0].delta.content`. Arm "client" is `OpenRouterClient.stream()`: incremental SSE decoding, typed
events, usage, error checks, idle/total timeouts per read. The arms are interleaved so both see the same
machine load. Prints ms per stream (p50/p99), µs per event and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wikismith.config.models import ResolvedProvider  # noqa: E402
from wikismith.config.schemas import Limits, Timeouts  # noqa: E402
from wikismith.llm.events import TextDelta  # noqa: E402
from wikismith.llm.providers.openrouter import OpenRouterClient  # noqa: E402
from wikismith.llm.types import ChatRequest, Message  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_emulator() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.emulator", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}/api/v1"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the emulator did not start")


async def raw_stream(session: aiohttp.ClientSession, url: str, body: bytes) -> int:
    pieces = 0
    async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
        async for line in response.content:
            if not line.startswith(b"data: "):
                continue
            data = line[6:].strip()
            if data == b"[DONE]":
                break
            chunk = orjson.loads(data)
            choices = chunk.get("choices") or ()
            if choices and choices[0].get("delta", {}).get("content"):
                pieces += 1
    return pieces


async def client_stream(client: OpenRouterClient, request: ChatRequest) -> int:
    pieces = 0
    async for event in client.stream(request):
        if isinstance(event, TextDelta):
            pieces += 1
    return pieces


async def run(base_url: str, words: int, streams: int) -> None:
    model = f"words-{words}"
    provider = ResolvedProvider(
        id="openrouter", kind="openrouter", client_class="OpenRouterClient", base_url=base_url, api_key=None,
        api_key_env=None, api_key_header=None, query_params={}, headers={}, timeouts=Timeouts(), limits=Limits(),
    )  # fmt: skip
    client = OpenRouterClient(provider)
    request = ChatRequest(model=model, messages=[Message(role="user", content="stream please")])
    body = orjson.dumps({"model": model, "messages": [{"role": "user", "content": "stream please"}], "stream": True})
    raw_times: list[float] = []
    client_times: list[float] = []
    async with aiohttp.ClientSession() as session:
        url = f"{base_url}/chat/completions"
        for _ in range(5):  # warm both pools
            assert await raw_stream(session, url, body) == words
            assert await client_stream(client, request) == words
        for _ in range(streams):
            started = time.perf_counter()
            await raw_stream(session, url, body)
            raw_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            await client_stream(client, request)
            client_times.append(time.perf_counter() - started)
    await client.aclose()
    report(words, raw_times, client_times)


def report(words: int, raw: list[float], ours: list[float]) -> None:
    def p(values: list[float], q: float) -> float:
        return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000

    raw50, ours50 = statistics.median(raw) * 1000, statistics.median(ours) * 1000
    print(f"streams of {words} events each, {len(raw)} per arm, emulator on loopback (subprocess)")
    for label, values, p50 in (("raw aiohttp loop", raw, raw50), ("OpenRouterClient", ours, ours50)):
        per_event = p50 * 1000 / words
        print(f"  {label:<18} p50 {p50:8.2f} ms   p99 {p(values, 0.99):8.2f} ms   {per_event:6.1f} µs/event")
    print(f"  ratio client/raw p50 {ours50 / raw50:.2f}x   added {(ours50 - raw50) * 1000 / words:+.1f} µs/event")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--words", type=int, default=500)
    parser.add_argument("--streams", type=int, default=60)
    args = parser.parse_args()
    proc, base_url = start_emulator()
    try:
        asyncio.run(run(base_url, args.words, args.streams))
    finally:
        proc.terminate()
        proc.wait(5)


if __name__ == "__main__":
    main()
