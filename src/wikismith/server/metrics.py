"""Prometheus metrics, one registry per app (so several apps in one process, as in tests, do not collide).

HTTP: `wikismith_http_requests_total{route,method,status}`, `wikismith_http_request_seconds{route}`.
Model calls, by target (`provider/model`): `wikismith_llm_calls_total{target,outcome}`,
`wikismith_llm_tokens_total{target,kind}`, `wikismith_llm_cost_usd_total{target}`,
`wikismith_llm_fallbacks_total{target}` (a failed attempt on one target before another served),
`wikismith_llm_retries_total{target}` (a target tried again), `wikismith_llm_rate_limited_total{target}`
(attempts refused upstream with 429), `wikismith_ratelimit_waits_total{provider,bucket}`,
`wikismith_ratelimit_wait_seconds_total{provider,bucket}` and `wikismith_ratelimit_refused_total{provider,bucket}`
(the router's own client-side limits: waits, time waited, calls refused before their deadline; read from
`Limiter.snapshot()` at scrape time), `wikismith_streams_active`.
Routes are labelled by their path only when it is one of the app's own routes (bounded cardinality).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from wikismith.llm.types import Attempt, Usage
from wikismith.router.limits import Limiter

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "wikismith_http_requests", "HTTP requests served", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "wikismith_http_request_seconds", "HTTP request latency", ["route"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.calls = Counter("wikismith_llm_calls", "Model calls by serving target", ["target", "outcome"], registry=r)
        self.tokens = Counter("wikismith_llm_tokens", "Tokens by target", ["target", "kind"], registry=r)
        self.cost = Counter("wikismith_llm_cost_usd", "Cost in USD by target", ["target"], registry=r)
        self.fallbacks = Counter(
            "wikismith_llm_fallbacks", "Failed attempts followed by another target", ["target"], registry=r
        )
        self.retries = Counter("wikismith_llm_retries", "Targets tried again", ["target"], registry=r)
        self.rate_limited = Counter(
            "wikismith_llm_rate_limited", "Attempts refused with 429 (each a wait)", ["target"], registry=r
        )
        self.streams = Gauge("wikismith_streams_active", "Streams in progress", registry=r)
        self._request_children: dict[tuple[str, str, int], Counter] = {}
        self._latency_children: dict[str, Histogram] = {}
        self._call_children: dict[str, tuple[Counter, Counter, Counter, Counter, Counter]] = {}
        self.label: Callable[[str], str] = lambda name: name

    def bound_targets(self, known: Callable[[str], bool]) -> None:
        """Label a target by its name only when `known(name)` (configured, in the catalogue, a route), else as
        `<provider>/other`: custom model names come from clients and must not grow the series without bound."""
        cache: dict[str, str] = {}

        def label(name: str) -> str:
            found = cache.get(name)
            if found is None:
                found = name if known(name) else f"{name.partition('/')[0]}/other"
                if len(cache) < 10_000:
                    cache[name] = found
            return found

        self.label = label

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Called once per HTTP request; label children are cached (the lookup is the costly part)."""
        key = (route, method, status)
        counter = self._request_children.get(key)
        if counter is None:
            counter = self._request_children[key] = self.requests.labels(route, method, str(status))
        counter.inc()
        histogram = self._latency_children.get(route)
        if histogram is None:
            histogram = self._latency_children[route] = self.latency.labels(route)
        histogram.observe(seconds)

    def observe_call(self, target: str, usage: Usage | None, attempts: Sequence[Attempt], ok: bool = True) -> None:
        target = self.label(target)
        children = self._call_children.get(target)
        if children is None:
            children = self._call_children[target] = (
                self.calls.labels(target, "ok"),
                self.calls.labels(target, "error"),
                self.tokens.labels(target, "prompt"),
                self.tokens.labels(target, "completion"),
                self.cost.labels(target),
            )
        ok_calls, failed_calls, prompt, completion, cost = children
        (ok_calls if ok else failed_calls).inc()
        if usage is not None:
            if usage.prompt_tokens:
                prompt.inc(usage.prompt_tokens)
            if usage.completion_tokens:
                completion.inc(usage.completion_tokens)
            if usage.cost:
                cost.inc(usage.cost)
        if len(attempts) > 1 or (attempts and not attempts[0].ok):
            self.observe_attempts(attempts)

    def observe_attempts(self, attempts: Sequence[Attempt]) -> None:
        seen: set[str] = set()
        for i, attempt in enumerate(attempts):
            name = self.label(attempt.target)
            if attempt.target in seen:
                self.retries.labels(name).inc()
            seen.add(attempt.target)
            if attempt.ok:
                continue
            if attempt.status == 429:
                self.rate_limited.labels(name).inc()
            if any(a.target != attempt.target for a in attempts[i + 1 :]):
                self.fallbacks.labels(name).inc()

    def watch_limiter(self, limiter: Limiter) -> None:
        """Export the router's client-side rate-limit waits (read at scrape time, nothing on the hot path)."""
        self.registry.register(_LimiterCollector(limiter))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _LimiterCollector:
    """`wikismith_ratelimit_waits_total`, `…_wait_seconds_total` and `…_refused_total` from `Limiter.snapshot()`,
    labelled by `provider` and by `bucket` (the provider id, or `<provider>:free` for its shared free-model bucket)."""

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter

    def collect(self) -> Iterator[Metric]:
        labels = ["provider", "bucket"]
        waits = CounterMetricFamily("wikismith_ratelimit_waits", "Client-side rate-limit waits", labels=labels)
        seconds = CounterMetricFamily(
            "wikismith_ratelimit_wait_seconds", "Seconds waited for client-side rate limits", labels=labels
        )
        refused = CounterMetricFamily(
            "wikismith_ratelimit_refused", "Calls refused by client-side rate limits", labels=labels
        )
        for bucket, counts in self.limiter.snapshot().items():
            names = [bucket.partition(":")[0], bucket]
            waits.add_metric(names, counts["waits"])
            seconds.add_metric(names, counts["wait_seconds"])
            refused.add_metric(names, counts["refused"])
        yield from (waits, seconds, refused)

    def describe(self) -> Iterator[Metric]:
        return iter(())
