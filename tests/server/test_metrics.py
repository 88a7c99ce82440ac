"""The per-request series are counted by wikismith itself and exported at scrape time: what a Prometheus
server reads must be what prometheus-client's own Counter and Histogram would have written."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from wikismith.llm.types import Attempt, Usage
from wikismith.server.metrics import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_request_counts_and_latency_histogram() -> None:
    metrics = Metrics()
    for seconds in (0.0005, 0.003, 0.003, 200.0):  # on a bound, inside a bucket (twice), past the last bound
        metrics.observe_request("/v1/chat/completions", "POST", 200, seconds)
    metrics.observe_request("/v1/chat/completions", "POST", 400, 0.001)
    got = samples(metrics)
    route = (("route", "/v1/chat/completions"),)
    ok = (("method", "POST"), ("route", "/v1/chat/completions"), ("status", "200"))
    assert got[("wikismith_http_requests_total", ok)] == 4
    assert got[("wikismith_http_requests_total", (*ok[:2], ("status", "400")))] == 1

    def bucket(le: str) -> float:
        return got[("wikismith_http_request_seconds_bucket", (("le", le), *route))]

    # Cumulative `le` buckets: a value equal to a bound counts in that bucket.
    assert bucket("0.0005") == 1
    assert bucket("0.001") == 2
    assert bucket("0.0025") == 2
    assert bucket("0.005") == 4
    assert bucket("120.0") == 4
    assert bucket("+Inf") == 5
    assert got[("wikismith_http_request_seconds_count", route)] == 5
    assert abs(got[("wikismith_http_request_seconds_sum", route)] - 200.0075) < 1e-9


def test_calls_tokens_and_cost_by_target() -> None:
    metrics = Metrics()
    served = [Attempt(target="emu/m", ok=True)]
    metrics.observe_call("emu/m", Usage(prompt_tokens=10, completion_tokens=3, cost=0.25), served)
    metrics.observe_call("emu/m", Usage(prompt_tokens=5, completion_tokens=0), served)
    metrics.observe_call("emu/m", None, [Attempt(target="emu/m", ok=False, status=500)], ok=False)
    got = samples(metrics)
    target = ("target", "emu/m")
    assert got[("wikismith_llm_calls_total", (("outcome", "ok"), target))] == 2
    assert got[("wikismith_llm_calls_total", (("outcome", "error"), target))] == 1
    assert got[("wikismith_llm_tokens_total", (("kind", "prompt"), target))] == 15
    assert got[("wikismith_llm_tokens_total", (("kind", "completion"), target))] == 3
    assert got[("wikismith_llm_cost_usd_total", (target,))] == 0.25


def test_an_empty_registry_renders() -> None:
    text = Metrics().render().decode()
    assert "# TYPE wikismith_http_requests_total counter" in text
    assert "# TYPE wikismith_http_request_seconds histogram" in text


def test_a_new_target_starts_with_zero_errors_and_cost() -> None:
    """As prometheus-client's labelled children did: `rate(…{outcome="error"})` has a series from the first call."""
    metrics = Metrics()
    metrics.observe_call("emu/m", Usage(prompt_tokens=1, completion_tokens=1), [Attempt(target="emu/m", ok=True)])
    got = samples(metrics)
    assert got[("wikismith_llm_calls_total", (("outcome", "error"), ("target", "emu/m")))] == 0
    assert got[("wikismith_llm_cost_usd_total", (("target", "emu/m"),))] == 0
