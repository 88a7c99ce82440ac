"""Where a streamed answer's time goes inside the gateway, at concurrency 1: two versions of wikismith and the bare
pass-through, side by side, each stamped at the same points of every request.

    .venv/bin/python benchmarks/stream_timeline.py                          # HEAD against the working tree
    .venv/bin/python benchmarks/stream_timeline.py --a HEAD~3 --b HEAD --rounds 16
    .venv/bin/python benchmarks/stream_timeline.py --detail                 # and every step in between

Each version's `src` (a git revision, or the working tree for `--b worktree`) is copied to a scratch directory
and stamped there (the code under test is never edited): request in; upstream call sent; upstream headers in;
each upstream read; `[DONE]` parsed; the response's last byte sent. Both versions and the bare gateway (stamped
at the same points, through `bare_app`'s hook) serve the same emulator; `--rounds` rounds of `--duration` seconds
alternate between them, so the machine's drift falls on all three alike. Printed: the client's p50, the medians
of each server-side segment, and the median number of upstream reads per request. On this shared machine the
client's p50 moves by tens of microseconds between runs, the server-side segments much less: they tell setup
(in -> up), the upstream's answer (up -> hdr), stream processing (hdr -> done_ev) and tail (done_ev -> end) apart.

`--detail` adds a line per version with the steps between (the points a version lacks are left out): body read
and validated, ChatRequest built, router entered, rate-limit slot held, client called; then first batch ready,
response started, headers sent, first piece sent, second read. What it showed (us, 20-chunk stream, several
runs): the second read comes 65-90 after the first piece is sent and holds the ~20 remaining events (bare reads
4-5 times), and parsing them (60-100) is the part of the gap to bare that counts most; setup is 85-110 against
bare's ~40; starting the response and sending the first piece take ~60.
"""

from __future__ import annotations

import argparse
import collections
import itertools
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
_START = (
    '        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})\n'
)
_SEND = '        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})\n'
POINTS = [
    ("server/middleware.py", ("        rid = self._request_id(scope)\n",), "in", "before"),
    ("llm/providers/http.py", (_FIRST_BYTE,), "up", "before"),
    ("llm/providers/http.py", ("        opened = Opened(response, deadline, model)\n",), "hdr", "before"),
    ("llm/providers/http.py", ("            yield data\n",), "rd", "before"),
    ("llm/providers/openai_compat.py", _DONE, "done_ev", "after"),
]
# The steps between, for `--detail`: stamped where the version has the line (`after0`: after it, same indent).
_BODY = tuple(
    f"    body = parse_body(ChatCompletionBody, await {read})\n" for read in ("read_body(request)", "request.body()")
)
_REQUEST = "    chat_request = to_chat_request(body, tag, server.limits.max_messages)\n"
_ROUTER = "        plan = self.plan(request)\n        state = self._state(plan, request)\n        resume"
_SLOT = "                            upstream = _batches(self.client(target.target.provider), provider_request)\n"
_FIRST = "    sse = _sse(server, batches, first, target, attempts, include_usage)\n"
DETAIL = [
    ("server/routes/openai.py", _BODY, "body", "after0"),
    ("server/routes/openai.py", (_REQUEST,), "req", "after0"),
    ("router/router.py", (_ROUTER,), "router", "before"),
    ("router/router.py", (_SLOT,), "slot", "before"),
    ("server/routes/openai.py", (_FIRST,), "first", "before"),
    ("server/streaming.py", ("        watch = _Watch(task, receive)\n",), "resp", "before"),
    ("server/streaming.py", (_START,), "hsent", "after0"),
    ("server/streaming.py", (_SEND,), "p1sent", "after0"),
]
ORDER = [  # every point in the order a request meets them ("rd2": the second upstream read)
    "in", "body", "req", "router", "slot", "up", "hdr", "first", "resp", "hsent", "p1sent", "rd2", "done_ev", "end",
]  # fmt: skip
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
    for name, lines, stamp, where in [*POINTS, *DETAIL]:
        path = package / name
        text = path.read_text()
        line = next((candidate for candidate in lines if candidate in text), None)
        if line is None:
            if (name, lines, stamp, where) in DETAIL:  # optional: older versions may lack the step
                continue
            raise SystemExit(f"{version}: {name} has no line {lines[0].strip()!r} to stamp; update POINTS")
        indent = line[: len(line) - len(line.lstrip())]
        if where == "after":
            indent += "    "
        where = "after" if where == "after0" else where
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
app = bare_app({emu}, stamp=lambda point: _T.append((point, time.perf_counter_ns())))
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


def segments(stamps: list[tuple[str, int]], detail: bool) -> dict[str, float]:
    """Median microseconds of each segment over the requests that have its stamps (the first quarter, warm-up,
    left out), and `reads`, the median number of upstream reads. With `detail`, the segments between consecutive
    points of `ORDER` too."""
    spans: dict[str, list[float]] = collections.defaultdict(list)
    pairs = [("in", "up"), ("up", "hdr"), ("hdr", "done_ev"), ("done_ev", "end"), ("in", "end")]
    request: dict[str, int] = {}
    rows = []
    for kind, at in stamps:
        if kind == "in":
            request = {}
            rows.append(request)
        if kind == "rd":  # counted; the second one is a point of its own
            request["reads"] = request.get("reads", 0) + 1
            kind = "rd2" if request["reads"] == 2 else ""
        if kind:
            request.setdefault(kind, at)
    for row in rows[len(rows) // 4 :]:
        steps = sorted((p for p in ORDER if p in row), key=row.__getitem__) if detail else []  # as they came
        for a, b in [*pairs, *itertools.pairwise(steps)]:
            if a in row and b in row:
                spans[f"{a}->{b}"].append((row[b] - row[a]) / 1000)
        spans["reads"].append(row.get("reads", 0))
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
        spans = segments(json.loads((scratch / f"{name}.json").read_text()), args.detail)
        reads = spans.pop("reads")
        coarse = list(spans.items())[:5] if args.detail else list(spans.items())
        figures = " | ".join(f"{span} {us:6.1f} us" for span, us in coarse)
        print(f"{name:4} client p50 {statistics.median(p50[name]):.3f} ms | {figures} | reads {reads:g}")
        if args.detail:
            steps = list(spans.items())[len(coarse) :]
            print("     " + " | ".join(f"{span} {us:.1f}" for span, us in steps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", default="HEAD", help="a git revision (default HEAD)")
    parser.add_argument("--b", default="worktree", help="a git revision, or worktree (default)")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--duration", type=float, default=0.7)
    parser.add_argument("--detail", action="store_true", help="also the steps between the main points")
    args = parser.parse_args()
    import uvloop

    with tempfile.TemporaryDirectory() as scratch:
        uvloop.run(run(args, Path(scratch)))


if __name__ == "__main__":
    main()
