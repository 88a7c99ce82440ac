"""DeepWiki-Open's own front end (AsyncFuncAI/deepwiki-open) against `wikismith serve`: its wiki cache requests,
written as it sends them (page.tsx loads `GET /api/wiki_cache?owner&repo&repo_type&language&comprehensive=` and
saves with a JSON POST carrying `comprehensive`; src/app/api/wiki/projects/route.ts lists
`/api/processed_projects` and deletes with `DELETE /api/wiki_cache?owner&repo&repo_type&language`, no variant and
no code), over real uvicorn. The chat fallback's request is in test_chat_routes.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.server.conftest import LiveServer, ServerFactory, scripted_providers
from tests.server.test_deepwiki_api import CACHE, cache_files, wiki_body

JSON = {"Content-Type": "application/json"}  # what the front end's fetch calls set
PROJECTS = "/api/processed_projects"


def load(server: LiveServer, comprehensive: bool, language: str = "en") -> httpx2.Response:
    """The wiki page's load: URLSearchParams({owner, repo, repo_type, language, comprehensive})."""
    query = {"owner": "octo", "repo": "demo", "repo_type": "github", "language": language}
    return httpx2.get(server.url + CACHE, params={**query, "comprehensive": str(comprehensive).lower()})


def save(server: LiveServer, comprehensive: bool, language: str = "en", **extra: Any) -> httpx2.Response:
    body = {**wiki_body(token=None), "language": language, "comprehensive": comprehensive, **extra}
    return httpx2.post(server.url + CACHE, json=body, headers=JSON)


def delete(server: LiveServer, **extra: str) -> httpx2.Response:
    """The projects list's delete: URLSearchParams({owner, repo, repo_type, language}), no variant."""
    query = {"owner": "octo", "repo": "demo", "repo_type": "github", "language": "en", **extra}
    return httpx2.delete(server.url + CACHE, params=query, headers=JSON)


def projects(server: LiveServer) -> list[dict[str, Any]]:
    response = httpx2.get(server.url + PROJECTS, headers=JSON)
    assert response.status_code == 200
    listed: list[dict[str, Any]] = response.json()
    return listed


@pytest.mark.parametrize("stored", [False, True], ids=["only-concise", "only-comprehensive"])
def test_a_load_naming_the_missing_variant_gets_the_other_and_the_header_says_which(
    scripted_server: LiveServer, stored: bool
) -> None:
    assert save(scripted_server, comprehensive=stored, model="the/stored-one").status_code == 200
    response = load(scripted_server, comprehensive=not stored)
    assert response.status_code == 200
    wiki = response.json()
    assert wiki is not None and wiki["model"] == "the/stored-one" and wiki["comprehensive"] is stored
    assert wiki["generated_pages"]["page-1"]["content"] == "# Intro\nhello"
    assert response.headers["x-wikismith-variant"] == ("comprehensive" if stored else "concise")
    asked = load(scripted_server, comprehensive=stored)  # the one it has, asked for by name
    assert asked.headers["x-wikismith-variant"] == response.headers["x-wikismith-variant"]


def test_a_load_with_both_stored_gets_the_variant_asked_for(scripted_server: LiveServer) -> None:
    save(scripted_server, comprehensive=True, model="full/model")
    save(scripted_server, comprehensive=False, model="short/model")
    for comprehensive, model, variant in ((True, "full/model", "comprehensive"), (False, "short/model", "concise")):
        response = load(scripted_server, comprehensive)
        assert response.json()["model"] == model and response.headers["x-wikismith-variant"] == variant


def test_a_load_of_a_wiki_never_stored_is_still_null(scripted_server: LiveServer) -> None:
    response = load(scripted_server, comprehensive=True)
    assert response.status_code == 200 and response.json() is None and "x-wikismith-variant" not in response.headers


def test_the_projects_list_has_one_entry_per_repository_and_language_with_its_variants(
    scripted_server: LiveServer,
) -> None:
    save(scripted_server, comprehensive=True)
    save(scripted_server, comprehensive=False)
    save(scripted_server, comprehensive=False, language="ja")
    listed = {(p["name"], p["language"]): p for p in projects(scripted_server)}
    assert sorted(listed) == [("octo/demo", "en"), ("octo/demo", "ja")]
    both, concise = listed[("octo/demo", "en")], listed[("octo/demo", "ja")]
    assert both["variants"] == ["comprehensive", "concise"] and both["comprehensive"] is True
    assert both["id"] == "deepwiki_cache_github_octo_demo_en.json"
    assert concise["variants"] == ["concise"] and concise["comprehensive"] is False
    assert concise["id"] == "deepwiki_cache_github_octo_demo_ja_concise.json"


def test_the_projects_list_delete_removes_the_entry_it_showed_both_variants(
    scripted_server: LiveServer, tmp_path: Path
) -> None:
    save(scripted_server, comprehensive=True)
    save(scripted_server, comprehensive=False)
    response = delete(scripted_server)
    assert response.status_code == 200 and cache_files(tmp_path) == []
    assert projects(scripted_server) == []
    assert load(scripted_server, comprehensive=True).json() is None


def test_a_delete_naming_a_variant_removes_only_that_one(scripted_server: LiveServer, tmp_path: Path) -> None:
    save(scripted_server, comprehensive=True)
    save(scripted_server, comprehensive=False)
    assert delete(scripted_server, comprehensive="false").status_code == 200
    assert cache_files(tmp_path) == ["deepwiki_cache_github_octo_demo_en.json"]
    assert [p["variants"] for p in projects(scripted_server)] == [["comprehensive"]]


def test_in_auth_mode_the_front_ends_save_needs_no_code_but_its_delete_does(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    server = start_server(scripted_providers(), DEEPWIKI_AUTH_MODE="true", DEEPWIKI_AUTH_CODE="open-sesame")
    saved = save(server, comprehensive=True)  # the front end never sends the code with a save
    assert saved.status_code == 200 and cache_files(tmp_path) == ["deepwiki_cache_github_octo_demo_en.json"]
    assert load(server, comprehensive=True).json() is not None  # a reload finds it: no regeneration
    refused = delete(server)
    assert refused.status_code == 401 and refused.json()["detail"] == "Authorization code is invalid"
    assert cache_files(tmp_path) == ["deepwiki_cache_github_octo_demo_en.json"]
    assert delete(server, authorization_code="open-sesame").status_code == 200 and cache_files(tmp_path) == []
