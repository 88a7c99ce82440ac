"""DeepWiki's routes, shapes checked field by field (shared/deepwiki-compat.md §1.3, §6.5, §6.6)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.server.conftest import API_KEY, LiveServer, ServerFactory, scripted_providers

CACHE = "/api/wiki_cache"
QUERY = {"owner": "octo", "repo": "demo", "repo_type": "github", "language": "en"}


def wiki_body(token: str | None = "ghp_secrettoken12345678") -> dict[str, Any]:
    page = {
        "id": "page-1", "title": "Intro", "content": "", "filePaths": ["src/a.py"],
        "importance": "high", "relatedPages": ["page-2"],
    }  # fmt: skip
    return {
        "repo": {"owner": "octo", "repo": "demo", "type": "github", "token": token, "localPath": None,
                 "repoUrl": "https://github.com/octo/demo"},
        "language": "en",
        "wiki_structure": {
            "id": "wiki", "title": "Demo", "description": "d", "pages": [page],
            "sections": [{"id": "s1", "title": "S", "pages": ["page-1"], "subsections": None}],
            "rootSections": ["s1"],
        },
        "generated_pages": {"page-1": {**page, "content": "# Intro\nhello"}},
        "provider": "openrouter",
        "model": "openai/gpt-4o",
        "comprehensive": True,
    }  # fmt: skip


def cache_files(tmp_path: Path) -> list[str]:
    root = tmp_path / "home" / "wikicache"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def test_health_shape(scripted_server: LiveServer) -> None:
    body = httpx2.get(scripted_server.url + "/health").json()
    assert set(body) == {"status", "timestamp", "service"}
    assert body["status"] == "healthy" and body["service"] == "deepwiki-api"


def test_root_lists_routes_grouped(scripted_server: LiveServer) -> None:
    body = httpx2.get(scripted_server.url + "/").json()
    assert body["message"] == "Welcome to Streaming API"
    assert "POST /v1/chat/completions" in body["endpoints"]["V1"]


def test_lang_config_shape(scripted_server: LiveServer) -> None:
    body = httpx2.get(scripted_server.url + "/lang/config").json()
    assert set(body) == {"supported_languages", "default"}
    assert body["default"] == "en" and body["supported_languages"]["ja"].startswith("Japanese")


def test_models_config_shape(scripted_server: LiveServer) -> None:
    body = httpx2.get(scripted_server.url + "/models/config").json()
    assert set(body) == {"providers", "defaultProvider"}
    assert body["defaultProvider"] == "a"
    (provider,) = body["providers"]
    assert provider == {
        "id": "a",
        "name": "A",
        "models": [{"id": "m", "name": "m"}, {"id": "n", "name": "n"}],
        "supportsCustomModel": True,
    }


def test_auth_status_and_validate(start_server: ServerFactory) -> None:
    off = start_server(scripted_providers())
    assert httpx2.get(off.url + "/auth/status").json() == {"auth_required": False}
    on = start_server(scripted_providers(), DEEPWIKI_AUTH_MODE="true", DEEPWIKI_AUTH_CODE="open-sesame")
    assert httpx2.get(on.url + "/auth/status").json() == {"auth_required": True}
    assert httpx2.post(on.url + "/auth/validate", json={"code": "open-sesame"}).json() == {"success": True}
    assert httpx2.post(on.url + "/auth/validate", json={"code": "wrong"}).json() == {"success": False}
    missing = httpx2.post(on.url + "/auth/validate", json={})
    assert missing.status_code == 422 and "code" in missing.json()["detail"]


def test_wiki_cache_miss_is_null(scripted_server: LiveServer) -> None:
    response = httpx2.get(scripted_server.url + CACHE, params=QUERY)
    assert response.status_code == 200 and response.json() is None


def test_wiki_cache_round_trip_without_the_token(scripted_server: LiveServer, tmp_path: Path) -> None:
    saved = httpx2.post(scripted_server.url + CACHE, json=wiki_body())
    assert saved.json() == {"message": "Wiki cache saved successfully"}
    assert cache_files(tmp_path) == ["deepwiki_cache_github_octo_demo_en.json"]
    assert "ghp_secret" not in (tmp_path / "home" / "wikicache" / cache_files(tmp_path)[0]).read_text()
    body = httpx2.get(scripted_server.url + CACHE, params=QUERY).json()
    assert set(body) == {"wiki_structure", "generated_pages", "repo_url", "repo", "provider", "model", "comprehensive"}
    assert body["repo"]["token"] is None and body["repo"]["repoUrl"] == "https://github.com/octo/demo"
    page = body["generated_pages"]["page-1"]
    assert page["filePaths"] == ["src/a.py"] and page["relatedPages"] == ["page-2"]
    assert body["wiki_structure"]["rootSections"] == ["s1"]
    assert body["provider"] == "openrouter" and body["model"] == "openai/gpt-4o"


def test_concise_and_comprehensive_wikis_coexist(scripted_server: LiveServer, tmp_path: Path) -> None:
    url = scripted_server.url + CACHE
    httpx2.post(url, json=wiki_body())
    concise = {**wiki_body(), "comprehensive": False, "model": "small/model"}
    assert httpx2.post(url, json=concise).status_code == 200
    assert cache_files(tmp_path) == [
        "deepwiki_cache_github_octo_demo_en.json",
        "deepwiki_cache_github_octo_demo_en_concise.json",
    ]
    short = httpx2.get(url, params={**QUERY, "comprehensive": "false"}).json()
    full = httpx2.get(url, params={**QUERY, "comprehensive": "true"}).json()
    assert (short["model"], short["comprehensive"]) == ("small/model", False)
    assert (full["model"], full["comprehensive"]) == ("openai/gpt-4o", True)
    assert httpx2.get(url, params=QUERY).json()["comprehensive"] is True  # no variant asked: comprehensive first
    deleted = httpx2.delete(url, params={**QUERY, "comprehensive": "true"})
    assert deleted.status_code == 200
    assert cache_files(tmp_path) == ["deepwiki_cache_github_octo_demo_en_concise.json"]
    assert httpx2.get(url, params=QUERY).json()["model"] == "small/model"  # falls back to the concise one


def test_delete_without_variant_removes_both(scripted_server: LiveServer, tmp_path: Path) -> None:
    url = scripted_server.url + CACHE
    httpx2.post(url, json=wiki_body())
    httpx2.post(url, json={**wiki_body(), "comprehensive": False})
    assert httpx2.delete(url, params=QUERY).status_code == 200
    assert cache_files(tmp_path) == []


def test_unsupported_language_falls_back_to_default_on_get(scripted_server: LiveServer) -> None:
    httpx2.post(scripted_server.url + CACHE, json=wiki_body())
    body = httpx2.get(scripted_server.url + CACHE, params={**QUERY, "language": "xx"}).json()
    assert body is not None and body["wiki_structure"]["title"] == "Demo"


def test_processed_projects_shape(scripted_server: LiveServer) -> None:
    httpx2.post(scripted_server.url + CACHE, json=wiki_body())
    (project,) = httpx2.get(scripted_server.url + "/api/processed_projects").json()
    keys = {"id", "owner", "repo", "name", "repo_type", "submittedAt", "language", "comprehensive", "variants"}
    assert set(project) == keys and project["variants"] == ["comprehensive"]
    assert project["name"] == "octo/demo" and project["repo_type"] == "github" and project["language"] == "en"
    assert project["id"] == "deepwiki_cache_github_octo_demo_en.json" and project["submittedAt"] > 0


def test_delete_cache_then_404(scripted_server: LiveServer, tmp_path: Path) -> None:
    httpx2.post(scripted_server.url + CACHE, json=wiki_body())
    deleted = httpx2.delete(scripted_server.url + CACHE, params=QUERY)
    assert deleted.json() == {"message": "Wiki cache for octo/demo (en) deleted successfully"}
    assert cache_files(tmp_path) == []
    again = httpx2.delete(scripted_server.url + CACHE, params=QUERY)
    assert again.status_code == 404 and again.json()["detail"] == "Wiki cache not found"
    bad_lang = httpx2.delete(scripted_server.url + CACHE, params={**QUERY, "language": "xx"})
    assert bad_lang.status_code == 400 and bad_lang.json()["detail"] == "Language is not supported"


def test_missing_query_parameter_is_422(scripted_server: LiveServer) -> None:
    response = httpx2.get(scripted_server.url + CACHE, params={"owner": "o"})
    assert response.status_code == 422 and "repo" in response.json()["detail"]


@pytest.mark.parametrize("owner", ["..", "a/b", "..\\..\\x", "bad\x01name"])
def test_traversal_in_cache_names_is_400_with_no_file_written(
    scripted_server: LiveServer, tmp_path: Path, owner: str
) -> None:
    body = wiki_body()
    body["repo"]["owner"] = owner
    response = httpx2.post(scripted_server.url + CACHE, json=body)
    assert response.status_code == 400 and "not a valid name" in response.json()["detail"]
    assert cache_files(tmp_path) == []
    response = httpx2.get(scripted_server.url + CACHE, params={**QUERY, "owner": owner})
    assert response.status_code == 400


def test_auth_mode_protects_cache_deletes(start_server: ServerFactory, tmp_path: Path) -> None:
    server = start_server(scripted_providers(), DEEPWIKI_AUTH_MODE="1", DEEPWIKI_AUTH_CODE="open-sesame")
    assert httpx2.post(server.url + CACHE, json=wiki_body()).status_code == 200  # saves need no code, as DeepWiki's
    refused = httpx2.delete(server.url + CACHE, params=QUERY)
    assert refused.status_code == 401 and refused.json()["detail"] == "Authorization code is invalid"
    wrong = httpx2.delete(server.url + CACHE, params={**QUERY, "authorization_code": "nope"})
    assert wrong.status_code == 401 and cache_files(tmp_path)
    right = httpx2.delete(server.url + CACHE, params={**QUERY, "authorization_code": "open-sesame"})
    assert right.status_code == 200 and cache_files(tmp_path) == []


def test_api_keys_protect_cache_writes(start_server: ServerFactory, tmp_path: Path) -> None:
    server = start_server(scripted_providers(), WIKISMITH_API_KEYS=API_KEY)
    assert httpx2.post(server.url + CACHE, json=wiki_body()).status_code == 401
    assert cache_files(tmp_path) == []
    headers = {"authorization": f"Bearer {API_KEY}"}
    assert httpx2.post(server.url + CACHE, json=wiki_body(), headers=headers).status_code == 200
    assert httpx2.get(server.url + CACHE, params=QUERY).json() is not None  # reads stay open


def test_export_markdown(scripted_server: LiveServer) -> None:
    pages = [wiki_body()["generated_pages"]["page-1"], {**wiki_body()["generated_pages"]["page-1"], "id": "page-2",
             "title": "Two", "relatedPages": []}]  # fmt: skip
    response = httpx2.post(
        scripted_server.url + "/export/wiki",
        json={"repo_url": "https://github.com/octo/demo", "pages": pages, "format": "markdown"},
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/markdown")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=demo_wiki_") and disposition.endswith(".md")
    text = response.text
    assert text.startswith("# Wiki Documentation for https://github.com/octo/demo")
    assert "- [Intro](#page-1)" in text and "<a id='page-1'></a>" in text
    assert "Related topics: [Two](#page-2)" in text


def test_export_json(scripted_server: LiveServer) -> None:
    page = wiki_body()["generated_pages"]["page-1"]
    response = httpx2.post(
        scripted_server.url + "/export/wiki",
        json={"repo_url": "https://github.com/octo/demo", "pages": [page], "format": "json"},
    )
    body = response.json()
    assert response.headers["content-disposition"].endswith(".json")
    assert body["metadata"]["repository"] == "https://github.com/octo/demo" and body["metadata"]["page_count"] == 1
    assert body["pages"][0]["filePaths"] == ["src/a.py"]


def test_export_rejects_an_unknown_format(scripted_server: LiveServer) -> None:
    response = httpx2.post(scripted_server.url + "/export/wiki", json={"repo_url": "x", "pages": [], "format": "pdf"})
    assert response.status_code == 422 and "format" in response.json()["detail"]


def test_local_structure_is_off_without_roots(scripted_server: LiveServer, tmp_path: Path) -> None:
    response = httpx2.get(scripted_server.url + "/local_repo/structure", params={"path": str(tmp_path)})
    assert response.status_code == 403 and "WIKISMITH_LOCAL_ROOTS" in response.json()["error"]


@pytest.fixture
def repo_root(tmp_path: Path) -> Path:
    root = tmp_path / "roots" / "proj"
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.py").write_text("print(1)\n")
    (root / "src" / "__init__.py").write_text("")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("x")
    (root / "node_modules").mkdir()
    (root / "node_modules" / "dep.js").write_text("x")
    (root / "README.md").write_text("# Proj\n")
    return root


def test_local_structure_lists_files_and_readme(start_server: ServerFactory, repo_root: Path) -> None:
    server = start_server(scripted_providers(), WIKISMITH_LOCAL_ROOTS=str(repo_root.parent))
    body = httpx2.get(server.url + "/local_repo/structure", params={"path": str(repo_root)}).json()
    assert body == {"file_tree": "README.md\nsrc/main.py", "readme": "# Proj\n"}


def test_local_structure_needs_a_gateway_key_when_keys_are_set(start_server: ServerFactory, repo_root: Path) -> None:
    server = start_server(scripted_providers(), WIKISMITH_LOCAL_ROOTS=str(repo_root.parent), WIKISMITH_API_KEYS=API_KEY)
    url, params = server.url + "/local_repo/structure", {"path": str(repo_root)}
    refused = httpx2.get(url, params=params)
    assert refused.status_code == 401 and "README" not in refused.text
    allowed = httpx2.get(url, params=params, headers={"authorization": f"Bearer {API_KEY}"})
    assert allowed.status_code == 200 and allowed.json()["readme"] == "# Proj\n"


@pytest.mark.parametrize("suffix", ["/..", "/../..", "/../../../etc"])
def test_local_structure_refuses_traversal(start_server: ServerFactory, repo_root: Path, suffix: str) -> None:
    server = start_server(scripted_providers(), WIKISMITH_LOCAL_ROOTS=str(repo_root))
    response = httpx2.get(server.url + "/local_repo/structure", params={"path": str(repo_root) + suffix})
    assert response.status_code == 403 and "outside the allowed local roots" in response.json()["error"]


def test_local_structure_resolves_symlinks_before_the_check(
    start_server: ServerFactory, repo_root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "README.md").write_text("secret")
    (repo_root / "escape").symlink_to(outside)
    (repo_root / "src" / "README.md").symlink_to(outside / "README.md")
    server = start_server(scripted_providers(), WIKISMITH_LOCAL_ROOTS=str(repo_root))
    escaped = httpx2.get(server.url + "/local_repo/structure", params={"path": str(repo_root / "escape")})
    assert escaped.status_code == 403
    body = httpx2.get(server.url + "/local_repo/structure", params={"path": str(repo_root / "src")}).json()
    assert body["readme"] == ""


def test_local_structure_errors_keep_deepwiki_shape(start_server: ServerFactory, repo_root: Path) -> None:
    server = start_server(scripted_providers(), WIKISMITH_LOCAL_ROOTS=str(repo_root))
    missing = httpx2.get(server.url + "/local_repo/structure")
    assert missing.status_code == 400 and missing.json()["error"].startswith("No path provided")
    absent = httpx2.get(server.url + "/local_repo/structure", params={"path": str(repo_root / "nope")})
    assert absent.status_code == 404 and absent.json()["error"].startswith("Directory not found")


def test_unknown_route_is_404_in_error_shape(scripted_server: LiveServer) -> None:
    response = httpx2.get(scripted_server.url + "/nope")
    assert response.status_code == 404 and json.loads(response.text)["detail"] == "Not Found"


def test_a_huge_cache_body_is_413_and_writes_nothing(start_server: ServerFactory, tmp_path: Path) -> None:
    server = start_server(scripted_providers(), WIKISMITH_MAX_BODY_BYTES="5000")
    body = wiki_body()
    body["generated_pages"]["page-1"]["content"] = "x" * 10_000
    response = httpx2.post(server.url + CACHE, json=body)
    assert response.status_code == 413 and "larger than 5000 bytes" in response.json()["detail"]
    assert cache_files(tmp_path) == []


def test_a_lone_surrogate_in_a_body_is_422_and_nothing_is_written(scripted_server: LiveServer, tmp_path: Path) -> None:
    """json.loads takes `"\\ud800"`; it could never be written out as UTF-8, so it is the client's error."""
    body = json.dumps(wiki_body()).replace('"title": "Demo"', '"title": "\\ud800"')
    saved = httpx2.post(scripted_server.url + CACHE, content=body, headers={"content-type": "application/json"})
    assert saved.status_code == 422 and "JSON" in saved.json()["detail"], saved.text
    assert cache_files(tmp_path) == []
    export = '{"repo_url": "https://github.com/o/r", "format": "json", "pages": [{"id": "p", "title": "\\udc80"}]}'
    exported = httpx2.post(scripted_server.url + "/export/wiki", content=export)
    assert exported.status_code == 422, exported.text
    validated = httpx2.post(scripted_server.url + "/auth/validate", content='{"code": "\\ud800"}')
    assert validated.status_code == 422, validated.text


