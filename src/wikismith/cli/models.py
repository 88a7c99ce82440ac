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


_BREAKS = ("/", "-")  # where a long model id breaks: after a `/` (provider, vendor), else after a `-`
_NAME_ROOM = 20  # the name column is shown only when it gets at least this many characters


def wrap_id(model_id: str, width: int, breaks: tuple[str, ...] = _BREAKS) -> list[str]:
    """`model_id` in lines of at most `width` characters, broken after a `/` where one allows it, else after a
    `-`, else cut."""
    if len(model_id) <= width:
        return [model_id]
    if not breaks:
        return [model_id[i : i + width] for i in range(0, len(model_id), width)]
    mark, rest = breaks[0], breaks[1:]
    pieces = [p + mark for p in model_id.split(mark)]
    pieces[-1] = pieces[-1][: -len(mark)]
    lines: list[str] = []
    for piece in filter(None, pieces):
        if lines and len(lines[-1]) + len(piece) <= width:
            lines[-1] += piece
        else:
            lines.extend(wrap_id(piece, width, rest))
    return lines


def _print_table(rows: list[ModelInfo], caption: str) -> None:
    """The table fitted to the terminal: the fixed columns keep their width, the name column is dropped when
    there is no room for it, and ids longer than their column wrap after a `/` or `-`."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    cells = [_cells(m) for m in rows]
    fixed = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(_FIXED, start=2)]
    room = console.width - sum(w + 3 for w in fixed) - 1  # each column: its text, a border and a space each side
    longest_id = max((len(m.id) for m in rows), default=5)
    show_name = room - 3 - longest_id - 3 >= _NAME_ROOM
    id_width = max(12, min(longest_id, room - 3))
    table = Table(caption=caption, caption_justify="left")
    table.add_column("model", no_wrap=True, width=id_width)
    if show_name:
        table.add_column("name", no_wrap=True, overflow="ellipsis", max_width=room - 3 - longest_id - 3)
    for header, width in zip(_FIXED, fixed, strict=True):
        table.add_column(header, justify="center" if header == "tools" else "right", no_wrap=True, min_width=width)
    for row in cells:
        row[0] = "\n".join(wrap_id(row[0], id_width))
        table.add_row(*(row if show_name else row[:1] + row[2:]))
    console.print(table)


_FIXED = ("context", "$/M in", "$/M out", "tools")


def _cells(m: ModelInfo) -> list[str]:
    params = m.supported_parameters
    tools = "?" if params is None else ("yes" if "tools" in params else "")
    context = f"{m.context_length:,}" if m.context_length else "?"
    return [m.id, m.name, context, _per_million(m.prompt_price), _per_million(m.completion_price), tools]
