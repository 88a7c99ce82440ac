"""`wikismith mcp`: the MCP server over stdin/stdout, in a process of its own that owns its router, wiki store
and index cache (closed when the client goes away). The SDK keeps stray output off the wire: while it serves,
file descriptor 1 points at stderr, where the logs go too.
"""

from __future__ import annotations

from pathlib import Path

from wikismith.chat import IndexCache
from wikismith.config.models import AppConfig
from wikismith.config.settings import Settings
from wikismith.router import build_router
from wikismith.server.mcp.runtime import Runtime
from wikismith.server.mcp.server import build_server
from wikismith.wiki.store import WikiStore


async def serve_stdio(settings: Settings, config: AppConfig, local_roots: tuple[Path, ...]) -> None:
    """Serve until stdin closes."""
    router = build_router(config, settings)
    cache = IndexCache()
    runtime = Runtime(settings, config, router, WikiStore(settings.data.wikicache), cache, local_roots)
    try:
        await build_server(lambda: runtime).run_stdio_async()
    finally:
        await cache.aclose()
        await router.aclose()
