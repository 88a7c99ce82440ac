"""`wikismith usage`: what the usage ledger says: totals, by model and by day."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from wikismith.cli.runtime import load


def register(app: typer.Typer) -> None:
    app.command("usage")(usage)


def usage(
    days: Annotated[int, typer.Option("--days", "-d", min=1, help="How many days back (UTC).")] = 30,
    tag: Annotated[str | None, typer.Option("--tag", help="Only calls made with this caller tag.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Summarise model calls and their cost from the usage ledger."""
    from wikismith.router.cost import Ledger, summarise

    settings, _ = load()
    since = time.time() - days * 86400
    summary = summarise(Ledger(settings.data.ledger), since=since, tag=tag)
    if as_json:
        import orjson

        typer.echo(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
        return
    if not summary["totals"] or not summary["totals"]["calls"]:
        typer.echo(f"no model calls recorded in the last {days} days ({settings.data.ledger})")
        return
    _print(summary, days)


def _print(summary: dict[str, Any], days: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for title, key, rows in (
        ("by model", "target", summary["by_model"]),
        ("by day (UTC)", "day", summary["by_day"]),
        (f"total, last {days} days", None, [summary["totals"]]),
    ):
        table = Table(title=title, title_justify="left")
        for column in ([key] if key else []) + ["calls", "failed", "tokens in", "tokens out", "cost $", "avg ms"]:
            table.add_column(column, justify="left" if column == key else "right", no_wrap=column == key)
        for row in rows:
            cost = f"{row['cost']:.6f}" + ("*" if row["estimated_cost"] else "")
            cells = [str(row[key])] if key else []
            cells += [
                str(row["calls"]),
                str(row["failed"]),
                f"{row['prompt_tokens']:,}",
                f"{row['completion_tokens']:,}",
            ]
            table.add_row(*cells, cost, f"{row['avg_latency_ms']:.0f}")
        console.print(table)
    console.print("* includes costs estimated from catalogue prices (the provider reported none)")
