"""The code map: facts parsed from a repository's source with tree-sitter, per indexed commit.

    codemap = build_codemap(root, paths, previous)       # re-parses only files whose digest changed
    codemap.save(directory); CodeMap.load(directory)     # `codemap.json`, written atomically
    codemap.lookup("Signer.sign")                        # by bare name, qualname or full id

Per file (`FileFacts`): its language, its symbols (`Symbol`: module, class, function, method, constant, with
signature, docstring or leading comment, lines and parent), its imports resolved to files of the repository
(Python, JavaScript/TypeScript, Go, Rust, Java; `codemap_imports`), the attribute and field names it defines, and
the names its symbols call or instantiate. Those references are best effort, and named so (`references_from`):
a name is matched to a symbol of the same file, then of the files it imports, then to the one symbol of that
name in the repository; a dynamic call or a shadowed name can be matched wrongly or not at all. Files of other
languages get an entry with no symbols. Parsing is in `codemap_parse` and `languages/`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from wikismith.storage import atomic_write_bytes

log = logging.getLogger(__name__)

FILE_NAME = "codemap.json"
FORMAT_VERSION = 1
KINDS = ("module", "class", "function", "method", "constant")
_FAMILY = {"typescript": "javascript", "tsx": "javascript"}  # languages whose files import one another
PARALLEL_FROM = 200  # files to parse before a helper process pays for its start (~0.3 s)


@dataclass(frozen=True, slots=True)
class Symbol:
    """A named definition. Lines are 1-based, inclusive, decorators and attributes included. `parent` is the
    qualname of the enclosing class (None at the top level and for the module itself, whose qualname is "").
    `detail` is the language's own word when it is finer than `kind` (struct, interface, trait, enum, …).
    `bases` are the classes or interfaces it extends, as written. `breaks` are the lines where the statements of
    a long body start (where a chunker may split it)."""

    path: str
    qualname: str
    kind: str
    start_line: int
    end_line: int
    signature: str = ""
    doc: str = ""
    parent: str | None = None
    detail: str = ""
    bases: tuple[str, ...] = ()
    breaks: tuple[int, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.path}::{self.qualname}"

    @property
    def name(self) -> str:
        """The bare name: the last part of the qualname (the file name for the module)."""
        return self.qualname.rsplit(".", 1)[-1] if self.qualname else self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Import:
    """One imported module as written (`tinycalc.lexer`, `./util`, `crate::a::b`, `fmt`), the names taken from it,
    its line, and the repository files it names (empty for external or unresolvable modules)."""

    target: str
    names: tuple[str, ...] = ()
    line: int = 0
    resolved: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reference:
    """Best effort: `name` is called or instantiated at `line` inside the symbol `source` ("" at module level)."""

    source: str
    name: str
    line: int


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What one file defines and uses. `module` is its module name (Python's dotted name, Go's or Java's package,
    a Rust module path, the path without extension for JavaScript/TypeScript). `names` are attributes and fields
    it defines (not symbols of their own). `error`: the parser met a syntax error (the facts are partial)."""

    path: str
    language: str
    digest: str
    symbols: tuple[Symbol, ...] = ()
    imports: tuple[Import, ...] = ()
    references: tuple[Reference, ...] = ()
    names: tuple[str, ...] = ()
    module: str = ""
    error: bool = False


