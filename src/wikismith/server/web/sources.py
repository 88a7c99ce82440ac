"""Which repository files the source view may show, and reading one safely.

A wiki's repository is readable when it is a local directory under WIKISMITH_LOCAL_ROOTS or one this data
directory has an index of (the server or the CLI indexed it: `make demo`'s tinycalc), or a remote repository
cloned into the data directory. Nothing else is: a cached wiki naming some other directory opens nothing.

Inside it, `read_source` refuses what could leave it or should not be shown: an empty, absolute or
backslashed path, `..`, a NUL, anything inside `.git`, a symlink anywhere along the path (even one pointing
inside: the view follows none), what is not a regular file, files over `MAX_BYTES`, and binary files (a NUL
in the first 8 KiB, or not UTF-8).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from wikismith.config.settings import Settings
from wikismith.rag.index import index_stem
from wikismith.rag.source import SourceError, parse_repo_url, repo_key
from wikismith.rag.types import RepoRef, RepoSnapshot
from wikismith.wiki.pages import source_url
from wikismith.wiki.store import WikiCacheData

MAX_BYTES = 2 * 1024 * 1024
_SNIFF = 8192


class SourceRefused(Exception):
    """The file cannot be shown; `status` is the HTTP status to answer with, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Repository:
    """A wiki's repository on this machine: where it is, and how to link a file on its forge (hosted only)."""

    root: Path
    snapshot: RepoSnapshot | None  # for forge links (None: a local directory)

    def forge_url(self, path: str, start: int | None, end: int | None) -> str | None:
        if self.snapshot is None:
            return None
        url = source_url(self.snapshot, path)
        if start is None:
            return url
        kind = self.snapshot.ref.type
        last = end or start
        if kind == "gitlab":
            return f"{url}#L{start}-{last}"
        if kind == "bitbucket":
            return f"{url}#lines-{start}:{last}"
        return f"{url}#L{start}-L{last}"


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: str
    text: str

    @property
    def lines(self) -> int:
        return self.text.count("\n") + (0 if self.text.endswith("\n") or not self.text else 1)


def repository(settings: Settings, data: WikiCacheData) -> Repository | None:
    """The wiki's repository when the server may read it (see the module's docstring), else None."""
    info = data.repo
    if info is None:
        return None
    if info.local_path:
        root = _local_root(settings, info.local_path)
        return Repository(root, None) if root is not None else None
    url = info.repo_url or data.repo_url
    if not url:
        return None
    try:
        ref = parse_repo_url(url, info.type)
    except SourceError:
        return None
    clone = _clone(settings, ref)
    if clone is None:
        return None
    return Repository(clone, RepoSnapshot(ref=ref, root=clone, commit=data.commit))


def _local_root(settings: Settings, given: str) -> Path | None:
    try:
        root = Path(given).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    if not root.is_dir():
        return None
    if any(root == r or root.is_relative_to(r) for r in settings.local_roots):
        return root
    ref = RepoRef(type="local", owner="local", name=root.name, local_path=root)
    stem = index_stem(repo_key(ref)) + "_"
    indexes = settings.data.indexes
    try:
        indexed = any(p.name.startswith(stem) and (p / "CURRENT").is_file() for p in indexes.iterdir())
    except OSError:
        return None
    return root if indexed else None


def _clone(settings: Settings, ref: RepoRef) -> Path | None:
    repos = settings.data.repos
    key = repo_key(ref)
    candidates = [repos / key]
    try:
        candidates += sorted(p for p in repos.iterdir() if p.name.startswith(key + "_ref-"))
    except OSError:
        return None
    return next((c.resolve() for c in candidates if (c / ".git").is_dir() and not c.is_symlink()), None)


def checked_path(path: str) -> PurePosixPath:
    """`path` as repository-relative parts; SourceRefused (400/403) for what could name something outside."""
    if not path or "\x00" in path or "\\" in path:
        raise SourceRefused(400, "give a repository-relative path (no NUL or backslash)")
    pure = PurePosixPath(path)
    if pure.is_absolute():
        raise SourceRefused(400, "absolute paths are refused: give the path inside the repository")
    if ".." in pure.parts:
        raise SourceRefused(400, "'..' is refused: give the path inside the repository")
    if not pure.parts:
        raise SourceRefused(400, "give a file inside the repository")
    if ".git" in pure.parts:
        raise SourceRefused(403, "files inside .git are not shown")
    return pure


def read_source(root: Path, path: str) -> SourceFile:
    """The text of `root`/`path`; SourceRefused with the reason otherwise (404 for no such file)."""
    pure = checked_path(path)
    current = root
    for part in pure.parts:
        current = current / part
        if current.is_symlink():
            raise SourceRefused(403, f"{quote(path)} goes through a symlink; the source view follows none")
    try:
        fd = os.open(current, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise SourceRefused(404, "no such file in the repository") from None
    except OSError as exc:
        raise SourceRefused(403, f"cannot read this file ({exc.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise SourceRefused(404, "not a file")
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > MAX_BYTES:
            raise SourceRefused(
                413, f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB; open it in its repository"
            )
        data = handle.read(MAX_BYTES + 1)
    if b"\x00" in data[:_SNIFF]:
        raise SourceRefused(415, "binary file: not shown")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SourceRefused(415, "not a UTF-8 text file: not shown") from None
    return SourceFile(pure.as_posix(), text)
