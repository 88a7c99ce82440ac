"""A job outlives its server: `wikismith serve` killed with SIGKILL mid-run, started again, resumes the job by
itself from the wiki's manifest; no page is generated twice (the emulator's request log says so)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.server.conftest import write_embedder, write_generator
from tests.server.test_jobs import JOBS, TOKEN, follow, job_of, providers, wait_for, write_repo
from tests.server.test_serve_cli import free_port
from tests.support.emulator import Emulator, Reply
from tests.wiki.test_cli import topics
from tests.wiki.test_generator import STRUCTURE

WIKISMITH = [sys.executable, "-c", "from wikismith.cli.app import main; main()"]


class Served:
    """`wikismith serve` as a user runs it, on a free port; started and killed by the test."""

    def __init__(self, tmp_path: Path, emulator: Emulator) -> None:
        config = tmp_path / "config"
        write_generator(config, providers(emulator))
        write_embedder(config)
        self.roots = tmp_path / "repos"
        self.roots.mkdir()
        self.home = tmp_path / "home"
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("WIKISMITH_", "DEEPWIKI_"))}
        self.env.update(
            WIKISMITH_HOME=str(self.home),
            WIKISMITH_CONFIG_DIR=str(config),
            WIKISMITH_LOCAL_ROOTS=str(self.roots),
            WIKISMITH_CATALOGUE_REFRESH="0",
        )
        self.process: subprocess.Popen[str] | None = None
        self.logs: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [*WIKISMITH, "serve", "--port", str(self.port), "--log-level", "debug"]
        self.process = subprocess.Popen(command, env=self.env, stderr=subprocess.PIPE, text=True)

        def up() -> bool:
            assert self.process is not None and self.process.poll() is None, "the server exited"
            try:
                return httpx2.get(self.url + "/health", timeout=1).status_code == 200
            except httpx2.TransportError:
                return False

        wait_for(up, timeout=60)

    def stop(self, sig: int) -> None:
        if self.process is None:
            return
        self.process.send_signal(sig)
        _, stderr = self.process.communicate(timeout=30)
        self.logs.append(stderr)
        self.process = None


@pytest.fixture
def served(tmp_path: Path, emulator: Emulator) -> Iterator[Served]:
    server = Served(tmp_path, emulator)
    yield server
    server.stop(signal.SIGKILL)


def recorded(home: Path, job_id: str) -> dict[str, Any]:
    try:
        body: dict[str, Any] = json.loads((home / "jobs" / f"{job_id}.json").read_text())
    except (OSError, ValueError):
        return {}
    return body


def page_state(home: Path, job_id: str, page_id: str) -> str | None:
    return next((p["state"] for p in recorded(home, job_id).get("pages", []) if p["id"] == page_id), None)


def test_a_job_killed_with_its_server_resumes_when_it_starts_again(served: Served, emulator: Emulator) -> None:
    repo = write_repo(served.roots, "calcpkg")
    emulator.script("m1", Reply(text=STRUCTURE), Reply(text="# Overview\n\nalpha"), Reply(text="# never", delay=15))
    served.start()
    job = httpx2.post(served.url + JOBS, json={"repo": str(repo)}, timeout=10).json()["job"]
    wait_for(lambda: page_state(served.home, job["id"], "page-1") == "done" and "topic-beta" in topics(emulator, 0))
    served.stop(signal.SIGKILL)  # mid-page: page-2 is being written
    assert recorded(served.home, job["id"])["state"] == "running"
    assert topics(emulator, 0) == ["structure", "topic-alpha", "topic-beta"]

    emulator.script("m1", Reply(text="# Operations\n\nbeta"), Reply(text="# Command line\n\ngamma"))
    served.start()  # nothing asked of it: it finds the job and resumes it
    events = follow(served.url, job["id"])  # the whole story, from before the kill too
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "finished" and kinds.count("started") == 2
    assert kinds.index("interrupted") < len(kinds) - 1 - kinds[::-1].index("queued")  # then queued again
    assert [data["seq"] for _, data in events] == list(range(1, len(events) + 1))
    assert topics(emulator, 0) == ["structure", "topic-alpha", "topic-beta", "topic-beta", "topic-gamma"]
    record = job_of(served.url, job["id"])
    assert (record["state"], record["done"], record["runs"], record["interruptions"]) == ("done", 3, 2, 1)
    assert "pages, 2 to generate" in next(d["message"] for k, d in events[::-1] if k == "structure")


def test_a_clean_stop_interrupts_the_job_and_the_next_start_resumes_it(served: Served, emulator: Emulator) -> None:
    repo = write_repo(served.roots, "calcpkg")
    emulator.script("m1", Reply(text=STRUCTURE, delay=15))
    served.start()
    job = httpx2.post(served.url + JOBS, json={"repo": str(repo)}, timeout=10).json()["job"]
    wait_for(lambda: emulator.chat_requests())
    served.stop(signal.SIGINT)
    record = recorded(served.home, job["id"])
    assert record["state"] == "interrupted" and record["resume_on_start"] is True
    emulator.script("m1", Reply(text=STRUCTURE))
    served.start()
    assert follow(served.url, job["id"])[-1][0] == "finished"


def test_a_job_that_needs_its_token_waits_after_a_restart(served: Served, emulator: Emulator, tmp_path: Path) -> None:
    from tests.support.git_http import GitServer, make_repo
    from tests.wiki.conftest import REPO_FILES

    make_repo(tmp_path / "served", "acme", "calcpkg", REPO_FILES)
    (tmp_path / "config" / "repo.json").write_text(
        json.dumps({"repository": {"allowed_hosts": ["127.0.0.1"], "allow_private_hosts": True}})
    )
    emulator.script("m1", Reply(text=STRUCTURE, delay=15))
    with GitServer(tmp_path / "served", token=TOKEN) as git:
        served.start()
        body = {"repo": git.url("acme", "calcpkg"), "token": TOKEN}
        job = httpx2.post(served.url + JOBS, json=body, timeout=30).json()["job"]
        wait_for(lambda: emulator.chat_requests())
        served.stop(signal.SIGKILL)
        served.start()
        record = job_of(served.url, job["id"])
        assert record["state"] == "interrupted" and "resume the job with the token" in record["error"]
        emulator.script("m1", Reply(text=STRUCTURE))
        resumed = httpx2.post(f"{served.url}{JOBS}/{job['id']}/resume", json={"token": TOKEN}, timeout=10)
        assert resumed.status_code == 200, resumed.text
        assert follow(served.url, job["id"])[-1][0] == "finished"
        served.stop(signal.SIGINT)
    assert not any(TOKEN in log for log in served.logs)  # debug logs included
    assert [p for p in served.home.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()] == []
