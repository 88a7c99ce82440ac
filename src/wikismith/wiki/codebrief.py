"""The code map as prompt text: a compact map of the repository for the structure prompt, and a page's facts.

`compact_map` lists packages (directories of code) with their modules and main classes and functions, the
dependencies between packages (clusters of modules that import one another), and the entry points that can be
detected: console scripts (`pyproject.toml`, `package.json`), `__main__` modules and guards, `main` functions
of Go, Rust and Java, and HTTP routes declared by decorators or calls (`@app.get("/x")`, `router.post('/x')`,
`http.HandleFunc("/x")`). Everything is bounded by `max_chars`.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import orjson

from wikismith.rag.codemap import CodeMap, Symbol

_ROUTE = re.compile(
    r"""(?:@\w+(?:\.\w+)*\.(?:get|post|put|delete|patch|route|websocket|api_route)|\b(?:app|router|r|mux|http)"""
    r"""\.(?:get|post|put|delete|patch|HandleFunc|Handle|route))\(\s*["'`](/[^"'`\s]*)["'`]""",
)
_MAIN_GUARD = re.compile(r"""if\s+__name__\s*==\s*["']__main__["']""")
MAX_SYMBOLS_PER_MODULE = 6


def _read(root: Path, path: str, limit: int = 400_000) -> str:
    try:
        with open(root / path, "rb") as handle:
            return handle.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return ""


def main_symbols(codemap: CodeMap, path: str, limit: int = MAX_SYMBOLS_PER_MODULE) -> list[Symbol]:
    """A module's most important top-level classes and functions (public ones when it has any), in line order:
    by how often the repository calls them, members, and a docstring."""
    facts = codemap.files.get(path)
    symbols = [s for s in codemap.symbols_in(path) if s.kind in ("class", "function") and s.parent is None]
    public = [s for s in symbols if not s.name.startswith("_")]
    calls = Counter(r.name for f in codemap.files.values() for r in f.references) if facts else Counter()
    members = Counter(s.parent for s in codemap.symbols_in(path) if s.parent)

    def weight(s: Symbol) -> float:
        return calls[s.name] + members[s.qualname] / 2 + (2 if s.doc else 0)

    ranked = sorted(public or symbols, key=lambda s: (-weight(s), s.start_line))
    return sorted(ranked[:limit], key=lambda s: s.start_line)


def package_of(path: str) -> str:
    parent = str(PurePosixPath(path).parent)
    return "." if parent == "." else parent


def code_files(codemap: CodeMap, files: Sequence[str]) -> list[str]:
    return [f for f in files if f in codemap.files and codemap.files[f].language]


def entry_points(codemap: CodeMap, root: Path, files: Sequence[str]) -> list[str]:
    """Human-readable entry points, each naming its file (and symbol or route)."""
    found: list[str] = []
    if "pyproject.toml" in files:
        try:
            scripts = tomllib.loads(_read(root, "pyproject.toml")).get("project", {}).get("scripts", {})
        except tomllib.TOMLDecodeError:
            scripts = {}
        found += [f"console script `{name}` = `{target}`" for name, target in scripts.items()]
    if "package.json" in files:
        try:
            package = orjson.loads(_read(root, "package.json"))
        except orjson.JSONDecodeError:
            package = {}
        binaries = package.get("bin") if isinstance(package, dict) else None
        if isinstance(binaries, dict):
            found += [f"command `{name}` = `{target}`" for name, target in binaries.items()]
    for path in code_files(codemap, files):
        found += _file_entries(codemap, root, path)
    return list(dict.fromkeys(found))


def _file_entries(codemap: CodeMap, root: Path, path: str) -> list[str]:
    facts = codemap.files[path]
    found: list[str] = []
    if PurePosixPath(path).name == "__main__.py":
        found.append(f"`python -m {facts.module.removesuffix('.__main__')}` ({path})")
    names = {s.qualname for s in facts.symbols}
    text = _read(root, path)
    if facts.language == "python" and _MAIN_GUARD.search(text):
        found.append(f"script guard in {path}")
    java_main = any(s.name == "main" and "static" in s.signature for s in facts.symbols if facts.language == "java")
    if java_main or (facts.language in ("go", "rust") and "main" in names):
        found.append(f"`main` in {path}")
    found += [f"HTTP route `{route}` in {path}" for route in dict.fromkeys(_ROUTE.findall(text))][:12]
    return found


def package_edges(codemap: CodeMap, files: Sequence[str]) -> Counter[tuple[str, str]]:
    """Import counts between packages (directories)."""
    edges: Counter[tuple[str, str]] = Counter()
    for path in code_files(codemap, files):
        for target in codemap.imports_of(path):
            a, b = package_of(path), package_of(target)
            if a != b:
                edges[(a, b)] += 1
    return edges


def compact_map(codemap: CodeMap, root: Path, files: Sequence[str], max_chars: int = 8_000) -> str:
    """The repository's code, compactly: packages, modules with main symbols, dependencies, entry points."""
    code = code_files(codemap, files)
    if not code:
        return ""
    by_package: dict[str, list[str]] = defaultdict(list)
    for path in code:
        by_package[package_of(path)].append(path)
    lines = ["Packages, their modules and main classes and functions:"]
    for package, paths in sorted(by_package.items(), key=lambda item: (-len(item[1]), item[0])):
        lines.append(f"- {package}/ ({len(paths)} files)")
        for path in paths[:12]:
            names = ", ".join(s.name for s in main_symbols(codemap, path))
            lines.append(f"  - {PurePosixPath(path).name}" + (f": {names}" if names else ""))
        if len(paths) > 12:
            lines.append(f"  - … and {len(paths) - 12} more")
    edges = package_edges(codemap, files)
    if edges:
        lines.append("Dependencies between packages (imports):")
        lines += [f"- {a} -> {b} ({n})" for (a, b), n in edges.most_common(20)]
    entries = entry_points(codemap, root, files)
    if entries:
        lines.append("Entry points:")
        lines += [f"- {e}" for e in entries[:20]]
    text = "\n".join(lines)
    return text if len(text) <= max_chars else text[: max_chars - 30].rsplit("\n", 1)[0] + "\n- … (map cut)"


def code_map_block(codemap: CodeMap, root: Path, files: Sequence[str], max_chars: int = 8_000) -> str:
    """The compact map as the structure prompt's third part ("" when the repository has no code)."""
    text = compact_map(codemap, root, files, max_chars)
    return f"\n3. A map of the code, parsed from it:\n<code_map>\n{text}\n</code_map>\n" if text else ""


def page_facts(codemap: CodeMap, paths: Sequence[str], max_chars: int = 4_000) -> str:
    """The symbols of a page's files with signatures and first docstring lines, for the page prompt."""
    from wikismith.wiki.grounding import page_symbols

    lines = []
    for symbol in page_symbols(codemap, paths):
        doc = symbol.doc.split("\n", 1)[0]
        lines.append(f"- {symbol.qualname} ({symbol.kind}, {symbol.path}:{symbol.start_line}): {symbol.signature}")
        if doc:
            lines[-1] += f" — {doc}"
    text = "\n".join(lines)
    return text if len(text) <= max_chars else text[:max_chars].rsplit("\n", 1)[0]
