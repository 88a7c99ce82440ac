"""How the app's pages are answered: Jinja2 templates (autoescaped) rendered to HTML responses.

    return view(request, "home.html", wikis=entries)      # 200 text/html
    raise PageProblem(404, "No such wiki", "…")            # an error page for browsers (see `problem_page`)

Every page gets `nav` (which top-level section is current) and `assets` (what the server has of the npm assets).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from wikismith.config.models import ConfigError
from wikismith.server.errors import HTTPProblem
from wikismith.server.web import assets

TEMPLATES = Path(__file__).parent / "templates"
_SECURITY = {
    # Nothing on these pages may load from anywhere but this server (the issue: no request leaves it), and
    # no page of ours is to be framed by another site.
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


class PageProblem(Exception):
    """A page that cannot be shown: rendered as an HTML error page with `status`."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # package files: no stat of every template on every page
    )
    env.filters["q"] = lambda value: quote(str(value), safe="")
    env.globals["static"] = assets.static_url
    env.globals["inline_css"] = assets.inline_css
    return env


def wants_html(request: Request) -> bool:
    """A browser's navigation (Accept names text/html); API clients (JSON or */*) are not."""
    return "text/html" in request.headers.get("accept", "")


def view(request: Request, template: str, *, status: int = 200, nav: str = "", **context: Any) -> HTMLResponse:
    body = environment().get_template(template).render(request=request, nav=nav, assets=assets.available(), **context)
    return HTMLResponse(body, status_code=status, headers=_SECURITY)


def problem_page(request: Request, problem: PageProblem) -> HTMLResponse:
    return view(request, "problem.html", status=problem.status, title=problem.title, message=problem.message)


def sse(name: str, data: Any) -> bytes:
    """One Server-Sent Event: `event: <name>` and its JSON data."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def unknown_model(error: ConfigError) -> HTTPProblem:
    """A model the configuration does not know, as a 404 naming it (not the config file it was looked up in)."""
    message = str(error).split(": ", 1)[-1] if error.file else str(error)
    return HTTPProblem(404, message, code="model_not_found", param="model")
