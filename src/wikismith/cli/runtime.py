"""What every CLI command shares: loading settings and config, the model-choice options, running a coroutine,
and printing failures as one clean line (exit 2 for configuration errors, 1 for model-call errors).

    @app.command()
    def chat(question: str, provider: ProviderOption = None, model: ModelOption = None,
             model_provider: ModelProviderOption = None, route: RouteOption = None) -> None:
        settings, config = load()
        name = model_name(config, provider=provider, model=model, model_provider=model_provider, route=route)
        run(answer(settings, config, name))     # answer() uses `async with open_router(config, settings)`
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

if TYPE_CHECKING:  # imported lazily at run time, so `wikismith --help` loads no pydantic model
    from wikismith.config.models import AppConfig
    from wikismith.config.settings import Settings
    from wikismith.router import Router

T = TypeVar("T")

EXIT_MODEL_ERROR = 1
EXIT_CONFIG_ERROR = 2

ProviderOption = Annotated[
    str | None,
    typer.Option("--provider", "-p", help="Provider id from generator.json (default: its default_provider)."),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", help="Model id of that provider, or provider/model (default: the provider's default)."
    ),
]
ModelProviderOption = Annotated[
    str | None, typer.Option("--model-provider", help="DeepWiki's name for --provider.", show_default=False)
]
RouteOption = Annotated[
    str | None, typer.Option("--route", "-r", help="A named route from generator.json `routes`, or `auto`.")
]


def fail(message: str, code: int = EXIT_MODEL_ERROR) -> NoReturn:
    """Print `error: message` (redacted) on stderr and exit with `code`."""
    from rich.console import Console
    from rich.markup import escape

    from wikismith.redact import redact

    # Escaped: error messages hold brackets (`[openrouter/x 401]`) that rich would take for markup tags.
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"[bold red]error:[/] {escape(redact(message))}", markup=True
    )
    raise typer.Exit(code)


def load() -> tuple[Settings, AppConfig]:
    """Settings from the environment and the validated configuration; a ConfigError exits 2."""
    from wikismith.config.models import ConfigError, load_config
    from wikismith.config.settings import Settings

    try:
        settings = Settings.from_env()
        configure_logging(settings.env.get("WIKISMITH_LOG_LEVEL") or "warning")
        config = load_config(settings.config_dir, settings.env)
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG_ERROR)
    # Checked once here, before any work: every command stores under it, and its first `mkdir` would otherwise
    # end the run with a traceback (after cloning and indexing, at worst).
    problem = directory_problem(settings.home)
    if problem:
        fail(f"the data directory {settings.home} {problem}; set WIKISMITH_HOME to a directory", EXIT_CONFIG_ERROR)
    return settings, config


def directory_problem(path: Path) -> str | None:
    """Why `path` cannot serve as a writable directory (`is not a directory`, `cannot be created: …`), or None.
    Creates nothing: a command refused later leaves no empty directory behind."""
    if path.exists():
        if not path.is_dir():
            return "is not a directory"
        return None if os.access(path, os.W_OK | os.X_OK) else "is not writable"
    parent = path.parent
    while not parent.exists() and parent != parent.parent:  # `exists` is False below a file, too
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot be created: {parent} is not a directory"
    return None if os.access(parent, os.W_OK | os.X_OK) else f"cannot be created: {parent} is not writable"


def configure_logging(level: str) -> None:
    """Log records at `level` and above to stderr, every one redacted (without a handler, Python's last-resort
    handler would print warnings unredacted). Leaves an already configured root logger's handlers alone."""
    import logging

    from wikismith.redact import install_log_redaction

    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(level.upper() if level.upper() in logging.getLevelNamesMapping() else "WARNING")
    install_log_redaction(root)


def model_name(
    config: AppConfig,
    *,
    provider: str | None = None,
    model: str | None = None,
    model_provider: str | None = None,
    route: str | None = None,
) -> str:
    """The router's model string for the options given: a route name, `auto`, or `provider/model`.
    Validated against the configuration (ConfigError when unknown or contradictory)."""
    from wikismith.config.models import ConfigError

    if provider and model_provider and provider != model_provider:
        raise ConfigError(f"--provider {provider!r} and --model-provider {model_provider!r} disagree; give one")
    provider = provider or model_provider
    if route:
        if provider or model:
            raise ConfigError("give either --route or --provider/--model, not both")
        if route != "auto" and route not in config.generator.routes:
            known = ", ".join(sorted(config.generator.routes)) or "none configured"
            raise ConfigError(f"unknown route {route!r}; routes: {known}, or auto")
        return route
    if model and not provider and model.partition("/")[0] in config.generator.providers and "/" in model:
        # `provider/model`, unless that provider's own ids hold a slash (OpenRouter slugs like openai/gpt-4o)
        default = config.generator.default_provider
        if model not in config.generator.providers[default].models:
            return config.resolve_name(model).name
    return config.resolve(provider, model).name


def language_code(config: AppConfig, language: str | None) -> str:
    """`language`, else lang.json's default; ConfigError naming the supported codes when lang.json lacks it."""
    return config.language(language)


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` with asyncio.run; ConfigError exits 2, an LLMError exits 1, Ctrl-C exits 130."""
    from wikismith.config.models import ConfigError
    from wikismith.llm.errors import LLMError

    try:
        return asyncio.run(main)
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG_ERROR)
    except LLMError as exc:
        hint = f" (retry after {exc.retry_after:.0f}s)" if exc.retry_after else ""
        fail(f"{exc}{hint}", EXIT_MODEL_ERROR)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise typer.Exit(130) from None


@contextlib.asynccontextmanager
async def open_router(config: AppConfig, settings: Settings) -> AsyncIterator[Router]:
    """A router for the duration of the block, closed (connections, ledger flush) on the way out."""
    from wikismith.router import build_router

    router = build_router(config, settings)
    try:
        yield router
    finally:
        await router.aclose()
