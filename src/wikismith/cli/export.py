"""`wikismith export <wiki-dir>`: a generated wiki as one Markdown file or one JSON file, in DeepWiki's
export formats (the same as `POST /export/wiki`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wikismith.cli.runtime import EXIT_CONFIG_ERROR, fail


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def export(
    wiki: Annotated[Path, typer.Argument(help="The output directory of `wikismith generate` (holds wiki.json).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="markdown or json.")] = "markdown",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: in the wiki dir).")
    ] = None,
) -> None:
    """Write the wiki as a single file; pages in the order of the wiki's structure."""
    from pydantic import ValidationError

    from wikismith.storage import atomic_write_text
    from wikismith.wiki.store import WikiCacheData, export_filename, export_json, export_markdown

    if fmt not in ("markdown", "json"):
        fail(f"--format must be markdown or json, not {fmt!r}", EXIT_CONFIG_ERROR)
    source = wiki / "wiki.json" if wiki.is_dir() else wiki
    try:
        data = WikiCacheData.model_validate_json(source.read_text(encoding="utf-8"))
    except (OSError, ValidationError, ValueError) as exc:
        fail(f"cannot read a wiki from {source}: {exc}", EXIT_CONFIG_ERROR)
    repo = data.repo
    repo_url = data.repo_url or (repo and (repo.repo_url or repo.local_path or f"{repo.owner}/{repo.repo}")) or "wiki"
    order = [p.id for p in data.wiki_structure.pages]
    pages = [data.generated_pages[i] for i in order if i in data.generated_pages]
    text = export_markdown(repo_url, pages) if fmt == "markdown" else export_json(repo_url, pages)
    target = output or source.parent / export_filename(repo_url, "markdown" if fmt == "markdown" else "json")
    atomic_write_text(target, text)
    typer.echo(str(target))
