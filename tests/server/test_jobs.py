"""Generation jobs over HTTP (`/api/jobs`), served by uvicorn on loopback over the provider emulator: start,
progress events in order, one job per wiki, queueing under WIKISMITH_MAX_JOBS, cancel, resume, bad input, and
the access token never kept."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.server.conftest import API_KEY, LiveServer, ServerFactory, emulator_providers
from tests.support.emulator import Emulator, Reply, error
from tests.support.git_http import GitServer, make_repo
from tests.wiki.conftest import REPO_FILES
from tests.wiki.test_cli import topics
from tests.wiki.test_generator import STRUCTURE

JOBS = "/api/jobs"
TOKEN = "tok-SECRET-7f3a9c21e5"
Event = tuple[str, dict[str, Any]]


def write_repo(root: Path, name: str) -> Path:
    """The calcpkg repository under `root/name`, every file marked with `name` (to tell apart requests)."""
    repo = root / name
    for path, text in REPO_FILES.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(f"# {name}\n{text}\n# {name}\n")
    return repo


def providers(emulator: Emulator, **provider: Any) -> dict[str, Any]:
    """The emulator's provider, one page at a time (so scripted replies go to pages in order)."""
    emu = emulator_providers(emulator.base_url)["emu"]
    return {"emu": {**emu, "limits": {"max_concurrent": 1}, **provider}}


@pytest.fixture
def roots(tmp_path: Path) -> Path:
    root = tmp_path / "repos"
    root.mkdir()
    return root


def serve(start_server: ServerFactory, emulator: Emulator, *, custom: bool = True, **env: str) -> LiveServer:
    """The server over the emulator (no catalogue fetch at startup: the emulator sees only the jobs' calls)."""
    return start_server(providers(emulator, supportsCustomModel=custom), WIKISMITH_CATALOGUE_REFRESH="0", **env)


@pytest.fixture
def jobs_server(start_server: ServerFactory, emulator: Emulator, roots: Path) -> LiveServer:
    return serve(start_server, emulator, WIKISMITH_LOCAL_ROOTS=str(roots))


def start(server: LiveServer, **body: Any) -> httpx2.Response:
    return httpx2.post(server.url + JOBS, json=body, timeout=10)


def follow(url: str, job_id: str, *, headers: dict[str, str] | None = None, query: str = "") -> list[Event]:
    """Every event of the stream, read until the server ends it."""
    events: list[Event] = []
    kind, data = "", ""
    with httpx2.stream("GET", f"{url}{JOBS}/{job_id}/events{query}", headers=headers, timeout=60) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = line.removeprefix("data: ")
            elif not line and kind:
                events.append((kind, json.loads(data)))
                kind = ""
    return events


def job_of(url: str, job_id: str) -> dict[str, Any]:
    response = httpx2.get(f"{url}{JOBS}/{job_id}", timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def script_wiki(emulator: Emulator, *pages: Reply, structure_delay: float = 0.0) -> None:
    emulator.script("m1", Reply(text=STRUCTURE, delay=structure_delay), *(pages or (Reply(), Reply(), Reply())))


# --- a job from start to finish ------------------------------------------------------------------------------


def test_a_job_runs_to_done_with_its_events_in_order(jobs_server: LiveServer, emulator: Emulator, roots: Path) -> None:
    repo = write_repo(roots, "calcpkg")
    script_wiki(emulator)
    response = start(jobs_server, repo=str(repo))
    assert response.status_code == 202, response.text
    job = response.json()["job"]
    assert job["state"] in ("queued", "running") and job["key"].endswith("/en_concise")
    assert job["wiki"] == {"owner": "local", "repo": "calcpkg", "repo_type": "local", "language": "en",
                           "comprehensive": False}  # fmt: skip

    events = follow(jobs_server.url, job["id"])
    kinds = [kind for kind, _ in events]
    assert [data["seq"] for _, data in events] == list(range(1, len(events) + 1))
    assert kinds[:2] == ["queued", "started"] and kinds[-1] == "finished"
    assert kinds.index("structure") < kinds.index("page_started")
    assert "stage" in kinds[2 : kinds.index("structure")]  # opening, indexing, files
    for page in ("page-1", "page-2", "page-3"):
        started = next(i for i, (k, d) in enumerate(events) if k == "page_started" and d["page_id"] == page)
        done = next(i for i, (k, d) in enumerate(events) if k == "page_done" and d["page_id"] == page)
        assert started < done and events[done][1]["title"]
    dones = [data["done"] for _, data in events]
    assert dones == sorted(dones) and events[-1][1]["done"] == events[-1][1]["total"] == 3
    assert events[-1][1]["tokens"] > 0 and events[-1][1]["cost"] > 0 and events[-1][1]["wall_time"] > 0

    record = job_of(jobs_server.url, job["id"])
    assert record["state"] == "done" and record["finished"] and record["error"] is None
    assert [(p["id"], p["state"]) for p in record["pages"]] == [("page-1", "done"), ("page-2", "done"),
                                                                ("page-3", "done")]  # fmt: skip
    query = {"owner": "local", "repo": "calcpkg", "repo_type": "local", "language": "en", "comprehensive": "false"}
    cached = httpx2.get(jobs_server.url + "/api/wiki_cache", params=query).json()
    assert sorted(cached["generated_pages"]) == ["page-1", "page-2", "page-3"]  # DeepWiki's routes see it
    listed = httpx2.get(jobs_server.url + JOBS).json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]


