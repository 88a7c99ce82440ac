"""Identifier faithfulness of wiki pages, before and after the check against the code map.

    .venv/bin/python benchmarks/grounding_bench.py [--invented 0.3] [--pages 10] [--demo wiki-out/tinycalc]

1. Scripted model: a real `generate_wiki` run (index, code map, structure, pages, grounding) over this repository's
   `src/` and over `examples/tinycalc`, with a model that writes pages of sentences each naming one identifier:
   real ones sampled from the code map (functions, classes, `Class.method`, files, calls) and, at the `--invented`
   rate, invented ones (an invented method of a real class, an invented class or function, an invented file
   beside real ones, a real name with a letter dropped), each checked to be nowhere in the repository. Printed:
   resolved / named before the check (the checker's own count) and after it (the final pages checked again), the
   share of invented identifiers taken out (target >= 95 %) and of real ones kept (target >= 99 %).
2. Demo (`--demo DIR`, the output of `make demo`): resolved / named before (from its manifest) and after (the
   final pages checked again).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import re
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from wikismith.config.models import load_config  # noqa: E402
from wikismith.config.settings import Settings  # noqa: E402
from wikismith.llm.events import Finish, StreamEvent, TextDelta  # noqa: E402
from wikismith.llm.types import ChatRequest, ChatResponse, ModelInfo  # noqa: E402
from wikismith.rag.codemap import CodeMap  # noqa: E402
from wikismith.rag.identifiers import Resolver, find_mentions  # noqa: E402
from wikismith.wiki.generator import WikiOptions, generate_wiki, prepare_repo  # noqa: E402

VERBS = ("validate", "render", "flush", "normalize", "compute", "dispatch", "serialize", "rebuild")
NOUNS = ("tree", "state", "cache", "buffer", "graph", "payload", "snapshot", "ledger")
SUFFIXES = ("Manager", "Factory", "Stream", "Registry", "Loader", "Visitor")
SENTENCES = (
    "Here {x} does part of the work.",
    "It relies on {x} for this step.",
    "See {x} for the details.",
    "The flow passes through {x} next.",
)


class Hashing:
    """A tiny deterministic embedder (words hashed into 256 dimensions), so the benchmark loads no model."""

    id = "bench/hash-256"
    dimension = 256

    async def embed(self, texts: Sequence[str]) -> np.ndarray:  # type: ignore[type-arg]
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little") % 256] += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)

    async def aclose(self) -> None:
        return None


@dataclass
class Truth:
    """What the scripted model wrote: per page, (written form, real?) for each identifier."""

    pages: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)


def real_names(codemap: CodeMap, rng: random.Random) -> list[str]:
    names: list[str] = []
    for facts in codemap.files.values():
        if not facts.language:
            continue
        names.append(f"`{facts.path}`")
        for s in facts.symbols:
            if s.kind in ("class", "function", "method") and not s.name.startswith("_"):
                names.append(f"`{s.qualname}()`" if s.kind != "class" and rng.random() < 0.3 else f"`{s.qualname}`")
                if s.parent is None and facts.module and facts.language == "python":
                    names.append(f"`{facts.module}.{s.qualname}`")  # module-qualified
    return names


def in_prose(name: str, rng: random.Random) -> str:
    """Some snake_case names and calls written without backticks, as prose (still found by the check)."""
    bare = name.strip("`")
    shaped = "_" in bare.removesuffix("()") or bare.endswith("()")
    return bare if shaped and "." not in bare and "/" not in bare and rng.random() < 0.3 else name


def invented_names(codemap: CodeMap, resolver: Resolver, rng: random.Random, count: int) -> list[str]:
    classes = [s.qualname for f in codemap.files.values() for s in f.symbols if s.kind == "class"]
    functions = [s.name for f in codemap.files.values() for s in f.symbols if s.kind == "function" and len(s.name) > 5]
    dirs = sorted({p.rsplit("/", 1)[0] for p in codemap.files if "/" in p and codemap.files[p].language})
    out: list[str] = []
    while len(out) < count:
        kind = rng.randrange(5)
        if kind == 0 and classes:
            name = f"{rng.choice(classes)}.{rng.choice(VERBS)}_{rng.choice(NOUNS)}"
        elif kind == 1:
            name = f"{rng.choice(NOUNS).title()}{rng.choice(SUFFIXES)}"
        elif kind == 2:
            name = f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}"
        elif kind == 3 and dirs:
            name = f"{rng.choice(dirs)}/{rng.choice(NOUNS)}_{rng.choice(VERBS)}.py"
        elif functions:
            real = rng.choice(functions)
            cut = rng.randrange(1, len(real) - 1)
            name = real[:cut] + real[cut + 1 :]
        else:
            continue
        if resolver.resolve(name).status == "resolved" or name in resolver.words():
            continue
        out.append(f"`{name}()`" if kind == 2 and rng.random() < 0.5 else f"`{name}`")
    return out


class ScriptedWriter:
    """A ChatModel: the structure request gets `pages` pages over the code files; each page request gets sentences
    naming identifiers, `invented` of them invented."""

    def __init__(self, codemap: CodeMap, resolver: Resolver, pages: int, invented: float, seed: int) -> None:
        self.rng = random.Random(seed)
        self.codemap, self.resolver = codemap, resolver
        self.real = real_names(codemap, self.rng)
        self.pages, self.invented, self.truth = pages, invented, Truth()
        self.code = sorted(p for p, f in codemap.files.items() if f.language)

    def structure(self) -> str:
        pages = []
        for i in range(self.pages):
            files = "".join(f"<file_path>{p}</file_path>" for p in self.rng.sample(self.code, min(3, len(self.code))))
            pages.append(
                f'<page id="page-{i + 1}"><title>Topic {i + 1}</title><description>Part {i + 1}</description>'
                f"<importance>high</importance><relevant_files>{files}</relevant_files></page>"
            )
        return f"<wiki_structure><title>Bench</title><pages>{''.join(pages)}</pages></wiki_structure>"

    def page(self, title: str) -> str:
        named: list[tuple[str, bool]] = []
        for _ in range(20):
            invented = self.rng.random() < self.invented
            name = (
                invented_names(self.codemap, self.resolver, self.rng, 1)[0] if invented else self.rng.choice(self.real)
            )
            named.append((in_prose(name, self.rng), not invented))
        self.truth.pages[title] = named
        body = " ".join(self.rng.choice(SENTENCES).format(x=name) for name, _ in named)
        return f"# {title}\n\n{body}\n"

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        prompt = request.messages[-1].content or ""
        topic = re.search(r"Topic \d+", prompt)
        text = self.structure() if topic is None else self.page(topic.group(0))
        yield TextDelta(text)
        yield Finish("stop")

    async def complete(self, request: ChatRequest) -> ChatResponse:
        from wikismith.llm.events import collect

        return await collect(self.stream(request))

    async def list_models(self) -> list[ModelInfo]:
        return []

    async def aclose(self) -> None:
        return None


def body_of(page: str) -> str:
    """The model's part of a final page: no details block, derived diagrams or key symbols table."""
    page = re.sub(r"<details>.*?</details>", "", page, flags=re.DOTALL)
    return page.split("\n## Diagrams from the code", 1)[0].split("\n## Key symbols", 1)[0]


