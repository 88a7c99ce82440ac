"""The per-request series are counted by wikismith itself and exported at scrape time: what a Prometheus
server reads must be what prometheus-client's own Counter and Histogram would have written; with several
workers, the sum of what they counted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from wikismith.llm.types import Attempt, Usage
from wikismith.server.metrics import Metrics, shared_directory

HEALTH = (("method", "GET"), ("route", "/health"), ("status", "200"))


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


def test_workers_sharing_a_directory_are_summed(tmp_path: Path) -> None:
    """`serve --workers N`: each worker publishes its counts; a scrape of any worker answers the sum."""
    first = Metrics(tmp_path, worker=os.getpid())
    second = Metrics(tmp_path, worker=os.getppid())  # a live process other than this one
    second.watch_streams(lambda: 2)
    for seconds in (0.0005, 0.003):
        first.observe_request("/health", "GET", 200, seconds)
    for _ in range(3):
        second.observe_request("/health", "GET", 200, 0.003)
    second.observe_call("emu/m", Usage(prompt_tokens=7, completion_tokens=2, cost=0.5), [Attempt(target="x", ok=True)])
    assert samples(first)[("wikismith_http_requests_total", HEALTH)] == 2  # not published yet
    second.publish()
    got = samples(first)
    assert got[("wikismith_http_requests_total", HEALTH)] == 5
    assert got[("wikismith_http_request_seconds_bucket", (("le", "0.005"), ("route", "/health")))] == 5
    assert got[("wikismith_http_request_seconds_bucket", (("le", "0.0005"), ("route", "/health")))] == 1
    assert got[("wikismith_llm_cost_usd_total", (("target", "emu/m"),))] == 0.5
    assert got[("wikismith_streams_active", ())] == 2
    # The same from the other side: its own counts live, the first worker's as last published.
    first.publish()
    assert samples(second)[("wikismith_http_requests_total", HEALTH)] == 5


def test_a_gone_workers_counters_stay_and_its_streams_do_not(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = Metrics(tmp_path, worker=int(gone.stdout))
    dead.watch_streams(lambda: 4)
    dead.observe_request("/health", "GET", 200, 0.001)
    dead.publish()
    (tmp_path / "12345678.json").write_bytes(b"{not json")  # a torn or foreign file is skipped
    live = Metrics(tmp_path, worker=os.getpid())
    got = samples(live)
    assert got[("wikismith_http_requests_total", HEALTH)] == 1  # counters never go back when a worker is replaced
    assert got[("wikismith_streams_active", ())] == 0


def test_serve_makes_a_shared_directory_only_for_several_workers(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    with shared_directory(env, 1):
        assert "WIKISMITH_METRICS_DIR" not in env
    with shared_directory(env, 3):
        made = Path(env["WIKISMITH_METRICS_DIR"])
        assert made.is_dir()
    assert not made.exists() and "WIKISMITH_METRICS_DIR" not in env
    named = {"WIKISMITH_METRICS_DIR": str(tmp_path)}
    with shared_directory(named, 3):
        assert named["WIKISMITH_METRICS_DIR"] == str(tmp_path)
    assert tmp_path.is_dir()  # the caller's directory is the caller's