def test_events_resume_after_the_last_event_id(jobs_server: LiveServer, emulator: Emulator, roots: Path) -> None:
    script_wiki(emulator)
    job = start(jobs_server, repo=str(write_repo(roots, "calcpkg"))).json()["job"]
    events = follow(jobs_server.url, job["id"])
    again = follow(jobs_server.url, job["id"], headers={"last-event-id": "3"})
    assert again == events[3:]
    assert follow(jobs_server.url, job["id"], query=f"?after={len(events) - 1}") == events[-1:]
    refused = httpx2.get(f"{jobs_server.url}{JOBS}/{job['id']}/events", headers={"last-event-id": "x"})
    assert refused.status_code == 400


def test_two_starts_of_one_wiki_give_one_job(jobs_server: LiveServer, emulator: Emulator, roots: Path) -> None:
    repo = write_repo(roots, "calcpkg")
    script_wiki(emulator, structure_delay=1.0)
    script_wiki(emulator)
    first = start(jobs_server, repo=str(repo))
    second = start(jobs_server, repo=str(repo) + "/", language="en")  # the same wiki, written another way
    assert first.status_code == 202 and second.status_code == 200
    assert second.json()["existing"] is True and second.json()["job"]["id"] == first.json()["job"]["id"]
    other = start(jobs_server, repo=str(repo), language="fr")  # another wiki of the same repository
    assert other.status_code == 202 and other.json()["job"]["id"] != first.json()["job"]["id"]
    assert other.json()["job"]["state"] == "queued"  # WIKISMITH_MAX_JOBS is 1
    assert follow(jobs_server.url, first.json()["job"]["id"])[-1][0] == "finished"
    assert follow(jobs_server.url, other.json()["job"]["id"])[-1][0] == "finished"
    assert topics(emulator, 0).count("structure") == 2


# --- queueing ----------------------------------------------------------------------------------------------------


def marker_order(emulator: Emulator, names: list[str]) -> list[str]:
    """Which repository each chat request was about, in the order the emulator got them."""
    found = []
    for request in emulator.chat_requests():
        text = json.dumps(request.json["messages"])
        found.append(next(name for name in names if f"# {name}" in text))
    return found


def test_jobs_beyond_max_jobs_wait_and_run_in_order(jobs_server: LiveServer, emulator: Emulator, roots: Path) -> None:
    names = ["repo-one", "repo-two", "repo-three"]
    for _ in names:
        script_wiki(emulator, structure_delay=0.3)
    ids = [start(jobs_server, repo=str(write_repo(roots, name))).json()["job"]["id"] for name in names]
    states = [job_of(jobs_server.url, job_id)["state"] for job_id in ids]
    assert states == ["running", "queued", "queued"]
    queued = follow(jobs_server.url, ids[2])
    assert queued[0][1]["message"] == "queued; 2 ahead of it" and queued[-1][0] == "finished"
    order = marker_order(emulator, names)
    assert order == ["repo-one"] * 4 + ["repo-two"] * 4 + ["repo-three"] * 4  # one whole job after another


