"""Where a streamed answer's time goes inside the gateway, at concurrency 1: two versions of wikismith and the bare
pass-through, side by side, each stamped at the same four points of every request.

    .venv/bin/python benchmarks/stream_timeline.py                          # HEAD against the working tree
    .venv/bin/python benchmarks/stream_timeline.py --a HEAD~3 --b HEAD --rounds 16

Each version's `src` (a git revision, or the working tree for `--b worktree`) is copied to a scratch directory
and stamped there (the code under test is never edited): request in; upstream call sent; upstream headers in;
`[DONE]` parsed; the response's last byte sent. Both versions and the bare gateway (stamped the same way) serve
the same emulator; `--rounds` rounds of `--duration` seconds alternate between them, so the machine's drift
falls on all three alike. Printed: the client's p50 and the medians of each server-side segment. On this shared
machine the client's p50 moves by tens of microseconds between runs, the server-side segments much less: they
tell setup (in -> up), stream processing (headers -> [DONE]) and tail ([DONE] -> end) apart.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from gateway_bench import chat_body, free_port, load, start_emulator, wait_ready, write_config

ROOT = Path(__file__).resolve().parent.parent
STAMP = 'from wikismith.server.middleware import _T\n{i}_T.append(("{name}", __import__("time").perf_counter_ns()))\n'
# (file, lines of it (the first one found is stamped; older versions word some differently), stamp, where)
_FIRST_BYTE = "            with Deadline(min(deadline, loop.time() + self._timeouts.first_byte)):\n"
_DONE = ('                if data == b"[DONE]":\n', '                if event.data == "[DONE]":\n')
POINTS = [
    ("server/middleware.py", ("        rid = self._request_id(scope)\n",), "in", "before"),
    ("llm/providers/http.py", (_FIRST_BYTE,), "up", "before"),
    ("llm/providers/http.py", ("        opened = Opened(response, deadline, model)\n",), "hdr", "before"),
    ("llm/providers/openai_compat.py", _DONE, "done_ev", "after"),
]
SINK = """

_T: list = []  # stamped by benchmarks/stream_timeline.py


def _dump_timeline() -> None:
    import json as _json, os as _os
    with open(_os.environ["TIMELINE_OUT"], "w") as out:
        _json.dump(_T, out)


__import__("atexit").register(_dump_timeline)
"""
END_STAMP = (
    "        async def send_wrapper(message: Message) -> None:\n            nonlocal status, sent_start\n",
    '            if message["type"] == "http.response.body" and not message.get("more_body", False):\n'
    '                _T.append(("end", time.perf_counter_ns()))\n',
)


def stamped_tree(version: str, into: Path) -> Path:
    """`src` of `version` (a git revision or "worktree") copied under `into`, with the stamps in."""
    src = into / "src"
    if version == "worktree":
        shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        into.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", version, "src"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    package = src / "wikismith"
    for name, lines, stamp, where in POINTS:
        path = package / name
        text = path.read_text()
        line = next((candidate for candidate in lines if candidate in text), None)
        if line is None:
            raise SystemExit(f"{version}: {name} has no line {lines[0].strip()!r} to stamp; update POINTS")
        indent = line[: len(line) - len(line.lstrip())]
        if where == "after":
            indent += "    "
        code = "".join(indent + part + "\n" for part in STAMP.format(i="", name=stamp).strip().split("\n"))
        text = text.replace(line, code + line if where == "before" else line + code, 1)
        if name == "server/middleware.py":
            text = text.replace(END_STAMP[0], END_STAMP[0] + END_STAMP[1], 1) + SINK
        path.write_text(text)
    return src


BARE = """
import sys, time
sys.path.insert(0, {bench!r})
from gateway_bench import bare_app
import uvicorn
_T = []
app = bare_app({emu})
async def stamped(scope, receive, send):
    if scope["type"] != "http" or scope["path"] != "/v1/chat/completions":
        return await app(scope, receive, send)
    _T.append(("in", time.perf_counter_ns()))
    async def timed(message):
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            _T.append(("end", time.perf_counter_ns()))
        await send(message)
    await app(scope, receive, timed)
__import__("atexit").register(lambda: __import__("json").dump(_T, open({out!r}, "w")))
uvicorn.run(stamped, host="127.0.0.1", port={port}, loop="uvloop", http="httptools", log_level="warning")
"""


def segments(stamps: list[tuple[str, int]]) -> dict[str, float]:
    """Median microseconds of each segment over the requests that have all its stamps (the first quarter,
    warm-up, left out)."""
    spans: dict[str, list[float]] = collections.defaultdict(list)
    pairs = [("in", "up"), ("up", "hdr"), ("hdr", "done_ev"), ("done_ev", "end"), ("in", "end")]
    request: dict[str, int] = {}
    rows = []
    for kind, at in stamps:
        if kind == "in":
            request = {}
            rows.append(request)
        request.setdefault(kind, at)
    for row in rows[len(rows) // 4 :]:
        for a, b in pairs:
            if a in row and b in row:
                spans[f"{a}->{b}"].append((row[b] - row[a]) / 1000)
    return {name: statistics.median(values) for name, values in spans.items()}


async def run(args: argparse.Namespace, scratch: Path) -> None:
    emulator, emu_port = start_emulator()
    servers: dict[str, subprocess.Popen[bytes]] = {}
    ports: dict[str, int] = {}
    try:
        for name, version in (("A", args.a), ("B", args.b)):
            src = stamped_tree(version, scratch / name)
            ports[name] = free_port()
            env = {**os.environ, **write_config(scratch / f"home-{name}", emu_port)}
            env.update(PYTHONPATH=str(src), TIMELINE_OUT=str(scratch / f"{name}.json"))
            command = [sys.executable, "-c", "from wikismith.cli.app import main; main()", "serve"]
            command += ["--port", str(ports[name]), "--log-level", "warning"]
            servers[name] = subprocess.Popen(command, env=env)
        ports["bare"] = free_port()
        out = str(scratch / "bare.json")
        code = BARE.format(bench=str(ROOT / "benchmarks"), emu=emu_port, out=out, port=ports["bare"])
        servers["bare"] = subprocess.Popen([sys.executable, "-c", code])
        for port in ports.values():
            await wait_ready(f"http://127.0.0.1:{port}/health")
        body = chat_body("emu/stream20", True)
        p50: dict[str, list[float]] = collections.defaultdict(list)
        for i in range(args.rounds):
            for name in ("bare", "A", "B") if i % 2 == 0 else ("B", "A", "bare"):
                result = await load(f"http://127.0.0.1:{ports[name]}/v1/chat/completions", body, 1, args.duration)
                p50[name].append(result.pct(0.5))
    finally:
        for server in servers.values():
            server.send_signal(signal.SIGINT)
        for server in servers.values():
            server.wait(15)
        emulator.terminate()
    print(f"20-chunk stream, concurrency 1, {args.rounds} rounds of {args.duration:g} s; A = {args.a}, B = {args.b}")
    for name in ("bare", "A", "B"):
        spans = segments(json.loads((scratch / f"{name}.json").read_text()))
        figures = " | ".join(f"{span} {us:6.1f} us" for span, us in spans.items())
        print(f"{name:4} client p50 {statistics.median(p50[name]):.3f} ms | {figures}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", default="HEAD", help="a git revision (default HEAD)")
    parser.add_argument("--b", default="worktree", help="a git revision, or worktree (default)")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--duration", type=float, default=0.7)
    args = parser.parse_args()
    import uvloop

    with tempfile.TemporaryDirectory() as scratch:
        uvloop.run(run(args, Path(scratch)))


if __name__ == "__main__":
    main()
