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

from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from wikismith.llm.types import Attempt, Usage
from wikismith.router.limits import Limiter

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_BUCKET_NAMES = [*(repr(float(b)) for b in _LATENCY_BUCKETS), "+Inf"]  # as prometheus-client writes `le`
_REQUEST_LABELS = ["route", "method", "status"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # The per-request series are plain counts (see `_Tally`); the rare ones stay prometheus-client metrics.
        self.tally = _Tally()
        r.register(self.tally)
        self.fallbacks = Counter(
            "wikismith_llm_fallbacks", "Failed attempts followed by another target", ["target"], registry=r
        )
        self.retries = Counter("wikismith_llm_retries", "Targets tried again", ["target"], registry=r)
        self.rate_limited = Counter(
            "wikismith_llm_rate_limited", "Attempts refused with 429 (each a wait)", ["target"], registry=r
        )
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
        """Called once per HTTP request."""
        tally = self.tally
        key = (route, method, status)
        tally.requests[key] = tally.requests.get(key, 0) + 1
        counts = tally.latency.get(route)
        if counts is None:
            counts = tally.latency[route] = [0] * (len(_LATENCY_BUCKETS) + 1)
        counts[bisect_left(_LATENCY_BUCKETS, seconds)] += 1  # `le` buckets: a value on a bound counts in it
        tally.latency_sum[route] = tally.latency_sum.get(route, 0.0) + seconds

    def observe_call(self, target: str, usage: Usage | None, attempts: Sequence[Attempt], ok: bool = True) -> None:
        target = self.label(target)
        tally = self.tally
        key = (target, "ok" if ok else "error")
        if key not in tally.calls:  # a new target: both outcomes and its cost start at 0, as labelled children do
            tally.calls.setdefault((target, "ok"), 0)
            tally.calls.setdefault((target, "error"), 0)
            tally.cost.setdefault(target, 0.0)
        tally.calls[key] += 1
        if usage is not None:
            if usage.prompt_tokens:
                key = (target, "prompt")
                tally.tokens[key] = tally.tokens.get(key, 0) + usage.prompt_tokens
            if usage.completion_tokens:
                key = (target, "completion")
                tally.tokens[key] = tally.tokens.get(key, 0) + usage.completion_tokens
            if usage.cost:
                tally.cost[target] = tally.cost.get(target, 0.0) + usage.cost
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

    def watch_streams(self, active: Callable[[], int]) -> None:
        """`wikismith_streams_active`: the server's own count of streams in progress, read at scrape time (a
        prometheus-client Gauge would take a lock twice per stream)."""
        self.registry.register(_Reading("wikismith_streams_active", "Streams in progress", active))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Tally:
    """The series every request touches, counted in plain dicts and turned into Prometheus families at scrape
    time. prometheus-client's own metrics take a lock and run ~6 Python calls per increment (about 40 calls per
    proxied request, a fifth of what wikismith adds to a bare pass-through); the counting here happens on the
    event loop only, and a scrape reads copies (`dict(…)` is atomic under the GIL), so it needs no lock.

    `wikismith_http_requests_total{route,method,status}`, `wikismith_http_request_seconds{route}` (histogram),
    `wikismith_llm_calls_total{target,outcome}`, `wikismith_llm_tokens_total{target,kind}`,
    `wikismith_llm_cost_usd_total{target}`."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = {}
        self.latency: dict[str, list[int]] = {}  # per route: a count per bucket, the last one for +Inf
        self.latency_sum: dict[str, float] = {}
        self.calls: dict[tuple[str, str], int] = {}
        self.tokens: dict[tuple[str, str], int] = {}
        self.cost: dict[str, float] = {}

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("wikismith_http_requests", "HTTP requests served", labels=_REQUEST_LABELS)
        for (route, method, status), count in dict(self.requests).items():
            requests.add_metric([route, method, str(status)], count)
        latency = HistogramMetricFamily("wikismith_http_request_seconds", "HTTP request latency", labels=["route"])
        sums = dict(self.latency_sum)
        for route, counts in dict(self.latency).items():
            cumulative = list(accumulate(list(counts)))
            buckets = [(_BUCKET_NAMES[i], float(n)) for i, n in enumerate(cumulative)]
            latency.add_metric([route], buckets, sum_value=sums.get(route, 0.0))
        calls = CounterMetricFamily(
            "wikismith_llm_calls", "Model calls by serving target", labels=["target", "outcome"]
        )
        for labels, count in dict(self.calls).items():
            calls.add_metric(list(labels), count)
        tokens = CounterMetricFamily("wikismith_llm_tokens", "Tokens by target", labels=["target", "kind"])
        for labels, count in dict(self.tokens).items():
            tokens.add_metric(list(labels), count)
        cost = CounterMetricFamily("wikismith_llm_cost_usd", "Cost in USD by target", labels=["target"])
        for target, usd in dict(self.cost).items():
            cost.add_metric([target], usd)
        yield from (requests, latency, calls, tokens, cost)

    def describe(self) -> Iterator[Metric]:
        return iter(())


class _Reading:
    """A gauge whose value is read when scraped."""

    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self.name, self.documentation, self.read = name, documentation, read

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self.name, self.documentation, value=self.read())

    def describe(self) -> Iterator[Metric]:
        return iter(())


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
