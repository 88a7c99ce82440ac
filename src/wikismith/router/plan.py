"""Which targets a request goes to, in order: a `provider/model`, a route from generator.json `routes`, or
`auto`, then the request's `models` fallbacks and `strategy` (explicit|cheapest|fastest). Targets and the plans
of requests without extras are resolved once and cached (`forget()` drops them when the catalogue changes).

All targets of a plan on one provider that runs a `models` fallback list itself (OpenRouter) are sent as one
request it routes (`Plan.native`); the router continues after a failed answer (`router.route`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from wikismith.config.models import AppConfig, ConfigError, ModelTarget
from wikismith.llm.catalogue import Catalogue
from wikismith.llm.errors import BadRequest
from wikismith.llm.types import ChatRequest, GenerationParams, ModelInfo
from wikismith.router import select
from wikismith.router.route import Target
from wikismith.router.tokens import count_messages

log = logging.getLogger("wikismith.router")

ROUTER_EXTRA = frozenset({"models", "strategy", "allow_models", "continue_on_failure"})
_PARAM_FIELDS = frozenset(GenerationParams.model_fields)
_NEVER_SENT = frozenset({"context_window"})  # told to local backends only; not a hosted API parameter


def _runs_fallbacks(kind: str) -> bool:
    from wikismith.llm import providers  # imported when first needed, as clients are

    return bool(providers.runs_fallbacks(kind))  # type: ignore[attr-defined,unused-ignore]


@dataclass(frozen=True, slots=True)
class Plan:  # cached and shared between calls: never changed
    route: str | None
    targets: list[Target]
    extra: Mapping[str, Any]
    native: bool = False  # the targets go as one `models` list that their provider falls back along itself


class Planner:
    def __init__(
        self, config: AppConfig, catalogue: Catalogue, latency: select.LatencyTracker, *, native_fallback: bool
    ) -> None:
        self.config = config
        self.catalogue = catalogue
        self.latency = latency
        self.native_fallback = native_fallback
        self._targets: dict[str, Target] = {}
        self._plans: dict[str, Plan] = {}  # plans of requests without extras, by model name

    def forget(self) -> None:
        """Drop what was resolved: the catalogue's facts about the models have changed."""
        self._targets, self._plans = {}, {}

    def target(self, name: str) -> Target:
        """The target named `provider/model`, resolved once and cached (ConfigError when unknown)."""
        target = self._targets.get(name)
        if target is None:
            resolved = self.config.resolve_name(name)
            info = self.catalogue.get(resolved.name)
            target = Target(resolved, resolved.name, info, self._config_params(resolved))
            self._targets[name] = target
        return target

    def plan(self, request: ChatRequest) -> Plan:
        """The targets to try for `request`, in order."""
        extra = request.extra
        if not extra and request.model != "auto":  # `auto` depends on the prompt: never cached
            plan = self._plans.get(request.model)
            if plan is None:
                targets = [self.target(n) for n in self._names(request)]
                plan = self._plans[request.model] = self._native(Plan(self._route_name(request.model), targets, {}))
            return plan
        names = self._names(request)
        fallbacks = extra.get("models")
        if fallbacks:
            names += [self._qualify(str(m), names[0]) for m in fallbacks]
        names = list(dict.fromkeys(names))
        strategy = extra.get("strategy", "explicit")
        if strategy not in select.STRATEGIES:
            raise BadRequest(f"unknown strategy {strategy!r}; expected one of {', '.join(select.STRATEGIES)}")
        if strategy == "fastest":
            names = self.latency.fastest(names)
        elif strategy == "cheapest":
            infos = [self.target(n).info or ModelInfo(id=n, provider="", model=n) for n in names]
            order = {m.id: i for i, m in enumerate(sorted(infos, key=select.unit_price))}
            names.sort(key=lambda n: order.get(n, len(order)))
        clean = {k: v for k, v in extra.items() if k not in ROUTER_EXTRA}
        return self._native(Plan(self._route_name(request.model), [self.target(n) for n in names], clean))

    def _route_name(self, model: str) -> str | None:
        return model if model == "auto" or model in self.config.generator.routes else None

    def _names(self, request: ChatRequest) -> list[str]:
        if request.model == "auto":
            return self._auto(request)
        route = self.config.generator.routes.get(request.model)
        return list(route) if route is not None else [request.model]

    def _qualify(self, name: str, primary: str) -> str:
        """A fallback name: on the primary's provider when that provider knows it (`openai/gpt-4o` next to an
        OpenRouter primary means OpenRouter's slug), else `provider/model`, else relative to the primary."""
        home = primary.partition("/")[0]
        relative = f"{home}/{name}"
        if self.catalogue.get(relative) is not None:
            return relative
        return name if name.partition("/")[0] in self.config.generator.providers else relative

    def _native(self, plan: Plan) -> Plan:
        """All targets on one provider that runs `models` fallback itself: send one request, let it route."""
        targets = plan.targets
        if not self.native_fallback or len(targets) < 2:
            return plan
        provider = targets[0].target.provider
        if any(t.target.provider.id != provider.id for t in targets) or not _runs_fallbacks(provider.kind):
            return plan
        return Plan(plan.route, targets, plan.extra, native=True)

    def _auto(self, request: ChatRequest) -> list[str]:
        """`auto`: the cheapest available configured (or allowed) model that fits, then the default route."""
        fallback = self.config.generator.routes.get("default") or [self._default_name()]
        allowed = request.extra.get("allow_models")
        candidates = [m for m in self.catalogue.models() if (m.id in allowed if allowed else self._available(m))]
        required = [k for k in request.params.set_fields() if k not in _NEVER_SENT]
        reserve = request.params.max_tokens or 0
        best = select.cheapest(candidates, count_messages(request.messages), required, reserve)
        return [m.id for m in best[:1]] + [n for n in fallback if not best or n != best[0].id]

    def _default_name(self) -> str:
        gen = self.config.generator
        return f"{gen.default_provider}/{gen.providers[gen.default_provider].default_model}"

    def _available(self, info: ModelInfo) -> bool:
        """A configured model whose provider can be called (has its key, or needs none)."""
        cfg = self.config.generator.providers.get(info.provider)
        if cfg is None or info.model not in cfg.models:
            return False
        try:
            provider = self.config.provider(info.provider)
        except ConfigError:
            return False
        return provider.api_key is not None or not provider.api_key_env

    def _config_params(self, target: ModelTarget) -> GenerationParams:
        known = {k: v for k, v in target.params.items() if k in _PARAM_FIELDS}
        for key in sorted(set(target.params) - known.keys()):
            log.warning("ignoring configured parameter %r of %s: not a canonical parameter", key, target.name)
        try:
            return GenerationParams.model_validate(known)
        except ValidationError as exc:
            raise ConfigError(f"invalid parameters for {target.name}: {exc.errors()[0]['msg']}") from None