def test_max_jobs_2_runs_two_at_once(
    start_server: ServerFactory, emulator: Emulator, roots: Path, tmp_path: Path
) -> None:
    server = serve(start_server, emulator, WIKISMITH_LOCAL_ROOTS=str(roots), WIKISMITH_MAX_JOBS="2")
    emulator.script("m1", Reply(text=STRUCTURE, delay=1.0), Reply(text=STRUCTURE, delay=1.0))
    ids = [start(server, repo=str(write_repo(roots, name))).json()["job"]["id"] for name in ("repo-one", "repo-two")]
    assert emulator.wait_until(lambda: len(emulator.chat_requests()) == 2, timeout=10)  # both structures asked
    assert [job_of(server.url, job_id)["state"] for job_id in ids] == ["running", "running"]
    for job_id in ids:
        assert follow(server.url, job_id)[-1][0] == "finished"


def test_a_bad_max_jobs_setting_is_refused_at_startup(start_server: ServerFactory, emulator: Emulator) -> None:
    from wikismith.config.models import ConfigError

    with pytest.raises(ConfigError, match="WIKISMITH_MAX_JOBS must be a positive integer"):
        serve(start_server, emulator, WIKISMITH_MAX_JOBS="0")


# --- cancel and resume -------------------------------------------------------------------------------------------


def test_cancel_a_running_job_then_resume_it(jobs_server: LiveServer, emulator: Emulator, roots: Path) -> None:
    emulator.script("m1", Reply(text=STRUCTURE, delay=20))
    job = start(jobs_server, repo=str(write_repo(roots, "calcpkg"))).json()["job"]
    assert emulator.wait_until(lambda: emulator.chat_requests(), timeout=20)
    took = time.monotonic()
    cancelled = httpx2.post(f"{jobs_server.url}{JOBS}/{job['id']}/cancel", timeout=10)
    assert cancelled.status_code == 200 and cancelled.json()["job"]["state"] == "cancelled"
    assert time.monotonic() - took < 3  # the model call is dropped, not waited for
    assert follow(jobs_server.url, job["id"])[-1][0] == "cancelled"
    again = httpx2.post(f"{jobs_server.url}{JOBS}/{job['id']}/cancel")
    assert again.status_code == 409 and "nothing to cancel" in again.json()["detail"]

    script_wiki(emulator)
    resumed = httpx2.post(f"{jobs_server.url}{JOBS}/{job['id']}/resume", timeout=10)
    assert resumed.status_code == 200 and resumed.json()["job"]["state"] in ("queued", "running")
    kinds = [kind for kind, _ in follow(jobs_server.url, job["id"])]
    assert kinds[-1] == "finished" and kinds.count("started") == 2 and "cancelled" in kinds
    assert job_of(jobs_server.url, job["id"])["runs"] == 2
    done = httpx2.post(f"{jobs_server.url}{JOBS}/{job['id']}/resume")
    assert done.status_code == 409 and "nothing to resume" in done.json()["detail"]


def test_cancel_a_waiting_job(jobs_server: LiveServer, emulator: Emulator, roots: Path) -> None:
    emulator.script("m1", Reply(text=STRUCTURE, delay=20))
    first = start(jobs_server, repo=str(write_repo(roots, "repo-one"))).json()["job"]
    second = start(jobs_server, repo=str(write_repo(roots, "repo-two"))).json()["job"]
    assert second["state"] == "queued"
    response = httpx2.post(f"{jobs_server.url}{JOBS}/{second['id']}/cancel")
    assert response.status_code == 200 and response.json()["job"]["state"] == "cancelled"
    assert [kind for kind, _ in follow(jobs_server.url, second["id"])] == ["queued", "cancelled"]
    httpx2.post(f"{jobs_server.url}{JOBS}/{first['id']}/cancel", timeout=10)
    assert marker_order(emulator, ["repo-one", "repo-two"]) == ["repo-one"]  # the cancelled one never ran


