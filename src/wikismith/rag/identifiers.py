"""Which code identifiers a text names, and whether the repository has them (against its code map).

`find_mentions(text)` finds, outside code blocks, links and URLs: every inline code span that is shaped like an
identifier, a dotted name, a call or a file path (`Parser.parse`, `tokenize()`, `src/app.py`); in plain prose,
calls (`eval()`), snake_case names, file names with a source suffix, dotted names that start with a module or
symbol of the repository, and names introduced as such ("a class named Tinycalc", "the Tinycalc class").

`Resolver.resolve(name)` says whether the repository has it: a file (exact or by a unique suffix); a symbol (by
id, qualname, bare name, module-qualified name; `self.`/`this.` dropped); a member of a class (a method, or an
attribute the class's file assigns); a name of an imported module (`json.loads` when the code imports `json`);
or a word of the repository's own text (an environment variable, a config key). When it has not, a rewrite is
offered where exactly one real name fits: the same member under its real owner (`Calc.evaluate` -> `evaluate`),
another spelling (`parseExpr` / `parse_expr`, case), the same file name elsewhere (`src/lexer.py` ->
`tinycalc/lexer.py`).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from wikismith.rag.codemap import CodeMap, Symbol

SOURCE_SUFFIXES = (
    "py", "pyi", "js", "jsx", "mjs", "cjs", "ts", "tsx", "go", "rs", "java", "kt", "c", "h", "cc", "cpp", "hpp",
    "cs", "rb", "php", "swift", "scala", "sh", "toml", "yaml", "yml", "json", "cfg", "ini", "md", "rst", "txt",
)  # fmt: skip
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"!?\[[^\]\n]*\]\([^)\n]*\)|<[^>\n]+>|https?://\S+")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_CODE_NAME = re.compile(rf"^(?:self\.|this\.|cls\.)?{_IDENT}(?:(?:\.|::){_IDENT})*(?:\(\))?$")
_PATH = re.compile(rf"^[\w.-]*[\w-](?:/[\w.-]+)*\.(?:{'|'.join(SOURCE_SUFFIXES)})$")
_PROSE_CALL = re.compile(rf"(?<![\w.`]){_IDENT}(?:\.{_IDENT})*\(\)")
_PROSE_SNAKE = re.compile(r"(?<![\w.`/-])(?:_+[a-z][a-z0-9]*(?:_[a-z0-9]+)*|[a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?![\w(`/-])")
_PROSE_FILE = re.compile(r"(?<![\w./`-])[\w-]+(?:/[\w.-]+)*\.(?:py|pyi|js|jsx|ts|tsx|go|rs|java)(?![\w/`])")
_PROSE_DOTTED = re.compile(rf"(?<![\w.`/-]){_IDENT}(?:\.{_IDENT})+(?![\w(`/])")
_NOT_NAMES = r"(?!(?:The|This|That|These|Each|Every|Its|Our|Your|Their|One|Any|Some|Main|Base|Helper|Python)\b)"
_INTRODUCED = re.compile(
    rf"\b(?:named|called)\s+[\"']?(?P<a>{_IDENT})|\bclass\s+{_NOT_NAMES}(?P<b>[A-Z]\w+)"
    rf"|\b{_NOT_NAMES}(?P<c>[A-Z]\w+)\s+(?:class|module)\b"
)
_WORD = re.compile(_IDENT)
_PLAIN_WORD = re.compile(r"^[a-z]+$")


@dataclass(frozen=True, slots=True)
class Mention:
    """`name` as the text writes it (without backticks and `()`), at `start`..`end` of the text (the backticks
    and `()` included). `code`: written as inline code; `call`: written with `()`."""

    start: int
    end: int
    name: str
    code: bool
    call: bool = False

    @property
    def plain_word(self) -> bool:
        """A lowercase dictionary-like word (`configuration`): unformatted, not dropped, when unresolved."""
        return self.code and bool(_PLAIN_WORD.match(self.name)) and not self.call


Status = Literal["resolved", "rewritten", "unresolved"]


@dataclass(frozen=True, slots=True)
class Resolution:
    status: Status
    replacement: str = ""  # the real name, for "rewritten"


def find_mentions(text: str, known_roots: Collection[str] = ()) -> list[Mention]:
    """The identifier mentions of `text`, in order, outside fenced code, links and URLs. `known_roots`: the
    first parts of module and symbol names that make a prose dotted name (`tinycalc.lexer`) a mention."""
    mentions: list[Mention] = []
    offset = 0
    in_fence = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence:
            mentions += _line_mentions(line, offset, known_roots)
        offset += len(line) + 1
    return mentions


def _line_mentions(line: str, offset: int, known_roots: Collection[str]) -> list[Mention]:
    blocked = [(m.start(), m.end()) for m in _LINK.finditer(line)]
    found: list[Mention] = []
    for match in _CODE_SPAN.finditer(line):
        if any(s <= match.start() < e for s, e in blocked):
            continue
        blocked.append((match.start(), match.end()))
        content = match.group(1).strip()
        call = content.endswith("()")
        name = content.removesuffix("()")
        if _CODE_NAME.match(content) or _PATH.match(content):
            found.append(Mention(offset + match.start(), offset + match.end(), name, True, call))
    for pattern in (_PROSE_CALL, _PROSE_FILE, _PROSE_SNAKE, _PROSE_DOTTED, _INTRODUCED):
        for match in pattern.finditer(line):
            group = next((g for g in ("a", "b", "c") if pattern is _INTRODUCED and match.group(g)), 0)
            start, end = match.span(group)
            if any(s <= start < e or s < end <= e for s, e in blocked):
                continue
            name = match.group(group).removesuffix("()")
            if pattern is _PROSE_DOTTED and name.split(".", 1)[0] not in known_roots:
                continue
            blocked.append((start, end))
            found.append(Mention(offset + start, offset + end, name, False, match.group(group).endswith("()")))
    return sorted(found, key=lambda m: m.start)


class Resolver:
    """Resolves names against one repository's code map and files (see the module docstring)."""

    def __init__(self, codemap: CodeMap, files: Collection[str], root: Path | None = None) -> None:
        self.codemap = codemap
        self.files = frozenset(files) | frozenset(codemap.files)
        self.root = root
        self._used: set[str] | None = None
        self._words: set[str] | None = None
        self._spellings: dict[str, list[tuple[str, str]]] | None = None
        self._cache: dict[str, Resolution] = {}

    @property
    def roots(self) -> set[str]:
        """First parts of the repository's module names and symbols' qualnames."""
        out = {f.module.split(".", 1)[0].split("::", 1)[0] for f in self.codemap.files.values() if f.module}
        return out | {s.qualname.split(".", 1)[0] for f in self.codemap.files.values() for s in f.symbols}

    def resolve(self, name: str) -> Resolution:
        if name not in self._cache:
            self._cache[name] = self._resolve(name)
        return self._cache[name]

    def _resolve(self, name: str) -> Resolution:
        as_file = self._file(name) if _PATH.match(name) and "::" not in name else None
        if as_file is not None and (as_file.status == "resolved" or "/" in name):
            return as_file
        bare = re.sub(r"^(?:self|this|cls)\.", "", name).replace("::", ".")
        if self.known(bare):  # `Transport.json` is a method, not a file
            return Resolution("resolved")
        rewrite = self.rewrite(bare)
        if rewrite:
            return Resolution("rewritten", rewrite)
        return as_file or Resolution("unresolved")

    def _file(self, name: str) -> Resolution:
        path = name.lstrip("./")
        if path in self.files or any(f.endswith("/" + path) for f in self.files):
            return Resolution("resolved")
        base = PurePosixPath(path).name
        same = [f for f in self.files if PurePosixPath(f).name == base]
        return Resolution("rewritten", same[0]) if len(same) == 1 else Resolution("unresolved")

    def known(self, name: str) -> bool:
        """Whether the repository has `name` (a symbol, member, imported name or word of its text)."""
        if self.codemap.lookup(name):
            return True
        parts = name.split(".")
        if len(parts) == 1:
            return name in self.used() or name in self.words()
        owner, member = ".".join(parts[:-1]), parts[-1]
        owners = [s for s in self.codemap.lookup(owner) if s.kind in ("class", "module")]
        if any(self._has_member(s, member) for s in owners):
            return True
        if any(s.kind == "class" for s in owners):
            return False
        if owner in self.used() and member in self.used():  # a module the code imports, a name it uses
            return True
        methods = [s for s in self.codemap.lookup(member) if s.kind in ("method", "function")]
        return bool(methods) and owner in self.words() and owner[:1].islower()  # `parser.expression()`

    def _has_member(self, owner: Symbol, member: str) -> bool:
        facts = self.codemap.files[owner.path]
        if owner.kind == "module":
            return any(s.qualname == member for s in facts.symbols) or member in facts.names
        if any(s.qualname == f"{owner.qualname}.{member}" for s in facts.symbols) or member in facts.names:
            return True
        return any(self._has_member(base, member) for base in self.codemap.bases_of(owner))

    def used(self) -> set[str]:
        """Names the code uses without defining them: calls, imported modules and names, attributes."""
        if self._used is None:
            used: set[str] = set()
            for facts in self.codemap.files.values():
                used.update(r.name for r in facts.references)
                used.update(facts.names)
                for imp in facts.imports:
                    used.update(n for n in imp.names if n != "*")
                    used.update(re.split(r"[./:]+", imp.target))
            self._used = used - {""}
        return self._used

    def words(self) -> set[str]:
        """Every identifier-like word of the repository's files (comments, strings and configs included)."""
        if self._words is None:
            words: set[str] = set()
            for path in sorted(self.files) if self.root is not None else ():
                try:
                    with open(self.root / path, "rb") as handle:  # type: ignore[operator]
                        data = handle.read(1_000_000)
                except OSError:
                    continue
                words.update(_WORD.findall(data.decode("utf-8", errors="replace")))
            self._words = words
        return self._words

    def rewrite(self, name: str, *, modules: bool = False) -> str | None:
        """The one real name `name` stands for, when exactly one fits (a module's name too, with `modules`)."""
        parts = name.split(".")
        if len(parts) > 1:
            members = {s.qualname for s in self.codemap.lookup(parts[-1]) if s.kind != "module"}
            if len(members) == 1:
                return members.pop()
        spelled = [s for s in self.spellings().get(_spelling(name), []) if modules or s[0] == "s"]
        return spelled[0][1] if len(spelled) == 1 else None

    def spellings(self) -> dict[str, list[tuple[str, str]]]:
        """Names by spelling, each as ("s", name) for a symbol or ("m", name) for a module."""
        if self._spellings is None:
            table: dict[str, set[tuple[str, str]]] = {}
            for facts in self.codemap.files.values():
                keys = {("m", re.split(r"[./]|::", facts.module)[-1])} if facts.module else set()
                for symbol in facts.symbols:
                    if symbol.qualname:
                        keys |= {("s", symbol.qualname), ("s", symbol.name)}
                for key in keys:
                    table.setdefault(_spelling(key[1]), set()).add(key)
            self._spellings = {k: sorted(v) for k, v in table.items()}
        return self._spellings


def _spelling(name: str) -> str:
    """A name without case and separators: `parseExpr`, `parse_expr` and `ParseExpr` are one spelling."""
    return name.replace("_", "").lower()