@dataclass(slots=True)
class CodeMap:
    """The facts of every file of one indexed commit. Lookups are built on first use."""

    files: dict[str, FileFacts] = field(default_factory=dict)
    _by_name: dict[str, list[Symbol]] | None = field(default=None, repr=False, compare=False)

    # --- queries ------------------------------------------------------------------------------------------

    def symbols_in(self, path: str) -> list[Symbol]:
        facts = self.files.get(path)
        return list(facts.symbols) if facts else []

    def symbol(self, symbol_id: str) -> Symbol | None:
        path, _, qualname = symbol_id.partition("::")
        facts = self.files.get(path)
        if facts is None:
            return None
        return next((s for s in facts.symbols if s.qualname == qualname), None)

    def lookup(self, name: str) -> list[Symbol]:
        """Symbols named `name`: a full id (`path::Qual.name`), a qualname (`Signer.sign`), a bare name (`sign`),
        a module name (`pkg.signer`, its module symbol) or a module-qualified name (`pkg.signer.Signer`)."""
        name = name.strip()
        if not name:
            return []
        if "::" in name:
            found = self.symbol(name)
            if found is not None:
                return [found]
        return list(self._index().get(name, ()))

    def _index(self) -> dict[str, list[Symbol]]:
        if self._by_name is None:
            index: dict[str, list[Symbol]] = {}
            for facts in self.files.values():
                for symbol in facts.symbols:
                    keys = {symbol.qualname, symbol.name} if symbol.qualname else {facts.module}
                    if symbol.qualname and facts.module:
                        keys.add(f"{facts.module}.{symbol.qualname}")
                    for key in keys - {""}:
                        index.setdefault(key, []).append(symbol)
            self._by_name = index
        return self._by_name

    def module_symbol(self, path: str) -> Symbol | None:
        facts = self.files.get(path)
        return next((s for s in facts.symbols if s.kind == "module"), None) if facts else None

    def imports_of(self, path: str) -> list[str]:
        """The repository files `path` imports, in order, without repeats."""
        facts = self.files.get(path)
        if facts is None:
            return []
        return list(dict.fromkeys(p for imp in facts.imports for p in imp.resolved if p != path))

    def importers_of(self, path: str) -> list[str]:
        return [p for p in sorted(self.files) if p != path and path in self.imports_of(p)]

    def bases_of(self, symbol: Symbol) -> list[Symbol]:
        """The repository classes `symbol` extends (bases written as `mod.Name` or `Name[T]` matched by name)."""
        out: list[Symbol] = []
        for base in symbol.bases:
            bare = base.split("[", 1)[0].split("<", 1)[0].strip()
            for candidate in self.resolve_name(bare.rsplit(".", 1)[-1].rsplit("::", 1)[-1], symbol.path):
                if candidate.kind == "class" and candidate not in out and candidate.id != symbol.id:
                    out.append(candidate)
                    break
        return out

    def resolve_name(self, name: str, from_path: str) -> list[Symbol]:
        """Best effort: the symbols a bare `name` used in `from_path` means, among those of its language: those of
        that file, else of the files it imports, else of its directory (a Go or Java package), else the only one
        of that name in the repository."""
        facts = self.files.get(from_path)
        family = _FAMILY.get(facts.language, facts.language) if facts else ""
        candidates = [
            s for s in self.lookup(name)
            if s.kind != "module" and _FAMILY.get(self.files[s.path].language, self.files[s.path].language) == family
        ]  # fmt: skip
        directory = from_path.rpartition("/")[0]
        for scope in ({from_path}, set(self.imports_of(from_path))):
            near = [s for s in candidates if s.path in scope]
            if near:
                return near
        near = [s for s in candidates if s.path.rpartition("/")[0] == directory]
        if near:
            return near
        return candidates if len(candidates) == 1 else []

    def references_from(self, symbol: Symbol) -> list[Symbol]:
        """Best effort: the repository symbols `symbol` calls or instantiates, in order of first use."""
        facts = self.files.get(symbol.path)
        if facts is None:
            return []
        prefix = symbol.qualname + "."
        out: dict[str, Symbol] = {}
        for ref in facts.references:
            if ref.source == symbol.qualname or ref.source.startswith(prefix) or (symbol.kind == "module"):
                for target in self.resolve_name(ref.name, symbol.path)[:1]:
                    if target.id != symbol.id:
                        out.setdefault(target.id, target)
        return list(out.values())

    # --- storage ------------------------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """`directory/codemap.json`, replaced atomically."""
        body = {"version": FORMAT_VERSION, "files": [_file_row(f) for f in self.files.values()]}
        atomic_write_bytes(directory / FILE_NAME, orjson.dumps(body))

    @classmethod
    def load(cls, directory: Path) -> CodeMap | None:
        """The map saved in `directory`, or None when there is none, it is of another format or unreadable."""
        try:
            body = orjson.loads((directory / FILE_NAME).read_bytes())
            if body.get("version") != FORMAT_VERSION:
                return None
            files = [_file_from(row) for row in body["files"]]
        except FileNotFoundError:
            return None
        except Exception as exc:  # a damaged map is rebuilt, not fatal
            log.warning("code map in %s is unreadable (%s); it will be rebuilt", directory, exc)
            return None
        return cls({f.path: f for f in files})


def _file_row(f: FileFacts) -> list[Any]:
    symbols = [
        [s.qualname, s.kind, s.start_line, s.end_line, s.signature, s.doc, s.parent, s.detail, s.bases, s.breaks]
        for s in f.symbols
    ]
    imports = [[i.target, i.names, i.line, i.resolved] for i in f.imports]
    refs = [[r.source, r.name, r.line] for r in f.references]
    return [f.path, f.language, f.digest, f.module, f.error, symbols, imports, refs, f.names]


def _file_from(row: list[Any]) -> FileFacts:
    path, language, digest, module, error, symbols, imports, refs, names = row
    return FileFacts(
        path=path,
        language=language,
        digest=digest,
        module=module,
        error=bool(error),
        symbols=tuple(
            Symbol(path, q, k, s, e, sig, doc, parent, detail, tuple(bases), tuple(breaks))
            for q, k, s, e, sig, doc, parent, detail, bases, breaks in symbols
        ),
        imports=tuple(Import(t, tuple(n), line, tuple(r)) for t, n, line, r in imports),
        references=tuple(Reference(s, n, line) for s, n, line in refs),
        names=tuple(names),
    )


