"""The app's pages over real HTTP: home for browsers (JSON for API clients), the reader, search, export,
delete (with DeepWiki's auth code), errors as pages, and every asset served by the server itself."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx2

from tests.server.web.conftest import COMMIT, WebApp, build_wiki, start_app
from tests.support.emulator import Emulator

HTML = {"accept": "text/html,application/xhtml+xml"}


def page(app: WebApp, path: str) -> httpx2.Response:
    return httpx2.get(app.url + path, headers=HTML, timeout=10)


def test_home_lists_the_cached_wikis_for_a_browser(web_app: WebApp) -> None:
    response = page(web_app, "/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    body = response.text
    assert '<a href="/wiki/local/local/demo?lang=en&amp;variant=concise">local/demo</a>' in body
    assert "emu/m1" in body and "concise" in body and '<td class="num">3</td>' in body
    assert '<form id="new-wiki"' in body and '<option value="emu/m1"' in body and 'value="ja"' in body


def test_api_clients_keep_deepwikis_json_welcome(web_app: WebApp) -> None:
    for accept in ("application/json", "*/*"):
        response = httpx2.get(web_app.url + "/", headers={"accept": accept}, timeout=10)
        assert response.json()["message"] == "Welcome to Streaming API"


def test_home_filters_without_javascript(web_app: WebApp) -> None:
    assert "local/demo" in page(web_app, "/?q=DEMO").text
    assert "No wiki matches" in page(web_app, "/?q=nothing-like-it").text


def test_the_reader_shows_sections_the_page_its_contents_and_provenance(web_app: WebApp) -> None:
    body = page(web_app, "/wiki/local/local/demo/page-1").text
    nav = body[body.index('<nav class="wiki-nav"') : body.index("</nav>", body.index('<nav class="wiki-nav"'))]
    assert nav.index("Overview") < nav.index(">Page 1<") < nav.index("Internals") < nav.index(">Page 3<")
    assert 'aria-current="page">Page 1<' in nav
    assert f'<code title="{COMMIT}">{COMMIT[:12]}</code>' in body
    assert '<a href="#how-it-works">How it works</a>' in body  # table of contents
    assert '<figure class="diagram">' in body and "<math" in body and "<table>" in body
    assert 'href="/wiki/local/local/demo/-/source/calc/parser.py?lines=4-6#L-4" class="cite"' in body
    assert '<a href="/wiki/local/local/demo/page-2">the evaluator</a>' in body
    assert re.search(r'<section class="related".*Page 2.*Page 3', body, re.S)
    assert 'rel="next" href="/wiki/local/local/demo/page-2"' in body


def test_the_first_page_is_the_wikis_front_page_and_a_missing_page_is_a_404_page(web_app: WebApp) -> None:
    assert "<h1>Page 1</h1>" in page(web_app, "/wiki/local/local/demo").text
    missing = page(web_app, "/wiki/local/local/demo/page-99")
    assert missing.status_code == 404 and "no page &#39;page-99&#39;" in missing.text
    none = page(web_app, "/wiki/github/nobody/nothing")
    assert none.status_code == 404 and "There is no cached wiki" in none.text


def test_the_language_switch_lists_the_other_languages_and_keeps_them_on_links(web_app: WebApp) -> None:
    build_wiki(web_app.home, web_app.repo, language="ja", comprehensive=True)
    body = page(web_app, "/wiki/local/local/demo/page-2?lang=ja").text
    assert '<html lang="ja">' in body and 'id="variant-switch"' in body
    assert '<option value="/wiki/local/local/demo/page-2" >English · concise</option>' in body  # the default: no query
    assert 'href="/wiki/local/local/demo/page-3?lang=ja&amp;variant=comprehensive"' in body
    asked = page(web_app, "/wiki/local/local/demo?lang=fr")
    assert asked.status_code == 404 and "It exists in: en (concise), ja (comprehensive)" in asked.text


def test_search_finds_pages_by_their_words_with_marked_snippets(web_app: WebApp) -> None:
    body = page(web_app, "/wiki/local/local/demo/-/search?q=tokens+tree").text
    assert "3 pages for" in body and "<mark>tokens</mark>" in body
    assert "0 pages for" in page(web_app, "/wiki/local/local/demo/-/search?q=zebra").text


def test_export_gives_markdown_and_json_files(web_app: WebApp) -> None:
    md = page(web_app, "/wiki/local/local/demo/-/export?format=markdown")
    assert md.headers["content-disposition"].startswith('attachment; filename="demo_wiki_')
    assert md.text.startswith("# Wiki Documentation for ") and "## Page 3" in md.text
    data = json.loads(page(web_app, "/wiki/local/local/demo/-/export?format=json").text)
    assert data["metadata"]["page_count"] == 3 and [p["id"] for p in data["pages"]] == ["page-1", "page-2", "page-3"]


def test_delete_needs_the_auth_code_when_deepwikis_auth_mode_is_on(tmp_path: Path, emulator: Emulator) -> None:
    app = start_app(tmp_path, emulator, DEEPWIKI_AUTH_MODE="true", DEEPWIKI_AUTH_CODE="open-sesame")
    try:
        form = {"lang": "en", "variant": "concise", "authorization_code": "wrong"}
        url = app.wiki + "/-/delete"
        refused = httpx2.post(url, data=form, headers=HTML, timeout=10)
        assert refused.status_code == 401 and "Authorization code is invalid" in refused.text
        assert page(app, "/wiki/local/local/demo").status_code == 200
        cross = httpx2.post(url, data=form | {"authorization_code": "open-sesame"},
                            headers=HTML | {"origin": "https://evil.example"}, timeout=10)  # fmt: skip
        assert cross.status_code == 403
        done = httpx2.post(url, data=form | {"authorization_code": "open-sesame"}, headers=HTML, timeout=10)
        assert done.status_code == 303 and done.headers["location"].startswith("/?deleted=")
        assert page(app, "/wiki/local/local/demo").status_code == 404
    finally:
        app.server.stop()


def test_pages_carry_a_policy_that_loads_nothing_from_elsewhere(web_app: WebApp) -> None:
    response = page(web_app, "/wiki/local/local/demo")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    for src in re.findall(r'(?:src|href)="([^"#]+)"', response.text):
        assert src.startswith(("/", "?")), src


def test_assets_come_from_this_server(web_app: WebApp) -> None:
    script = httpx2.get(web_app.url + "/static/app.js", timeout=10)
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    mermaid = httpx2.get(web_app.url + "/static/vendor/mermaid/mermaid.esm.min.mjs", timeout=10)
    assert mermaid.status_code == 200 and mermaid.headers["content-type"].startswith("text/javascript")
    head = page(web_app, "/").text.split("</head>")[0]
    assert "<style>" in head and ".hl .k" in head and "prefers-color-scheme: dark" in head  # no stylesheet to fetch
    docs = page(web_app, "/docs").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    bundle = httpx2.get(web_app.url + "/static/vendor/swagger-ui/swagger-ui-bundle.js", timeout=10)
    assert bundle.status_code == 200 and len(bundle.content) > 100_000


def test_every_page_has_landmarks_and_every_control_a_label(web_app: WebApp) -> None:
    for path in ("/", "/wiki/local/local/demo/page-1", "/wiki/local/local/demo/-/search?q=parser", "/models",
                 "/spend", "/wiki/local/local/demo/-/source/calc/parser.py"):  # fmt: skip
        body = page(web_app, path).text
        assert 'role="banner"' in body and '<main id="main"' in body and 'aria-label="Site"' in body, path
        assert 'class="skip" href="#main"' in body, path
        labels = set(re.findall(r'<label for="([^"]+)"', body))
        for tag, attrs in re.findall(r"<(input|select|textarea)\b([^>]*)>", body):
            if 'type="hidden"' in attrs:
                continue
            control = re.search(r'\bid="([^"]+)"', attrs)
            named = "aria-label=" in attrs or (control is not None and control.group(1) in labels)
            wrapped = tag == "input" and ('type="checkbox"' in attrs or 'type="radio"' in attrs)  # inside a label
            assert named or wrapped, f"{path}: <{tag}{attrs}> has no label"
