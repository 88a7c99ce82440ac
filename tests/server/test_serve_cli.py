"""`wikismith serve` starts uvicorn, answers /health once ready, logs JSON lines and exits cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from tests.server.conftest import API_KEY, scripted_providers, write_generator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_health_and_logs_json_with_request_ids(tmp_path: Path) -> None:
    write_generator(tmp_path / "config", scripted_providers())
    port = free_port()
    env = {**os.environ, "WIKISMITH_HOME": str(tmp_path / "home"), "WIKISMITH_CONFIG_DIR": str(tmp_path / "config"),
           "WIKISMITH_API_KEYS": API_KEY}  # fmt: skip
    command = [sys.executable, "-c", "from wikismith.cli.app import main; main()", "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx2.get(f"http://127.0.0.1:{port}/health", headers={"x-request-id": "probe-1"})
                break
            except httpx2.ConnectError:
                assert time.monotonic() < deadline and process.poll() is None, "server did not start"
                time.sleep(0.1)
        assert response.json()["status"] == "healthy"
        refused = httpx2.get(f"http://127.0.0.1:{port}/v1/models", headers={"authorization": "Bearer nope-nope"})
        assert refused.status_code == 401
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    access = [entry for entry in lines if entry["logger"] == "wikismith.server.access"]
    assert any(entry["request_id"] == "probe-1" and "/health 200" in entry["message"] for entry in access)
    assert API_KEY not in stderr and "nope-nope" not in stderr


def test_serve_exits_2_on_a_broken_config(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "generator.json").write_text("{broken")
    env = {**os.environ, "WIKISMITH_HOME": str(tmp_path / "home"), "WIKISMITH_CONFIG_DIR": str(tmp_path / "config")}
    command = [sys.executable, "-c", "from wikismith.cli.app import main; main()", "serve", "--port", "1"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "not valid JSON" in result.stderr


def test_metrics_of_several_workers_are_summed_on_every_scrape(tmp_path: Path) -> None:
    """`--workers 2`: requests land on either worker and so do scrapes; every scrape reports all requests."""
    write_generator(tmp_path / "config", scripted_providers())
    port = free_port()
    env = {**os.environ, "WIKISMITH_HOME": str(tmp_path / "home"), "WIKISMITH_CONFIG_DIR": str(tmp_path / "config"),
           "WIKISMITH_CATALOGUE_REFRESH": "0"}  # fmt: skip
    command = [sys.executable, "-c", "from wikismith.cli.app import main; main()", "serve", "--port", str(port),
               "--workers", "2", "--log-level", "warning"]  # fmt: skip
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    line = 'wikismith_http_requests_total{method="GET",route="/lang/config",status="200"}'

    def scraped() -> float:
        with httpx2.Client() as fresh:  # a new connection each time, so scrapes reach either worker
            text = fresh.get(url + "/metrics").text
        return next((float(x.split()[-1]) for x in text.splitlines() if x.startswith(line)), 0.0)

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx2.get(url + "/health").status_code == 200:
                    break
            except httpx2.ConnectError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "server did not start"
            time.sleep(0.1)
        for _ in range(40):
            with httpx2.Client() as fresh:
                assert fresh.get(url + "/lang/config").status_code == 200
        time.sleep(1.5)  # each worker publishes its counts every second
        assert [scraped() for _ in range(8)] == [40.0] * 8
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    assert process.returncode == 0
