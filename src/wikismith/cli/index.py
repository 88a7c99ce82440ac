"""`wikismith index <repo>`: build or update a repository's index and report what was indexed and skipped."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Annotated

import typer

from wikismith.cli.options import FILTERS, SOURCE, EmbedderOption, FilterChoice, SourceChoice, grouped
from wikismith.cli.runtime import fail, load, run

if TYPE_CHECKING:
    from wikismith.config.models import AppConfig
    from wikismith.config.schemas import FileFilters
    from wikismith.config.settings import Settings
    from wikismith.rag import RepoIndex


def register(app: typer.Typer) -> None:
    app.command("index")(index)


@grouped
def index(
    repo: Annotated[str, typer.Argument(help="A local directory or an https:// repository URL.")],
    source: SourceChoice = SOURCE,
    embedder: EmbedderOption = None,
    filters: FilterChoice = FILTERS,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Build or update the index: files indexed, skipped by reason, chunks and seconds."""
    settings, config = load()
    where = (repo, source.ref, source.repo_type, source.access_token)
    result = run(_index(settings, config, where, embedder, filters.filters(), show_progress=not as_json))
    if as_json:
        import orjson

        typer.echo(orjson.dumps(summary(result), option=orjson.OPT_INDENT_2).decode())
    else:
        _print(result)


async def _index(
    settings: Settings,
    config: AppConfig,
    source: tuple[str, str | None, str | None, str | None],
    embedder_name: str | None,
    filters: FileFilters | None,
    *,
    show_progress: bool,
) -> RepoIndex:
    from rich.progress import Progress

    from wikismith.rag import SourceError, build_index, create_embedder, open_repo

    repo, ref, repo_type, token = source
    try:
        snapshot = await open_repo(repo, settings, config, ref=ref, repo_type=repo_type, access_token=token)
    except SourceError as exc:
        fail(str(exc))
    embedder = create_embedder(config, embedder_name)
    try:
        with Progress(transient=True, disable=not show_progress) as bar:
            task = bar.add_task("embedding", total=None)

            def progress(stage: str, done: int, total: int) -> None:
                bar.update(task, description=stage, completed=done, total=total or None)

            return await build_index(snapshot, settings, config, embedder=embedder, filters=filters, progress=progress)
    finally:
        await embedder.aclose()


def summary(result: RepoIndex) -> dict[str, object]:
    stats = result.stats
    return {
        "repository": result.snapshot.ref.url or str(result.snapshot.root),
        "commit": result.snapshot.commit,
        "embedder": result.embedder.id,
        "files_indexed": len(result.files),
        "files_embedded": stats.files_embedded,
        "files_reused": stats.files_reused,
        "files_removed": stats.files_removed,
        "skipped": result.skipped,
        "chunks": len(result.chunks),
        "chunks_embedded": stats.chunks_embedded,
        "seconds": round(stats.seconds, 2),
        "embed_seconds": round(stats.embed_seconds, 2),
        "index": result.key,
        "code_map": _code_map(result),
    }


def _code_map(result: RepoIndex) -> dict[str, object]:
    """Files parsed per language and symbols, from the index's code map."""
    codemap = result.codemap
    files = codemap.files.values() if codemap is not None else ()
    languages = Counter(f.language for f in files if f.language)
    return {"languages": dict(languages.most_common()), "symbols": sum(max(0, len(f.symbols) - 1) for f in files)}


def _print(result: RepoIndex) -> None:
    data = summary(result)
    skipped = data["skipped"]
    assert isinstance(skipped, dict)
    reasons = ", ".join(f"{reason} {count}" for reason, count in skipped.items()) or "none"
    typer.echo(f"repository  {data['repository']}" + (f" @ {data['commit']}" if data["commit"] else ""))
    typer.echo(f"embedder    {data['embedder']}")
    typer.echo(
        f"files       {data['files_indexed']} indexed ({data['files_embedded']} embedded, "
        f"{data['files_reused']} unchanged, {data['files_removed']} removed)"
    )
    typer.echo(f"skipped     {sum(skipped.values())} ({reasons})")
    typer.echo(f"chunks      {data['chunks']} ({data['chunks_embedded']} embedded)")
    code = data["code_map"]
    assert isinstance(code, dict)
    parsed = ", ".join(f"{language} {n}" for language, n in code["languages"].items()) or "no source files"
    typer.echo(f"code map    {code['symbols']} symbols ({parsed})")
    typer.echo(f"seconds     {data['seconds']} (embedding {data['embed_seconds']})")
