"""Shared fixtures. An autouse guard fails any test that opens a socket to a non-loopback address."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["tests.support.emulator"]  # the `emulator` fixture: OpenRouter/Ollama-shaped upstream

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _is_loopback(address: Any) -> bool:
    if isinstance(address, str | bytes):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise RuntimeError(f"test tried to reach the network: {address!r} (only loopback is allowed)")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise RuntimeError(f"test tried to reach the network: {address!r} (only loopback is allowed)")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    results = _real_getaddrinfo(host, *args, **kwargs)
    return results


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    yield


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh WIKISMITH_HOME for the test; no config dir override."""
    data = tmp_path / "home"
    monkeypatch.setenv("WIKISMITH_HOME", str(data))
    monkeypatch.delenv("WIKISMITH_CONFIG_DIR", raising=False)
    monkeypatch.delenv("DEEPWIKI_CONFIG_DIR", raising=False)
    return data
