"""The router: one `ChatModel` that picks a target, falls back, retries, limits and prices every call.

router = build_router(config, settings)
answer = await router.complete(ChatRequest(model="openrouter/openai/gpt-4o-mini", messages=[...]))
await router.aclose()
"""

from __future__ import annotations

from wikismith.config.models import AppConfig
from wikismith.config.settings import Settings
from wikismith.llm.catalogue import Catalogue
from wikismith.router.cost import Ledger, budgets_from_env
from wikismith.router.retry import RetryPolicy
from wikismith.router.router import Router

__all__ = ["Router", "build_router"]


def build_router(config: AppConfig, settings: Settings) -> Router:
    """The router for this process: catalogue cached and usage ledger under `settings.home`, budgets from
    `WIKISMITH_BUDGETS`, total deadline per call from `WIKISMITH_ROUTER_DEADLINE` (seconds, default 60)."""
    ledger = Ledger(settings.data.ledger)
    deadline = float(settings.env.get("WIKISMITH_ROUTER_DEADLINE") or 60.0)
    return Router(
        config,
        catalogue=Catalogue(config, cache_path=settings.data.catalogue),
        policy=RetryPolicy(deadline=deadline),
        ledger=ledger,
        budgets=budgets_from_env(settings.env, ledger),
    )
