"""The router: one `ChatModel` that picks a target, falls back, retries, limits and prices every call.

router = build_router(config, settings)
answer = await router.complete(ChatRequest(model="openrouter/openai/gpt-4o-mini", messages=[...]))
await router.aclose()
"""

from __future__ import annotations

from wikismith.config.models import AppConfig, ConfigError
from wikismith.config.settings import Settings
from wikismith.llm.catalogue import Catalogue
from wikismith.router.cost import Ledger, budgets_from_env
from wikismith.router.retry import RetryPolicy
from wikismith.router.router import Router

__all__ = ["Router", "build_router"]


def build_router(config: AppConfig, settings: Settings) -> Router:
    """The router for this process: catalogue cached and usage ledger under `settings.home`, budgets from
    `WIKISMITH_BUDGETS`, total deadline per call from `WIKISMITH_ROUTER_DEADLINE` (seconds, default 60). The
    catalogue is read from its cache (TTL `WIKISMITH_CATALOGUE_TTL`) or the shipped snapshot; a long-running
    process refreshes it with `await router.refresh_catalogue()`."""
    raw = settings.env.get("WIKISMITH_ROUTER_DEADLINE")
    try:
        deadline = float(raw) if raw else 60.0
    except ValueError:
        raise ConfigError(f"WIKISMITH_ROUTER_DEADLINE must be a number of seconds, got {raw!r}") from None
    if deadline <= 0:
        raise ConfigError(f"WIKISMITH_ROUTER_DEADLINE must be more than 0 seconds, got {raw!r}")
    ledger = Ledger(settings.data.ledger)
    return Router(
        config,
        catalogue=Catalogue.for_settings(config, settings),
        policy=RetryPolicy(deadline=deadline),
        ledger=ledger,
        budgets=budgets_from_env(settings.env, ledger),
    )
