"""`wikismith compare --models a,b,c "prompt"`: one prompt on several models at once, side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from wikismith.cli.runtime import load, model_name, open_router, run

if TYPE_CHECKING:
    from wikismith.config.models import AppConfig
    from wikismith.config.settings import Settings
    from wikismith.router.compare import Comparison


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)


def compare(
    prompt: Annotated[str, typer.Argument(help="The prompt to send to every model.")],
    models: Annotated[str, typer.Option("--models", help="Comma-separated provider/model names (or routes).")],
    system: Annotated[str | None, typer.Option("--system", help="An optional system message.")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1)] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", min=0.0, max=2.0)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Time to first token, total time, tokens, cost, finish reason and the answers, per model."""
    from wikismith.config.models import ConfigError

    if not prompt.strip():
        raise typer.BadParameter("the prompt is empty", param_hint="PROMPT")
    settings, config = load()
    names = [n.strip() for n in models.split(",") if n.strip()]
    if not names:
        raise typer.BadParameter("give at least one model", param_hint="--models")
    try:
        resolved = [_name(config, n) for n in names]
    except ConfigError as exc:
        from wikismith.cli.runtime import EXIT_CONFIG_ERROR, fail

        fail(str(exc), EXIT_CONFIG_ERROR)
    rows = run(_compare(config, settings, resolved, prompt, system, max_tokens, temperature))
    if as_json:
        import orjson

        typer.echo(orjson.dumps([r.as_dict() for r in rows], option=orjson.OPT_INDENT_2).decode())
    else:
        _print(rows)
    if not any(r.ok for r in rows):
        raise typer.Exit(1)


def _name(config: AppConfig, name: str) -> str:
    if name == "auto" or name in config.generator.routes:
        return name
    return model_name(config, model=name)


async def _compare(
    config: AppConfig,
    settings: Settings,
    names: list[str],
    prompt: str,
    system: str | None,
    max_tokens: int | None,
    temperature: float | None,
) -> list[Comparison]:
    from wikismith.llm.types import GenerationParams, Message
    from wikismith.router.compare import compare as run_compare

    messages = ([Message(role="system", content=system)] if system else []) + [Message(role="user", content=prompt)]
    params = GenerationParams(max_tokens=max_tokens, temperature=temperature)
    async with open_router(config, settings) as router:
        return await run_compare(router, names, messages, params=params)


def _print(rows: list[Comparison]) -> None:
    from rich.console import Console
    from rich.table import Table

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f}"

    table = Table(show_lines=True)
    for column in ("model", "TTFT ms", "total ms", "in", "out", "cost $", "finish", "answer"):
        table.add_column(column, overflow="fold", justify="right" if column not in ("model", "answer") else "left")
    for r in rows:
        cost = "-" if r.cost is None else f"{r.cost:.6f}{'*' if r.cost_is_estimate else ''}"
        answer = r.text if r.ok else f"[red]error: {r.error}[/]"
        table.add_row(
            r.model, ms(r.ttft_ms), ms(r.total_ms), str(r.prompt_tokens or "-"), str(r.completion_tokens or "-"),
            cost, r.finish_reason or "-", answer,
        )  # fmt: skip
    Console().print(table)
