"""Server test helpers: the app served by a real uvicorn on a free 127.0.0.1 port (in a thread with its own
loop), over either the provider emulator (`emulator` fixture) or a router with scripted clients."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.support.scripted import ScriptedModel
from wikismith.config.models import AppConfig, ResolvedProvider, load_config
from wikismith.config.settings import Settings
from wikismith.llm.base import ChatModel
from wikismith.router import Router
from wikismith.server import create_app

API_KEY = "ws-test-key-123456"
UPSTREAM_KEY = "sk-or-upstream-secret-abcdef"


class LiveServer:
    """uvicorn serving `app` on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False, loop="asyncio")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def write_generator(directory: Path, providers: Mapping[str, Mapping[str, Any]], **top: Any) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    body = {"default_provider": next(iter(providers)), "providers": providers, **top}
    (directory / "generator.json").write_text(json.dumps(body))


def write_embedder(directory: Path) -> None:
    """embedder.json with an `emu` embedder served by the emulator's /embeddings (via the `emu` provider)."""
    body = {
        "default": "emu",
        "embedder_emu": {
            "client_class": "OpenAICompatibleClient",
            "initialize_kwargs": {"provider": "emu"},
            "model_kwargs": {"model": "emb-model"},
        },
    }
    (directory / "embedder.json").write_text(json.dumps(body))


def emulator_providers(base_url: str) -> dict[str, Any]:
    return {
        "emu": {
            "client_class": "OpenAICompatibleClient",
            "default_model": "m1",
            "supportsCustomModel": True,
            "base_url": base_url,
            "api_key": UPSTREAM_KEY,
            "models": {"m1": {}, "m2": {}},
        }
    }


def scripted_providers() -> dict[str, Any]:
    return {
        "a": {
            "client_class": "OpenAICompatibleClient",
            "default_model": "m",
            "supportsCustomModel": True,
            "base_url": "http://127.0.0.1:9",
            "models": {"m": {}, "n": {}},
        }
    }


def make_settings(home: Path, config_dir: Path, **env: str) -> Settings:
    return Settings.from_env({"WIKISMITH_HOME": str(home), "WIKISMITH_CONFIG_DIR": str(config_dir), **env})


ServerFactory = Callable[..., LiveServer]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """`start_server(providers, router=None, routes=None, **env)` -> a started LiveServer (stopped afterwards)."""
    servers: list[LiveServer] = []

    def start(
        providers: Mapping[str, Mapping[str, Any]],
        *,
        router: Callable[[AppConfig], Router] | None = None,
        routes: Mapping[str, list[str]] | None = None,
        **env: str,
    ) -> LiveServer:
        config_dir = tmp_path / "config"
        write_generator(config_dir, providers, routes=dict(routes or {}))
        if "emu" in providers:
            write_embedder(config_dir)
        settings = make_settings(tmp_path / "home", config_dir, **env)
        config = load_config(config_dir, settings.env)
        app = create_app(settings, config, router=router(config) if router else None)
        server = LiveServer(app).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def scripted_router(model: ChatModel) -> Callable[[AppConfig], Router]:
    def build(config: AppConfig) -> Router:
        def factory(provider: ResolvedProvider) -> ChatModel:
            return model

        return Router(config, client_factory=factory)

    return build


@pytest.fixture
def scripted() -> ScriptedModel:
    return ScriptedModel()


@pytest.fixture
def scripted_server(start_server: ServerFactory, scripted: ScriptedModel) -> LiveServer:
    return start_server(scripted_providers(), router=scripted_router(scripted))


@pytest.fixture
def emu_server(start_server: ServerFactory, emulator: Any) -> LiveServer:
    return start_server(emulator_providers(emulator.base_url))
