"""The /v1 gateway at the HTTP level: bad input, limits, SSE bytes, client disconnects, metrics."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import httpx2
import pytest

from tests.server.conftest import LiveServer, ServerFactory, emulator_providers
from tests.support.emulator import Emulator, Reply

CHAT = "/v1/chat/completions"
USER = [{"role": "user", "content": "hi"}]


def post(server: LiveServer, path: str, content: bytes | str, **headers: str) -> httpx2.Response:
    return httpx2.post(server.url + path, content=content, headers={"content-type": "application/json", **headers})


def assert_openai_error(response: httpx2.Response, status: int, *words: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    err = response.json()["error"]
    assert set(err) >= {"message", "type", "code"}
    for word in words:
        assert word in err["message"]
    return dict(err)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", ("not valid JSON",)),
        (b"", ("empty",)),
        (b"[1, 2]", ("invalid request",)),
        (json.dumps({"model": "emu/m1"}), ("messages", "required")),
        (json.dumps({"model": 5, "messages": USER}), ("model",)),
        (json.dumps({"model": "emu/m1", "messages": []}), ("messages",)),
        (json.dumps({"model": "emu/m1", "messages": [{"role": "wizard", "content": "x"}]}), ("role",)),
        (json.dumps({"model": "emu/m1", "messages": USER, "temperature": "hot"}), ("temperature",)),
        (json.dumps({"model": "emu/m1", "messages": USER, "temperature": 7}), ("temperature",)),
        (json.dumps({"model": "emu/m1", "messages": USER, "n": 2}), ("n",)),
    ],
)
def test_bad_bodies_are_400_and_nothing_is_sent_upstream(
    emu_server: LiveServer, emulator: Emulator, body: bytes | str, words: tuple[str, ...]
) -> None:
    err = assert_openai_error(post(emu_server, CHAT, body), 400, *words)
    assert err["type"] == "invalid_request_error"
    assert emulator.chat_requests() == []


def test_a_body_over_the_limit_is_413_before_it_is_read(start_server: ServerFactory, emulator: Emulator) -> None:
    server = start_server(emulator_providers(emulator.base_url), WIKISMITH_MAX_BODY_BYTES="2000")
    huge = json.dumps({"model": "emu/m1", "messages": [{"role": "user", "content": "x" * 5000}]})
    assert_openai_error(post(server, CHAT, huge), 413, "larger than 2000")

    def chunks() -> object:
        for _ in range(10):
            yield b" " * 1000  # chunked: no Content-Length, counted while read

    response = httpx2.post(server.url + CHAT, content=chunks(), headers={"content-type": "application/json"})
    assert_openai_error(response, 413)
    assert emulator.chat_requests() == []


def test_a_body_sent_in_pieces_is_read_whole(emu_server: LiveServer, emulator: Emulator) -> None:
    """Chunked (no Content-Length), in pieces with pauses between, so the server gets it in several messages."""
    body = json.dumps({"model": "emu/m1", "messages": USER}).encode()

    def pieces() -> object:
        for i in range(0, len(body), 7):
            yield body[i : i + 7]
            time.sleep(0.002)

    response = httpx2.post(emu_server.url + CHAT, content=pieces(), headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"]
    assert emulator.chat_requests()[-1].json["messages"] == USER


def test_too_many_messages_is_400(start_server: ServerFactory, emulator: Emulator) -> None:
    server = start_server(emulator_providers(emulator.base_url), WIKISMITH_MAX_MESSAGES="3")
    body = json.dumps({"model": "emu/m1", "messages": USER * 4})
    assert_openai_error(post(server, CHAT, body), 400, "too many messages")
    assert emulator.chat_requests() == []


def test_sse_bytes_are_openai_shaped_and_end_with_done(emu_server: LiveServer) -> None:
    body = json.dumps({"model": "emu/m1", "messages": USER, "stream": True})
    with httpx2.stream("POST", emu_server.url + CHAT, content=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-wikismith-target"] == "emu/m1"
        raw = b"".join(response.iter_bytes())
    events = [e for e in raw.split(b"\n\n") if e]
    assert all(e.startswith(b"data: ") for e in events)
    assert events[-1] == b"data: [DONE]"
    first = json.loads(events[0][6:])
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"]["role"] == "assistant"


def test_the_response_ends_with_the_answer_not_with_the_upstream_connection(
    start_server: ServerFactory, emulator: Emulator
) -> None:
    """An upstream that keeps its stream open after `[DONE]` (a slow proxy) does not hold the client: the response
    ends with the answer; the upstream's end is awaited after it, and the call is still counted."""
    server = start_server(emulator_providers(emulator.base_url))
    emulator.script("m1", Reply(text="a b", linger=0.9))
    body = json.dumps({"model": "emu/m1", "messages": USER, "stream": True, "stream_options": {"include_usage": True}})
    started = time.monotonic()
    with httpx2.stream("POST", server.url + CHAT, content=body) as response:
        raw = b"".join(response.iter_bytes())
    took = time.monotonic() - started
    assert took < 0.6, f"the response waited for the upstream to close ({took:.2f} s)"
    events = [json.loads(e[6:]) for e in raw.split(b"\n\n") if e and e != b"data: [DONE]"]
    assert raw.endswith(b"data: [DONE]\n\n")
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"]) == "a b"
    assert events[-1]["usage"]["total_tokens"] == 17
    calls = 'wikismith_llm_calls_total{outcome="ok",target="emu/m1"} 1.0'
    assert emulator.wait_until(lambda: calls in httpx2.get(server.url + "/metrics").text, timeout=3)


