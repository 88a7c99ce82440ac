"""Router overhead: the time the router adds per call, side by side with calling the model directly, in one run.

    .venv/bin/python benchmarks/router_overhead.py [--calls 2000] [--rss-calls 10000]

1. in-process: a zero-cost ChatModel, called directly vs through the Router (pure router cost, no I/O);
2. over HTTP: the provider client against the test emulator (a subprocess on 127.0.0.1, zero latency) called
   directly vs through the Router, interleaved so both see the same machine load;
3. memory: RSS before/after 10,000 routed calls;
4. start-up: `python -c "import wikismith"` and `wikismith --help`, best of 5.
Prints microseconds per call (p50/p99) and ratios. Target: router overhead < 200 µs p50, non-streaming.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _support import write_generator  # noqa: E402

from wikismith.config.models import AppConfig, load_config  # noqa: E402
from wikismith.llm.events import Finish, StreamEvent, TextDelta, UsageReport  # noqa: E402
from wikismith.llm.types import ChatRequest, ChatResponse, Message, ModelInfo, Usage  # noqa: E402
from wikismith.router import Router  # noqa: E402
from wikismith.router.cost import Ledger  # noqa: E402

REQUEST_MESSAGES = [
    Message(role="system", content="You are a helpful assistant."),
    Message(role="user", content="What does this repository do?"),
]


class NullModel:
    """A ChatModel that answers instantly: what remains of a routed call's time is the router's."""

    _usage = Usage(prompt_tokens=20, completion_tokens=1, total_tokens=21, cost=1e-6)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(text="ok", finish_reason="stop", usage=self._usage)  # a new answer per call, as clients do

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        yield TextDelta("ok")
        yield UsageReport(self._usage)
        yield Finish("stop")

    async def list_models(self) -> list[ModelInfo]:
        return []

    async def aclose(self) -> None:
        return None


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def config_for(base_url: str, home: Path) -> AppConfig:
    directory = write_generator(
        home / "config", base_url, model="bench-model", model_params={"temperature": 0.2}, api_key="sk-bench-000000"
    )
    return load_config(directory, {})


async def timed(call: Callable[[], Awaitable[object]], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter_ns()
        await call()
        out.append((time.perf_counter_ns() - start) / 1000)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(label: str, direct: list[float], routed: list[float]) -> None:
    d50, r50 = statistics.median(direct), statistics.median(routed)
    d99, r99 = pct(direct, 0.99), pct(routed, 0.99)
    print(f"{label}")
    print(f"  direct   p50 {d50:9.1f} µs   p99 {d99:9.1f} µs")
    print(f"  routed   p50 {r50:9.1f} µs   p99 {r99:9.1f} µs")
    print(f"  overhead p50 {r50 - d50:9.1f} µs   p99 {r99 - d99:9.1f} µs   ratio routed/direct p50 {r50 / d50:.2f}x")


async def in_process(calls: int, home: Path) -> None:
    config = config_for("http://127.0.0.1:9", home)
    model = NullModel()
    router = Router(config, client_factory=lambda _p: model, ledger=Ledger(home / "usage.sqlite3"))
    direct_req = ChatRequest(model="bench-model", messages=REQUEST_MESSAGES)
    routed_req = ChatRequest(model="emu/bench-model", messages=REQUEST_MESSAGES)
    await router.complete(routed_req)
    direct: list[float] = []
    routed: list[float] = []
    for _ in range(max(1, calls // 100)):  # interleaved batches
        direct += await timed(lambda: model.complete(direct_req), 100)
        routed += await timed(lambda: router.complete(routed_req), 100)
    report(f"in-process zero-cost model, complete(), {len(routed)} calls each", direct, routed)

    async def drain_direct() -> None:
        async for _ in model.stream(direct_req):
            pass

    async def drain_routed() -> None:
        async for _ in router.stream(routed_req):
            pass

    direct, routed = [], []
    for _ in range(max(1, calls // 100)):
        direct += await timed(drain_direct, 100)
        routed += await timed(drain_routed, 100)
    report(f"in-process zero-cost model, stream(), {len(routed)} calls each", direct, routed)
    await router.aclose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_emulator() -> tuple[subprocess.Popen[bytes], str] | None:
    if not (ROOT / "tests" / "support" / "emulator.py").exists():
        print("over HTTP: skipped (tests/support/emulator.py not present)")
        return None
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
            return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    print("over HTTP: skipped (emulator did not start)")
    return None


async def over_http(base_url: str, calls: int, rss_calls: int, home: Path) -> None:
    from wikismith.llm.providers import create_client  # type: ignore[attr-defined,unused-ignore]

    config = config_for(base_url, home)
    router = Router(config, ledger=Ledger(home / "usage.sqlite3"))
    client = create_client(config.provider("emu"))
    direct_req = ChatRequest(model="bench-model", messages=REQUEST_MESSAGES)
    routed_req = ChatRequest(model="emu/bench-model", messages=REQUEST_MESSAGES)
    for _ in range(50):  # warm both connection pools
        await client.complete(direct_req)
        await router.complete(routed_req)
    direct: list[float] = []
    routed: list[float] = []
    for _ in range(max(1, calls // 50)):
        direct += await timed(lambda: client.complete(direct_req), 50)
        routed += await timed(lambda: router.complete(routed_req), 50)
    report(f"over HTTP to the emulator (zero latency), complete(), {len(routed)} calls each", direct, routed)
    await memory(router, routed_req, rss_calls, "over HTTP")
    await client.aclose()
    await router.aclose()


async def memory(router: Router, request: ChatRequest, n: int, label: str) -> None:
    """RSS before, after n routed calls, and after n more (flat = no growth per call; the ledger's SQLite page
    cache accounts for the first ~2 MB)."""
    gc.collect()
    figures = [rss_mb()]
    for _ in range(2):
        for _ in range(n):
            await router.complete(request)
        if router.ledger is not None:
            await router.ledger.flush()
        gc.collect()
        figures.append(rss_mb())
    before, first, second = figures
    print(
        f"memory ({label}): RSS {before:.1f} MB before -> {first:.1f} MB after {n:,} routed calls "
        f"-> {second:.1f} MB after {2 * n:,} ({second - first:+.1f} MB over the second {n:,})"
    )


HELP_ROUTER_COMMANDS = (
    "import sys; from wikismith.cli import app; app.COMMAND_MODULES[:] = ['models', 'usage', 'compare']; "
    "sys.argv[0] = 'wikismith'; app.main()"
)


def startup() -> None:
    exe = ROOT / ".venv" / "bin"
    for label, argv in (
        ("python -c 'import wikismith'", [str(exe / "python"), "-c", "import wikismith"]),
        ("python -c 'import wikismith.router'", [str(exe / "python"), "-c", "import wikismith.router"]),
        ("python -c 'pass' (interpreter alone)", [str(exe / "python"), "-c", "pass"]),
        ("wikismith --help", [str(exe / "wikismith"), "--help"]),
        (
            "--help with only models/usage/compare",
            [str(exe / "python"), "-c", HELP_ROUTER_COMMANDS, "--help"],
        ),
    ):
        best = float("inf")
        ok = True
        for _ in range(5):
            start = time.perf_counter()
            result = subprocess.run(argv, capture_output=True, cwd=ROOT)
            best = min(best, time.perf_counter() - start)
            ok = ok and result.returncode == 0
        print(f"start-up {label:40s} {best * 1000:7.0f} ms{'' if ok else '  (FAILED: non-zero exit)'}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rss-calls", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        await in_process(args.calls, home)
        model = NullModel()
        router = Router(config_for("http://127.0.0.1:9", home), client_factory=lambda _p: model,
                        ledger=Ledger(home / "rss.sqlite3"))  # fmt: skip
        await memory(router, ChatRequest(model="emu/bench-model", messages=REQUEST_MESSAGES), args.rss_calls,
                     "in-process")  # fmt: skip
        await router.aclose()
        started = start_emulator()
        if started is not None:
            proc, base_url = started
            try:
                await over_http(base_url, args.calls, args.rss_calls, home)
            finally:
                proc.terminate()
                proc.wait(timeout=10)
    startup()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    asyncio.run(main())