def test_failed_pages_are_named_and_a_resume_retries_only_them(
    jobs_server: LiveServer, emulator: Emulator, roots: Path
) -> None:
    script_wiki(emulator, Reply(), error(400, "bad prompt"), Reply())
    job = start(jobs_server, repo=str(write_repo(roots, "calcpkg"))).json()["job"]
    events = follow(jobs_server.url, job["id"])
    failed = [data for kind, data in events if kind == "page_failed"]
    assert [(d["page_id"], d["title"]) for d in failed] == [("page-2", "Operations & Parsing")]
    assert "bad prompt" in failed[0]["error"]
    assert events[-1][0] == "failed" and "1 of 3 pages failed" in events[-1][1]["error"]
    record = job_of(jobs_server.url, job["id"])
    assert record["state"] == "failed" and record["failed"] == 1 and record["done"] == 2
    assert {p["id"]: p["state"] for p in record["pages"]}["page-2"] == "failed"

    before = len(emulator.chat_requests())
    assert httpx2.post(f"{jobs_server.url}{JOBS}/{job['id']}/resume").status_code == 200
    assert follow(jobs_server.url, job["id"])[-1][0] == "finished"
    assert topics(emulator, before) == ["topic-beta"]  # no structure, no finished page again
    record = job_of(jobs_server.url, job["id"])
    assert (record["state"], record["done"], record["failed"]) == ("done", 3, 0)


# --- bad input -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "param", "words"),
    [
        ({"provider": "nope"}, 400, "provider", "unknown provider 'nope'"),
        ({"provider": "emu", "model": "zzz"}, 400, "model", "model 'zzz' is not configured"),
        ({"model": "nope/x"}, 400, "model", "unknown provider 'nope'"),
        ({"language": "xx"}, 400, "language", "unsupported language 'xx'"),
        ({"repo": "/etc"}, 400, "repo", "outside the allowed local roots"),
        ({"repo": "{roots}/../.."}, 400, "repo", "outside the allowed local roots"),
        ({"repo": "{roots}/missing"}, 404, "repo", "local directory not found"),
        ({"repo": "https://evil.example/o/r"}, 400, "repo", "host 'evil.example' is not allowed"),
        ({"repo": "http://github.com/o/r"}, 400, "repo", "only https://"),
        ({"repo": "file:///etc"}, 400, "repo", "file:// URLs are refused"),
        ({"repo": "https://github.com/o/r", "repo_type": "svn"}, 422, "repo_type", "Input should be"),
        ({"ref": "main"}, 400, "ref", "remote repositories only"),
        ({"colour": "red"}, 422, "colour", "Extra inputs are not permitted"),
        ({"comprehensive": "very"}, 422, "comprehensive", "valid boolean"),
        ({"repo": ""}, 422, "repo", "at least 1 character"),
    ],
)
def test_bad_input_is_refused_before_any_work(
    start_server: ServerFactory,
    emulator: Emulator,
    roots: Path,
    tmp_path: Path,
    body: dict[str, Any],
    status: int,
    param: str,
    words: str,
) -> None:
    server = serve(start_server, emulator, custom=False, WIKISMITH_LOCAL_ROOTS=str(roots))
    repo = write_repo(roots, "calcpkg")
    sent = {"repo": str(repo), **{k: v.format(roots=roots) if isinstance(v, str) else v for k, v in body.items()}}
    response = start(server, **sent)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"] and response.json()["error"]["param"] == param
    assert httpx2.get(server.url + JOBS).json() == {"jobs": []}
    assert emulator.requests == [] and list((tmp_path / "home" / "jobs").glob("*.json")) == []


def test_a_local_path_is_refused_when_no_local_root_is_set(start_server: ServerFactory, emulator: Emulator) -> None:
    server = serve(start_server, emulator)
    response = start(server, repo="/tmp")
    assert response.status_code == 400 and "WIKISMITH_LOCAL_ROOTS, which is not set" in response.json()["detail"]


