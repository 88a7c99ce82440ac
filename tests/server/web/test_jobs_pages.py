"""The new-wiki form without JavaScript (`POST /jobs/new`) and a job's page, over the real job queue."""

from __future__ import annotations

import httpx2

from tests.server.web.conftest import WebApp, repo_files
from tests.support.emulator import Emulator

HTML = {"accept": "text/html"}


def test_the_form_starts_a_job_and_shows_its_page(web_app: WebApp, emulator: Emulator) -> None:
    repo_files(web_app.roots / "formed")
    form = {"repo": str(web_app.roots / "formed"), "model": "emu/m1", "language": "en", "comprehensive": "false",
            "excluded_dirs": "build\ndist", "token": ""}  # fmt: skip
    started = httpx2.post(web_app.url + "/jobs/new", data=form, headers=HTML, timeout=30)
    assert started.status_code == 303 and started.headers["location"].startswith("/jobs/")
    page = httpx2.get(web_app.url + started.headers["location"], headers=HTML, timeout=10)
    assert page.status_code == 200
    assert "local/formed" in page.text and "emu/m1" in page.text and 'role="progressbar"' in page.text
    assert 'data-wiki-url="/wiki/local/local/formed?lang=en&amp;variant=concise"' in page.text
    job = httpx2.get(web_app.url + "/api/jobs/" + started.headers["location"].rsplit("/", 1)[1], timeout=10).json()
    assert job["spec"]["excluded_dirs"] == ["build", "dist"]
    assert emulator.wait_until(lambda: httpx2.get(web_app.url + "/api/jobs", timeout=10).json()["jobs"], timeout=5)


def test_the_form_refuses_what_the_job_queue_refuses_with_a_page_saying_why(web_app: WebApp) -> None:
    outside = httpx2.post(web_app.url + "/jobs/new", data={"repo": "/etc", "model": "emu/m1"}, headers=HTML, timeout=10)
    assert outside.status_code == 400 and "WIKISMITH_LOCAL_ROOTS" in outside.text
    model = httpx2.post(web_app.url + "/jobs/new", data={"repo": str(web_app.repo), "model": "nowhere/x"},
                        headers=HTML, timeout=10)  # fmt: skip
    assert model.status_code in (400, 404) and "nowhere" in model.text
    empty = httpx2.post(web_app.url + "/jobs/new", data={"repo": ""}, headers=HTML, timeout=10)
    assert empty.status_code == 422 and "repo" in empty.text


def test_an_unknown_job_is_a_404_page(web_app: WebApp) -> None:
    for job_id in ("0123456789abcdef0123", "not a job"):
        response = httpx2.get(web_app.url + "/jobs/" + job_id, headers=HTML, timeout=10)
        assert response.status_code == 404 and "No such job" in response.text
