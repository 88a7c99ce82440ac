"""Top-5 hit rate of symbol-aligned chunks against line chunks, on a docstring-to-code task (`docstring_task`).

    .venv/bin/python benchmarks/retrieval_bench.py [--queries 300] [--packages starlette,typer]

Corpora: this project's `src/` and two installed dependencies (default starlette and typer). Both chunkers get the
same texts (docstrings blanked), the same settings (350 tokens, 50 overlap) and the same embedder (the default
local all-MiniLM-L6-v2); what is embedded is `retriever.embedding_text` (the symbol path, else the file path, as a
header). Printed per corpus, side by side: chunks, hit@1 and hit@5 for line chunks (`chunk_text`) and symbol chunks
(`chunk_file` with the code map).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
from docstring_task import Task, make_tasks  # noqa: E402

from wikismith.config.models import load_config  # noqa: E402
from wikismith.rag.chunker import chunk_file, chunk_text  # noqa: E402
from wikismith.rag.embedders import create_embedder  # noqa: E402
from wikismith.rag.retriever import VectorSearch, embedding_text  # noqa: E402
from wikismith.rag.types import Chunk  # noqa: E402


async def hit_rates(embedder: object, chunks: list[Chunk], tasks: list[Task]) -> tuple[float, float]:
    vectors = await embedder.embed([embedding_text(c) for c in chunks])  # type: ignore[attr-defined]
    queries = await embedder.embed([t.query for t in tasks])  # type: ignore[attr-defined]
    search = VectorSearch(np.asarray(vectors, dtype=np.float32))
    at1 = at5 = 0
    for task, query in zip(tasks, queries, strict=True):
        hits = [chunks[row] for row, _ in search.search(np.asarray(query, dtype=np.float32), 5)]
        found = [task.hit(c.path, c.start_line, c.end_line) for c in hits]
        at1 += found[:1] == [True]
        at5 += any(found)
    return at1 / len(tasks), at5 / len(tasks)


def corpus(name: str) -> tuple[Path, list[str]]:
    root = ROOT / "src" if name == "src" else Path(importlib.import_module(name).__file__ or "").parent.parent
    prefix = "wikismith" if name == "src" else name
    paths = sorted(str(p.relative_to(root)) for p in (root / prefix).rglob("*.py") if "__pycache__" not in p.parts)
    return root, paths


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--packages", default="starlette,typer")
    args = parser.parse_args()
    embedder = create_embedder(load_config(None, {}))
    print(f"embedder: {embedder.id}; chunks of 350 tokens, 50 overlap")
    print(
        f"{'corpus':12}{'tasks':>6}{'line chunks':>13}{'hit@1':>7}{'hit@5':>7}"
        f"{'symbol chunks':>15}{'hit@1':>7}{'hit@5':>7}"
    )
    try:
        for name in ["src", *args.packages.split(",")]:
            root, paths = corpus(name)
            tasks, texts, codemap = make_tasks(root, paths, limit=args.queries)
            lines = [c for p, t in texts.items() for c in chunk_text(p, t, 350, 50)]
            symbols = [c for p, t in texts.items() for c in chunk_file(p, t, codemap.files.get(p), 350, 50)]
            line1, line5 = await hit_rates(embedder, lines, tasks)
            sym1, sym5 = await hit_rates(embedder, symbols, tasks)
            print(
                f"{name:12}{len(tasks):>6}{len(lines):>13}{line1:>7.1%}{line5:>7.1%}"
                f"{len(symbols):>15}{sym1:>7.1%}{sym5:>7.1%}"
            )
    finally:
        await embedder.aclose()


if __name__ == "__main__":
    asyncio.run(main())