def test_error_before_the_first_token_is_an_http_status(emu_server: LiveServer, emulator: Emulator) -> None:
    emulator.script("m1", Reply(text=None, status=403, error={"code": 403, "message": "region blocked"}))
    body = json.dumps({"model": "emu/m1", "messages": USER, "stream": True})
    assert_openai_error(post(emu_server, CHAT, body), 403, "region blocked")


def test_concurrent_stream_limit_answers_429(start_server: ServerFactory, emulator: Emulator) -> None:
    server = start_server(emulator_providers(emulator.base_url), WIKISMITH_MAX_STREAMS="1")
    emulator.script("m1", Reply(text="a b c d", chunk_delay=0.3))
    body = json.dumps({"model": "emu/m1", "messages": USER, "stream": True})
    with httpx2.stream("POST", server.url + CHAT, content=body) as first:
        chunks = first.iter_bytes()  # kept referenced: a dropped iterator closes the response
        next(chunks)
        refused = post(server, CHAT, body)
        assert_openai_error(refused, 429, "concurrent streams")
        assert refused.headers["retry-after"] == "1"
    # The client has left; the server notices when it next writes or when its disconnect watch starts.
    assert emulator.wait_until(lambda: "wikismith_streams_active 0.0" in httpx2.get(server.url + "/metrics").text)
    assert post(server, CHAT, body).status_code == 200  # the slot was released


