"""The MCP server at `/mcp` of the real app (uvicorn on 127.0.0.1), driven by the official SDK's client over
streamable HTTP, on a wiki generated through the provider emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent, TextResourceContents

from tests.server.conftest import API_KEY, LiveServer
from tests.server.mcp_wiki import Generated, fresh, generate, script_wiki
from tests.support.emulator import Emulator, Reply, error
from wikismith.config.models import load_config
from wikismith.config.settings import Settings
from wikismith.server import create_app

TOOLS = {"read_wiki_structure", "read_wiki_contents", "ask_question", "search_code", "generate_wiki", "wiki_status"}


@pytest.fixture(scope="module")
def wiki(tmp_path_factory: pytest.TempPathFactory, emulator_server: Emulator) -> Generated:
    return generate(tmp_path_factory.mktemp("mcp-http"), emulator_server)


def serve(wiki: Generated, **env: str) -> LiveServer:
    settings = Settings.from_env(wiki.env(WIKISMITH_LOCAL_ROOTS=str(wiki.root), **env))
    return LiveServer(create_app(settings, load_config(wiki.config, settings.env))).start()


@pytest.fixture(scope="module")
def url(wiki: Generated) -> Iterator[str]:
    server = serve(wiki)
    yield f"{server.url}/mcp"
    server.stop()


def text(result: CallToolResult) -> str:
    assert len(result.content) == 1 and isinstance(result.content[0], TextContent)
    return result.content[0].text


async def test_lists_the_tools_and_every_cached_wiki_page_as_a_resource(url: str) -> None:
    async with Client(url) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        resources = (await client.list_resources()).resources
        templates = (await client.list_resource_templates()).resource_templates
    assert set(tools) == TOOLS
    assert tools["read_wiki_structure"].input_schema["required"] == ["repoName"]
    assert "ctx" not in tools["ask_question"].input_schema["properties"]
    assert [(str(r.uri), r.title) for r in resources] == [
        ("wikismith://local/calcpkg/page-1", "Overview"),
        ("wikismith://local/calcpkg/page-2", "Operations & Parsing"),
        ("wikismith://local/calcpkg/page-3", "Command line"),
    ]
    assert resources[1].description == "The operations add numbers, each scaled by its index."
    assert [t.uri_template for t in templates] == ["wikismith://{owner}/{repo}/{page_id}"]


async def test_clients_of_the_initialize_handshake_era_are_served_too(url: str) -> None:
    async with Client(url, mode="legacy") as client:  # what today's agents speak (protocol 2025-xx)
        version = client.protocol_version
        result = await client.call_tool("read_wiki_contents", {"repoName": "calcpkg", "page": "page-1"})
    assert version.startswith("2025-")
    assert not result.is_error and "It adds." in text(result)


async def test_structure_names_sections_pages_and_one_line_each(url: str, wiki: Generated) -> None:
    async with Client(url) as client:
        by_name = text(await client.call_tool("read_wiki_structure", {"repoName": "calcpkg"}))
        by_path = await client.call_tool("read_wiki_structure", {"repoName": str(wiki.repo)})
        by_key = await client.call_tool("read_wiki_structure", {"repoName": "local/calcpkg"})
    assert by_name.startswith("# calcpkg & friends\nA calculator\n")
    assert f"Repository: {wiki.repo} · language en · 3 pages · model emu/m" in by_name
    assert "- page-2: Operations & Parsing — The operations add numbers, each scaled by its index." in by_name
    assert "- page-3: Command line — The command line prints its arguments." in by_name
    assert text(by_path) == text(by_key) == by_name


async def test_contents_of_one_page_and_of_all_pages(url: str) -> None:
    async with Client(url) as client:
        one = text(await client.call_tool("read_wiki_contents", {"repoName": "calcpkg", "page": "page-3"}))
        by_title = text(await client.call_tool("read_wiki_contents", {"repoName": "calcpkg", "page": "command LINE"}))
        every = text(await client.call_tool("read_wiki_contents", {"repoName": "calcpkg"}))
        missing = await client.call_tool("read_wiki_contents", {"repoName": "calcpkg", "page": "page-9"})
    assert "The command line prints its arguments." in one and "Operations" not in one
    assert by_title == one
    assert every.index("# Overview") < every.index("# Operations") < every.index("# Command line")
    assert "cut at" not in every
    assert missing.is_error and "no page 'page-9'; its pages are: page-1, page-2, page-3" in text(missing)


async def test_ask_question_answers_through_the_router_with_sources_and_progress(
    url: str, emulator_server: Emulator
) -> None:
    emulator_server.script("m", Reply(text="Each op adds b times its index (calc/ops.py:1-4)."))
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async with Client(url) as client:
        result = await client.call_tool(
            "ask_question", {"repoName": "calcpkg", "question": "How do the ops add?"}, progress_callback=on_progress
        )
    answer = text(result)
    assert not result.is_error
    assert answer.startswith("Each op adds b times its index (calc/ops.py:1-4).\n\nSources:\n- calc/ops.py:")
    assert "How do the ops add?" in emulator_server.chat_requests()[-1].json["messages"][-1]["content"]
    assert [p[0] for p in progress] == [0, 1, 2, 3] and progress[-1] == (3, 3, "answered")


async def test_search_code_returns_excerpts_with_paths_and_lines_without_a_model_call(
    url: str, emulator_server: Emulator
) -> None:
    before = len(emulator_server.chat_requests())
    async with Client(url) as client:
        result = text(await client.call_tool("search_code", {"repoName": "calcpkg", "query": "op_3", "k": 3}))
    assert result.startswith("3 excerpts of ")
    assert any(f"{name}:1-" in result for name in ("calc/ops.py", "cli.py", "README.md", "calc/parser.py"))
    assert "```" in result
    assert len(emulator_server.chat_requests()) == before


async def test_unknown_repositories_are_tool_errors_that_say_what_to_do(url: str, tmp_path: Path) -> None:
    async with Client(url) as client:
        github = await client.call_tool("read_wiki_structure", {"repoName": "octo/nothing"})
        name = await client.call_tool("ask_question", {"repoName": "nothing-here", "question": "why?"})
        outside = await client.call_tool("search_code", {"repoName": str(tmp_path), "query": "x"})
        after = await client.call_tool("read_wiki_structure", {"repoName": "calcpkg"})
    assert github.is_error and "no wiki for octo/nothing yet: call generate_wiki or run" in text(github)
    assert "`wikismith generate https://github.com/octo/nothing`" in text(github)
    assert name.is_error and "no repository named 'nothing-here': give owner/repo" in text(name)
    assert outside.is_error and "outside the allowed local roots" in text(outside)
    assert not after.is_error  # the session carries on


async def test_a_provider_error_is_a_tool_error_naming_it(url: str, emulator_server: Emulator) -> None:
    emulator_server.script("m", error(401, "User not found."))
    async with Client(url) as client:
        failed = await client.call_tool("ask_question", {"repoName": "calcpkg", "question": "why?"})
        unknown_model = await client.call_tool(
            "ask_question", {"repoName": "calcpkg", "question": "why?", "model": "nosuch/model"}
        )
    assert failed.is_error and "the model call failed:" in text(failed) and "401" in text(failed)
    assert unknown_model.is_error and "nosuch" in text(unknown_model)


async def test_wiki_pages_read_as_resources(url: str) -> None:
    async with Client(url) as client:
        page = (await client.read_resource("wikismith://local/calcpkg/page-2")).contents[0]
        with pytest.raises(MCPError, match="no page 'page-7'"):
            await client.read_resource("wikismith://local/calcpkg/page-7")
    assert isinstance(page, TextResourceContents) and page.mime_type == "text/markdown"
    assert "The operations add numbers" in page.text


async def test_two_clients_at_once_get_their_own_answers(url: str, emulator_server: Emulator) -> None:
    emulator_server.script("m", Reply(text="first answer", delay=0.3), Reply(text="second answer"))

    async def ask(question: str) -> str:
        async with Client(url) as client:
            return text(await client.call_tool("ask_question", {"repoName": "calcpkg", "question": question}))

    async def structure() -> str:
        async with Client(url) as client:
            return text(await client.call_tool("read_wiki_structure", {"repoName": "calcpkg"}))

    first, second, outline = await asyncio.gather(ask("one?"), ask("two?"), structure())
    assert {first.split("\n")[0], second.split("\n")[0]} == {"first answer", "second answer"}
    assert outline.startswith("# calcpkg & friends")


async def test_with_gateway_keys_mcp_needs_one(wiki: Generated) -> None:
    server = serve(wiki, WIKISMITH_API_KEYS=API_KEY)
    try:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        refused = httpx2.post(f"{server.url}/mcp", json=body, headers={"accept": "application/json, text/event-stream"})
        with pytest.raises(BaseException) as failed:
            async with Client(f"{server.url}/mcp") as client:
                await client.list_tools()
        assert failed.group_contains(MCPError, match="error response")  # the SDK's word for the 401
        keyed = httpx2.AsyncClient(headers={"authorization": f"Bearer {API_KEY}"})
        async with keyed, Client(streamable_http_client(f"{server.url}/mcp", http_client=keyed)) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
    finally:
        server.stop()
    assert refused.status_code == 401 and "missing API key" in refused.json()["detail"]
    assert tools == TOOLS


def test_a_foreign_host_or_origin_is_refused_unless_allowed(wiki: Generated) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    accept = {"accept": "application/json, text/event-stream"}
    server = serve(wiki, WIKISMITH_MCP_ALLOWED_HOSTS="wiki.internal:*")
    try:
        bad_host = httpx2.post(f"{server.url}/mcp", json=body, headers={**accept, "host": "rebound.example"})
        bad_origin = httpx2.post(f"{server.url}/mcp", json=body, headers={**accept, "origin": "https://evil.example"})
        allowed = httpx2.post(f"{server.url}/mcp", json=body, headers={**accept, "host": "wiki.internal:8001"})
    finally:
        server.stop()
    assert (bad_host.status_code, bad_origin.status_code) == (421, 403)
    assert allowed.status_code == 200


async def test_generate_wiki_runs_a_server_job_followed_with_progress(
    wiki: Generated, tmp_path: Path, emulator_server: Emulator
) -> None:
    made = fresh(tmp_path, wiki)
    server = serve(made)
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    try:
        async with Client(f"{server.url}/mcp") as client:
            before = text(await client.call_tool("wiki_status", {"repoName": "fresh"}))
            missing = await client.call_tool("read_wiki_structure", {"repoName": "fresh"})
            script_wiki(emulator_server)
            started = await client.call_tool(
                "generate_wiki", {"repoName": "fresh", "wait": True}, progress_callback=on_progress
            )
            after = text(await client.call_tool("wiki_status", {"repoName": "fresh"}))
            structure = text(await client.call_tool("read_wiki_structure", {"repoName": "fresh"}))
            listed = httpx2.get(f"{server.url}/api/jobs").json()["jobs"]
    finally:
        server.stop()
    assert before.startswith("No generation of ") and "No wiki of" in before
    assert missing.is_error and "call generate_wiki" in text(missing)
    assert not started.is_error and "done · emu/m · en, concise · 3 of 3 pages done" in text(started)
    assert "A wiki of" in text(started) and "is cached (3 pages, en)" in text(started)
    assert progress[-1] == (3, 3, "finished: 3 pages") and (1, 3) in [p[:2] for p in progress]
    assert after.startswith("job ") and ": done · " in after and "- page page-2 (Operations & Parsing): done" in after
    assert structure.startswith("# calcpkg & friends")
    assert [job["state"] for job in listed] == ["done"]  # the server's own job list: one queue


async def test_generate_wiki_refuses_bad_input_before_any_work(url: str) -> None:
    async with Client(url) as client:
        language = await client.call_tool("generate_wiki", {"repoName": "calcpkg", "language": "xx"})
        model = await client.call_tool("generate_wiki", {"repoName": "calcpkg", "model": "nosuch/model"})
    assert language.is_error and "unsupported language 'xx'" in text(language)
    assert model.is_error and "nosuch" in text(model)
