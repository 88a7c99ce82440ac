"""A schemathesis run against the server's own OpenAPI schema: every operation, valid and invalid inputs,
a bounded number of examples each; no answer may be a 5xx."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.server.conftest import LiveServer, ServerFactory, emulator_providers
from tests.support.emulator import Emulator

EXAMPLES = 12


@pytest.fixture
def fuzzed_server(start_server: ServerFactory, emulator: Emulator, tmp_path: Path) -> LiveServer:
    # No repository host is allowed and no local root is set: no generated repo_url can reach the network.
    config = tmp_path / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "repo.json").write_text(json.dumps({"repository": {"allowed_hosts": ["example.invalid"]}}))
    return start_server(emulator_providers(emulator.base_url), DEEPWIKI_AUTH_MODE="1", DEEPWIKI_AUTH_CODE="s3cret-code")


def test_no_generated_request_gets_a_5xx(fuzzed_server: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(fuzzed_server.url + "/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case: schemathesis.Case) -> None:
                response = case.call(base_url=fuzzed_server.url, timeout=10)
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.path} -> {response.status_code}: {response.text[:200]}")

            try:
                call()
            except Unsatisfiable:  # nothing to make invalid (an operation without parameters or body)
                assert mode is GenerationMode.NEGATIVE
    assert failures == []
