"""`wikismith mcp` as an agent starts it: the installed console script as a subprocess, driven by the official
SDK's stdio client, on a wiki generated through the provider emulator."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from tests.server.mcp_wiki import WIKISMITH, Generated, fresh, generate, script_wiki
from tests.support.emulator import Emulator, Reply


@pytest.fixture(scope="module")
def wiki(tmp_path_factory: pytest.TempPathFactory, emulator_server: Emulator) -> Generated:
    return generate(tmp_path_factory.mktemp("mcp-stdio"), emulator_server)


def params(wiki: Generated, *args: str) -> StdioServerParameters:
    return StdioServerParameters(command=WIKISMITH, args=["mcp", *args], env=wiki.env(), cwd=str(wiki.root))


def text(result: CallToolResult) -> str:
    assert len(result.content) == 1 and isinstance(result.content[0], TextContent)
    return result.content[0].text


async def test_stdio_serves_the_tools_resources_and_wiki(wiki: Generated) -> None:
    async with Client(params(wiki), mode="legacy") as client:  # started in the root, whose repositories it may read
        tools = {t.name for t in (await client.list_tools()).tools}
        uris = [str(r.uri) for r in (await client.list_resources()).resources]
        structure = text(await client.call_tool("read_wiki_structure", {"repoName": "calcpkg"}))
        page = text(await client.call_tool("read_wiki_contents", {"repoName": str(wiki.repo), "page": "page-2"}))
    assert tools == {
        "read_wiki_structure", "read_wiki_contents", "ask_question", "search_code", "generate_wiki", "wiki_status",
    }  # fmt: skip
    assert uris == [f"wikismith://local/calcpkg/page-{i}" for i in (1, 2, 3)]
    assert "- page-1: Overview — It adds. See ops." in structure
    assert "The operations add numbers, each scaled by its index." in page


async def test_stdio_answers_with_progress_and_survives_errors(wiki: Generated, emulator_server: Emulator) -> None:
    emulator_server.script("m", Reply(text="main prints sys.argv (cli.py:4-5)."))
    progress: list[str | None] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    async with Client(params(wiki)) as client:
        unknown = await client.call_tool("ask_question", {"repoName": "no-such-repo", "question": "?"})
        empty = await client.call_tool("search_code", {"repoName": "  ", "query": "x"})
        both = await asyncio.gather(
            client.call_tool(
                "ask_question", {"repoName": "calcpkg", "question": "What does main do?"}, progress_callback=on_progress
            ),
            client.call_tool("search_code", {"repoName": "calcpkg", "query": "argv", "k": 1}),
        )
    assert unknown.is_error and "no repository named 'no-such-repo'" in text(unknown)
    assert empty.is_error and "repoName is empty" in text(empty)
    answer, found = (text(r) for r in both)
    assert answer.startswith("main prints sys.argv (cli.py:4-5).\n\nSources:\n- cli.py:4-5")
    assert found.startswith("1 excerpts of ") and "\n1. " in found
    assert progress[0] is not None and progress[0].startswith("opening and indexing") and progress[-1] == "answered"


def test_a_local_root_that_is_not_a_directory_exits_2(wiki: Generated) -> None:
    done = subprocess.run(
        [WIKISMITH, "mcp", "--local-root", str(wiki.root / "nope")],
        env={**wiki.env(), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--local-root must be a directory" in done.stderr


async def test_stdio_owns_a_job_queue_started_and_followed_with_wiki_status(
    wiki: Generated, tmp_path: Path, emulator_server: Emulator
) -> None:
    made = fresh(tmp_path, wiki)
    script_wiki(emulator_server)
    async with Client(params(made)) as client:
        started = text(await client.call_tool("generate_wiki", {"repoName": "fresh"}))
        deadline = time.monotonic() + 60
        status = ""
        while ": done · " not in status and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            status = text(await client.call_tool("wiki_status", {"repoName": "fresh"}))
        page = text(await client.call_tool("read_wiki_contents", {"repoName": "fresh", "page": "page-3"}))
    assert started.startswith("started: job ") and "Follow it with wiki_status(repoName)" in started
    assert "3 of 3 pages done" in status and "is cached (3 pages, en)" in status
    assert "Sources: [" in page and "not been generated" not in page  # pages run at once: any page's answer
    assert (made.home / "mcp-jobs").is_dir()  # its own records, beside (not in) a server's jobs/
