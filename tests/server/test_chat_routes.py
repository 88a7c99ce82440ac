"""DeepWiki's RAG chat routes (`POST /chat/completions/stream`, `WS /ws/chat`) over the emulator, on a local
repository under WIKISMITH_LOCAL_ROOTS, embedded by the emulator's /embeddings."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx2
import pytest

from tests.server.conftest import API_KEY, LiveServer, ServerFactory, emulator_providers
from tests.support.emulator import DEFAULT_TEXT, Emulator, Reply, error, mid_stream_error

STREAM = "/chat/completions/stream"
TYPED = {"events": "typed"}  # wikismith's typed SSE, asked for in the query (no DeepWiki client sends it)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "roots" / "demo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "auth.py").write_text("def login(user, password):\n    return check(user, password)\n")
    (root / "README.md").write_text("# Demo\nA demo project about auth.\n")
    return root


@pytest.fixture
def chat_server(start_server: ServerFactory, emulator: Emulator, repo: Path) -> LiveServer:
    return start_server(emulator_providers(emulator.base_url), WIKISMITH_LOCAL_ROOTS=str(repo.parent))


def chat_body(repo: Path | str, text: str = "How does auth work?", **extra: Any) -> dict[str, Any]:
    return {
        "repo_url": str(repo), "type": "local", "provider": "emu", "model": "m1", "language": "en",
        "messages": [{"role": "user", "content": text}], **extra,
    }  # fmt: skip


def test_plain_text_stream_is_the_answer_and_the_prompt_has_the_context(
    chat_server: LiveServer, emulator: Emulator, repo: Path
) -> None:
    response = httpx2.post(chat_server.url + STREAM, json=chat_body(repo), timeout=30)
    assert response.status_code == 200, response.text
    assert response.text == DEFAULT_TEXT
    prompt = json.dumps(emulator.chat_requests()[-1].json["messages"])
    assert "src/auth.py" in prompt and "How does auth work?" in prompt
    # Counted once the upstream's stream has ended, which may be just after the answer has reached the client.
    counted = 'wikismith_llm_calls_total{outcome="ok",target="emu/m1"} 1.0'
    assert emulator.wait_until(lambda: counted in httpx2.get(chat_server.url + "/metrics").text, timeout=3)


def test_the_answer_ends_when_it_is_complete_not_when_the_upstream_closes(
    chat_server: LiveServer, emulator: Emulator, repo: Path
) -> None:
    """An upstream that stays open after its last event (a slow proxy) does not hold the DeepWiki client."""
    assert httpx2.post(chat_server.url + STREAM, json=chat_body(repo), timeout=30).status_code == 200  # indexed
    for params in ({}, TYPED):
        emulator.script("m1", Reply(text="short answer", linger=0.9))
        started = time.monotonic()
        response = httpx2.post(chat_server.url + STREAM, json=chat_body(repo), params=params, timeout=30)
        took = time.monotonic() - started
        assert response.status_code == 200 and "answer" in response.text
        assert took < 0.8, f"the response waited for the upstream to close ({took:.2f} s)"
        if params:
            assert response.text.rstrip().split("\n\n")[-1].startswith("event: done")


def test_the_deepwiki_front_ends_fallback_request_gets_raw_text_whatever_it_accepts(
    chat_server: LiveServer, emulator: Emulator, repo: Path
) -> None:
    """src/app/api/chat/stream/route.ts posts with `Accept: text/event-stream` and appends the bytes it reads to
    the answer: they must be the answer's text, as DeepWiki sends it (under DeepWiki's content type)."""
    emulator.script("m1", Reply(text="Wiki structure: <wiki_structure>...</wiki_structure>"))
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    body = json.dumps({**chat_body(repo), "custom_model": ""})  # JSON.stringify(requestBody)
    response = httpx2.post(chat_server.url + STREAM, content=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.text == "Wiki structure: <wiki_structure>...</wiki_structure>"
    assert response.headers["content-type"].startswith("text/event-stream")
    refused = httpx2.post(chat_server.url + STREAM, content=body, headers=headers, params={"events": "yes"})
    assert refused.status_code == 422 and "events" in refused.json()["detail"]


def test_sse_stream_has_typed_events(chat_server: LiveServer, repo: Path) -> None:
    response = httpx2.post(chat_server.url + STREAM, json=chat_body(repo), params=TYPED, timeout=30)
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in response.text.split("\n\n") if f]
    names = [f.split("\n")[0].removeprefix("event: ") for f in frames]
    assert names[0] == "sources" and names[-1] == "done"
    assert "delta" in names and "usage" in names
    sources = json.loads(frames[0].split("data: ", 1)[1])["sources"]
    assert {s["path"] for s in sources} >= {"src/auth.py"}
    assert set(sources[0]) == {"path", "start_line", "end_line", "score", "symbol"}  # symbol: the code map's path
    text = "".join(
        json.loads(f.split("data: ", 1)[1])["text"] for f, n in zip(frames, names, strict=True) if n == "delta"
    )
    assert text == DEFAULT_TEXT
    done = json.loads(frames[-1].split("data: ", 1)[1])
    assert done == {"finish_reason": "stop", "target": "emu/m1"}


def test_sse_mid_stream_error_is_a_final_error_event(chat_server: LiveServer, emulator: Emulator, repo: Path) -> None:
    emulator.script("m1", mid_stream_error("partial words"))
    response = httpx2.post(chat_server.url + STREAM, json=chat_body(repo), params=TYPED, timeout=30)
    last = [f for f in response.text.split("\n\n") if f][-1]
    assert last.startswith("event: error")
    assert json.loads(last.split("data: ", 1)[1])["error"]["code"] == "stream_interrupted"


def test_model_error_before_the_answer_is_an_http_status(
    chat_server: LiveServer, emulator: Emulator, repo: Path
) -> None:
    emulator.script("m1", error(401, "bad upstream key"))
    response = httpx2.post(chat_server.url + STREAM, json=chat_body(repo), timeout=30)
    assert response.status_code == 401 and "bad upstream key" in response.json()["detail"]


@pytest.mark.parametrize(
    ("messages", "detail"),
    [
        ([], "No messages provided"),
        ([{"role": "assistant", "content": "x"}], "Last message must be from the user"),
        ([{"role": "user", "content": " \n"}], "The last message is empty: ask a question"),
    ],
)
def test_bad_messages_are_refused_before_any_work(
    chat_server: LiveServer, emulator: Emulator, repo: Path, messages: list[Any], detail: str
) -> None:
    response = httpx2.post(chat_server.url + STREAM, json={**chat_body(repo), "messages": messages})
    assert response.status_code == 400 and response.json()["detail"] == detail
    assert emulator.requests == []  # nothing embedded, nothing asked


@pytest.mark.parametrize(
    ("repo_url", "status", "words"),
    [
        ("file:///etc", 400, "file://"),
        ("http://127.0.0.1:9/o/r", 400, "not allowed"),
        ("https://localhost/o/r", 400, "not allowed"),
        ("/etc", 400, "outside the allowed local roots"),
    ],
)
def test_unsafe_repositories_are_refused_with_no_side_effect(
    chat_server: LiveServer, emulator: Emulator, tmp_path: Path, repo_url: str, status: int, words: str
) -> None:
    body = {**chat_body(repo_url), "type": "github" if "://" in repo_url else "local"}
    response = httpx2.post(chat_server.url + STREAM, json=body)
    assert response.status_code == status and words in response.json()["detail"], response.text
    assert emulator.requests == []
    assert not (tmp_path / "home" / "repos").exists() or not any((tmp_path / "home" / "repos").iterdir())


def test_unknown_provider_is_refused_before_any_work(chat_server: LiveServer, emulator: Emulator, repo: Path) -> None:
    response = httpx2.post(chat_server.url + STREAM, json={**chat_body(repo), "provider": "nope"})
    assert response.status_code == 404 and "unknown provider 'nope'" in response.json()["detail"]
    assert emulator.requests == []


def test_wrong_types_are_422(chat_server: LiveServer) -> None:
    response = httpx2.post(chat_server.url + STREAM, json={"repo_url": 5, "messages": "hi"})
    assert response.status_code == 422 and "invalid request" in response.json()["detail"]


async def test_websocket_sends_text_frames_then_closes(chat_server: LiveServer, repo: Path) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(chat_server.url + "/ws/chat") as ws:
        await ws.send_str(json.dumps(chat_body(repo)))
        frames = [msg.data async for msg in ws if msg.type == aiohttp.WSMsgType.TEXT]
        assert ws.close_code == 1000
    assert "".join(frames) == DEFAULT_TEXT


async def test_websocket_closes_when_the_answer_is_complete_not_when_the_upstream_closes(
    chat_server: LiveServer, emulator: Emulator, repo: Path
) -> None:
    """An upstream that stays open after its last event does not hold the socket open; the call is still counted
    once that upstream has ended (the client's reply to the close does not cancel it)."""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(chat_server.url + "/ws/chat") as ws:  # the first call indexes the repository
            await ws.send_str(json.dumps(chat_body(repo)))
            assert [msg.data async for msg in ws if msg.type == aiohttp.WSMsgType.TEXT]
        emulator.script("m1", Reply(text="short answer", linger=0.9))
        started = time.monotonic()
        async with session.ws_connect(chat_server.url + "/ws/chat") as ws:
            await ws.send_str(json.dumps(chat_body(repo)))
            frames = [msg.data async for msg in ws if msg.type == aiohttp.WSMsgType.TEXT]
            took = time.monotonic() - started
            assert ws.close_code == 1000
    assert "".join(frames) == "short answer"
    assert took < 0.8, f"the socket stayed open until the upstream closed ({took:.2f} s)"
    counted = 'wikismith_llm_calls_total{outcome="ok",target="emu/m1"} 2.0'
    metrics = chat_server.url + "/metrics"
    assert await asyncio.to_thread(emulator.wait_until, lambda: counted in httpx2.get(metrics).text, 3)


async def test_websocket_errors_are_error_frames(chat_server: LiveServer, emulator: Emulator, repo: Path) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(chat_server.url + "/ws/chat") as ws:
        await ws.send_str(json.dumps({**chat_body(repo), "messages": []}))
        frames = [msg.data async for msg in ws if msg.type == aiohttp.WSMsgType.TEXT]
    assert frames == ["Error: No messages provided"]
    assert emulator.requests == []


async def test_websocket_disconnect_cancels_the_model_call(
    chat_server: LiveServer, emulator: Emulator, repo: Path
) -> None:
    emulator.script("m1", Reply(text=" ".join(["word"] * 40), chunk_delay=0.1))
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(chat_server.url + "/ws/chat")
        await ws.send_str(json.dumps(chat_body(repo)))
        first = await ws.receive(timeout=20)
        assert first.type == aiohttp.WSMsgType.TEXT
        await ws.close()
    assert await asyncio.to_thread(emulator.wait_until, lambda: emulator.disconnects, 3)


def test_plain_text_mid_stream_error_ends_the_body_incomplete(
    chat_server: LiveServer, emulator: Emulator, repo: Path
) -> None:
    emulator.script("m1", mid_stream_error("partial words"))
    received: list[bytes] = []
    with (
        pytest.raises(httpx2.RemoteProtocolError),
        httpx2.stream("POST", chat_server.url + STREAM, json=chat_body(repo), timeout=30) as response,
    ):
        received.extend(response.iter_bytes())
    assert b"".join(received).startswith(b"partial") and b"Error" not in b"".join(received)


def test_http_chat_needs_a_gateway_key_when_keys_are_set(
    start_server: ServerFactory, emulator: Emulator, repo: Path
) -> None:
    server = start_server(
        emulator_providers(emulator.base_url), WIKISMITH_LOCAL_ROOTS=str(repo.parent), WIKISMITH_API_KEYS=API_KEY
    )
    refused = httpx2.post(server.url + STREAM, json=chat_body(repo), timeout=30)
    assert refused.status_code == 401 and emulator.requests == []
    headers = {"authorization": f"Bearer {API_KEY}"}
    answered = httpx2.post(server.url + STREAM, json=chat_body(repo), headers=headers, timeout=30)
    assert answered.status_code == 200 and answered.text == DEFAULT_TEXT


async def test_websocket_needs_a_gateway_key_when_keys_are_set(
    start_server: ServerFactory, emulator: Emulator, repo: Path
) -> None:
    server = start_server(
        emulator_providers(emulator.base_url), WIKISMITH_LOCAL_ROOTS=str(repo.parent), WIKISMITH_API_KEYS=API_KEY
    )
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(server.url + "/ws/chat") as ws:
            await ws.send_str(json.dumps(chat_body(repo)))
            refused = [msg.data async for msg in ws if msg.type == aiohttp.WSMsgType.TEXT]
        async with session.ws_connect(f"{server.url}/ws/chat?api_key={API_KEY}") as ws:
            await ws.send_str(json.dumps(chat_body(repo)))
            answered = [msg.data async for msg in ws if msg.type == aiohttp.WSMsgType.TEXT]
    assert refused == ["Error: missing API key: send Authorization: Bearer <key>"]
    assert "".join(answered) == DEFAULT_TEXT


async def test_websocket_malformed_json_is_an_error_frame(chat_server: LiveServer, emulator: Emulator) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(chat_server.url + "/ws/chat") as ws:
        await ws.send_str("{not json")
        frames = [msg.data async for msg in ws if msg.type == aiohttp.WSMsgType.TEXT]
    assert len(frames) == 1 and frames[0].startswith("Error: request body is not valid JSON")
    assert emulator.requests == []


def test_too_many_messages_is_400(start_server: ServerFactory, emulator: Emulator, repo: Path) -> None:
    server = start_server(
        emulator_providers(emulator.base_url), WIKISMITH_LOCAL_ROOTS=str(repo.parent), WIKISMITH_MAX_MESSAGES="2"
    )
    turns = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
    response = httpx2.post(server.url + STREAM, json={**chat_body(repo), "messages": turns})
    assert response.status_code == 400 and "too many messages" in response.json()["detail"]
    assert emulator.requests == []


@pytest.mark.parametrize("file_path", ["src/a\x00b.py", "loop.py"])
def test_a_file_path_that_cannot_be_read_is_no_context_not_a_failure(
    chat_server: LiveServer, emulator: Emulator, repo: Path, file_path: str
) -> None:
    """As `../` and absolute paths already are: a NUL byte, a symlink loop."""
    (repo / "loop.py").symlink_to(repo / "loop.py")
    response = httpx2.post(chat_server.url + STREAM, json=chat_body(repo, filePath=file_path), timeout=30)
    assert response.status_code == 200, response.text
    assert response.text == DEFAULT_TEXT


async def test_websocket_takes_its_request_in_a_binary_frame(chat_server: LiveServer, repo: Path) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(chat_server.url + "/ws/chat") as ws:
        await ws.send_bytes(json.dumps(chat_body(repo)).encode())
        frames = [msg.data async for msg in ws if msg.type == aiohttp.WSMsgType.TEXT]
        assert ws.close_code == 1000
    assert "".join(frames) == DEFAULT_TEXT
