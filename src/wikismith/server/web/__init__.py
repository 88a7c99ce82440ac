"""The browser app, served by `wikismith serve` beside the APIs: home (the cached wikis and the new-wiki form),
the reader (sections, pages, diagrams, search, source view of citations, ask), models and spend, `/docs`.

Server-rendered HTML (Jinja2), readable without JavaScript; a little plain JavaScript adds streaming, progress
and diagrams. Every asset comes from this server (`assets`). Pages are over the same layer functions as the
API routes: `wiki.store` (through `routes.wiki.store`), `chat.chat_stream`/`research_stream`, the router's
catalogue, `router.compare` and its ledger, and the generation jobs.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from wikismith.server.web import ask, assets, jobs, models, pages, spend


def routers() -> list[APIRouter]:
    """The app's routes, to be included before the API's (its `/` answers browsers, then defers to DeepWiki's)."""
    return [pages.router, ask.router, jobs.router, models.router, spend.router, assets.router]


def mount_assets(app: FastAPI) -> None:
    for path, files in assets.mounts():
        app.mount(path, files)
