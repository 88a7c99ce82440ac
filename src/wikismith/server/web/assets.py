"""Every asset a page loads, served by this server: our own scripts and styles (`static/`), Pygments' styles,
and the npm packages `make setup` installs into `vendor/node_modules` (`npm ci`): Mermaid (its ES module build,
whose diagram types load on demand, so a page pays only for the diagrams it has) and Swagger UI for `/docs`.

Nothing is fetched from elsewhere at run time. When the npm step was not run (a plain `pip install -e .`), pages
still work: diagrams are shown as their source with a note saying how to get them drawn, and `/docs` says the
same and links the OpenAPI schema.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from wikismith.server.web.render import highlight_css

HERE = Path(__file__).parent
STATIC = HERE / "static"
VENDOR = HERE / "vendor" / "node_modules"
MERMAID = VENDOR / "mermaid" / "dist"
SWAGGER = VENDOR / "swagger-ui-dist"
SETUP_HINT = "run `make setup` (or `npm ci` in src/wikismith/server/web/vendor)"

router = APIRouter(include_in_schema=False)
_CACHED = "public, max-age=3600"


def available() -> dict[str, bool]:
    """Which npm assets this installation has."""
    return {
        "mermaid": (MERMAID / "mermaid.esm.min.mjs").is_file(),
        "swagger": (SWAGGER / "swagger-ui-bundle.js").is_file(),
    }


@functools.cache
def _version(name: str) -> str:
    try:
        return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


def static_url(name: str) -> str:
    """`/static/<name>?v=<digest>`: a changed file gets a new URL, so browsers may keep the old one an hour."""
    return f"/static/{name}?v={_version(name)}"


class _Files(StaticFiles):
    """StaticFiles with a cache lifetime, and `.mjs` served as JavaScript (module scripts need the type)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def cached(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] != b"content-type"]  # type: ignore[attr-defined]
                kind = _content_type(scope["path"]) or _header(message, b"content-type")
                message["headers"] = [*headers, (b"content-type", kind), (b"cache-control", _CACHED.encode())]
            await send(message)

        await super().__call__(scope, receive, cached)  # type: ignore[arg-type]


def _content_type(path: str) -> bytes | None:
    if path.endswith((".mjs", ".js")):
        return b"text/javascript; charset=utf-8"
    return None


def _header(message: dict[str, object], name: bytes) -> bytes:
    for key, value in message.get("headers", []):  # type: ignore[attr-defined]
        if key == name:
            return bytes(value)
    return b"application/octet-stream"


def mounts() -> list[tuple[str, StaticFiles]]:
    """(path, app) pairs for `app.mount`: our files, and the npm packages (absent ones answer 404)."""
    return [
        ("/static/vendor/mermaid", _Files(directory=MERMAID, check_dir=False)),
        ("/static/vendor/swagger-ui", _Files(directory=SWAGGER, check_dir=False)),
        ("/static", _Files(directory=STATIC)),
    ]


@functools.cache
def inline_css() -> str:
    """Our styles and Pygments', written into every page's head: nothing blocks the first paint on a fetch
    (about 17 KB; pages are read one after another, so a cached file would save little)."""
    return (STATIC / "app.css").read_text(encoding="utf-8") + "\n" + highlight_css()


@router.get("/docs")
async def docs(request: Request) -> Response:
    """Swagger UI for `/openapi.json`, from our own copy of swagger-ui-dist (FastAPI's default loads a CDN)."""
    from wikismith.server.web.views import view

    return view(request, "docs.html", nav="docs", hint=SETUP_HINT)
