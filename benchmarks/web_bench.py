"""The web app's figures on a 30-page wiki: the server's time to answer a wiki page (p50, p99, serial requests
over one keep-alive connection on 127.0.0.1), the first contentful paint of a wiki page in Chromium (each load in
a fresh browser context, so nothing is cached), and the bytes of JS and CSS a page loads — on a page without a
diagram (Mermaid is not loaded there) and on one with a diagram (Mermaid's own bytes shown apart).

    .venv/bin/python benchmarks/web_bench.py [--requests 300] [--paints 15]

Targets (issue 21): first contentful paint ≤ 300 ms; JS + CSS ≤ 300 KB without Mermaid. Needs Debian's chromium
(`make browser`). The server is `wikismith serve` in its own process.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402
from _support import write_generator  # noqa: E402
from tests.server.web.conftest import CHROMIUM_ARGS, build_wiki, ensure_chromium, repo_files  # noqa: E402

PAGES = 30
PAINT = """() => new Promise(done => {
  const entry = performance.getEntriesByName("first-contentful-paint")[0];
  if (entry) return done(entry.startTime);
  new PerformanceObserver(list => done(list.getEntries()[0].startTime)).observe({type: "paint", buffered: true});
})"""
INLINE = (
    "() => [...document.querySelectorAll('style, script:not([src])')].reduce((n, e) => n + e.textContent.length, 0)"
)


class Served:
    """`wikismith serve` in its own process (so the benchmark's client and browser driver do not share its GIL)."""

    def __init__(self, base: Path) -> None:
        repo = base / "roots" / "demo"
        repo_files(repo)
        home = base / "home"
        build_wiki(home, repo, pages=PAGES, words=900)  # pages of about 7 KB of Markdown each
        config_dir = write_generator(base / "config", "http://127.0.0.1:9/v1", model="m1")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {**os.environ, "WIKISMITH_HOME": str(home), "WIKISMITH_CONFIG_DIR": str(config_dir),
               "WIKISMITH_LOCAL_ROOTS": str(base / "roots"), "WIKISMITH_CATALOGUE_REFRESH": "0",
               "WIKISMITH_LOG_LEVEL": "warning"}  # fmt: skip
        command = [str(Path(sys.executable).parent / "wikismith"), "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wiki = f"http://127.0.0.1:{self.port}/wiki/local/local/demo"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx2.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    return
            except httpx2.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("the server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def server_times(wiki: str, requests: int) -> list[float]:
    times = []
    with httpx2.Client(headers={"accept": "text/html"}, timeout=30) as client:
        for i in range(requests + 20):
            url = f"{wiki}/page-{3 + i % (PAGES - 2)}"  # pages without a diagram, every one in turn
            started = time.perf_counter()
            response = client.get(url)
            took = time.perf_counter() - started
            assert response.status_code == 200, response.status_code
            if i >= 20:  # warm-up: imports, template compilation
                times.append(took * 1000)
    return times


def browser_figures(wiki: str, paints: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(ensure_chromium()), args=CHROMIUM_ARGS)
        try:
            fcp = [first_paint(browser, f"{wiki}/page-{5 + i % 20}") for i in range(paints + 2)][2:]
            blank = [first_paint(browser, "data:text/html,<p>hello</p>") for _ in range(paints)]
            plain = asset_bytes(browser, f"{wiki}/page-5")
            diagram = asset_bytes(browser, f"{wiki}/page-1", wait="figure.diagram svg")
        finally:
            browser.close()
    return {"fcp": fcp, "blank": blank, "plain": plain, "diagram": diagram}


def first_paint(browser: Any, url: str) -> float:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url, wait_until="load")
        value = page.evaluate(PAINT)
        return float(value)
    finally:
        context.close()


def asset_bytes(browser: Any, url: str, wait: str | None = None) -> dict[str, int]:
    """Bytes of the scripts and stylesheets the page loaded: ours, and Mermaid's."""
    context = browser.new_context()
    seen: dict[str, int] = {}

    def on_response(response: Any) -> None:
        if response.request.resource_type in ("script", "stylesheet"):
            seen[response.url] = len(response.body())

    try:
        page = context.new_page()
        page.on("response", on_response)
        page.goto(url, wait_until="networkidle")
        if wait:
            page.wait_for_selector(wait, timeout=30_000)
            page.wait_for_load_state("networkidle")
        inline = int(page.evaluate(INLINE))  # styles and scripts written into the page count too
    finally:
        context.close()
    mermaid = sum(size for u, size in seen.items() if "/vendor/mermaid/" in u)
    return {"ours": sum(seen.values()) - mermaid + inline, "mermaid": mermaid, "files": len(seen), "inline": inline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--paints", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = Served(Path(tmp))
        try:
            times = server_times(server.wiki, args.requests)
            figures = browser_figures(server.wiki, args.paints)
        finally:
            server.stop()
    report(times, figures)


def report(times: list[float], figures: dict[str, Any]) -> None:
    def spread(values: list[float], digits: int = 1) -> str:
        p50, p99 = statistics.median(values), percentile(values, 0.99)
        return f"p50 {p50:6.{digits}f} ms   p99 {p99:6.{digits}f} ms   max {max(values):6.{digits}f} ms"

    plain, diagram = figures["plain"], figures["diagram"]
    print(f"wiki: {PAGES} pages; server time per page over HTTP on loopback, {len(times)} requests:")
    print(f"  {spread(times, 2)}")
    print(f"first contentful paint in Chromium, {len(figures['fcp'])} loads (target <= 300 ms):")
    print(f"  {spread(figures['fcp'])}")
    print(f"  (the browser alone, a one-line data: page: {spread(figures['blank'])})")
    print("JS + CSS a wiki page loads (target <= 300 KB without Mermaid), inline styles included:")
    mermaid = "none loaded" if not plain["mermaid"] else f"{plain['mermaid']} B"
    print(f"  page without a diagram: {plain['ours'] / 1024:6.1f} KB ({plain['files']} files), Mermaid: {mermaid}")
    print(f"  page with a diagram:    {diagram['ours'] / 1024:6.1f} KB + Mermaid {diagram['mermaid'] / 1024:6.1f} KB "
          f"({diagram['files']} files)")  # fmt: skip


if __name__ == "__main__":
    main()