def send_raw(server: LiveServer, body: bytes) -> socket.socket:
    """POST `body` to the chat route over a bare socket, so the test decides when the connection closes."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    request = (
        f"POST {CHAT} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock.sendall(request + body)
    return sock


def test_client_disconnect_closes_the_upstream_stream(emu_server: LiveServer, emulator: Emulator) -> None:
    # Its own model name: a stream an earlier test left may be noticed gone by the emulator while this one runs.
    emulator.script("left", Reply(text=" ".join(["word"] * 50), chunk_delay=0.1))
    body = json.dumps({"model": "emu/left", "messages": USER, "stream": True}).encode()
    sock = send_raw(emu_server, body)
    assert b"200 OK" in sock.recv(4096)
    sock.close()
    assert emulator.wait_until(lambda: "left" in emulator.disconnects, timeout=3), "upstream stream was not closed"
    assert emulator.disconnects.count("left") == 1


def test_a_client_leaving_a_silent_stream_is_noticed_before_the_next_token(
    emu_server: LiveServer, emulator: Emulator
) -> None:
    """Between tokens nothing is sent, so only the watcher can see the client leave: the upstream must be closed
    before the next token arrives (1.5 s later), not when that token fails to be written."""
    emulator.script("silent", Reply(text="one two three", chunk_delay=1.5))
    body = json.dumps({"model": "emu/silent", "messages": USER, "stream": True}).encode()
    sock = send_raw(emu_server, body)
    assert b"200 OK" in sock.recv(4096)  # sent with the first token
    sock.close()
    # The emulator notices a closed connection at its next write, 1.5 s after the first token: with the
    # upstream closed at once, that write fails; without, ours would only fail then, and the emulator's a
    # further 1.5 s later.
    assert emulator.wait_until(lambda: "silent" in emulator.disconnects, timeout=2.4), "upstream was not closed"


def test_metrics_count_requests_tokens_and_fallbacks(emu_server: LiveServer, emulator: Emulator) -> None:
    emulator.script("m1", Reply(text=None, status=503, error={"code": 503, "message": "busy"}))
    body = json.dumps({"model": "emu/m1", "messages": USER, "models": ["emu/m2"]})
    assert post(emu_server, CHAT, body).status_code == 200
    text = httpx2.get(emu_server.url + "/metrics").text
    assert 'wikismith_http_requests_total{method="POST",route="/v1/chat/completions",status="200"} 1.0' in text
    assert 'wikismith_llm_tokens_total{kind="completion",target="emu/m2"}' in text
    assert 'wikismith_llm_fallbacks_total{target="emu/m1"} 1.0' in text
    assert "wikismith_http_request_seconds_bucket" in text
    assert "# TYPE wikismith_ratelimit_waits_total counter" in text


def test_request_id_is_echoed_or_generated(emu_server: LiveServer) -> None:
    given = httpx2.get(emu_server.url + "/health", headers={"x-request-id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    bad = httpx2.get(emu_server.url + "/health", headers={"x-request-id": "bad id\twith junk"})
    assert bad.headers["x-request-id"] != "bad id\twith junk" and len(bad.headers["x-request-id"]) == 16


def test_cors_is_off_by_default_and_never_wildcard_with_credentials(start_server: ServerFactory) -> None:
    from tests.server.conftest import scripted_providers

    plain = start_server(scripted_providers())
    assert (
        "access-control-allow-origin" not in httpx2.get(plain.url + "/health", headers={"origin": "http://x"}).headers
    )
    wild = start_server(scripted_providers(), WIKISMITH_CORS_ORIGINS="*")
    headers = httpx2.get(wild.url + "/health", headers={"origin": "http://x"}).headers
    assert headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in headers
    named = start_server(scripted_providers(), WIKISMITH_CORS_ORIGINS="http://ui.example")
    headers = httpx2.get(named.url + "/health", headers={"origin": "http://ui.example"}).headers
    assert headers["access-control-allow-origin"] == "http://ui.example"
    assert headers["access-control-allow-credentials"] == "true"
    fast = httpx2.get(named.url + "/v1/models", headers={"origin": "http://ui.example"}).headers
    assert fast["access-control-allow-origin"] == "http://ui.example"
    other = httpx2.get(named.url + "/health", headers={"origin": "http://evil.example"}).headers
    assert "access-control-allow-origin" not in other


def test_parallel_requests_are_served_concurrently(emu_server: LiveServer, emulator: Emulator) -> None:
    emulator.script("m1", *[Reply(text="slow", delay=0.3) for _ in range(8)])
    body = json.dumps({"model": "emu/m1", "messages": USER})
    results: list[int] = []

    def call() -> None:
        results.append(post(emu_server, CHAT, body).status_code)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == [200] * 8


def test_custom_model_names_do_not_grow_metric_labels(emu_server: LiveServer) -> None:
    for name in ("emu/custom-1", "emu/custom-2"):
        assert post(emu_server, CHAT, json.dumps({"model": name, "messages": USER})).status_code == 200
    text = httpx2.get(emu_server.url + "/metrics").text
    assert 'wikismith_llm_calls_total{outcome="ok",target="emu/other"} 2.0' in text
    assert "custom-1" not in text


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"model": "emu", "input": []}, 400, ("1 to 2048",)),
        ({"model": "emu", "input": [""]}, 400, ("empty",)),
        ({"model": "emu", "input": [1, 2]}, 400, ("input",)),
        ({"model": "emu", "input": "x", "encoding_format": "int8"}, 400, ("encoding_format",)),
    ],
)
def test_bad_embedding_requests_are_400(
    emu_server: LiveServer, emulator: Emulator, body: dict[str, object], status: int, words: tuple[str, ...]
) -> None:
    assert_openai_error(post(emu_server, "/v1/embeddings", json.dumps(body)), status, *words)
    assert not [r for r in emulator.requests if r.path.endswith("/embeddings")]


def test_embedding_dimensions_must_match_the_embedder(emu_server: LiveServer) -> None:
    body = json.dumps({"model": "emu", "input": "x", "dimensions": 3})
    assert_openai_error(post(emu_server, "/v1/embeddings", body), 400, "16-dimensional")
    assert_openai_error(post(emu_server, "/v1/embeddings", body), 400, "16-dimensional")  # now known up front


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize("path", [CHAT, "/v1/embeddings", "/chat/completions/stream"])
def test_a_client_gone_mid_body_is_no_server_error(emu_server: LiveServer, emulator: Emulator, path: str) -> None:
    """Headers promise 200 bytes, 10 come, the client leaves: nothing to answer, nothing to log as a failure
    (uvicorn's own logger does not reach the root one, so both are watched)."""
    records = _Records()
    watched = [logging.getLogger(), logging.getLogger("uvicorn.error")]
    for logger in watched:
        logger.addHandler(records)
    try:
        sock = socket.create_connection(("127.0.0.1", emu_server.port))
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
        sock.sendall(head.encode() + b'{"model": ')
        time.sleep(0.1)  # the route is waiting for the rest of the body
        sock.close()
        time.sleep(0.3)
        assert post(emu_server, CHAT, json.dumps({"model": "emu/m1", "messages": USER})).status_code == 200
    finally:
        for logger in watched:
            logger.removeHandler(records)
    assert [r.getMessage() for r in records.records] == []
    assert emulator.chat_requests()[-1].json["messages"] == USER  # only the whole request went upstream
