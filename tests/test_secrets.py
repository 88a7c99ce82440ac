"""The secrets rule, end to end: a distinctive OPENROUTER_API_KEY, calls over real sockets that fail in every
way (401, 500, an error inside a 200, a mid-stream error, connection refused), the upstream even echoing the
key back; the key must appear in no log record (DEBUG, caplog and a real log file), no exception text or repr,
no settings/config repr, no file under WIKISMITH_HOME (usage ledger, catalogue cache) and no CLI output."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.emulator import Emulator, Reply, error, error_in_200, mid_stream_error
from wikismith.config.models import AppConfig, load_config
from wikismith.config.settings import Settings
from wikismith.llm.errors import LLMError
from wikismith.llm.events import collect
from wikismith.llm.types import ChatRequest, Message
from wikismith.redact import RedactingFilter, install_log_redaction
from wikismith.router import Router, build_router

KEY = "sk-or-v1-SECRETS-e2e-5f3a9c1e7b2d4068aa"
MODEL = "openai/gpt-4o-mini"
WIKISMITH = str(Path(sys.executable).parent / "wikismith")


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """A real file handler on the root logger at DEBUG, redaction installed as an application would."""
    path = tmp_path / "wikismith.log"
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    install_log_redaction(root)
    yield path
    root.removeHandler(handler)
    handler.close()
    root.setLevel(old_level)
    for owner in (root, *root.handlers):
        for f in [f for f in owner.filters if isinstance(f, RedactingFilter)]:
            owner.removeFilter(f)


def environment(tmp_path: Path, base_url: str) -> dict[str, str]:
    return {
        "OPENROUTER_API_KEY": KEY,
        "OPENROUTER_BASE_URL": base_url,
        "WIKISMITH_HOME": str(tmp_path / "home"),
        "WIKISMITH_ROUTER_DEADLINE": "0.3",  # a retry or two at most
    }


@pytest.fixture
async def setup(tmp_path: Path, emulator: Emulator) -> AsyncIterator[tuple[Settings, AppConfig, Router]]:
    settings = Settings.from_env(environment(tmp_path, emulator.base_url))
    config = load_config(settings.config_dir, settings.env)
    router = build_router(config, settings)
    yield settings, config, router
    await router.aclose()


def assert_clean(*texts: object) -> None:
    for text in texts:
        shown = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        assert KEY not in shown, shown[:500]


def assert_error_clean(exc: LLMError) -> None:
    assert_clean(str(exc), repr(exc), exc.message, exc.args, exc.metadata)
    for attempt in getattr(exc, "attempts", None) or []:
        assert_clean(attempt)
    if exc.__cause__ is not None:
        assert_clean(str(exc.__cause__))


def assert_logs_clean(caplog: pytest.LogCaptureFixture, log_file: Path) -> None:
    formatter = logging.Formatter()
    for record in caplog.records:
        assert_clean(record.getMessage(), record.exc_text or "", formatter.format(record))
    assert_clean(log_file.read_bytes())


def assert_home_clean(home: Path) -> None:
    files = [p for p in home.rglob("*") if p.is_file()]
    assert files, "expected the ledger and the catalogue cache under WIKISMITH_HOME"
    for path in files:
        assert_clean(path.read_bytes())


def ask(stream: bool = False) -> ChatRequest:
    return ChatRequest(model=f"openrouter/{MODEL}", messages=[Message(role="user", content="hi")], stream=stream)


ECHO = f"Incorrect API key provided: {KEY}"
FAILURES = {
    "401": [error(401, ECHO)],
    "500": [error(500, f"upstream failed for {KEY}", metadata={"raw": KEY, "provider_name": "Emu"})] * 3,
    "error-in-200": [error_in_200(502, message=ECHO)] * 3,
    "mid-stream": [mid_stream_error("partial answer ", message=ECHO)],
}


@pytest.mark.parametrize("case", sorted(FAILURES))
async def test_failed_calls_never_show_the_key(
    case: str,
    setup: tuple[Settings, AppConfig, Router],
    emulator: Emulator,
    caplog: pytest.LogCaptureFixture,
    log_file: Path,
) -> None:
    settings, config, router = setup
    caplog.set_level(logging.DEBUG)
    emulator.script(MODEL, *FAILURES[case])
    assert await router.catalogue.refresh(settings.openrouter_base_url, api_key=KEY)  # writes the cache file
    with pytest.raises(LLMError) as info:
        if case == "mid-stream":
            await collect(router.stream(ask(stream=True)))
        else:
            await router.complete(ask())
    assert emulator.chat_requests()[0].headers["Authorization"] == f"Bearer {KEY}"  # the key was really used
    assert_error_clean(info.value)
    await router.aclose()  # flushes the ledger
    assert_logs_clean(caplog, log_file)
    assert_home_clean(settings.home)
    assert_clean(repr(settings), str(settings), settings.model_dump(), repr(config))
    assert_clean(repr(config.provider("openrouter")), repr(config.resolve("openrouter")))


async def test_connection_refused_never_shows_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, log_file: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings.from_env(environment(tmp_path, "http://127.0.0.1:9/api/v1"))  # nothing listens on 9
    router = build_router(load_config(None, settings.env), settings)
    try:
        assert not await router.catalogue.refresh(settings.openrouter_base_url, api_key=KEY, timeout=2)
        with pytest.raises(LLMError) as info:
            await router.complete(ask())
    finally:
        await router.aclose()
    assert info.value.error_type == "connection_error"
    assert_error_clean(info.value)
    assert_logs_clean(caplog, log_file)
    assert_home_clean(settings.home)


@pytest.mark.parametrize("reachable", [True, False], ids=["emulator", "refused"])
async def test_credentials_in_a_base_url_are_not_logged_shown_or_cached(
    reachable: bool, tmp_path: Path, emulator: Emulator, caplog: pytest.LogCaptureFixture, log_file: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    port = emulator.port if reachable else 9
    settings = Settings.from_env(environment(tmp_path, f"http://user:{KEY}@127.0.0.1:{port}/api/v1"))
    config = load_config(None, settings.env)
    catalogue = build_router(config, settings).catalogue
    assert await catalogue.refresh(settings.openrouter_base_url, timeout=2) is reachable
    if reachable:
        assert_home_clean(settings.home)  # the cache records where it came from, redacted
    else:
        assert any("could not refresh" in r.getMessage() for r in caplog.records)
    assert_logs_clean(caplog, log_file)
    assert_clean(repr(config.provider("openrouter")), repr(settings))


def cli(tmp_path: Path, emulator: Emulator, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WIKISMITH_", "DEEPWIKI_", "OPENROUTER_"))}
    env.update(environment(tmp_path, emulator.base_url))
    env.update({"WIKISMITH_LOG_LEVEL": "debug", "NO_COLOR": "1", "COLUMNS": "300"})
    return subprocess.run([WIKISMITH, *args], env=env, capture_output=True, text=True, timeout=120)


def test_cli_output_never_shows_the_key(tmp_path: Path, emulator: Emulator) -> None:
    emulator.script(MODEL, error(401, ECHO))
    refused = cli(tmp_path, emulator, "chat", "hello")
    assert refused.returncode == 1 and "error:" in refused.stderr
    emulator.script(MODEL, mid_stream_error("half an answer ", message=ECHO))
    broken = cli(tmp_path, emulator, "chat", "hello")
    assert broken.returncode == 1 and "half an answer" in broken.stdout
    emulator.script(MODEL, Reply(text="fine"))
    listed = cli(tmp_path, emulator, "models", "--refresh", "--search", "emu/")
    assert listed.returncode == 0 and "emu/cheap" in listed.stdout
    for result in (refused, broken, listed):
        assert_clean(result.stdout, result.stderr)
    assert "DEBUG" in refused.stderr  # debug logging really was on
    assert [r.headers["Authorization"] for r in emulator.chat_requests()] == [f"Bearer {KEY}"] * 2
    assert_home_clean(tmp_path / "home")


async def test_a_key_sent_as_a_header_or_query_parameter_is_masked_too(
    tmp_path: Path, emulator: Emulator, caplog: pytest.LogCaptureFixture, log_file: Path
) -> None:
    """Keys that reach a provider through `headers`/`query_params` placeholders (Azure's `api-key`, Google's
    `?key=`) under variable names that do not look secret are registered when the provider is resolved."""
    caplog.set_level(logging.DEBUG)
    header_key, query_key = "hdr-9c1e7b2d4068aa-secret", "qry-5f3a9c1e7b2d-secret"
    spec = {
        "client_class": "OpenAICompatibleClient",
        "default_model": "m",
        "supportsCustomModel": True,
        "base_url": emulator.base_url,
        "headers": {"api-key": "${VENDOR_CRED}", "X-Title": "wikismith"},
        "query_params": {"key": "${VENDOR_Q}"},
    }
    directory = tmp_path / "config"
    directory.mkdir()
    (directory / "generator.json").write_text(f'{{"default_provider": "v", "providers": {{"v": {json.dumps(spec)}}}}}')
    config = load_config(directory, {"VENDOR_CRED": header_key, "VENDOR_Q": query_key})
    emulator.script("m", error(401, f"key {query_key} with header {header_key} is not valid"))
    router = Router(config)
    try:
        with pytest.raises(LLMError) as info:
            await router.complete(ChatRequest(model="v/m", messages=[Message(role="user", content="hi")]))
    finally:
        await router.aclose()
    sent = emulator.chat_requests()[0]
    assert sent.headers["api-key"] == header_key and sent.query["key"] == query_key
    resolved = repr(config.provider("v"))
    for secret in (header_key, query_key):
        assert secret not in str(info.value) and secret not in repr(info.value) and secret not in resolved
        assert all(secret not in r.getMessage() for r in caplog.records)
        assert secret not in log_file.read_text()
    assert "X-Title': 'wikismith'" in resolved
