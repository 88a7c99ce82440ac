"""Which files of a repository are indexed: DeepWiki's `repo.json` `file_filters`, with its bugs fixed.

Two modes, as DeepWiki defines them. **Inclusion mode** is on when any `included_dirs` or `included_files` is
given: a file is kept only if a directory of its path matches an included dir or its name matches an included
file pattern; the excluded lists are then ignored. **Exclusion mode** (the default): a file is dropped if a
directory of its path matches an excluded dir or its name matches an excluded file pattern.

Fixed relative to DeepWiki: patterns are matched against the path *relative to the repository root* (a
checkout under `/tmp/build/...` keeps its files); glob wildcards work (`*.min.js`); entries are cleaned by
removing a leading `./` and trailing `/` (not by stripping the characters `.` and `/`); a pattern holding a `/`
is matched against the relative path, one without against a single name. A file pattern written as a bare
suffix (`.lock`, `.py`) also matches names ending with it, as DeepWiki's inclusion test does.

Always: `.git` is never walked, `.gitignore` files (nested ones included) are respected, symlinks are not
followed, binary (a NUL byte in the first 8 KiB), empty and over-size files are skipped. Every skipped file is
counted by reason in the `FilterReport`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import orjson
import pathspec

from wikismith.config.models import AppConfig
from wikismith.config.schemas import FileFilters
from wikismith.rag.types import FilterReport, RepoSnapshot

_SNIFF = 8192
_ALWAYS_PRUNED = frozenset({".git"})


def clean_entry(entry: str) -> str:
    entry = entry.strip().replace("\\", "/")
    while entry.startswith("./"):
        entry = entry[2:]
    return entry.strip("/")


def parse_filter_list(text: str | None) -> list[str]:
    """A DeepWiki request field (`excluded_dirs` etc.): newline-separated, each entry URL-decoded. Commas are
    accepted too, as DeepWiki's documentation promised."""
    if not text:
        return []
    entries = (unquote(part) for line in text.splitlines() for part in line.split(","))
    return [e for e in (clean_entry(x) for x in entries) if e]


def merge_filters(base: FileFilters, extra: FileFilters | None) -> FileFilters:
    """`base` (repo.json) plus request values; lists are unioned in order, entries cleaned."""

    def union(*lists: Iterable[str]) -> list[str]:
        seen: dict[str, None] = {}
        for items in lists:
            for item in items:
                cleaned = clean_entry(item)
                if cleaned:
                    seen.setdefault(cleaned, None)
        return list(seen)

    extra = extra or FileFilters()
    return FileFilters(
        excluded_dirs=union(base.excluded_dirs, extra.excluded_dirs),
        excluded_files=union(base.excluded_files, extra.excluded_files),
        included_dirs=union(base.included_dirs, extra.included_dirs),
        included_files=union(base.included_files, extra.included_files),
    )


def _name_matches(name: str, pattern: str) -> bool:
    if fnmatch.fnmatchcase(name, pattern):
        return True
    return pattern.startswith(".") and not any(c in pattern for c in "*?[") and name.endswith(pattern)


@dataclass(frozen=True, slots=True)
class FileRules:
    """Compiled filters. `rel` arguments are POSIX paths relative to the repository root."""

    filters: FileFilters
    max_file_bytes: int

    @property
    def inclusion(self) -> bool:
        return bool(self.filters.included_dirs or self.filters.included_files)

    def dir_matches(self, rel_dir: str, patterns: list[str]) -> bool:
        """Does a directory (relative path) match: by its own name, or by a `/`-holding pattern on its path."""
        name = rel_dir.rsplit("/", 1)[-1]
        for pattern in patterns:
            if "/" in pattern:
                if fnmatch.fnmatchcase(rel_dir, pattern):
                    return True
            elif fnmatch.fnmatchcase(name, pattern):
                return True
        return False

    def prune_dir(self, rel_dir: str) -> bool:
        """Exclusion mode only: skip this directory entirely."""
        return not self.inclusion and self.dir_matches(rel_dir, self.filters.excluded_dirs)

    def file_reason(self, rel: str) -> str | None:
        """Why a file is skipped by name ('excluded_file' / 'not_included'), or None to keep it."""
        name = rel.rsplit("/", 1)[-1]
        if self.inclusion:
            dirs = rel.split("/")[:-1]
            prefixes = ["/".join(dirs[: i + 1]) for i in range(len(dirs))]
            in_dir = any(self.dir_matches(p, self.filters.included_dirs) for p in prefixes)
            by_name = any(self._file_matches(rel, name, p) for p in self.filters.included_files)
            return None if in_dir or by_name else "not_included"
        if any(self._file_matches(rel, name, p) for p in self.filters.excluded_files):
            return "excluded_file"
        return None

    @staticmethod
    def _file_matches(rel: str, name: str, pattern: str) -> bool:
        return fnmatch.fnmatchcase(rel, pattern) if "/" in pattern else _name_matches(name, pattern)


def effective_rules(config: AppConfig, filters: FileFilters | None = None) -> FileRules:
    return FileRules(merge_filters(config.repo.file_filters, filters), config.repo.repository.max_file_bytes)


def rules_hash(rules: FileRules) -> str:
    """A short stable digest of everything that decides which files are indexed (part of the index key)."""
    data = {"filters": rules.filters.model_dump(), "max_file_bytes": rules.max_file_bytes, "v": 1}
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]


