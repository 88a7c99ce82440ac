"""Imports resolved to files of the repository, per language, from the set of files alone (plus `go.mod`).

Python: module names follow the packages (`__init__.py`) up to the first directory without one (`src/pkg/a.py`
is `pkg.a`); the dotted path from the root is tried second. `from p import n` names the submodule `p.n` when it
exists, else `p`; relative imports climb from the importing module's package. JavaScript/TypeScript: relative
specifiers with the usual extensions and `index` files (`./a.js` may name `a.ts`); bare package names are
external. Go: paths under the module of the nearest `go.mod` name that directory's files. Rust: `crate::`,
`self::`, `super::` paths (and `mod x;`) name the longest prefix that is a module file. Java: a class by its
qualified name, a package's files for `.*`. Anything else resolves to nothing.
"""

from __future__ import annotations

import functools
import posixpath
from collections import defaultdict
from collections.abc import Callable, Collection
from pathlib import Path

from wikismith.rag.codemap import FileFacts, Import, with_resolved

_SCRIPT_SUFFIXES = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")


class RepoTables:
    """Lookups over the repository's files, built once per map."""

    def __init__(self, files: dict[str, FileFacts], root: Path) -> None:
        self.root = root
        self.paths = frozenset(files)
        self.dirs: dict[str, list[str]] = defaultdict(list)
        for path in sorted(files):
            self.dirs[posixpath.dirname(path)].append(path)
        self.python: dict[str, str] = {}
        self.python_paths: dict[str, str] = {}
        for path in sorted(files):
            if path.endswith((".py", ".pyi")):
                self.python.setdefault(self.python_module(path), path)
                self.python_paths.setdefault(_dotted(path), path)
        self.java: dict[str, list[str]] = defaultdict(list)
        for path in files:
            if path.endswith(".java"):
                self.java[posixpath.basename(path)[:-5]].append(path)

    @functools.cache  # noqa: B019 - one table per build; the cache dies with it
    def python_module(self, path: str) -> str:
        parts = path.rsplit(".", 1)[0].split("/")
        if parts[-1] == "__init__":
            parts = parts[:-1]
        directory = posixpath.dirname(path)
        depth = 0  # how many leading directories are packages of this module
        while directory and f"{directory}/__init__.py" in self.paths:
            depth += 1
            directory = posixpath.dirname(directory)
        keep = depth + (0 if path.endswith("__init__.py") else 1)
        return ".".join(parts[-keep:]) if keep else ".".join(parts)

    def python_file(self, module: str) -> str | None:
        return self.python.get(module) or self.python_paths.get(module)

    @functools.cache  # noqa: B019
    def go_module(self, directory: str) -> tuple[str, str] | None:
        """(module path, its directory) of the `go.mod` nearest above `directory`."""
        current = directory
        while True:
            try:
                text = (self.root / current / "go.mod").read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
            for line in text.splitlines():
                if line.startswith("module "):
                    return line.split(None, 1)[1].strip().strip('"'), current
            if not current:
                return None
            current = posixpath.dirname(current)


def _dotted(path: str) -> str:
    base = path.rsplit(".", 1)[0]
    return base.removesuffix("/__init__").replace("/", ".")


def python_imports(tables: RepoTables, facts: FileFacts, imp: Import) -> list[str]:
    target = imp.target
    if target.startswith("."):
        dots = len(target) - len(target.lstrip("."))
        package = facts.module.split(".") if facts.path.endswith("__init__.py") else facts.module.split(".")[:-1]
        base = package[: len(package) - (dots - 1)] if dots - 1 <= len(package) else []
        target = ".".join([*base, *filter(None, [target.lstrip(".")])])
    if not target:
        return []
    found = [f for name in imp.names if name != "*" and (f := tables.python_file(f"{target}.{name}"))]
    whole = tables.python_file(target)
    if whole and (len(found) < len([n for n in imp.names if n != "*"]) or not imp.names):
        found.append(whole)
    if not found and not imp.names:  # `import a.b.c` where only a.b is a module of the repository
        parts = target.split(".")
        while len(parts) > 1 and not found:
            parts.pop()
            found += [f for f in [tables.python_file(".".join(parts))] if f]
    return found


def script_imports(tables: RepoTables, facts: FileFacts, imp: Import) -> list[str]:
    spec = imp.target.split("?", 1)[0]
    if spec.startswith("."):
        base = posixpath.normpath(posixpath.join(posixpath.dirname(facts.path), spec))
    elif "/" in spec and not spec.startswith("@"):
        base = posixpath.normpath(spec)  # a path from the root (a `baseUrl` of ".")
    else:
        return []
    stem = base.rsplit(".", 1)[0] if base.endswith((".js", ".jsx", ".mjs", ".cjs")) else None
    candidates = [base, *(base + s for s in _SCRIPT_SUFFIXES), *(f"{base}/index{s}" for s in _SCRIPT_SUFFIXES)]
    if stem is not None:
        candidates += [stem + s for s in (".ts", ".tsx", ".mts", ".cts")]
    return [next(c for c in candidates if c in tables.paths)] if any(c in tables.paths for c in candidates) else []


