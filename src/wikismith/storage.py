"""The data directory's layout (`WIKISMITH_HOME`), atomic writes and simple inter-process locks.

Layout under the home directory:
  repos/<key>/        clones of remote repositories
  indexes/<key>/      FAISS indexes with their manifest
  wikis/<key>/        generated wikis (pages, wiki.json, manifest)
  wikicache/          DeepWiki-compatible server cache files
  jobs/               the server's generation jobs: a record and an event log per job (never a token)
  catalogue.json      cached OpenRouter model catalogue
  usage.sqlite3       the usage ledger
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(*parts: str) -> str:
    """A file-system-safe name built from untrusted parts: no separators, no `..`, bounded length."""
    cleaned = [_UNSAFE.sub("-", p).strip(".-") or "_" for p in parts]
    name = "_".join(cleaned)
    return name[:200]


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a half-written one.
    `durable=False` skips the fsync, for files rewritten every second that need not survive a power cut."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock held for the duration of the block (one writer per index or wiki)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class DataDir:
    """Paths inside the data directory. Creating the object creates nothing on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def repos(self) -> Path:
        return self.root / "repos"

    @property
    def indexes(self) -> Path:
        return self.root / "indexes"

    @property
    def wikis(self) -> Path:
        return self.root / "wikis"

    @property
    def wikicache(self) -> Path:
        return self.root / "wikicache"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    @property
    def catalogue(self) -> Path:
        return self.root / "catalogue.json"

    @property
    def ledger(self) -> Path:
        return self.root / "usage.sqlite3"
