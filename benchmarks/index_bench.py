"""Repository index benchmark on a real corpus, with the real local embedder (all-MiniLM-L6-v2 on CPU).

    .venv/bin/python benchmarks/index_bench.py [--corpus full|small] [--queries 200]

Corpus (created in a temporary directory): a copy of this project's `src/` plus the installed `fastapi` and
`aiohttp` packages' sources (`small`: `src/` and fastapi only). Figures printed:
1. full index: files, chunks, seconds, embedding throughput (chunks/s), peak RSS;
2. re-index after changing one file: seconds and chunks embedded (target: < 10% of the full index time);
3. a second full index of an unchanged tree (no embedding: scan, hash, compare);
4. retrieval: `RepoIndex.retrieve()` p50 on the real index (query embedding included) and the vector search
   alone at 10k and 100k chunks (synthetic unit vectors, 384 dimensions; target: < 5 ms p50 at 100k).
`--quality`: recall@5 and embedding time for chunk size x model sequence length (see `quality()`).
The local embedder computes in bfloat16 where the CPU supports it natively (`precision: auto`); the 20-line
throughput is printed for bfloat16 and float32 side by side, with the cosine agreement of their vectors.
Baseline for throughput: sentence-transformers on 2 CPU cores embeds ~32 chunks of ~20 lines per second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402

from wikismith.config.models import load_config  # noqa: E402
from wikismith.config.settings import Settings  # noqa: E402
from wikismith.rag import build_index, open_repo  # noqa: E402
from wikismith.rag.embedders import LocalEmbedder  # noqa: E402
from wikismith.rag.retriever import VectorSearch  # noqa: E402

QUESTIONS = [
    "how are websocket messages received",
    "dependency injection of request parameters",
    "where is the HTTP client session closed",
    "cookie jar handling",
    "how does the router retry a failed request",
    "OpenAPI schema generation for responses",
]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_corpus(target: Path, full: bool) -> Path:
    import aiohttp
    import fastapi

    sources = [(ROOT / "src" / "wikismith", "wikismith"), (Path(fastapi.__file__).parent, "fastapi")]
    if full:
        sources.append((Path(aiohttp.__file__).parent, "aiohttp"))
    for source, name in sources:
        shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c", "*.pyx"))
    return target


def twenty_line_windows(repo: Path, limit: int) -> list[str]:
    windows: list[str] = []
    for path in sorted(repo.rglob("*.py")):
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        windows += ["\n".join(lines[i : i + 20]) for i in range(0, len(lines), 20) if any(lines[i : i + 20])]
    step = max(1, len(windows) // limit)
    return windows[::step][:limit]


def p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def synthetic_search(n: int, dim: int = 384, queries: int = 200) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.perf_counter()
    search = VectorSearch(vectors)
    build = time.perf_counter() - started
    times = []
    for i in range(queries):
        query = vectors[(i * 7919) % n] + 0.1 * rng.standard_normal(dim).astype(np.float32)
        t = time.perf_counter()
        search.search(query / np.linalg.norm(query), 20)
        times.append(time.perf_counter() - t)
    return p50_ms(times), build


async def quality(embedder: LocalEmbedder) -> None:
    """Recall@5 of "first docstring line -> the chunk holding that function" over wikismith's own source, for
    chunk sizes x model sequence lengths, with the embedding time of each (relative figures on a loaded box)."""
    import ast

    from wikismith.rag.chunker import chunk_text
    from wikismith.rag.retriever import embedding_text

    root = ROOT / "src" / "wikismith"
    files = {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*.py"))}
    cases = []
    for path, text in files.items():
        functions = [n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        for node in functions:
            first = (ast.get_docstring(node) or "").split("\n")[0]
            if len(first.split()) >= 5:
                cases.append((first, path, node.lineno))
    model = embedder._load()
    for chunk_size, seq in ((350, 256), (200, 256), (150, 128), (350, 128)):
        model.max_seq_length = seq
        chunks = [c for p, t in files.items() for c in chunk_text(p, t, chunk_size, chunk_size // 7)]
        started = time.perf_counter()
        vectors = await embedder.embed([embedding_text(c) for c in chunks])
        took = time.perf_counter() - started
        top = np.argsort(-((await embedder.embed([c[0] for c in cases])) @ vectors.T), axis=1)[:, :5]
        found = sum(
            any(chunks[j].path == p and chunks[j].start_line <= line <= chunks[j].end_line for j in row)
            for row, (_, p, line) in zip(top, cases, strict=True)
        )
        print(
            f"chunk {chunk_size:>3} tokens, seq {seq}: {len(chunks)} chunks, {took:.1f} s "
            f"({len(chunks) / took:.1f} chunks/s), recall@5 {found / len(cases):.2f} ({len(cases)} queries)"
        )
    model.max_seq_length = 256


async def main(full: bool, queries: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="wikismith-bench-"))
    try:
        repo = make_corpus(work / "corpus", full)
        settings = Settings(home=work / "home", env={})
        config = load_config(None, {})
        embedder = LocalEmbedder()
        started = time.perf_counter()
        await embedder.embed(["warm up"])
        load_seconds = time.perf_counter() - started
        snapshot = await open_repo(str(repo), settings, config)
        rss_before = peak_rss_mb()
        index = await build_index(snapshot, settings, config, embedder=embedder)
        full_s, stats = index.stats.seconds, index.stats
        print(f"model load            {load_seconds:.1f} s")
        print(f"corpus                {len(index.files)} files, {len(index.chunks)} chunks, skipped {index.skipped}")
        print(f"full index            {full_s:.1f} s (embedding {stats.embed_seconds:.1f} s)")
        print(f"throughput            {stats.chunks_embedded / max(stats.embed_seconds, 1e-9):.1f} chunks/s")
        print(f"peak RSS              {peak_rss_mb():.0f} MB (before indexing {rss_before:.0f} MB)")

        counts = sorted((f["count"], path) for path, f in index.manifest["files"].items())
        again = index
        for label, (_, path) in (("median", counts[len(counts) // 2]), ("largest", counts[-1])):
            target = repo / path
            target.write_text(target.read_text() + "\n# touched by the benchmark\n")
            again = await build_index(snapshot, settings, config, embedder=embedder, previous=again)
            share = 100 * again.stats.seconds / full_s
            print(
                f"re-index, 1 changed   {again.stats.seconds:.2f} s ({share:.1f}% of full) — {label} file {path}: "
                f"{again.stats.chunks_embedded} chunks embedded, {again.stats.files_reused} files reused"
            )
        cold = await build_index(snapshot, settings, config, embedder=embedder)
        print(f"re-index, unchanged   {cold.stats.seconds:.2f} s (from disk, {cold.stats.chunks_embedded} embedded)")

        times = []
        for i in range(queries):
            t = time.perf_counter()
            await again.retrieve(QUESTIONS[i % len(QUESTIONS)], 20)
            times.append(time.perf_counter() - t)
        print(f"retrieve (real index) p50 {p50_ms(times):.2f} ms incl. query embedding ({len(again.chunks)} chunks)")
        windows = twenty_line_windows(repo, 256)
        vectors = {}
        for precision in ("bfloat16", "float32"):  # the same model object, both precisions, back to back
            embedder.precision, embedder._bf16 = precision, None
            started = time.perf_counter()
            vectors[precision] = await embedder.embed(windows)
            rate = len(windows) / (time.perf_counter() - started)
            print(f"throughput, 20-line   {rate:.1f} chunks/s in {precision} ({len(windows)} windows of 20 lines)")
        agreement = (vectors["bfloat16"] * vectors["float32"]).sum(axis=1)
        print(f"bf16 vs fp32 vectors  cosine min {agreement.min():.5f}, mean {agreement.mean():.5f}")
        for n in (10_000, 100_000):
            p50, build = synthetic_search(n, queries=queries)
            print(f"vector search {n // 1000:>3}k   p50 {p50:.3f} ms (index build {build:.2f} s)")
        await embedder.aclose()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=["full", "small"], default="full")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--quality", action="store_true", help="Only the chunk size x sequence length comparison.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.quality:
        asyncio.run(quality(LocalEmbedder()))
    else:
        asyncio.run(main(args.corpus == "full", args.queries))
