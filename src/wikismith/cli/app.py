"""The `wikismith` console script. Command modules are imported here and register themselves.

Every command module must keep its heavy imports (torch, FAISS, llama.cpp, the server) inside the command
function, so `wikismith --help` stays fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="wikismith",
    help="Turn a code repository into a wiki and answer questions about it, with any model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module defines `register(app)`. Order is the order shown in --help.
COMMAND_MODULES = [
    "chat", "models", "usage", "compare", "serve", "mcp", "index", "ask", "search", "generate", "remove", "export",
]  # fmt: skip


def main() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"wikismith.cli.{name}").register(app)
    app()
