"""`wikismith generate <repo>`: a wiki for a repository (local directory or forge URL), resumable.

DeepWiki's flag names are accepted too (`--model-provider`, `--model`, `--output`, `--access-token`,
`--repo-type`). Exit codes: 0 all pages written; 1 a page failed, the budget stopped the run, or a model/source
error; 2 a configuration error; 130 interrupted (run the same command again to continue).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from wikismith.cli.options import (
    FILTERS,
    MODEL,
    SOURCE,
    EmbedderOption,
    FilterChoice,
    ModelChoice,
    SourceChoice,
    grouped,
)
from wikismith.cli.runtime import EXIT_CONFIG_ERROR, EXIT_MODEL_ERROR, directory_problem, fail, load, open_router, run

if TYPE_CHECKING:
    from rich.console import Console

    from wikismith.config.models import AppConfig
    from wikismith.config.settings import Settings
    from wikismith.wiki.generator import RunSummary, WikiOptions
    from wikismith.wiki.run import WikiSource


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)


@grouped
def generate(
    repo: Annotated[str, typer.Argument(help="A local directory or an https:// repository URL.")],
    source: SourceChoice = SOURCE,
    choice: ModelChoice = MODEL,
    language: Annotated[str | None, typer.Option("--language", "-l", help="Language code from lang.json.")] = None,
    comprehensive: Annotated[
        bool, typer.Option("--comprehensive/--concise", help="8-12 pages in sections, or 4-6 pages.")
    ] = False,
    concurrency: Annotated[int, typer.Option("--concurrency", "-j", min=1, max=64, help="Pages at once.")] = 4,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output directory (default: the data dir's wikis/).")
    ] = None,
    budget: Annotated[
        float | None, typer.Option("--budget", min=0.0, help="Stop starting pages once this many USD are spent.")
    ] = None,
    fallback_structure: Annotated[
        bool | None,
        typer.Option(
            "--fallback-structure/--no-fallback-structure",
            help="Outline the wiki from the file tree when the model cannot (default: only for the local model).",
            show_default=False,
        ),
    ] = None,
    embedder: EmbedderOption = None,
    filters: FilterChoice = FILTERS,
) -> None:
    """Generate (or continue) a wiki: one Markdown file per page, README.md, wiki.json and a manifest."""
    from wikismith.config.models import ConfigError
    from wikismith.redact import register_secret
    from wikismith.wiki.run import WikiSource, wiki_options

    settings, config = load()
    register_secret(source.access_token)
    if source.repo_type is not None and source.repo_type not in ("github", "gitlab", "bitbucket", "local"):
        fail(f"--repo-type must be github, gitlab, bitbucket or local, not {source.repo_type!r}", EXIT_CONFIG_ERROR)
    name = choice.resolve(config)
    try:
        options = wiki_options(
            config,
            name,
            language=language,
            comprehensive=comprehensive,
            concurrency=concurrency,
            budget=budget,
            fallback_structure=fallback_structure,
        )
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG_ERROR)
    problem = directory_problem(output) if output is not None else None
    if problem:  # before indexing, which can take minutes
        fail(f"--output {output} {problem}", EXIT_CONFIG_ERROR)
    where = WikiSource(
        repo,
        ref=source.ref,
        repo_type=source.repo_type,
        access_token=source.access_token,
        embedder=embedder,
        filters=filters.filters(),
    )
    summary = _run(settings, config, where, options, output)
    _print_summary(summary)
    if summary.failed or summary.pending:
        failed = ", ".join(f"{p} ({r})" for p, r in summary.failed.items())
        detail = f"failed pages: {failed}" if failed else f"{len(summary.pending)} pages not generated"
        stop = f" ({summary.stopped})" if summary.stopped else ""
        fail(f"{detail}{stop}; run the same command again to continue", EXIT_MODEL_ERROR)


def _run(
    settings: Settings, config: AppConfig, source: WikiSource, options: WikiOptions, out: Path | None
) -> RunSummary:
    from wikismith.rag import SourceError
    from wikismith.wiki.manifest import OutputError, RunLocked
    from wikismith.wiki.pages import PageError
    from wikismith.wiki.structure import StructureError

    try:
        return run(_generate(settings, config, source, options, out))
    except OutputError as exc:
        fail(str(exc), EXIT_CONFIG_ERROR)
    except (SourceError, StructureError, PageError, RunLocked, ValueError) as exc:
        fail(str(exc), EXIT_MODEL_ERROR)


async def _generate(
    settings: Settings, config: AppConfig, source: WikiSource, options: WikiOptions, out: Path | None
) -> RunSummary:
    from rich.console import Console

    from wikismith.wiki.run import run_wiki
    from wikismith.wiki.store import WikiStore

    with _Display(Console(stderr=True)) as display:
        async with open_router(config, settings) as router:
            store = WikiStore(settings.data.wikicache)
            return await run_wiki(router, settings, config, source, options, out=out, store=store, progress=display)


class _Display:
    """A rich progress bar on stderr: the stage, pages done/total, tokens and cost so far; what was indexed is
    printed above it."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task = self.bar.add_task("starting", total=None, stats="")

    def __enter__(self) -> _Display:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def __call__(self, event: object) -> None:
        from wikismith.wiki.generator import Progress

        if not isinstance(event, Progress):
            return
        if event.kind == "files":
            self.bar.console.print(event.message, markup=False, highlight=False)
            return
        cost = f" · ${event.cost:.4f}" if event.cost is not None else ""
        stats = f"{event.tokens:,} tokens{cost}" + (f" · {event.failed} failed" if event.failed else "")
        if event.kind == "stage":
            self.bar.update(self.task, description=event.message, stats=stats)
            return
        description = "pages" if event.kind != "finished" else "finished"
        if event.kind == "page_failed":
            from rich.markup import escape

            self.bar.console.print(f"[red]page failed:[/] {escape(event.message)}", markup=True, highlight=False)
        total = event.total or None
        self.bar.update(
            self.task, description=description, total=total, completed=event.done + event.failed, stats=stats
        )


def _print_summary(summary: RunSummary) -> None:
    from rich.console import Console

    s = summary
    tally = s.tally
    cost = f"${tally.cost:.4f}" if tally.cost_known else "unknown (no prices reported)"
    source = "the model" if s.structure_source == "model" else "the file tree (fallback)"
    lines = [
        f"wiki: {s.output}",
        f"pages: {s.written} written, {s.reused} already done, {len(s.failed)} failed, {len(s.pending)} pending"
        f" of {s.total} (structure from {source})",
        f"citations: {s.citations.checked} checked, {s.citations.fixed} fixed, {s.citations.removed} removed,"
        f" {s.citations.added} added from the retrieved context;"
        f" diagrams: {s.diagrams_repaired} repaired, {s.diagrams_removed} removed",
        f"tokens: {tally.tokens:,} ({tally.prompt_tokens:,} in, {tally.completion_tokens:,} out) in {tally.calls}"
        f" calls; cost: {cost}",
        f"wall time: {s.wall_time:.1f} s",
    ]
    Console(highlight=False, soft_wrap=True).print("\n".join(lines), markup=False)
