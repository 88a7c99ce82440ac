"""Code map build benchmark: time and peak memory on 2,000+ real files, then after one changed file.

    .venv/bin/python benchmarks/codemap_bench.py [--packages aiohttp,pydantic,fastapi,starlette,...]

The corpus is a copy (in a temporary directory) of installed packages' sources: the issue names aiohttp,
pydantic, fastapi and starlette, which hold ~270 Python files, so openai, rich, typer and uvicorn are added to
pass 2,000 files. Each measurement runs in a fresh process, so its peak RSS is its own. Figures, side by side:
1. a full build: seconds and peak RSS (target <= 20 s on 2 cores), with the machine's load average;
2. a rebuild after one changed file, the previous map in memory (target <= 0.5 s), and its save;
3. load of the saved map.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from wikismith.rag import codemap as cm  # noqa: E402

DEFAULT = "aiohttp,pydantic,fastapi,starlette,openai,rich,typer,uvicorn"


def make_corpus(target: Path, packages: list[str]) -> list[str]:
    for name in packages:
        source = Path(importlib.import_module(name).__file__ or "").parent
        shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyc"))
    return sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())


def peak_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss, it does not start from the parent's at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, corpus: Path) -> dict[str, float]:
    """One measurement, in this (fresh) process."""
    paths = sorted(str(p.relative_to(corpus)) for p in corpus.rglob("*") if p.is_file())
    before = peak_mb()
    started = time.perf_counter()
    codemap = cm.build_codemap(corpus, paths)
    out = {"seconds": time.perf_counter() - started, "peak_mb": peak_mb(), "baseline_mb": before}
    out["files"] = len(codemap.files)
    out["symbols"] = sum(len(f.symbols) for f in codemap.files.values())
    out["parsed"] = sum(1 for f in codemap.files.values() if f.language)
    if mode == "incremental":
        victim = next(p for p in paths if p.endswith(".py") and "starlette" in p)
        with open(corpus / victim, "a") as handle:
            handle.write("\n\ndef added_by_the_benchmark(x):\n    return x\n")
        started = time.perf_counter()
        again = cm.build_codemap(corpus, paths, codemap)
        out["one_changed_seconds"] = time.perf_counter() - started
        assert "added_by_the_benchmark" in [s.qualname for s in again.symbols_in(victim)]
        started = time.perf_counter()
        again.save(corpus.parent)
        out["save_seconds"] = time.perf_counter() - started
        out["map_mb"] = (corpus.parent / cm.FILE_NAME).stat().st_size / 1e6
        started = time.perf_counter()
        cm.CodeMap.load(corpus.parent)
        out["load_seconds"] = time.perf_counter() - started
    return out


def run(mode: str, corpus: Path) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--corpus", str(corpus)], capture_output=True, text=True, check=True
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", default=DEFAULT)
    parser.add_argument("--child")
    parser.add_argument("--corpus")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, Path(args.corpus))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        paths = make_corpus(corpus, args.packages.split(","))
        lines = sum((corpus / p).read_bytes().count(b"\n") for p in paths if p.endswith(".py"))
        print(f"corpus: {len(paths)} files ({lines:,} lines of Python) from {args.packages}")
        load = os.getloadavg()[0]
        result = run("incremental", corpus)
    print(f"full build: {result['seconds']:.2f} s (target <= 20; load average {load:.1f} on {os.cpu_count()} cores)")
    print(f"peak RSS: {result['peak_mb']:.0f} MB ({result['baseline_mb']:.0f} MB before the build)")
    print(f"files {result['files']:.0f} (parsed {result['parsed']:.0f}), symbols {result['symbols']:.0f}")
    print(f"one changed file: {result['one_changed_seconds']:.3f} s (target <= 0.5)")
    print(f"save: {result['save_seconds']:.3f} s ({result['map_mb']:.1f} MB); load: {result['load_seconds']:.3f} s")


if __name__ == "__main__":
    main()
