"""Option groups that several commands share, declared once: the model choice, the repository source, the file
filters. A command names a group by one parameter typed with it; `@grouped` spreads the group's options into
the signature typer reads (at that parameter's place, so `--help` keeps its order) and hands the command one
value back:

    @grouped
    def ask(repo: str, choice: ModelChoice = MODEL, source: SourceChoice = SOURCE) -> None:
        name = choice.resolve(config)                     # exits 2 on an unknown provider, model or route

Flags: ModelChoice `--provider/-p`, `--model/-m`, `--model-provider`, `--route/-r`; SourceChoice `--ref`,
`--repo-type`, `--access-token` (env WIKISMITH_ACCESS_TOKEN); FilterChoice `--exclude-dir`, `--exclude-file`,
`--include-dir`, `--include-file` (repeatable). `EmbedderOption` is the single `--embedder`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar

import typer

from wikismith.cli.runtime import (
    EXIT_CONFIG_ERROR,
    ModelOption,
    ModelProviderOption,
    ProviderOption,
    RouteOption,
    fail,
    model_name,
)

if TYPE_CHECKING:
    from wikismith.config.models import AppConfig
    from wikismith.config.schemas import FileFilters

F = TypeVar("F", bound=Callable[..., Any])

RefOption = Annotated[str | None, typer.Option("--ref", help="Branch, tag or full commit SHA (remote only).")]
RepoTypeOption = Annotated[
    str | None,
    typer.Option("--repo-type", help="github, gitlab, bitbucket or local (default: from the URL's host)."),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--access-token",
        envvar="WIKISMITH_ACCESS_TOKEN",
        help="Token for a private repository (never written to disk).",
        show_default=False,
    ),
]
EmbedderOption = Annotated[
    str | None, typer.Option("--embedder", help="An embedder.json entry: local (default), openai, ollama, …")
]
ExcludeDirOption = Annotated[
    list[str] | None, typer.Option("--exclude-dir", help="Skip directories by name or path glob (repeatable).")
]
ExcludeFileOption = Annotated[
    list[str] | None, typer.Option("--exclude-file", help="Skip files by name or path glob, e.g. '*.min.js'.")
]
IncludeDirOption = Annotated[
    list[str] | None, typer.Option("--include-dir", help="Index only these directories (DeepWiki's inclusion mode).")
]
IncludeFileOption = Annotated[
    list[str] | None, typer.Option("--include-file", help="Index only files matching these (inclusion mode).")
]


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """Which model answers: a route, `auto`, or a provider and model (DeepWiki's `--model-provider` too)."""

    provider: str | None = None
    model: str | None = None
    model_provider: str | None = None
    route: str | None = None

    OPTIONS: ClassVar[dict[str, Any]] = {
        "provider": ProviderOption,
        "model": ModelOption,
        "model_provider": ModelProviderOption,
        "route": RouteOption,
    }

    def resolve(self, config: AppConfig) -> str:
        """The router's model name; an unknown or contradictory choice exits 2 with a clear message."""
        from wikismith.config.models import ConfigError

        try:
            return model_name(
                config, provider=self.provider, model=self.model, model_provider=self.model_provider, route=self.route
            )
        except ConfigError as exc:
            fail(str(exc), EXIT_CONFIG_ERROR)


@dataclass(frozen=True, slots=True)
class SourceChoice:
    """Where a remote repository comes from: the ref to check out, the forge type, a token."""

    ref: str | None = None
    repo_type: str | None = None
    access_token: str | None = None

    OPTIONS: ClassVar[dict[str, Any]] = {"ref": RefOption, "repo_type": RepoTypeOption, "access_token": TokenOption}


@dataclass(frozen=True, slots=True)
class FilterChoice:
    """The command-line file filters, added to repo.json's."""

    exclude_dir: list[str] | None = None
    exclude_file: list[str] | None = None
    include_dir: list[str] | None = None
    include_file: list[str] | None = None

    OPTIONS: ClassVar[dict[str, Any]] = {
        "exclude_dir": ExcludeDirOption,
        "exclude_file": ExcludeFileOption,
        "include_dir": IncludeDirOption,
        "include_file": IncludeFileOption,
    }

    def filters(self) -> FileFilters | None:
        """As FileFilters (None when none were given)."""
        from wikismith.config.schemas import FileFilters

        lists = [self.exclude_dir or [], self.exclude_file or [], self.include_dir or [], self.include_file or []]
        if not any(lists):
            return None
        return FileFilters(
            excluded_dirs=lists[0], excluded_files=lists[1], included_dirs=lists[2], included_files=lists[3]
        )

    def joined(self, name: str) -> str | None:
        """One list as DeepWiki's request field: newline-separated (None when empty)."""
        return "\n".join(getattr(self, name) or []) or None


MODEL = ModelChoice()
SOURCE = SourceChoice()
FILTERS = FilterChoice()
_GROUPS: tuple[type[Any], ...] = (ModelChoice, SourceChoice, FilterChoice)


def grouped(command: F) -> F:
    """Spread every option-group parameter of `command` into its options, for typer; call `command` with the
    groups rebuilt from them."""
    signature = inspect.signature(command, eval_str=True)
    spread: list[inspect.Parameter] = []
    groups: dict[str, type[Any]] = {}
    for param in signature.parameters.values():
        if param.annotation not in _GROUPS:
            spread.append(param)
            continue
        groups[param.name] = param.annotation
        spread += [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
            for name, annotation in param.annotation.OPTIONS.items()
        ]
    # Keep the order (`--help` shows it); from the first spread option on, every parameter is keyword-only (typer
    # passes them all by name), which keeps the signature valid whatever follows.
    first = next(i for i, p in enumerate(spread) if p.kind == inspect.Parameter.KEYWORD_ONLY) if groups else 0
    order = spread[:first] + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in spread[first:]]

    @functools.wraps(command)
    def call(*args: Any, **kwargs: Any) -> Any:
        for name, group in groups.items():
            kwargs[name] = group(**{f.name: kwargs.pop(f.name, None) for f in fields(group)})
        return command(*args, **kwargs)

    new = signature.replace(parameters=order)
    call.__signature__ = new  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: p.annotation for p in order} | {"return": signature.return_annotation}
    return call  # type: ignore[return-value]
