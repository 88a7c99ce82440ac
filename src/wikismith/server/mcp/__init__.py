"""The MCP server: DeepWiki's wiki tools, code search and Q&A for coding agents, over stdio (`wikismith mcp`)
and streamable HTTP (`/mcp` in `wikismith serve`). See `server` for the tools, `names` for what `repoName`
may be, `http` for the mount, `stdio` for the standalone process."""

from __future__ import annotations

from wikismith.server.mcp.runtime import Runtime
from wikismith.server.mcp.server import build_server

__all__ = ["Runtime", "build_server"]
