"""storage: atomic writes (old or new content, never half, no temp left behind), safe names, file locks."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from wikismith.storage import DataDir, atomic_write_bytes, atomic_write_text, file_lock, safe_name


def test_atomic_write_creates_parents_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert os.listdir(target.parent) == ["file.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "wiki.json"
    atomic_write_bytes(target, b"old content")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]  # fails inside the write
    assert target.read_bytes() == b"old content"
    assert os.listdir(tmp_path) == ["wiki.json"]


def test_a_failed_rename_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "dir-in-the-way"
    (target / "child").mkdir(parents=True)  # os.replace cannot put a file over a non-empty directory
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"data")
    assert sorted(os.listdir(tmp_path)) == ["dir-in-the-way"]


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("owner", "repo"), "owner_repo"),
        (("../../etc", "passwd"), "etc_passwd"),
        (("..",), "_"),
        (("a/b\\c", "x y"), "a-b-c_x-y"),
        (("/abs/path",), "abs-path"),
        (("", "."), "___"),
    ],
)
def test_safe_name_refuses_traversal(parts: tuple[str, ...], expected: str) -> None:
    name = safe_name(*parts)
    assert name == expected
    assert "/" not in name and "\\" not in name and ".." not in name and not name.startswith(".")


def test_safe_name_stays_inside_its_directory(tmp_path: Path) -> None:
    for hostile in ("../../x", "..", "/etc/passwd", "a/../../b", "~root", "\x00evil"):
        path = (tmp_path / safe_name("github", hostile)).resolve()
        assert path.parent == tmp_path.resolve()


def test_safe_name_is_bounded() -> None:
    assert len(safe_name("x" * 1000, "y" * 1000)) == 200


def _hold_lock(path: str, seconds: float, started: multiprocessing.synchronize.Event) -> None:
    with file_lock(Path(path)):
        started.set()
        time.sleep(seconds)


def test_file_lock_excludes_another_process(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "index.lock"
    context = multiprocessing.get_context("fork")
    started = context.Event()
    holder = context.Process(target=_hold_lock, args=(str(lock), 0.5, started))
    holder.start()
    try:
        assert started.wait(10)
        begun = time.monotonic()
        with file_lock(lock):
            waited = time.monotonic() - begun
        assert waited >= 0.3  # blocked until the other process let go
    finally:
        holder.join(10)


def test_file_lock_is_released_after_an_exception(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    with pytest.raises(RuntimeError), file_lock(lock):
        raise RuntimeError("boom")
    with file_lock(lock):  # would deadlock if still held by this process' earlier open file
        pass


def test_data_dir_paths_are_inside_the_root(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    for path in (data.repos, data.indexes, data.wikis, data.wikicache, data.catalogue, data.ledger):
        assert path.parent == tmp_path
    assert not any(tmp_path.iterdir())
