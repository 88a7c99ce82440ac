"""`wikismith models`: the model catalogue as a table (or JSON), filtered and sorted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from wikismith.cli.runtime import load, run

if TYPE_CHECKING:
    from wikismith.llm.catalogue import Catalogue
    from wikismith.llm.types import ModelInfo

SORTS = ("price", "context", "name")


def register(app: typer.Typer) -> None:
    app.command("models")(models)


def models(
    provider: Annotated[str | None, typer.Option("--provider", "-p", help="Only this provider's models.")] = None,
    search: Annotated[str | None, typer.Option("--search", "-s", help="Substring of the id or name.")] = None,
    max_price: Annotated[
        float | None, typer.Option("--max-price", min=0.0, help="USD per million tokens, prompt and completion each.")
    ] = None,
    min_context: Annotated[
        int | None, typer.Option("--min-context", min=1, help="Smallest context window (tokens).")
    ] = None,
    sort: Annotated[str, typer.Option("--sort", help="price | context | name")] = "name",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    refresh: Annotated[bool, typer.Option("--refresh", help="Fetch the live catalogue now.")] = False,
    offline: Annotated[bool, typer.Option("--offline", help="Never fetch; use the cache or the snapshot.")] = False,
) -> None:
    """List the models wikismith knows: context window, prices and supported parameters."""
    from wikismith.llm.catalogue import Catalogue

    if sort not in SORTS:
        raise typer.BadParameter(f"expected one of {', '.join(SORTS)}", param_hint="--sort")
    if refresh and offline:
        raise typer.BadParameter("give --refresh or --offline, not both", param_hint="--refresh")
    settings, config = load()
    catalogue = run(_catalogue(Catalogue.for_settings(config, settings), refresh=refresh, offline=offline))
    rows = select_models(catalogue.models(), provider, search, max_price, min_context, sort)
    if as_json:
        import orjson

        typer.echo(orjson.dumps([_as_dict(m) for m in rows], option=orjson.OPT_INDENT_2).decode())
        return
    _print_table(rows, f"{len(rows)} models · catalogue: {catalogue.source}")


async def _catalogue(catalogue: Catalogue, *, refresh: bool, offline: bool) -> Catalogue:
    """The catalogue, refreshed live first when asked to, or when its cache is older than its TTL."""
    if not offline:
        await catalogue.refresh_if_stale(force=refresh)
    return catalogue


def select_models(
    rows: list[ModelInfo],
    provider: str | None,
    search: str | None,
    max_price: float | None,
    min_context: int | None,
    sort: str,
) -> list[ModelInfo]:
    if provider:
        rows = [m for m in rows if m.provider == provider]
    if search:
        needle = search.lower()
        rows = [m for m in rows if needle in m.id.lower() or needle in m.name.lower()]
    if max_price is not None:
        limit = max_price / 1e6
        rows = [
            m for m in rows
            if m.prompt_price is not None and m.prompt_price <= limit and (m.completion_price or 0.0) <= limit
        ]  # fmt: skip
    if min_context is not None:
        rows = [m for m in rows if (m.context_length or 0) >= min_context]
    if sort == "price":
        from wikismith.router.select import unit_price

        return sorted(rows, key=lambda m: (unit_price(m), m.id))
    if sort == "context":
        return sorted(rows, key=lambda m: (-(m.context_length or 0), m.id))
    return sorted(rows, key=lambda m: m.id)


def _per_million(price: float | None) -> str:
    if price is None:
        return "?"
    return "free" if price == 0 else f"{price * 1e6:.3g}"


def _as_dict(m: ModelInfo) -> dict[str, Any]:
    return {
        "id": m.id,
        "provider": m.provider,
        "model": m.model,
        "name": m.name,
        "context_length": m.context_length,
        "max_completion_tokens": m.max_completion_tokens,
        "prompt_price": m.prompt_price,
        "completion_price": m.completion_price,
        "request_price": m.request_price,
        "supported_parameters": sorted(m.supported_parameters) if m.supported_parameters is not None else None,
    }


def _print_table(rows: list[ModelInfo], caption: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(caption=caption, caption_justify="left")
    table.add_column("model", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("context", justify="right")
    table.add_column("$/M in", justify="right")
    table.add_column("$/M out", justify="right")
    table.add_column("tools", justify="center")
    for m in rows:
        params = m.supported_parameters
        tools = "?" if params is None else ("yes" if "tools" in params else "")
        context = f"{m.context_length:,}" if m.context_length else "?"
        table.add_row(m.id, m.name, context, _per_million(m.prompt_price), _per_million(m.completion_price), tools)
    Console().print(table)
