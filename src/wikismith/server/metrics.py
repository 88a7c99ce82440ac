"""Prometheus metrics, one set per app (so several apps in one process, as in tests, do not collide).

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

Counting is plain dict arithmetic on the event loop (`Counts`); the Prometheus families are built at scrape
time. prometheus-client's own metrics take a lock and run ~6 Python calls per increment (about 40 calls per
proxied request, a fifth of what wikismith adds to a bare pass-through).

Several worker processes (`wikismith serve --workers N`) count separately, and a scrape reaches one of them. With
a shared directory (`WIKISMITH_METRICS_DIR`; `serve` makes one per run when N > 1) each worker writes its counts
there every second and when it stops (`<pid>.json`, replaced atomically), and a scrape answers the sum over all
the files, with its own counts read live: counters never go back when a worker is replaced, and the streams
gauge counts live workers only. Other workers' figures are at most a second old.
"""

from __future__ import annotations

import contextlib
import logging
import os
from bisect import bisect_left
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from wikismith.llm.types import Attempt, Usage
from wikismith.router.limits import Limiter
from wikismith.storage import atomic_write_bytes

log = logging.getLogger("wikismith.server")

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_BUCKET_NAMES = [*(repr(float(b)) for b in _LATENCY_BUCKETS), "+Inf"]  # as prometheus-client writes `le`
_REQUEST_LABELS = ["route", "method", "status"]
_LIMIT_FIELDS = ("waits", "wait_seconds", "refused")


@dataclass
class Counts:
    """Everything /metrics reports, as plain values: what one process counted, or the sum over workers."""

    requests: dict[tuple[str, str, int], int] = field(default_factory=dict)
    latency: dict[str, list[int]] = field(default_factory=dict)  # per route: a count per bucket, the last for +Inf
    latency_sum: dict[str, float] = field(default_factory=dict)
    calls: dict[tuple[str, str], int] = field(default_factory=dict)
    tokens: dict[tuple[str, str], int] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=dict)
    fallbacks: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    rate_limited: dict[str, int] = field(default_factory=dict)
    limits: dict[str, dict[str, float]] = field(default_factory=dict)  # by bucket, from `Limiter.snapshot()`
    streams: int = 0

    def add(self, other: Counts) -> None:
        pairs: list[tuple[dict[Any, Any], dict[Any, Any]]] = [
            (self.requests, other.requests), (self.latency_sum, other.latency_sum), (self.calls, other.calls),
            (self.tokens, other.tokens), (self.cost, other.cost), (self.fallbacks, other.fallbacks),
            (self.retries, other.retries), (self.rate_limited, other.rate_limited),
        ]  # fmt: skip
        for mine, theirs in pairs:
            for key, value in theirs.items():
                mine[key] = mine.get(key, 0) + value
        for route, counts in other.latency.items():
            own = self.latency.setdefault(route, [0] * len(counts))
            self.latency[route] = [a + b for a, b in zip(own, counts, strict=True)]
        for bucket, values in other.limits.items():
            own_limits = self.limits.setdefault(bucket, dict.fromkeys(_LIMIT_FIELDS, 0.0))
            for name in _LIMIT_FIELDS:
                own_limits[name] = own_limits.get(name, 0.0) + values.get(name, 0.0)
        self.streams += other.streams

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "requests": [[*key, n] for key, n in self.requests.items()],
                "latency": self.latency,
                "latency_sum": self.latency_sum,
                "calls": [[*key, n] for key, n in self.calls.items()],
                "tokens": [[*key, n] for key, n in self.tokens.items()],
                "cost": self.cost,
                "fallbacks": self.fallbacks,
                "retries": self.retries,
                "rate_limited": self.rate_limited,
                "limits": self.limits,
                "streams": self.streams,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> Counts:
        data: dict[str, Any] = orjson.loads(raw)
        return cls(
            requests={(r, m, int(s)): int(n) for r, m, s, n in data["requests"]},
            latency={k: [int(x) for x in v] for k, v in data["latency"].items()},
            latency_sum={k: float(v) for k, v in data["latency_sum"].items()},
            calls={(t, o): int(n) for t, o, n in data["calls"]},
            tokens={(t, k): int(n) for t, k, n in data["tokens"]},
            cost={k: float(v) for k, v in data["cost"].items()},
            fallbacks={k: int(v) for k, v in data["fallbacks"].items()},
            retries={k: int(v) for k, v in data["retries"].items()},
            rate_limited={k: int(v) for k, v in data["rate_limited"].items()},
            limits=data["limits"],
            streams=int(data["streams"]),
        )


