"""The HTTP server: DeepWiki's API and an OpenAI-compatible gateway over the router (`create_app`).

`create_app` is imported on first use, so that `wikismith mcp` (the MCP server over stdio, in `server.mcp`)
starts without loading FastAPI and every route.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wikismith.server.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from wikismith.server.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