class _Ignores:
    """`.gitignore` files met during the walk, each applying to its own directory and below."""

    def __init__(self) -> None:
        self._specs: list[tuple[str, pathspec.GitIgnoreSpec]] = []

    def load(self, root: Path, rel_dir: str) -> None:
        path = root / rel_dir / ".gitignore" if rel_dir else root / ".gitignore"
        if path.is_file() and not path.is_symlink():
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            self._specs.append((rel_dir, pathspec.GitIgnoreSpec.from_lines(lines)))

    def ignored(self, rel: str, is_dir: bool) -> bool:
        """As git decides: the files of `rel`'s ancestors from the root down, the last matching pattern wins, so a
        deeper `!pattern` re-includes what a shallower file ignored (and a deeper pattern ignores it again)."""
        verdict = False
        for base, spec in self._specs:  # loaded while walking top-down: ancestors come before descendants
            if base and not rel.startswith(base + "/"):
                continue
            sub = rel[len(base) + 1 :] if base else rel
            include = spec.check_file(sub + "/" if is_dir else sub).include  # None: no pattern matched
            if include is not None:
                verdict = include
        return verdict


def _count_files(path: Path) -> int:
    total = 0
    for _dirpath, _dirs, files in os.walk(path):
        total += len(files)
    return total


def _content_reason(path: Path, max_bytes: int) -> str | None:
    try:
        size = path.stat().st_size
        if size == 0:
            return "empty"
        if size > max_bytes:
            return "too_large"
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF)
    except OSError:
        return "unreadable"
    return "binary" if b"\0" in head else None


@dataclass(frozen=True, slots=True)
class TreeSignature:
    """What a scan's decisions rested on: `(path, mtime_ns, size)` of every directory walked, every `.gitignore`
    read and every file whose content was checked (kept, or skipped as empty/binary/too large). While all of them
    stat the same, the same scan would decide the same, so it can be reused without walking the tree again:
    adding, removing or renaming an entry changes its directory's mtime; an edit changes the file's. Excluded
    directories are not in it, so checking it never enters them."""

    entries: tuple[tuple[str, int, int], ...]

    def holds(self, root: Path) -> bool:
        for rel, mtime_ns, size in self.entries:
            try:
                stat = os.stat(root / rel if rel else root, follow_symlinks=False)
            except OSError:
                return False
            if stat.st_mtime_ns != mtime_ns or stat.st_size != size:
                return False
        return True


def _stamp(root: Path, rel: str, into: list[tuple[str, int, int]]) -> None:
    try:
        stat = os.stat(root / rel if rel else root, follow_symlinks=False)
    except OSError:
        into.append((rel, -1, -1))  # never matches: the next question scans again
        return
    into.append((rel, stat.st_mtime_ns, stat.st_size))


def scan(root: Path, rules: FileRules) -> FilterReport:
    """Walk `root` and decide for every file. Kept paths are sorted, relative, POSIX."""
    return scan_signed(root, rules)[0]


def scan_signed(root: Path, rules: FileRules) -> tuple[FilterReport, TreeSignature]:
    """`scan`, plus the signature that tells later whether its result still holds (`TreeSignature.holds`)."""
    kept: list[str] = []
    skipped: Counter[str] = Counter()
    stamps: list[tuple[str, int, int]] = []
    ignores = _Ignores()
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        _stamp(root, rel_dir, stamps)
        ignores.load(root, rel_dir)
        if ".gitignore" in filenames:
            _stamp(root, f"{rel_dir}/.gitignore" if rel_dir else ".gitignore", stamps)
        dirnames[:] = _kept_dirs(root, rel_dir, dirnames, rules, ignores, skipped)
        for name in sorted(filenames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            full = Path(dirpath, name)
            reason = "symlink" if full.is_symlink() else rules.file_reason(rel)
            reason = reason or ("gitignored" if ignores.ignored(rel, False) else None)
            if reason is None:
                _stamp(root, rel, stamps)
                reason = _content_reason(full, rules.max_file_bytes)
            if reason is None:
                kept.append(rel)
            else:
                skipped[reason] += 1
    report = FilterReport(kept=tuple(sorted(kept)), skipped=dict(sorted(skipped.items())))
    return report, TreeSignature(tuple(stamps))


def _kept_dirs(
    root: Path, rel_dir: str, dirnames: list[str], rules: FileRules, ignores: _Ignores, skipped: Counter[str]
) -> list[str]:
    """The subdirectories of `rel_dir` to walk into; the others are counted in `skipped` by reason."""
    keep: list[str] = []
    for name in sorted(dirnames):
        rel = f"{rel_dir}/{name}" if rel_dir else name
        full = root / rel
        if name in _ALWAYS_PRUNED:
            continue
        reason = "symlink" if full.is_symlink() else None
        reason = reason or ("excluded_dir" if rules.prune_dir(rel) else None)
        reason = reason or ("gitignored" if ignores.ignored(rel, True) else None)
        if reason is None:
            keep.append(name)
        else:
            skipped[reason] += 1 if reason == "symlink" else _count_files(full)
    return keep


def scan_files(snapshot: RepoSnapshot, config: AppConfig, filters: FileFilters | None = None) -> FilterReport:
    """The files of `snapshot` to index under the config's filters plus `filters` (request overrides)."""
    return scan(snapshot.root, effective_rules(config, filters))
