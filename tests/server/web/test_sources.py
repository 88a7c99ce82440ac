"""The source view serves files of the wiki's repository only, with no way out of it, and no binaries."""

from __future__ import annotations

import os
from pathlib import Path

import httpx2
import pytest

from tests.server.web.conftest import WebApp, build_wiki, repo_files

HTML = {"accept": "text/html"}


def get(app: WebApp, path: str, wiki: str = "/wiki/local/local/demo") -> httpx2.Response:
    return httpx2.get(app.url + wiki + "/-/source/" + path, headers=HTML, timeout=10)


def test_a_cited_file_is_shown_with_numbered_lines_and_the_cited_ones_marked(web_app: WebApp) -> None:
    response = get(web_app, "calc/parser.py?lines=4-6")
    assert response.status_code == 200
    body = response.text
    assert '<span id="L-4"><span class="hll">' in body and '<span id="L-6"><span class="hll">' in body
    assert '<span id="L-7"><span class="hll">' not in body and '<span id="L-90">' in body
    assert 'data-first="4"' in body and "lines 4–6" in body


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("%2E%2E/outside.txt", 400),  # encoded: clients normalise a literal ".." away
        ("calc/%2E%2E/%2E%2E/outside.txt", 400),
        ("%2Fetc%2Fpasswd", 400),
        ("calc/parser.py%00.txt", 400),
        ("calc%5Cparser.py", 400),
        (".git/config", 403),
        ("missing.py", 404),
        ("calc", 404),
    ],
)
def test_paths_that_could_leave_the_repository_are_refused(web_app: WebApp, path: str, status: int) -> None:
    (web_app.roots / "outside.txt").write_text("secret", encoding="utf-8")
    (web_app.repo / ".git").mkdir(exist_ok=True)
    (web_app.repo / ".git" / "config").write_text("[core]", encoding="utf-8")
    response = get(web_app, path)
    assert response.status_code == status, (path, response.text[:300])
    assert "secret" not in response.text and "[core]" not in response.text


def test_a_symlink_is_not_followed_even_inside_the_repository(web_app: WebApp) -> None:
    (web_app.roots / "target.txt").write_text("secret", encoding="utf-8")
    link = web_app.repo / "escape.txt"
    inside = web_app.repo / "alias.py"
    if not link.exists():
        os.symlink(web_app.roots / "target.txt", link)
        os.symlink(web_app.repo / "calc" / "evaluator.py", inside)
        os.symlink(web_app.repo / "calc", web_app.repo / "linked")
    for path in ("escape.txt", "alias.py", "linked/evaluator.py"):
        response = get(web_app, path)
        assert response.status_code == 403, path
        assert "symlink" in response.text and "secret" not in response.text


def test_binary_and_non_utf8_files_are_refused(web_app: WebApp) -> None:
    (web_app.repo / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (web_app.repo / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    assert get(web_app, "logo.png").status_code == 415
    assert get(web_app, "latin1.txt").status_code == 415


def test_a_wiki_whose_directory_is_neither_under_the_roots_nor_indexed_opens_nothing(
    web_app: WebApp, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    repo_files(elsewhere)
    build_wiki(web_app.home, elsewhere, name="elsewhere")
    response = get(web_app, "calc/parser.py", wiki="/wiki/local/local/elsewhere")
    assert response.status_code == 404
    assert "neither under WIKISMITH_LOCAL_ROOTS nor indexed" in response.text
    page = httpx2.get(web_app.url + "/wiki/local/local/elsewhere", headers=HTML, timeout=10)
    assert page.status_code == 200 and "/-/source/" not in page.text  # citations stay plain: nothing to open


def test_a_directory_indexed_in_the_data_directory_is_readable(web_app: WebApp, tmp_path: Path) -> None:
    from wikismith.rag.index import index_stem
    from wikismith.rag.source import repo_key
    from wikismith.rag.types import RepoRef

    indexed = tmp_path / "indexed"
    repo_files(indexed)
    build_wiki(web_app.home, indexed, name="indexed")
    ref = RepoRef(type="local", owner="local", name="indexed", local_path=indexed.resolve())
    version = web_app.home / "indexes" / f"{index_stem(repo_key(ref))}_local-embedder_0123456789ab"
    version.mkdir(parents=True)
    (version / "CURRENT").write_text("v-1", encoding="utf-8")
    response = get(web_app, "calc/evaluator.py", wiki="/wiki/local/local/indexed")
    assert response.status_code == 200 and "evaluate" in response.text
