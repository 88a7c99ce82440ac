"""`GET /local_repo/structure?path=`: the file tree and README of a local directory, as DeepWiki returns them
(`{"file_tree": "a\\nb/c", "readme": "..."}`; errors as `{"error": "..."}`).

Unlike DeepWiki, only directories under `WIKISMITH_LOCAL_ROOTS` are served (none by default), and when gateway
keys are configured (`WIKISMITH_API_KEYS`) a valid `Authorization: Bearer` key is needed, as for chat. The path
is resolved (symlinks included) before the check, and a README that is a symlink leading outside the root is not
read.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from wikismith.server.deps import state
from wikismith.server.schemas import LocalStructure

router = APIRouter(tags=["DeepWiki local repositories"])
_SKIP_DIRS = frozenset({"__pycache__", "node_modules", ".venv"})
MAX_ENTRIES = 50_000
MAX_README_BYTES = 1_000_000


class LocalPathError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def allowed_dir(raw: str, roots: tuple[Path, ...]) -> Path:
    """`raw` resolved, when it is an existing directory under one of `roots`; LocalPathError otherwise."""
    if not raw or not raw.strip():
        raise LocalPathError(400, "No path provided. Please provide a 'path' query parameter.")
    if "\x00" in raw:
        raise LocalPathError(400, "path contains a NUL character")
    if not roots:
        raise LocalPathError(
            403, "local repositories are not enabled on this server (set WIKISMITH_LOCAL_ROOTS to allow some)"
        )
    try:
        path = Path(raw).expanduser().resolve()
    except (OSError, RuntimeError) as exc:
        raise LocalPathError(400, f"invalid path: {exc}") from None
    if not any(path == root or path.is_relative_to(root) for root in roots):
        raise LocalPathError(403, f"path {raw!r} is outside the allowed local roots")
    if not path.is_dir():
        raise LocalPathError(404, f"Directory not found: {raw}")
    return path


def structure(root: Path) -> dict[str, str]:
    files: list[str] = []
    readme = ""
    for current, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS]
        rel_dir = Path(current).relative_to(root)
        for name in names:
            if name.startswith(".") or name == "__init__.py":
                continue
            files.append(_shown((rel_dir / name).as_posix()))
            if not readme and name.lower() == "readme.md":
                readme = _read_inside(Path(current) / name, root)
        if len(files) > MAX_ENTRIES:
            break
    files.sort()
    return {"file_tree": "\n".join(files[:MAX_ENTRIES]), "readme": readme}


def _shown(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 (kept by `os.walk` as lone surrogates, which no JSON
    encoder takes) shown as U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _read_inside(path: Path, root: Path) -> str:
    """The README's text; empty when it leads outside the root or cannot be read (a symlink loop, which
    `resolve` reports as RuntimeError; no permission): the tree is still worth answering."""
    try:
        real = path.resolve()
        if not real.is_relative_to(root) or not real.is_file():
            return ""
        with real.open("rb") as handle:
            return handle.read(MAX_README_BYTES).decode("utf-8", "replace")
    except (OSError, RuntimeError):
        return ""


@router.get("/local_repo/structure", response_model=LocalStructure)
async def local_structure(request: Request, path: str | None = Query(None, max_length=4096)) -> Response:
    server = state(request)
    server.auth.bearer(request.headers)
    try:
        root = allowed_dir(path or "", server.local_roots)
        body = await asyncio.to_thread(structure, root)
    except LocalPathError as exc:
        return Response(orjson.dumps({"error": exc.message, "detail": exc.message}), status_code=exc.status,
                        media_type="application/json")  # fmt: skip
    except OSError as exc:
        message = f"Error processing local repository: {exc.strerror or type(exc).__name__}"
        return Response(orjson.dumps({"error": message, "detail": message}), status_code=500,
                        media_type="application/json")  # fmt: skip
    return Response(orjson.dumps(body), media_type="application/json")
