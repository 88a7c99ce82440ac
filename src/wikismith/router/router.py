"""The Router: a `ChatModel` over every configured provider that picks, falls back, retries, limits and prices.

`ChatRequest.model` is `provider/model`, a route name from generator.json `routes`, or `auto`;
`request.extra["models"]` appends fallbacks (`provider/model`, or a bare id on the first target's provider).
Router-only `extra` keys (never sent upstream): `models`, `strategy` (explicit|cheapest|fastest),
`allow_models` (allow-list for cheapest/auto), `continue_on_failure` (streaming: resume on the next target
with the partial answer as an assistant prefill).

Streams emit `Routed(target, attempts)` before the first content event. Fallback is possible until then; a
failure after it ends the stream with `StreamError(partial_text=…)` unless `continue_on_failure` is set.
Targets all on a provider that runs `models` lists itself go as one request (`Plan.native`); when its answer
fails (an error in a 200, an empty answer, a stream failing before or, with `continue_on_failure`, after its
first token, a first-byte timeout), the call goes on with the targets after the model that answered, in a new
request (`RouteState.blame`). Every request sent has its row in the ledger, with the model that answered it.
Provider clients are created lazily, one per provider, and reused.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from wikismith.config.models import AppConfig, ResolvedProvider
from wikismith.llm.base import ChatModel
from wikismith.llm.catalogue import Catalogue
from wikismith.llm.errors import LLMError, StreamError
from wikismith.llm.events import ReasoningDelta, StreamEvent, TextDelta, ToolCallDelta, batched, flatten
from wikismith.llm.params import drop_unsupported
from wikismith.llm.types import ChatRequest, ChatResponse, GenerationParams, Message, ModelInfo, Usage
from wikismith.router import select
from wikismith.router.answer import StreamRun, check_answer, prompt_estimate
from wikismith.router.breaker import CircuitBreaker
from wikismith.router.cost import Budgets, Ledger, UsageRecord, priced, worst_case_cost
from wikismith.router.limits import Limiter
from wikismith.router.plan import Plan, Planner
from wikismith.router.retry import RetryPolicy
from wikismith.router.route import RouteState, Target, serving, was_sent
from wikismith.router.tokens import count_messages

log = logging.getLogger("wikismith.router")

ClientFactory = Callable[[ResolvedProvider], ChatModel]
_CONTENT = (TextDelta, ReasoningDelta, ToolCallDelta)


def _default_factory(provider: ResolvedProvider) -> ChatModel:
    from wikismith.llm import providers

    client: ChatModel = providers.create_client(provider)  # type: ignore[attr-defined,unused-ignore]
    return client


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
        self.policy = policy or RetryPolicy()
        self.limiter = limiter or Limiter()
        self.breaker = breaker or CircuitBreaker()
        self.ledger = ledger
        self.budgets = budgets
        self.latency = select.LatencyTracker()
        self.planner = Planner(config, catalogue or Catalogue(config), self.latency, native_fallback=native_fallback)
        self._factory = client_factory or _default_factory
        self._clients: dict[str, ChatModel] = {}
        self._warned: set[tuple[str, str]] = set()

    @property
    def catalogue(self) -> Catalogue:
        return self.planner.catalogue

    @catalogue.setter
    def catalogue(self, catalogue: Catalogue) -> None:
        """Another catalogue: what was resolved from the old one is dropped."""
        self.planner.catalogue = catalogue
        self.planner.forget()

    # --- the ChatModel protocol ------------------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> ChatResponse:
        plan = self.plan(request)
        state = self._state(plan, request)
        estimate = prompt_estimate(request)
        try:
            while True:
                for group in state.live():
                    target = group[0]
                    provider_request = self._provider_request(request, plan, group, "")
                    held = self._hold_budget(request, group, state)
                    started = time.perf_counter()
                    usage: Usage | None = None
                    try:
                        async with self.limiter.slot(target.target, estimate, state.remaining()) as admitted:
                            response = await self.client(target.target.provider).complete(provider_request)
                        self.limiter.settle(admitted, response.usage)
                        usage = response.usage
                        served = serving(group, response.model) if len(group) > 1 else target
                        check_answer(response, served)
                    except LLMError as error:
                        self._failed(request, plan, state, group, error, usage, time.perf_counter() - started)
                        continue
                    finally:  # however the attempt ended; its real cost is added next, with no await between
                        if held is not None:
                            self._release_budget(held)
                    took = time.perf_counter() - started
                    return self._answered(request, plan, group, served, state, response, took)
                await state.next_round()
        except LLMError as error:
            self._refused(request, plan, state, error)
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
            self.planner.forget()
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
        return self.planner.target(name)

    def plan(self, request: ChatRequest) -> Plan:
        """The targets to try for `request`, in order."""
        return self.planner.plan(request)

    # --- one attempt -----------------------------------------------------------------------------------------

    def _state(self, plan: Plan, request: ChatRequest) -> RouteState:
        counted: list[int] = []

        def count_prompt() -> int:
            if not counted:
                counted.append(count_messages(request.messages))
            return counted[0]

        return RouteState(plan.targets, self.policy, self.breaker, count_prompt, native=plan.native)

    def _provider_request(self, request: ChatRequest, plan: Plan, group: list[Target], prefill: str) -> ChatRequest:
        target = group[0]
        update: dict[str, Any] = {"model": target.target.model, "params": self._params(request, target)}
        if target.target.provider.id != plan.targets[0].target.provider.id:
            # Body extras are written for the primary target's provider (e.g. OpenRouter's `provider` or
            # `transforms`); a strict API on another provider would answer 400 to them, so fallbacks there get none.
            update["extra"] = {}
        elif plan.extra != request.extra:  # router-only keys were taken out
            update["extra"] = dict(plan.extra)
        if len(group) > 1:  # a native plan's request: its provider falls back along the list itself
            update["extra"] = {**plan.extra, "models": [t.target.model for t in group]}
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

    def _hold_budget(self, request: ChatRequest, group: list[Target], state: RouteState) -> int | None:
        """Refuse a request the budgets cannot afford at worst (the dearest target it may be answered by), else
        hold its worst case against them until `_release_budget` (None: no budgets, nothing held)."""
        if self.budgets is None or not self.budgets.budgets:
            return None
        prompt, most = state.count_prompt(), request.params.max_tokens
        return self.budgets.check(request.tag, max(worst_case_cost(t.info, prompt, most) for t in group))

    def _release_budget(self, held: int) -> None:
        if self.budgets is not None:
            self.budgets.release(held)

    def _answered(
        self,
        request: ChatRequest,
        plan: Plan,
        group: list[Target],
        served: Target,
        state: RouteState,
        response: ChatResponse,
        took: float,
    ) -> ChatResponse:
        attempts = state.succeeded(group, served, took)
        self.latency.observe(served.name, took)
        usage = priced(response.usage, served.info)
        self._account(request, plan, served.name, usage, took, None, len(attempts))
        # The client's answer is this call's own object (see `ChatResponse`): completed in place, not copied.
        response.target, response.attempts, response.usage = served.name, list(attempts), usage
        response.provider = served.target.provider.id
        return response

    def _failed(
        self,
        request: ChatRequest,
        plan: Plan,
        state: RouteState,
        group: list[Target],
        error: LLMError,
        usage: Usage | None,
        took: float,
        *,
        broke: bool = False,
    ) -> Target:
        """A request that failed: the route state told (which raises when the error is the caller's to fix), and
        its row in the ledger (a refusal before sending has none). Returns the target it failed at."""
        failed = state.blame(group, error)
        try:
            state.failed(group, failed, error, took, broke=broke)
        finally:
            if was_sent(error):
                state.sent += 1
                self._account(request, plan, failed.name, priced(usage, failed.info), took, error, len(state.attempts))
        return failed

    def _refused(self, request: ChatRequest, plan: Plan, state: RouteState, error: LLMError) -> None:
        """The call failed: when no request was sent (a budget, our limiter, open circuits), its one ledger row."""
        if not state.sent:
            self._account(request, plan, plan.targets[0].name, None, state.elapsed, error, len(state.attempts))

    def _account(
        self,
        request: ChatRequest,
        plan: Plan,
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
                for group in state.live():
                    target = group[0]
                    provider_request = self._provider_request(request, plan, group, "".join(sent))
                    held = self._hold_budget(request, group, state)
                    started = time.perf_counter()
                    run = StreamRun(group, sent)
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
                        group = run.group  # from the target answering, once content has started
                        failed = self._failed(request, plan, state, group, error, run.usage, took, broke=run.started)
                        if not run.started:
                            continue
                        if resume and state.has_next(failed):
                            log.warning("stream from %s broke after content; resuming on the next target", failed.name)
                            continue
                        cause = error.cause if isinstance(error, StreamError) and error.cause else error
                        raise StreamError(cause.message, partial_text="".join(sent), cause=cause) from error
                    finally:  # also when the reader closes the stream early or the call is cancelled
                        if held is not None:
                            self._release_budget(held)
                    took = time.perf_counter() - started
                    self.limiter.settle(admitted, run.usage)
                    served = serving(run.group, run.model)
                    attempts = state.succeeded(run.group, served, took)
                    self.latency.observe(served.name, took)
                    self._account(request, plan, served.name, run.usage, took, None, len(attempts))
                    return
                await state.next_round()
        except LLMError as error:
            self._refused(request, plan, state, error)
            raise
