"""The Router: a `ChatModel` over every configured provider that picks, falls back, retries, limits and prices.

`ChatRequest.model` is `provider/model`, a route name from generator.json `routes`, or `auto`;
`request.extra["models"]` appends fallbacks (`provider/model`, or a bare id on the first target's provider).
Router-only `extra` keys (never sent upstream): `models`, `strategy` (explicit|cheapest|fastest),
`allow_models` (allow-list for cheapest/auto), `continue_on_failure` (streaming: resume on the next target
with the partial answer as an assistant prefill).

Streams emit `Routed(target, attempts)` before the first content event. Fallback is possible until then; a
failure after it ends the stream with `StreamError(partial_text=…)` unless `continue_on_failure` is set.
Provider clients are created lazily, one per provider, and reused.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from wikismith.config.models import AppConfig, ConfigError, ModelTarget, ResolvedProvider
from wikismith.llm.base import ChatModel
from wikismith.llm.catalogue import Catalogue
from wikismith.llm.errors import BadRequest, LLMError, StreamError
from wikismith.llm.events import ReasoningDelta, StreamEvent, TextDelta, ToolCallDelta, batched, flatten
from wikismith.llm.params import drop_unsupported
from wikismith.llm.types import ChatRequest, ChatResponse, GenerationParams, Message, ModelInfo, Usage
from wikismith.router import select
from wikismith.router.answer import StreamRun, check_answer, prompt_estimate
from wikismith.router.breaker import CircuitBreaker
from wikismith.router.cost import Budgets, Ledger, UsageRecord, priced, worst_case_cost
from wikismith.router.limits import Limiter
from wikismith.router.retry import RetryPolicy
from wikismith.router.route import RouteState, Target
from wikismith.router.tokens import count_messages

log = logging.getLogger("wikismith.router")

ClientFactory = Callable[[ResolvedProvider], ChatModel]
ROUTER_EXTRA = frozenset({"models", "strategy", "allow_models", "continue_on_failure"})
_CONTENT = (TextDelta, ReasoningDelta, ToolCallDelta)
_PARAM_FIELDS = frozenset(GenerationParams.model_fields)
_NEVER_SENT = frozenset({"context_window"})  # told to local backends only; not a hosted API parameter


def _runs_fallbacks(kind: str) -> bool:
    from wikismith.llm import providers  # imported when first needed, as clients are

    return bool(providers.runs_fallbacks(kind))  # type: ignore[attr-defined,unused-ignore]


def _default_factory(provider: ResolvedProvider) -> ChatModel:
    from wikismith.llm import providers

    client: ChatModel = providers.create_client(provider)  # type: ignore[attr-defined,unused-ignore]
    return client


@dataclass(frozen=True, slots=True)
class _Plan:  # cached and shared between calls: never changed
    route: str | None
    targets: list[Target]
    extra: Mapping[str, Any]
    native: list[str] | None = None  # model ids sent as one natively-routed request


def _batches(client: ChatModel, request: ChatRequest) -> AsyncGenerator[list[StreamEvent], None]:
    """The client's stream in batches: its own batched form where it has one (one list per network read),
    else its events one by one."""
    native = getattr(client, "stream_batches", None)
    if native is not None:
        batches: AsyncGenerator[list[StreamEvent], None] = native(request)
        return batches
    return batched(client.stream(request))


class Router:
    def __init__(
        self,
        config: AppConfig,
        *,
        catalogue: Catalogue | None = None,
        client_factory: ClientFactory | None = None,
        policy: RetryPolicy | None = None,
        limiter: Limiter | None = None,
        breaker: CircuitBreaker | None = None,
        ledger: Ledger | None = None,
        budgets: Budgets | None = None,
        native_fallback: bool = True,
    ) -> None:
        self.config = config
        self.catalogue = catalogue or Catalogue(config)
        self.policy = policy or RetryPolicy()
        self.limiter = limiter or Limiter()
        self.breaker = breaker or CircuitBreaker()
        self.ledger = ledger
        self.budgets = budgets
        self.latency = select.LatencyTracker()
        self.native_fallback = native_fallback
        self._factory = client_factory or _default_factory
        self._clients: dict[str, ChatModel] = {}
        self._targets: dict[str, Target] = {}
        self._plans: dict[str, _Plan] = {}  # plans of requests without extras, by model name
        self._warned: set[tuple[str, str]] = set()

    # --- the ChatModel protocol ------------------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> ChatResponse:
        plan = self.plan(request)
        state = self._state(plan, request)
        estimate = prompt_estimate(request)
        try:
            while True:
                for target in state.live():
                    provider_request = self._provider_request(request, plan, target, "")
                    held = self._hold_budget(request, target, state)
                    started = time.perf_counter()
                    try:
                        async with self.limiter.slot(target.target, estimate, state.remaining()) as admitted:
                            response = await self.client(target.target.provider).complete(provider_request)
                        self.limiter.settle(admitted, response.usage)
                        check_answer(response, target)
                    except LLMError as error:
                        state.fail(target, error, time.perf_counter() - started)
                        continue
                    finally:  # however the attempt ended; its real cost is added next, with no await between
                        if held is not None:
                            self._release_budget(held)
                    return self._answered(request, plan, target, state, response, time.perf_counter() - started)
                await state.next_round()
        except LLMError as error:
            self._account(request, plan, plan.targets[0].name, None, state.elapsed, error, len(state.attempts))
            raise

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return flatten(self._stream(request))

    def stream_batches(self, request: ChatRequest) -> AsyncGenerator[list[StreamEvent], None]:
        """`stream()` in batches (`llm.events`): the events that arrived together, passed on together."""
        return self._stream(request)

    async def list_models(self) -> list[ModelInfo]:
        return self.catalogue.models()

    async def refresh_catalogue(self, *, force: bool = False) -> bool:
        """Fetch the live catalogue when its cache is stale (or `force`); targets then see the new facts."""
        refreshed = await self.catalogue.refresh_if_stale(force=force)
        if refreshed:
            self._targets, self._plans = {}, {}
        return refreshed

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            try:
                await client.aclose()
            except Exception as exc:  # closing must not stop the others from closing
                log.warning("error closing a provider client: %s", exc)
        if self.ledger is not None:
            await self.ledger.aclose()

    # --- resolution ------------------------------------------------------------------------------------------

    def client(self, provider: ResolvedProvider) -> ChatModel:
        client = self._clients.get(provider.id)
        if client is None:
            client = self._clients[provider.id] = self._factory(provider)
        return client

    def target(self, name: str) -> Target:
        """The target named `provider/model`, resolved once and cached (ConfigError when unknown)."""
        target = self._targets.get(name)
        if target is None:
            resolved = self.config.resolve_name(name)
            info = self.catalogue.get(resolved.name)
            target = Target(resolved, resolved.name, info, self._config_params(resolved))
            self._targets[name] = target
        return target

    def plan(self, request: ChatRequest) -> _Plan:
        """The targets to try for `request`, in order."""
        extra = request.extra
        if not extra and request.model != "auto":  # `auto` depends on the prompt: never cached
            plan = self._plans.get(request.model)
            if plan is None:
                targets = [self.target(n) for n in self._names(request)]
                plan = self._plans[request.model] = self._native(_Plan(self._route_name(request.model), targets, {}))
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
        return self._native(_Plan(self._route_name(request.model), [self.target(n) for n in names], clean))

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

    def _native(self, plan: _Plan) -> _Plan:
        """All targets on one provider that runs `models` fallback itself: send one request, let it route."""
        targets = plan.targets
        if not self.native_fallback or len(targets) < 2:
            return plan
        provider = targets[0].target.provider
        if any(t.target.provider.id != provider.id for t in targets) or not _runs_fallbacks(provider.kind):
            return plan
        return _Plan(plan.route, [targets[0]], plan.extra, [t.target.model for t in targets])

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

    # --- one attempt -----------------------------------------------------------------------------------------

    def _state(self, plan: _Plan, request: ChatRequest) -> RouteState:
        counted: list[int] = []

        def count_prompt() -> int:
            if not counted:
                counted.append(count_messages(request.messages))
            return counted[0]

        return RouteState(plan.targets, self.policy, self.breaker, count_prompt)

    def _provider_request(self, request: ChatRequest, plan: _Plan, target: Target, prefill: str) -> ChatRequest:
        update: dict[str, Any] = {"model": target.target.model, "params": self._params(request, target)}
        if target.target.provider.id != plan.targets[0].target.provider.id:
            # Body extras are written for the primary target's provider (e.g. OpenRouter's `provider` or
            # `transforms`); a strict API on another provider would answer 400 to them, so fallbacks there get none.
            update["extra"] = {}
        elif plan.extra != request.extra:  # router-only keys were taken out
            update["extra"] = dict(plan.extra)
        if plan.native:
            update["extra"] = {**plan.extra, "models": plan.native}
        if prefill:
            update["messages"] = [*request.messages, Message(role="assistant", content=prefill)]
        return request.model_copy(update=update)

    def _params(self, request: ChatRequest, target: Target) -> GenerationParams:
        """Config params under request params; parameters the model does not support dropped (or refused)."""
        base = target.config_params
        assert isinstance(base, GenerationParams)
        asked = request.params
        params = base
        if asked.model_fields_set:
            params = base.model_copy(update={k: getattr(asked, k) for k in asked.model_fields_set})
        supported = target.info.supported_parameters if target.info is not None else None
        return drop_unsupported(
            params,
            supported,
            strict=request.strict_params,
            target=target.name,
            provider=target.target.provider.id,
            model=target.target.model,
            warned=self._warned,
        )

    def _hold_budget(self, request: ChatRequest, target: Target, state: RouteState) -> int | None:
        """Refuse an attempt the budgets cannot afford at worst, else hold its worst case against them until
        `_release_budget` (None: no budgets, nothing held)."""
        if self.budgets is None or not self.budgets.budgets:
            return None
        estimate = worst_case_cost(target.info, state.count_prompt(), request.params.max_tokens)
        return self.budgets.check(request.tag, estimate)

    def _release_budget(self, held: int) -> None:
        if self.budgets is not None:
            self.budgets.release(held)

    def _answered(
        self, request: ChatRequest, plan: _Plan, target: Target, state: RouteState, response: ChatResponse, took: float
    ) -> ChatResponse:
        name = self._served_name(plan, target, response.model)
        attempts = state.succeed(target, took)
        self.latency.observe(target.name, took)
        usage = priced(response.usage, self._info(name, target))
        self._account(request, plan, name, usage, took, None, len(attempts))
        # The client's answer is this call's own object (see `ChatResponse`): completed in place, not copied.
        response.target, response.attempts, response.usage = name, list(attempts), usage
        response.provider = target.target.provider.id
        return response

    def _served_name(self, plan: _Plan, target: Target, model: str | None) -> str:
        if plan.native and model in plan.native:
            return f"{target.target.provider.id}/{model}"
        return target.name

    def _info(self, name: str, target: Target) -> ModelInfo | None:
        return target.info if name == target.name else self.catalogue.get(name)

    def _account(
        self,
        request: ChatRequest,
        plan: _Plan,
        name: str,
        usage: Usage | None,
        took: float,
        error: LLMError | None,
        attempts: int,
    ) -> None:
        cost = usage.cost if usage is not None else None
        if self.budgets is not None:
            self.budgets.add(request.tag, cost)
        if self.ledger is None:
            return
        self.ledger.record(
            UsageRecord(
                ts=time.time(),
                route=plan.route,
                target=name,
                tag=request.tag,
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                cost=cost,
                cost_is_estimate=usage.cost_is_estimate if usage else False,
                latency_ms=took * 1000,
                status="ok" if error is None else error.error_type,
                error_type=None if error is None else error.error_type,
                attempts=attempts,
            )
        )

    # --- streaming -------------------------------------------------------------------------------------------

    async def _stream(self, request: ChatRequest) -> AsyncGenerator[list[StreamEvent], None]:
        plan = self.plan(request)
        state = self._state(plan, request)
        resume = bool(request.extra.get("continue_on_failure"))
        sent: list[str] = []  # text sent to the caller, over every target
        estimate = prompt_estimate(request)
        try:
            while True:
                for target in state.live():
                    provider_request = self._provider_request(request, plan, target, "".join(sent))
                    held = self._hold_budget(request, target, state)
                    started = time.perf_counter()
                    run = StreamRun(target, sent)
                    try:
                        async with self.limiter.slot(target.target, estimate, state.remaining()) as admitted:
                            upstream = _batches(self.client(target.target.provider), provider_request)
                            try:
                                async for batch in upstream:
                                    events, failure = run.admit(batch, state)
                                    if events:
                                        yield events
                                    if failure is not None:
                                        raise failure
                                run.ended()
                            finally:
                                await upstream.aclose()
                    except LLMError as error:
                        took = time.perf_counter() - started
                        if not run.started:
                            state.fail(target, error, took)
                            continue
                        state.interrupted(target, error, took)
                        if resume and state.has_next(target):
                            log.warning("stream from %s broke after content; resuming on the next target", target.name)
                            continue
                        cause = error.cause if isinstance(error, StreamError) and error.cause else error
                        raise StreamError(cause.message, partial_text="".join(sent), cause=cause) from error
                    finally:  # also when the reader closes the stream early or the call is cancelled
                        if held is not None:
                            self._release_budget(held)
                    took = time.perf_counter() - started
                    self.limiter.settle(admitted, run.usage)
                    name = self._served_name(plan, target, run.model)
                    attempts = state.succeed(target, took)
                    self.latency.observe(target.name, took)
                    self._account(request, plan, name, run.usage, took, None, len(attempts))
                    return
                await state.next_round()
        except LLMError as error:
            self._account(request, plan, plan.targets[0].name, None, state.elapsed, error, len(state.attempts))
            raise
