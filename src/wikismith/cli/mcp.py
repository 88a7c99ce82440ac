"""`wikismith mcp`: the MCP server over stdio, for coding agents (Claude Code, Cursor, VS Code, Codex) that start
it as a subprocess. The same tools are served over HTTP at `/mcp` by `wikismith serve`.

Local repositories may be read under `--local-root` directories (repeatable); without one, under
WIKISMITH_LOCAL_ROOTS when it is set, else under the directory the command was started in (agents start it in
the project's folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wikismith.cli.runtime import EXIT_CONFIG_ERROR, fail, load, run


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp)


def mcp(
    local_root: Annotated[
        list[Path] | None,
        typer.Option(
            "--local-root",
            metavar="DIR",
            help="A directory whose repositories the tools may read (repeatable; default: WIKISMITH_LOCAL_ROOTS,"
            " else the current directory).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the MCP tools (wiki structure and pages, Q&A, code search, generation) over stdin/stdout."""
    from wikismith.server.mcp.stdio import serve_stdio

    settings, config = load()
    roots = tuple(p.expanduser().resolve() for p in local_root or ()) or settings.local_roots or (Path.cwd(),)
    missing = [str(p) for p in roots if not p.is_dir()]
    if missing:
        fail(f"--local-root must be a directory: {', '.join(missing)}", EXIT_CONFIG_ERROR)
    run(serve_stdio(settings, config, roots))