class Metrics:
    def __init__(self, shared_dir: Path | None = None, *, worker: int | None = None) -> None:
        self.counts = Counts()
        self.shared_dir = shared_dir
        self.worker = os.getpid() if worker is None else worker  # the name of this process's file
        self.label: Callable[[str], str] = lambda name: name
        self._limiter: Limiter | None = None
        self._streams: Callable[[], int] = lambda: 0
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_Export(self))

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

    def watch_limiter(self, limiter: Limiter) -> None:
        """Export the router's client-side rate-limit waits (read at scrape time, nothing on the hot path)."""
        self._limiter = limiter

    def watch_streams(self, active: Callable[[], int]) -> None:
        """`wikismith_streams_active`: the server's own count of streams in progress, read at scrape time."""
        self._streams = active

    # --- counting (on the event loop) ---------------------------------------------------------------------------

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Called once per HTTP request."""
        counts = self.counts
        key = (route, method, status)
        counts.requests[key] = counts.requests.get(key, 0) + 1
        buckets = counts.latency.get(route)
        if buckets is None:
            buckets = counts.latency[route] = [0] * (len(_LATENCY_BUCKETS) + 1)
        buckets[bisect_left(_LATENCY_BUCKETS, seconds)] += 1  # `le` buckets: a value on a bound counts in it
        counts.latency_sum[route] = counts.latency_sum.get(route, 0.0) + seconds

    def observe_call(self, target: str, usage: Usage | None, attempts: Sequence[Attempt], ok: bool = True) -> None:
        target = self.label(target)
        counts = self.counts
        key = (target, "ok" if ok else "error")
        if key not in counts.calls:  # a new target: both outcomes and its cost start at 0, as labelled children do
            counts.calls.setdefault((target, "ok"), 0)
            counts.calls.setdefault((target, "error"), 0)
            counts.cost.setdefault(target, 0.0)
        counts.calls[key] += 1
        if usage is not None:
            if usage.prompt_tokens:
                key = (target, "prompt")
                counts.tokens[key] = counts.tokens.get(key, 0) + usage.prompt_tokens
            if usage.completion_tokens:
                key = (target, "completion")
                counts.tokens[key] = counts.tokens.get(key, 0) + usage.completion_tokens
            if usage.cost:
                counts.cost[target] = counts.cost.get(target, 0.0) + usage.cost
        if len(attempts) > 1 or (attempts and not attempts[0].ok):
            self.observe_attempts(attempts)

    def observe_attempts(self, attempts: Sequence[Attempt]) -> None:
        counts = self.counts
        seen: set[str] = set()
        for i, attempt in enumerate(attempts):
            name = self.label(attempt.target)
            if attempt.target in seen:
                counts.retries[name] = counts.retries.get(name, 0) + 1
            seen.add(attempt.target)
            if attempt.ok:
                continue
            if attempt.status == 429:
                counts.rate_limited[name] = counts.rate_limited.get(name, 0) + 1
            if any(a.target != attempt.target for a in attempts[i + 1 :]):
                counts.fallbacks[name] = counts.fallbacks.get(name, 0) + 1

    # --- reading ----------------------------------------------------------------------------------------------

    def own(self) -> Counts:
        """This process's counts now, with the values read at scrape time filled in."""
        counts = self.counts
        limits = self._limiter.snapshot() if self._limiter is not None else {}
        # Copies: a scrape in another thread must not see the dicts change under it (`dict(…)` is atomic).
        return Counts(
            dict(counts.requests), {k: list(v) for k, v in dict(counts.latency).items()}, dict(counts.latency_sum),
            dict(counts.calls), dict(counts.tokens), dict(counts.cost), dict(counts.fallbacks), dict(counts.retries),
            dict(counts.rate_limited), limits, self._streams(),
        )  # fmt: skip

    def publish(self) -> None:
        """Write this worker's counts to the shared directory (a no-op without one)."""
        if self.shared_dir is not None:
            atomic_write_bytes(self.shared_dir / f"{self.worker}.json", self.own().to_json(), durable=False)

    def total(self) -> Counts:
        """What a scrape reports: this process's counts, plus every other worker's last published ones."""
        total = self.own()
        if self.shared_dir is None:
            return total
        for path in sorted(self.shared_dir.glob("*.json")):
            if path.stem == str(self.worker):
                continue
            try:
                other = Counts.from_json(path.read_bytes())
            except (OSError, ValueError, KeyError, TypeError) as exc:  # removed or replaced under us: next scrape
                log.debug("skipping metrics file %s: %s", path.name, exc)
                continue
            if not _alive(path.stem):
                other.streams = 0  # a gauge: a worker that is gone has no streams open
            total.add(other)
        return total

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _alive(stem: str) -> bool:
    try:
        os.kill(int(stem), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class _Export:
    """Turns `Metrics.total()` into Prometheus families at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        counts = self.metrics.total()
        requests = CounterMetricFamily("wikismith_http_requests", "HTTP requests served", labels=_REQUEST_LABELS)
        for (route, method, status), count in counts.requests.items():
            requests.add_metric([route, method, str(status)], count)
        latency = HistogramMetricFamily("wikismith_http_request_seconds", "HTTP request latency", labels=["route"])
        for route, buckets in counts.latency.items():
            cumulative = [(_BUCKET_NAMES[i], float(n)) for i, n in enumerate(accumulate(buckets))]
            latency.add_metric([route], cumulative, sum_value=counts.latency_sum.get(route, 0.0))
        calls = CounterMetricFamily(
            "wikismith_llm_calls", "Model calls by serving target", labels=["target", "outcome"]
        )
        for labels, count in counts.calls.items():
            calls.add_metric(list(labels), count)
        tokens = CounterMetricFamily("wikismith_llm_tokens", "Tokens by target", labels=["target", "kind"])
        for labels, count in counts.tokens.items():
            tokens.add_metric(list(labels), count)
        cost = CounterMetricFamily("wikismith_llm_cost_usd", "Cost in USD by target", labels=["target"])
        for target, usd in counts.cost.items():
            cost.add_metric([target], usd)
        yield from (requests, latency, calls, tokens, cost)
        for name, text, values in (
            ("wikismith_llm_fallbacks", "Failed attempts followed by another target", counts.fallbacks),
            ("wikismith_llm_retries", "Targets tried again", counts.retries),
            ("wikismith_llm_rate_limited", "Attempts refused with 429 (each a wait)", counts.rate_limited),
        ):
            family = CounterMetricFamily(name, text, labels=["target"])
            for target, count in values.items():
                family.add_metric([target], count)
            yield family
        yield from _limit_families(counts.limits)
        yield GaugeMetricFamily("wikismith_streams_active", "Streams in progress", value=counts.streams)

    def describe(self) -> Iterator[Metric]:
        return iter(())


def _limit_families(limits: dict[str, dict[str, float]]) -> Iterator[Metric]:
    """`wikismith_ratelimit_waits_total`, `…_wait_seconds_total` and `…_refused_total`, labelled by `provider` and
    by `bucket` (the provider id, or `<provider>:free` for its shared free-model bucket)."""
    labels = ["provider", "bucket"]
    waits = CounterMetricFamily("wikismith_ratelimit_waits", "Client-side rate-limit waits", labels=labels)
    seconds = CounterMetricFamily(
        "wikismith_ratelimit_wait_seconds", "Seconds waited for client-side rate limits", labels=labels
    )
    refused = CounterMetricFamily(
        "wikismith_ratelimit_refused", "Calls refused by client-side rate limits", labels=labels
    )
    for bucket, counts in limits.items():
        names = [bucket.partition(":")[0], bucket]
        waits.add_metric(names, counts["waits"])
        seconds.add_metric(names, counts["wait_seconds"])
        refused.add_metric(names, counts["refused"])
    yield from (waits, seconds, refused)


@contextlib.contextmanager
def shared_directory(env: MutableMapping[str, str], workers: int) -> Iterator[None]:
    """For `serve --workers N`: a fresh directory for the workers' counts, named in `env` as
    WIKISMITH_METRICS_DIR and removed afterwards (unless the caller named one already, which is then kept)."""
    if workers <= 1 or env.get("WIKISMITH_METRICS_DIR"):
        yield
        return
    import shutil
    import tempfile

    made = tempfile.mkdtemp(prefix="wikismith-metrics-")
    env["WIKISMITH_METRICS_DIR"] = made
    try:
        yield
    finally:
        env.pop("WIKISMITH_METRICS_DIR", None)
        shutil.rmtree(made, ignore_errors=True)
