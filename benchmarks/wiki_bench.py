"""Wiki generation wall time: a 10-page wiki against the emulator whose page answers take 1 s each, with
concurrency 1, 4 and 10, side by side in one run; then the same with instant answers, which is the overhead of
everything except the model calls (retrieval, prompts, citation checks, atomic writes, manifest, HTTP).

    .venv/bin/python benchmarks/wiki_bench.py [--pages 10] [--delay 1.0]

Target (issue 4): at concurrency 4, ≤ 1.5× the ideal ceil(pages / concurrency) × delay (≈ 3 s for 10 pages).
Everything is real but the model: the router, the OpenAI-compatible client over HTTP on 127.0.0.1, the index
(with a hashing embedder), the generator writing to a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _support import write_generator  # noqa: E402
from tests.support.embedders import HashEmbedder  # noqa: E402
from tests.support.emulator import Emulator, Reply  # noqa: E402

from wikismith.config.models import AppConfig, load_config  # noqa: E402
from wikismith.config.settings import Settings  # noqa: E402
from wikismith.router import Router  # noqa: E402
from wikismith.wiki.generator import PreparedRepo, WikiOptions, generate_wiki, prepare_repo  # noqa: E402


def write_repo(root: Path, pages: int) -> None:
    for i in range(pages):
        body = "".join(f"def f{i}_{j}(x):\n    return x + {j}\n\n" for j in range(30))
        (root / f"pkg/mod{i}.py").parent.mkdir(parents=True, exist_ok=True)
        (root / f"pkg/mod{i}.py").write_text(body)
    (root / "README.md").write_text("# bench\n\nA package with modules.\n")


def structure(pages: int) -> str:
    items = "".join(
        f'<page id="page-{i}"><title>Module {i}</title><description>topic{i}</description>'
        f"<relevant_files><file_path>pkg/mod{i}.py</file_path></relevant_files></page>"
        for i in range(pages)
    )
    return f"<wiki_structure><title>bench</title><description>d</description><pages>{items}</pages></wiki_structure>"


def config_for(directory: Path, base_url: str) -> AppConfig:
    return load_config(write_generator(directory, base_url), {})


async def one_run(
    emulator: Emulator, config: AppConfig, repo: PreparedRepo, out: Path, pages: int, delay: float, concurrency: int
) -> float:
    page = "# Module\n\nIt adds.\n\nSources: [pkg/mod0.py:1-2](), [pkg/mod0.py:500-600]()"
    emulator.script("m", Reply(text=structure(pages)), *(Reply(text=page, delay=delay) for _ in range(pages)))
    router = Router(config)
    try:
        started = time.perf_counter()
        options = WikiOptions(model="emu/m", concurrency=concurrency)
        summary = await generate_wiki(router, repo, out, options, language_name="English")
        wall = time.perf_counter() - started
    finally:
        await router.aclose()
    assert summary.exit_code == 0 and summary.written == pages, summary
    return wall


async def main(pages: int, delay: float) -> None:
    emulator = Emulator().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            write_repo(base / "repo", pages)
            config = config_for(base / "config", emulator.base_url)
            settings = Settings.from_env({"WIKISMITH_HOME": str(base / "home")})
            repo = await prepare_repo(settings, config, str(base / "repo"), embedder=HashEmbedder())
            print(f"{pages} pages, page answers delayed {delay:.1f} s (structure answer instant)")
            print(f"{'concurrency':>11} {'delay s':>8} {'wall s':>8} {'ideal s':>8} {'ratio':>6} {'overhead s':>11}")
            runs = 0
            for page_delay in (delay, 0.0):
                for concurrency in (1, 4, 10):
                    runs += 1
                    wall = await one_run(emulator, config, repo, base / f"out{runs}", pages, page_delay, concurrency)
                    ideal = math.ceil(pages / concurrency) * page_delay
                    ratio = f"{wall / ideal:.2f}" if ideal else "-"
                    cells = f"{concurrency:>11} {page_delay:>8.1f} {wall:>8.2f} {ideal:>8.2f} {ratio:>6}"
                    print(f"{cells} {wall - ideal:>11.3f}")
            print(
                f"target: concurrency 4 wall ≤ {1.5 * math.ceil(pages / 4) * delay:.1f} s; "
                "delay 0 rows are the overhead of everything except the model calls"
            )
    finally:
        emulator.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--delay", type=float, default=1.0)
    args = parser.parse_args()
    asyncio.run(main(args.pages, args.delay))