# --- building -------------------------------------------------------------------------------------------------


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_codemap(
    root: Path,
    paths: Iterable[str],
    previous: CodeMap | None = None,
    *,
    digests: Mapping[str, str] | None = None,
) -> CodeMap:
    """The map of `paths` (relative POSIX paths under `root`). A file whose digest (sha256 of its bytes; taken
    from `digests` when given, as the index already has them) equals its entry in `previous` is not parsed
    again. Imports are resolved afresh for every file, since a new file can resolve an old import. Many files
    to parse are parsed in two processes (`parse_files`)."""
    from wikismith.rag.codemap_imports import resolve_imports

    old = previous.files if previous is not None else {}
    files: dict[str, FileFacts] = {}
    todo: list[tuple[str, str]] = []
    for path in sorted(set(paths)):
        digest = digests.get(path) if digests is not None else None
        if digest is None:
            try:
                digest = file_digest((root / path).read_bytes())
            except OSError as exc:
                log.warning("code map: cannot read %s (%s)", path, exc)
                continue
        prior = old.get(path)
        if prior is not None and prior.digest == digest:
            files[path] = prior
        else:
            todo.append((path, digest))
    for facts in parse_files(root, todo):
        files[facts.path] = facts
    files = dict(sorted(files.items()))
    # With the same set of files, an unchanged file's imports resolve as before: only re-parsed ones need it.
    only = {path for path, _ in todo} if previous is not None and files.keys() == old.keys() else None
    return CodeMap(resolve_imports(files, root, only))


def parse_files(root: Path, todo: list[tuple[str, str]]) -> list[FileFacts]:
    """Parse (path, digest) pairs. Many are shared with one helper process (`python -m
    wikismith.rag.codemap_parse`; tree-sitter holds the GIL, so threads would not help): it parses every other
    file, largest first, while this process parses the rest. If the helper fails, its share is parsed here."""
    if len(todo) < PARALLEL_FROM or (os.cpu_count() or 1) < 2:
        return parse_batch(root, todo)
    import pickle
    import subprocess
    import sys
    import tempfile

    def size(item: tuple[str, str]) -> int:
        try:
            return (root / item[0]).stat().st_size
        except OSError:
            return 0

    ordered = sorted(todo, key=size, reverse=True)
    theirs, mine = ordered[0::2], ordered[1::2]
    with tempfile.TemporaryFile() as request:
        request.write(pickle.dumps((str(root), theirs)))
        request.seek(0)
        helper = subprocess.Popen(
            [sys.executable, "-m", "wikismith.rag.codemap_parse"], stdin=request, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
    out = parse_batch(root, mine)
    body, errors = helper.communicate()
    try:
        if helper.returncode != 0:
            raise RuntimeError(f"exit status {helper.returncode}: {errors.decode(errors='replace')[-500:]}")
        parsed: list[FileFacts] = pickle.loads(body)
    except Exception as exc:  # parse its share here rather than fail the map
        log.warning("code map helper process failed (%s); parsing its files here", exc)
        parsed = parse_batch(root, theirs)
    return out + parsed


def parse_batch(root: Path, todo: list[tuple[str, str]]) -> list[FileFacts]:
    from wikismith.rag.codemap_parse import parse_file

    out = []
    for path, digest in todo:
        try:
            data = (root / path).read_bytes()
        except OSError as exc:
            log.warning("code map: cannot read %s (%s)", path, exc)
            continue
        out.append(parse_file(path, data, digest))
    return out


def with_resolved(facts: FileFacts, resolved: list[tuple[str, ...]]) -> FileFacts:
    """`facts` with each import's resolved files replaced (unchanged object when nothing differs)."""
    imports = tuple(
        replace(i, resolved=r) if i.resolved != r else i for i, r in zip(facts.imports, resolved, strict=True)
    )
    return facts if imports == facts.imports else replace(facts, imports=imports)


def changed_files(old: CodeMap | None, new: CodeMap) -> list[str]:
    """Paths added or whose content changed between two maps (deleted ones are not listed)."""
    before = old.files if old is not None else {}
    return [p for p, f in new.files.items() if p not in before or before[p].digest != f.digest]


def symbols_of(codemap: CodeMap, paths: Collection[str], kinds: Collection[str] = KINDS) -> list[Symbol]:
    """Symbols of `paths` of the given kinds, file by file in the order given, in line order."""
    return [s for p in paths for s in codemap.symbols_in(p) if s.kind in kinds]