def test_a_second_server_on_the_same_data_directory_leaves_the_jobs_to_the_first(
    jobs_server: LiveServer, start_server: ServerFactory, emulator: Emulator, roots: Path
) -> None:
    """Two servers (or `serve --workers 2`) would otherwise both resume the same jobs after a restart."""
    second = serve(start_server, emulator, WIKISMITH_LOCAL_ROOTS=str(roots))  # the same WIKISMITH_HOME
    response = start(second, repo=str(write_repo(roots, "calcpkg")))
    assert response.status_code == 503 and "another server process" in response.json()["detail"]
    assert httpx2.get(jobs_server.url + JOBS).status_code == 200


def test_unknown_jobs_are_404(jobs_server: LiveServer) -> None:
    for path in ("/0123456789abcdef", "/..%2f..%2fetc", "/0123456789abcdef/events"):
        assert httpx2.get(jobs_server.url + JOBS + path).status_code == 404
    for path in ("/0123456789abcdef/cancel", "/0123456789abcdef/resume"):
        assert httpx2.post(jobs_server.url + JOBS + path).status_code == 404


def test_starting_needs_a_gateway_key_when_keys_are_set(
    start_server: ServerFactory, emulator: Emulator, roots: Path
) -> None:
    server = serve(start_server, emulator, WIKISMITH_LOCAL_ROOTS=str(roots), WIKISMITH_API_KEYS=API_KEY)
    repo = str(write_repo(roots, "calcpkg"))
    assert start(server, repo=repo).status_code == 401
    script_wiki(emulator)
    allowed = httpx2.post(server.url + JOBS, json={"repo": repo}, headers={"authorization": f"Bearer {API_KEY}"})
    assert allowed.status_code == 202
    job_id = allowed.json()["job"]["id"]
    assert httpx2.post(f"{server.url}{JOBS}/{job_id}/cancel").status_code == 401
    assert follow(server.url, job_id)[-1][0] == "finished"  # reading needs no key


# --- the access token ----------------------------------------------------------------------------------------------


def files_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_the_access_token_is_used_and_never_kept(
    start_server: ServerFactory, emulator: Emulator, tmp_path: Path
) -> None:
    served = tmp_path / "served"
    make_repo(served, "acme", "calcpkg", REPO_FILES)
    config = tmp_path / "config"
    config.mkdir()
    (config / "repo.json").write_text(
        json.dumps({"repository": {"allowed_hosts": ["127.0.0.1"], "allow_private_hosts": True}})
    )
    server = serve(start_server, emulator)
    responses: list[str] = []
    with GitServer(served, token=TOKEN) as git:
        script_wiki(emulator, Reply(), error(400, "bad prompt"), Reply())
        started = start(server, repo=git.url("acme", "calcpkg"), token=TOKEN)
        assert started.status_code == 202, started.text
        job_id = started.json()["job"]["id"]
        responses += [started.text, "\n".join(json.dumps(e) for e in follow(server.url, job_id))]
        assert git.authorizations, "the token was sent to the forge"
        record = job_of(server.url, job_id)
        assert record["state"] == "failed" and record["uses_token"] is True and "token" not in record["spec"]

        refused = httpx2.post(f"{server.url}{JOBS}/{job_id}/resume")
        assert refused.status_code == 400 and "resume it with the token" in refused.json()["detail"]
        resumed = httpx2.post(f"{server.url}{JOBS}/{job_id}/resume", json={"token": TOKEN})
        assert resumed.status_code == 200, resumed.text
        responses += [refused.text, resumed.text, "\n".join(json.dumps(e) for e in follow(server.url, job_id))]
        responses += [httpx2.get(server.url + JOBS).text, httpx2.get(f"{server.url}{JOBS}/{job_id}").text]
    assert job_of(server.url, job_id)["state"] == "done"
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode())
    for needle in (TOKEN.encode(), basic):
        assert files_holding(tmp_path / "home", needle) == []
    assert all(TOKEN not in text and basic.decode() not in text for text in responses)
    assert (tmp_path / "home" / "jobs" / f"{job_id}.json").is_file()  # the record exists, without the token
