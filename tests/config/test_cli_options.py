"""`cli.options`: option groups spread into typer options in place, and handed back to the command as one value."""

from __future__ import annotations

from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from wikismith.cli import ask, chat, generate, index
from wikismith.cli.options import (
    FILTERS,
    MODEL,
    SOURCE,
    FilterChoice,
    ModelChoice,
    SourceChoice,
    grouped,
)

seen: dict[str, object] = {}


@grouped
def probe(
    repo: Annotated[str, typer.Argument()],
    choice: ModelChoice = MODEL,
    source: SourceChoice = SOURCE,
    filters: FilterChoice = FILTERS,
    verbose: Annotated[bool, typer.Option("--verbose")] = False,
) -> None:
    seen.update(repo=repo, choice=choice, source=source, filters=filters, verbose=verbose)


def app_with(*commands: object) -> typer.Typer:
    app = typer.Typer()
    for command in commands:
        app.command()(command)  # type: ignore[arg-type]
    app.command("noop")(lambda: None)
    return app


def test_groups_arrive_as_one_value_each() -> None:
    args = ["probe", "r", "-p", "a", "-m", "b", "--ref", "v1", "--exclude-dir", "x", "--exclude-dir", "y", "--verbose"]
    result = CliRunner().invoke(app_with(probe), args, env={"WIKISMITH_ACCESS_TOKEN": "tok-123"})
    assert result.exit_code == 0, result.output
    assert seen["choice"] == ModelChoice(provider="a", model="b")
    assert seen["source"] == SourceChoice(ref="v1", access_token="tok-123")
    filters = seen["filters"]
    assert isinstance(filters, FilterChoice) and filters.exclude_dir == ["x", "y"]
    assert filters.joined("exclude_dir") == "x\ny" and filters.joined("include_dir") is None
    assert seen["repo"] == "r" and seen["verbose"] is True


def test_no_filters_give_none() -> None:
    assert FilterChoice().filters() is None
    only = FilterChoice(include_file=["*.py"]).filters()
    assert only is not None and only.included_files == ["*.py"] and only.excluded_dirs == []


@pytest.mark.parametrize(
    ("module", "flags"),
    [
        (ask, ["--provider", "--model", "--model-provider", "--route", "--ref", "--repo-type", "--access-token",
               "--embedder", "--exclude-dir", "--exclude-file", "--include-dir", "--include-file", "--language",
               "--deep-research"]),
        (chat, ["--provider", "--model", "--model-provider", "--route", "--system", "--max-tokens", "--temperature"]),
        (generate, ["--ref", "--repo-type", "--access-token", "--provider", "--model", "--model-provider", "--route",
                    "--language", "--comprehensive", "--concurrency", "--output", "--budget", "--fallback-structure",
                    "--embedder"]),
        (index, ["--ref", "--repo-type", "--access-token", "--embedder", "--exclude-dir", "--exclude-file",
                 "--include-dir", "--include-file", "--json"]),
    ],
)  # fmt: skip
def test_commands_keep_their_flags_in_order(module: object, flags: list[str]) -> None:
    app = typer.Typer()
    module.register(app)  # type: ignore[attr-defined]
    app.command("noop")(lambda: None)
    name = module.__name__.rsplit(".", 1)[-1]  # type: ignore[attr-defined]
    result = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    positions = [result.output.find(f" {flag} ") for flag in flags]
    assert -1 not in positions, [f for f, p in zip(flags, positions, strict=True) if p == -1]
    assert positions == sorted(positions)