def test_a_name_ending_in_a_newline_is_refused(scripted_server: LiveServer) -> None:
    response = httpx2.get(scripted_server.url + CACHE, params={**QUERY, "owner": "octo\n"})
    assert response.status_code == 400 and "not a valid name" in response.text


def test_credentials_in_the_repository_url_are_not_kept(scripted_server: LiveServer, tmp_path: Path) -> None:
    body = wiki_body(token=None)
    body["repo"]["repoUrl"] = "https://oauth2:glpat-SECRETSECRET123@gitlab.com/octo/demo"
    assert httpx2.post(scripted_server.url + CACHE, json=body).status_code == 200
    [name] = cache_files(tmp_path)
    assert "SECRETSECRET" not in (tmp_path / "home" / "wikicache" / name).read_text()
    got = httpx2.get(scripted_server.url + CACHE, params=QUERY).json()
    assert got["repo"]["repoUrl"] == "https://gitlab.com/octo/demo"


def test_one_repository_never_overwrites_or_deletes_anothers_wiki(scripted_server: LiveServer) -> None:
    """`foo.` and `foo` clean to the same file name; `a_b/c` and `a/b_c` share DeepWiki's."""
    for first, second in ((("octo", "demo"), ("octo.", "demo")), (("a_b", "c"), ("a", "b_c"))):
        for owner, repo in (first, second):
            body = wiki_body(token=None)
            body["repo"].update(owner=owner, repo=repo)
            body["provider"] = owner
            assert httpx2.post(scripted_server.url + CACHE, json=body).status_code == 200
        query = {**QUERY, "owner": second[0], "repo": second[1]}
        assert httpx2.delete(scripted_server.url + CACHE, params=query).status_code == 200
        kept = httpx2.get(scripted_server.url + CACHE, params={**QUERY, "owner": first[0], "repo": first[1]}).json()
        assert kept is not None and kept["provider"] == first[0]
        assert httpx2.get(scripted_server.url + CACHE, params=query).json() is None


def test_local_structure_shows_names_that_are_not_utf8_and_survives_a_readme_loop(
    start_server: ServerFactory, repo_root: Path
) -> None:
    (repo_root / "src" / os.fsdecode(b"caf\xe9.py")).write_text("x")
    (repo_root / "README.md").unlink()
    (repo_root / "README.md").symlink_to(repo_root / "README.md")  # a symlink loop
    server = start_server(scripted_providers(), WIKISMITH_LOCAL_ROOTS=str(repo_root))
    response = httpx2.get(server.url + "/local_repo/structure", params={"path": str(repo_root)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "src/caf\ufffd.py" in body["file_tree"].split("\n") and body["readme"] == ""
