"""The HTTP server: DeepWiki's API and an OpenAI-compatible gateway over the router (`create_app`)."""

from __future__ import annotations

from wikismith.server.app import create_app

__all__ = ["create_app"]