def recheck(texts: Sequence[str], resolver: Resolver) -> tuple[int, int]:
    mentions = [m for text in texts for m in find_mentions(text, resolver.roots)]
    return sum(1 for m in mentions if resolver.resolve(m.name).status == "resolved"), len(mentions)


async def scripted(source: Path, pages: int, invented: float, seed: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env({"WIKISMITH_HOME": str(Path(tmp) / "home")})
        config = load_config(None, {})
        repo = await prepare_repo(settings, config, str(source), embedder=Hashing())  # type: ignore[arg-type]
        assert repo.codemap is not None
        resolver = Resolver(repo.codemap, repo.files, repo.snapshot.root)
        writer = ScriptedWriter(repo.codemap, resolver, pages, invented, seed)
        out = Path(tmp) / "out"
        options = WikiOptions(model="bench/scripted", fallback_structure=False, fact_pages=False)
        summary = await generate_wiki(writer, repo, out, options, language_name="English")  # type: ignore[arg-type]
        data = json.loads((out / "wiki.json").read_text())
        final = {p["title"]: body_of(p["content"]) for p in data["generated_pages"].values()}
    kept = {True: 0, False: 0}
    total = {True: 0, False: 0}
    for title, named in writer.truth.pages.items():
        for name, real in named:
            total[real] += 1
            kept[real] += name in final.get(title, "")
    after_resolved, after_named = recheck(list(final.values()), resolver)
    return {
        "named": summary.identifiers.named,
        "before": summary.identifiers.resolved / max(1, summary.identifiers.named),
        "truth_real_share": total[True] / max(1, total[True] + total[False]),
        "after": after_resolved / max(1, after_named),
        "after_named": after_named,
        "invented_removed": 1 - kept[False] / max(1, total[False]),
        "real_kept": kept[True] / max(1, total[True]),
        "invented": total[False],
        "real": total[True],
        "rewritten": summary.identifiers.rewritten,
    }


def demo(directory: Path) -> dict[str, float] | None:
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        return None
    counts = json.loads(manifest.read_text())["identifiers"]
    repo = json.loads(manifest.read_text())["repo"]
    from wikismith.rag.codemap import build_codemap

    root = Path(repo["local_path"])
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    resolver = Resolver(build_codemap(root, files), files, root)
    pages = [body_of(p.read_text()) for p in sorted(directory.glob("page-*.md"))]
    resolved, named = recheck(pages, resolver)
    return {
        "before": counts["resolved"] / max(1, counts["named"]),
        "named": counts["named"],
        "after": resolved / max(1, named),
        "after_named": named,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invented", type=float, default=0.3)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--demo", type=Path, default=ROOT / "wiki-out" / "tinycalc")
    args = parser.parse_args()
    rows = []
    for name, source in (
        ("src/ (this repository)", ROOT / "src"),
        ("examples/tinycalc", ROOT / "examples" / "tinycalc"),
    ):
        rows.append((name, asyncio.run(scripted(source, args.pages, args.invented, args.seed))))
    print(f"scripted model, {args.invented:.0%} of named identifiers invented, {args.pages} pages of 20 each")
    print(
        f"{'':24}{'named':>6}{'real':>7}{'before':>8}{'after':>8}{'invented out':>14}{'real kept':>11}{'rewritten':>11}"
    )
    for name, r in rows:
        print(
            f"{name:24}{r['named']:>6.0f}{r['truth_real_share']:>7.1%}{r['before']:>8.1%}{r['after']:>8.1%}"
            f"{r['invented_removed']:>14.1%}{r['real_kept']:>11.1%}{r['rewritten']:>11.0f}"
        )
    print("(real: the share written real; before/after: resolved / named by the check; targets: invented out >= 95 %,")
    print(" real kept >= 99 %)")
    found = demo(args.demo)
    if found is None:
        print(f"demo: no run in {args.demo} (run `make demo` first)")
    else:
        print(
            f"demo ({args.demo}): before {found['before']:.1%} of {found['named']:.0f} named, "
            f"after {found['after']:.1%} of {found['after_named']:.0f}"
        )


if __name__ == "__main__":
    main()
