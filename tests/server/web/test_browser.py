"""The app in a real browser: Debian's chromium driven by Playwright, one server for the module, every request
logged and refused unless it goes to the server on loopback (the `tab` fixture). Screenshots go to the folder
printed at the end of the run."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.web.conftest import Tab, WebApp, open_tab
from tests.support.emulator import Emulator, Reply, error

ANSWER = "The parser lives in [calc/parser.py:4-6](). It **splits** tokens, then the evaluator computes the result."
STEPS = [
    "## Research Plan\nStart with the parser.\n\n## Next Steps\nLook at the evaluator module.",
    "## Research Update 2\nThe evaluator walks the tree.\n\n## Next Steps\nCheck the results.",
    "## Final Conclusion\nParsing, then evaluation, then printing.",
]


def settled(tab: Tab, timeout: float = 30_000) -> None:
    """Until the last answer has ended: it then shows its figures or its error."""
    tab.page.wait_for_selector(".conversation > .turn.assistant:last-child :is(.status, [role=alert])", timeout=timeout)


def ask(tab: Tab, question: str, *, deep: bool = False) -> None:
    page = tab.page
    page.wait_for_selector(".ask[data-ready]", state="attached")
    page.fill("#ask-q", question)
    if deep:
        page.check("#ask-deep")
    page.click(".ask-form button[type=submit]")


def test_home_lists_the_cached_wiki_and_opens_it(web_app: WebApp, tab: Tab) -> None:
    page = tab.page
    page.goto(web_app.url + "/")
    link = page.get_by_role("link", name="local/demo")
    assert link.is_visible()
    page.fill("#wiki-filter", "nothing-like-this")
    assert page.locator("#wiki-list tbody tr").first.is_hidden()
    page.fill("#wiki-filter", "demo")
    tab.shot("home")
    link.click()
    page.wait_for_url("**/wiki/local/local/demo**")
    assert page.locator("article h1").inner_text() == "Page 1"


def test_a_mermaid_diagram_is_drawn_as_svg_and_a_broken_one_shows_its_source_and_error(
    web_app: WebApp, tab: Tab
) -> None:
    page = tab.page
    page.goto(web_app.wiki + "/page-1")
    svg = page.wait_for_selector("figure.diagram svg", timeout=20_000)
    assert svg is not None and "Evaluator" in (svg.text_content() or "")
    before = svg.get_attribute("viewBox")
    page.click("figure.diagram button[aria-label='Zoom in']")
    assert svg.get_attribute("viewBox") != before
    tab.shot("reader-diagram")
    page.goto(web_app.wiki + "/page-2")
    page.wait_for_selector("figure.diagram .diagram-error", timeout=20_000)
    assert "could not be drawn" in page.inner_text("figure.diagram .diagram-error")
    assert "-->>>" in page.inner_text("figure.diagram .diagram-source")
    assert page.locator("figure.diagram svg").count() == 0
    tab.shot("reader-broken-diagram")


def test_a_citation_opens_the_source_at_its_lines(web_app: WebApp, tab: Tab) -> None:
    page = tab.page
    page.goto(web_app.wiki + "/page-3")
    page.click("article a.cite")
    page.wait_for_url("**/-/source/calc/parser.py?lines=4-6#L-4")
    marked = page.locator(".code-view span[id^='L-'] .hll")
    assert marked.count() == 3
    assert page.locator("#L-4").is_visible() and "def rule_1" in page.inner_text("#L-4")
    assert page.evaluate("() => { const r = document.getElementById('L-5').getBoundingClientRect(); "
                         "return r.top >= 0 && r.bottom <= innerHeight; }")  # fmt: skip
    tab.shot("source-view")


def test_ask_streams_an_answer_with_its_sources(web_app: WebApp, emulator: Emulator, tab: Tab) -> None:
    emulator.script("m1", Reply(text=ANSWER, chunk_delay=0.15))
    page = tab.page
    page.goto(web_app.wiki + "/page-1")
    ask(tab, "Where is the parser?")
    answer = page.locator(".turn.assistant .answer").last
    page.wait_for_function("() => document.querySelector('.ask .stop') && !document.querySelector('.ask .stop').hidden")
    page.wait_for_function("() => (document.querySelector('.turn.assistant .answer')?.textContent || '').length > 3")
    partial = answer.inner_text()
    assert partial and "printing" not in partial and len(partial) < len(ANSWER)  # still streaming
    settled(tab)
    assert "evaluator computes the result" in answer.inner_text()
    assert answer.locator("strong").inner_text() == "splits"  # rendered as Markdown
    assert answer.locator("a.cite").get_attribute("href").endswith("/-/source/calc/parser.py?lines=4-6#L-4")
    sources = page.locator(".turn.assistant .sources a")
    assert sources.count() > 0 and "/-/source/" in (sources.first.get_attribute("href") or "")
    tab.shot("ask-answer")


def test_deep_research_shows_each_iteration_and_the_conclusion(web_app: WebApp, emulator: Emulator, tab: Tab) -> None:
    emulator.script("m1", *(Reply(text=text) for text in STEPS))
    page = tab.page
    page.goto(web_app.wiki + "/page-1")
    ask(tab, "How is an expression computed?", deep=True)
    settled(tab)
    steps = page.locator(".turn.assistant .step")
    assert [s.lower() for s in steps.all_inner_texts()] == ["iteration 1", "iteration 2", "iteration 3"]
    assert "Parsing, then evaluation" in page.locator(".turn.assistant .part").last.inner_text()
    tab.shot("deep-research")


def test_no_credits_from_the_provider_is_shown_as_an_error(web_app: WebApp, emulator: Emulator, tab: Tab) -> None:
    emulator.script("m1", error(402, "Insufficient credits. Add more using https://openrouter.ai/credits"))
    page = tab.page
    page.goto(web_app.wiki + "/page-1")
    ask(tab, "Where is the parser?")
    alert = page.wait_for_selector(".turn.assistant [role=alert]", timeout=20_000)
    assert alert is not None and "No credits left with the provider (402)" in alert.inner_text()
    assert page.locator(".turn.assistant .answer").all_inner_texts() in ([], [""])
    tab.shot("ask-402")


def test_the_conversation_stays_across_pages_and_a_reload_keeps_the_page(
    web_app: WebApp, emulator: Emulator, tab: Tab
) -> None:
    emulator.script("m1", Reply(text="A short answer."))
    page = tab.page
    page.goto(web_app.wiki + "/page-1")
    ask(tab, "What is this?")
    settled(tab)
    page.click(".wiki-nav a[data-page='page-3']")
    page.wait_for_url("**/wiki/local/local/demo/page-3")
    page.wait_for_function("() => document.querySelector('article h1')?.textContent === 'Page 3'")
    assert "A short answer." in page.inner_text(".conversation")  # the same panel: moved with the reader
    assert page.get_attribute(".wiki-nav a[data-page='page-3']", "aria-current") == "page"
    page.reload()
    assert page.locator("article h1").inner_text() == "Page 3"
    # restored from the tab's storage by the page's script, which may run just after the load event
    page.wait_for_function("() => document.querySelector('.conversation').textContent.includes('A short answer.')")
    page.go_back()
    page.wait_for_function("() => document.querySelector('article h1')?.textContent === 'Page 1'")
    tab.shot("after-reload")


PHONE_PAGES = ["/", "/wiki/local/local/demo/page-1", "/wiki/local/local/demo/-/source/calc/parser.py",
               "/models", "/spend"]  # fmt: skip


@pytest.mark.parametrize("path", PHONE_PAGES)
def test_a_phone_width_page_does_not_scroll_sideways(
    web_app: WebApp, browser: Any, screenshots: Any, path: str
) -> None:
    phone = open_tab(browser, screenshots, width=375, height=740)
    try:
        phone.page.goto(web_app.url + path, wait_until="networkidle")
        wide = phone.page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert wide <= 0, f"{path} is {wide}px wider than the screen"
        name = path.strip("/").replace("/", "_") or "home"
        phone.shot(f"phone-{name[:40]}")
        assert not phone.outside, phone.outside
    finally:
        phone.page.context.close()


def test_no_request_leaves_loopback_on_any_page(web_app: WebApp, tab: Tab) -> None:
    page = tab.page
    for path in ("/", "/wiki/local/local/demo/page-1", "/wiki/local/local/demo/-/search?q=parser", "/models",
                 "/spend", "/docs"):  # fmt: skip
        page.goto(web_app.url + path, wait_until="networkidle")
    page.wait_for_selector("#swagger-ui .info", timeout=20_000)  # Swagger UI drew the schema, from our copy
    tab.shot("api-docs")
    assert any("/static/vendor/swagger-ui/" in r for r in tab.requests)
    assert any("/static/vendor/mermaid/" in r for r in tab.requests)


def structure_xml(pages: int) -> str:
    items = "".join(
        f'<page id="page-{i}"><title>Part {i}</title><description>part {i}</description><importance>high</importance>'
        f"<relevant_files><file_path>calc/parser.py</file_path></relevant_files><related_pages></related_pages></page>"
        for i in range(1, pages + 1)
    )
    head = "<title>Tiny</title><description>A tiny one.</description>"
    return f"<wiki_structure>{head}<pages>{items}</pages></wiki_structure>"


def test_a_wiki_generated_from_the_form_shows_progress_a_failed_page_and_its_retry(
    web_app: WebApp, emulator: Emulator, tab: Tab
) -> None:
    from tests.server.web.conftest import repo_files

    repo_files(web_app.roots / "tiny")
    page_text = "# Part\n\nThe parser reads tokens.\n\nSources: [calc/parser.py:1-2]()"
    emulator.script("m1", Reply(text=structure_xml(2)), Reply(text=page_text, delay=0.3),
                    error(400, "the model refused this page"))  # fmt: skip
    page = tab.page
    page.goto(web_app.url + "/")
    page.fill("#repo", str(web_app.roots / "tiny"))
    page.select_option("#model", "emu/m1")
    page.click("#new-wiki button[type=submit]")
    page.wait_for_url("**/jobs/*")
    page.wait_for_selector(".job-pages li.failed", timeout=60_000)
    failed = page.locator(".job-pages li.failed")
    assert failed.count() == 1 and "the model refused this page" in failed.locator(".reason").inner_text()
    page.wait_for_selector("[data-resume]:not([hidden])", timeout=30_000)
    assert page.locator(".job-pages li.done").count() == 1
    assert "1 of 2 pages · 1 failed" in page.inner_text("[data-counters]")
    tab.shot("job-failed-page")
    emulator.script("m1", Reply(text=page_text))
    page.click("[data-resume]")
    page.wait_for_url("**/wiki/local/local/tiny**", timeout=60_000)  # done: the wiki opens by itself
    assert page.locator(".wiki-nav a").count() == 2 and page.locator("article h1").inner_text() == "Part"
    assert len(emulator.chat_requests()) == 4  # structure, two pages, and only the failed page again
    tab.shot("job-done-wiki")


def test_the_dark_theme_follows_the_system(web_app: WebApp, browser: Any, screenshots: Any) -> None:
    context = browser.new_context(color_scheme="dark", viewport={"width": 1280, "height": 860})
    try:
        page = context.new_page()
        page.goto(web_app.wiki + "/page-1", wait_until="networkidle")
        assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") == "rgb(20, 24, 29)"
        page.screenshot(path=str(screenshots / "reader-dark.png"))
    finally:
        context.close()
