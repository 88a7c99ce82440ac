"""Operating the server: the catalogue refreshed in the background at startup, the router's client-side rate-limit
counters on /metrics, and /metrics behind the gateway keys when asked."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.server.conftest import API_KEY, ServerFactory, emulator_providers, make_settings, write_generator
from tests.support.emulator import Emulator, Reply
from wikismith.config.models import ConfigError, load_config
from wikismith.server import create_app

CHAT = "/v1/chat/completions"
USER = [{"role": "user", "content": "hi"}]


def aggregator(base_url: str) -> dict[str, Any]:
    """An OpenRouter-kind provider (the catalogue's source) at `base_url`."""
    return {
        "or": {
            "client_class": "OpenRouterClient",
            "default_model": "emu/big",
            "base_url": base_url,
            "models": {"emu/big": {}},
        }
    }


def model_names(url: str) -> dict[str, str]:
    body = httpx2.get(url + "/models/config").json()
    return {m["id"]: m["name"] for p in body["providers"] for m in p["models"]}


@pytest.fixture
def silent_upstream() -> Iterator[str]:
    """A listening socket that accepts connections (the backlog does) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/api/v1"
    sock.close()


def test_startup_refreshes_the_catalogue_in_the_background(start_server: ServerFactory, emulator: Emulator) -> None:
    server = start_server(aggregator(emulator.base_url))
    assert emulator.wait_until(lambda: any(r.path == "/api/v1/models" for r in emulator.requests), timeout=5)
    deadline = time.monotonic() + 5
    while model_names(server.url)["emu/big"] != "Emulator: big":  # the refreshed catalogue names the model
        assert time.monotonic() < deadline, model_names(server.url)
        time.sleep(0.05)


def test_catalogue_refresh_can_be_turned_off(start_server: ServerFactory, emulator: Emulator) -> None:
    server = start_server(aggregator(emulator.base_url), WIKISMITH_CATALOGUE_REFRESH="0")
    assert httpx2.get(server.url + "/health").status_code == 200
    time.sleep(0.3)
    assert not emulator.requests
    assert model_names(server.url)["emu/big"] == "emu/big"


def test_health_answers_while_the_catalogue_upstream_hangs_and_shutdown_is_prompt(
    start_server: ServerFactory, silent_upstream: str
) -> None:
    server = start_server(aggregator(silent_upstream))
    started = time.monotonic()
    assert httpx2.get(server.url + "/health").json()["status"] == "healthy"
    assert time.monotonic() - started < 2
    stopped = time.monotonic()
    server.stop()  # the pending refresh is cancelled, not waited for
    assert time.monotonic() - stopped < 5


def test_an_unreachable_catalogue_upstream_does_not_fail_startup(start_server: ServerFactory) -> None:
    server = start_server(aggregator("http://127.0.0.1:9/api/v1"))
    assert httpx2.get(server.url + "/health").json()["status"] == "healthy"
    time.sleep(0.2)  # the refresh has failed by now; the shipped list stays
    assert model_names(server.url)["emu/big"] == "emu/big"


def test_metrics_export_client_side_rate_limit_waits_and_refusals(
    start_server: ServerFactory, emulator: Emulator
) -> None:
    providers = emulator_providers(emulator.base_url)
    providers["emu"]["limits"] = {"max_concurrent": 1, "requests_per_minute": 2}
    server = start_server(providers, WIKISMITH_ROUTER_DEADLINE="5", WIKISMITH_CATALOGUE_REFRESH="0")
    emulator.script("m1", Reply(text="slow", delay=0.4), Reply(text="next"))
    body = json.dumps({"model": "emu/m1", "messages": USER})
    statuses: list[int] = []

    def call() -> None:
        response = httpx2.post(server.url + CHAT, content=body, headers={"content-type": "application/json"})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.1)  # the second call finds the one concurrency slot taken and waits for it
    for thread in threads:
        thread.join(10)
    assert statuses == [200, 200]
    call()  # a third call in the same minute: the RPM slot is ~60 s away, past the 5 s deadline
    assert statuses[-1] != 200
    text = httpx2.get(server.url + "/metrics").text
    labels = '{bucket="emu",provider="emu"}'
    assert f"wikismith_ratelimit_waits_total{labels} 1.0" in text
    seconds = next(line for line in text.splitlines() if line.startswith("wikismith_ratelimit_wait_seconds_total"))
    assert 0.1 < float(seconds.split()[-1]) < 2
    refused = next(line for line in text.splitlines() if line.startswith("wikismith_ratelimit_refused_total"))
    assert refused.startswith(f"wikismith_ratelimit_refused_total{labels}") and float(refused.split()[-1]) >= 1


def test_metrics_need_a_gateway_key_when_metrics_auth_is_on(start_server: ServerFactory, emulator: Emulator) -> None:
    server = start_server(emulator_providers(emulator.base_url), WIKISMITH_API_KEYS=API_KEY, WIKISMITH_METRICS_AUTH="1")
    assert httpx2.get(server.url + "/metrics").status_code == 401
    assert httpx2.get(server.url + "/metrics", headers={"authorization": "Bearer wrong-key-0000"}).status_code == 401
    allowed = httpx2.get(server.url + "/metrics", headers={"authorization": f"Bearer {API_KEY}"})
    assert allowed.status_code == 200 and "wikismith_http_requests_total" in allowed.text
    assert httpx2.get(server.url + "/health").status_code == 200  # only /metrics is affected


def test_metrics_stay_open_with_gateway_keys_by_default(start_server: ServerFactory, emulator: Emulator) -> None:
    server = start_server(emulator_providers(emulator.base_url), WIKISMITH_API_KEYS=API_KEY)
    assert httpx2.get(server.url + "/metrics").status_code == 200


def test_metrics_auth_without_gateway_keys_is_a_config_error(tmp_path: Path) -> None:
    write_generator(tmp_path / "config", emulator_providers("http://127.0.0.1:9"))
    settings = make_settings(tmp_path / "home", tmp_path / "config", WIKISMITH_METRICS_AUTH="1")
    with pytest.raises(ConfigError, match="WIKISMITH_API_KEYS"):
        create_app(settings, load_config(tmp_path / "config", settings.env))


def test_metrics_count_the_streams_in_progress(start_server: ServerFactory, emulator: Emulator) -> None:
    server = start_server(emulator_providers(emulator.base_url))
    emulator.script("m1", Reply(text="a b c d", chunk_delay=0.3))

    def active() -> float:
        text = httpx2.get(server.url + "/metrics").text
        return next(float(line.split()[1]) for line in text.splitlines() if line.startswith("wikismith_streams_active"))

    assert active() == 0
    body = {"model": "emu/m1", "messages": USER, "stream": True}
    with httpx2.stream("POST", server.url + CHAT, json=body, timeout=10) as response:
        assert response.status_code == 200
        assert active() == 1  # the stream is open: its chunks come 0.3 s apart
        text = response.read().decode()
    assert '"content":"d"' in text.replace(" ", "")
    assert emulator.wait_until(lambda: active() == 0, timeout=5)