def go_imports(tables: RepoTables, facts: FileFacts, imp: Import) -> list[str]:
    module = tables.go_module(posixpath.dirname(facts.path))
    directory: str | None = None
    if module is not None and (imp.target == module[0] or imp.target.startswith(module[0] + "/")):
        directory = posixpath.normpath(posixpath.join(module[1], imp.target[len(module[0]) :].lstrip("/")))
        directory = "" if directory == "." else directory
    elif imp.target.count("/") >= 1:
        matching = [d for d in tables.dirs if d == imp.target or d.endswith("/" + imp.target)]
        directory = matching[0] if len(matching) == 1 else None
    if directory is None:
        return []
    return [p for p in tables.dirs.get(directory, []) if p.endswith(".go") and not p.endswith("_test.go")]


def _rust_crate_root(path: str) -> str:
    parts = path.split("/")[:-1]
    for i in range(len(parts), 0, -1):
        if parts[i - 1] == "src":
            return "/".join(parts[:i])
    return "/".join(parts)


def _rust_module_dir(path: str) -> str:
    directory, name = posixpath.split(path)
    return directory if name in ("lib.rs", "main.rs", "mod.rs") else posixpath.join(directory, name[:-3])


def rust_module(path: str) -> str:
    root = _rust_crate_root(path)
    relative = _rust_module_dir(path)[len(root) :].strip("/")
    return "::".join(["crate", *filter(None, relative.split("/"))])


def rust_imports(tables: RepoTables, facts: FileFacts, imp: Import) -> list[str]:
    parts = imp.target.split("::")
    root = _rust_crate_root(facts.path)
    if parts[0] == "crate":
        base, rest = root, parts[1:]
    elif parts[0] in ("self", "super"):
        base = _rust_module_dir(facts.path)
        while parts and parts[0] in ("self", "super"):
            if parts.pop(0) == "super":
                base = posixpath.dirname(base)
        rest = parts
    else:
        base, rest = root, parts
    for k in range(len(rest), -1, -1):  # k = 0: an item of the module `base` itself
        stem = posixpath.join(base, *rest[:k])
        for candidate in (stem + ".rs", stem + "/mod.rs", stem + "/lib.rs", stem + "/main.rs"):
            if candidate in tables.paths and candidate != facts.path:
                return [candidate]
    return []


def java_imports(tables: RepoTables, facts: FileFacts, imp: Import) -> list[str]:
    target = imp.target
    if target.endswith(".*"):
        package = target[:-2].replace(".", "/")
        dirs = [d for d in tables.dirs if d == package or d.endswith("/" + package)]
        return [p for d in dirs for p in tables.dirs[d] if p.endswith(".java")]
    parts = target.split(".")
    while len(parts) >= 2:
        wanted = "/".join(parts) + ".java"
        found = [p for p in tables.java.get(parts[-1], []) if p == wanted or p.endswith("/" + wanted)]
        if found:
            return found[:1]
        parts.pop()  # a static import names a member of the class
    return []


Resolver = Callable[[RepoTables, FileFacts, Import], list[str]]
RESOLVERS: dict[str, Resolver] = {
    "python": python_imports,
    "javascript": script_imports,
    "typescript": script_imports,
    "tsx": script_imports,
    "go": go_imports,
    "rust": rust_imports,
    "java": java_imports,
}


def resolve_imports(
    files: dict[str, FileFacts], root: Path, only: Collection[str] | None = None
) -> dict[str, FileFacts]:
    """`files` with module names (Python, Rust) and every import's repository files filled in (only those of
    the files in `only` when given: the others are known to resolve as they did)."""
    if only is not None and not only:
        return files
    tables = RepoTables(files, root)
    out: dict[str, FileFacts] = dict(files)
    for path in files if only is None else only:
        facts = files[path]
        if facts.language == "python" and facts.module != tables.python_module(path):
            facts = _with_module(facts, tables.python_module(path))
        elif facts.language == "rust" and facts.module != rust_module(path):
            facts = _with_module(facts, rust_module(path))
        resolver = RESOLVERS.get(facts.language)
        if resolver is not None and facts.imports:
            resolved = [tuple(dict.fromkeys(p for p in resolver(tables, facts, i) if p != path)) for i in facts.imports]
            facts = with_resolved(facts, resolved)
        out[path] = facts
    return out


def _with_module(facts: FileFacts, module: str) -> FileFacts:
    from dataclasses import replace

    return replace(facts, module=module)
