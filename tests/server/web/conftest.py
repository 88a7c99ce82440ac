"""The web app's test set-up: a repository under WIKISMITH_LOCAL_ROOTS, a cached wiki of it (pages with a
Mermaid diagram, a broken one, citations, math, sections), and the app served by uvicorn on 127.0.0.1 over the
provider emulator (chat and embeddings) — one server per test module."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import (
    LiveServer,
    emulator_providers,
    make_settings,
    write_embedder,
    write_generator,
)
from tests.support.emulator import Emulator
from wikismith.config.models import load_config
from wikismith.server import create_app
from wikismith.wiki.store import RepoInfo, WikiCacheData, WikiPage, WikiSection, WikiStore, WikiStructure

COMMIT = "0123456789abcdef0123456789abcdef01234567"
DIAGRAM = "```mermaid\ngraph TD\n  Parser[Parser] --> Evaluator[Evaluator]\n  Evaluator --> Result[Result]\n```\n"
BROKEN = "```mermaid\ngraph TD\n  A -->>> \n```\n"


def repo_files(root: Path) -> None:
    (root / "calc").mkdir(parents=True, exist_ok=True)
    (root / "calc" / "parser.py").write_text(
        "".join(f"def rule_{i}(tokens):\n    return tokens[{i}]\n\n" for i in range(30)), encoding="utf-8"
    )
    (root / "calc" / "evaluator.py").write_text("def evaluate(tree):\n    return tree.value\n", encoding="utf-8")
    (root / "README.md").write_text("# demo\nA calculator.\n", encoding="utf-8")


def page_text(i: int, *, diagram: str = "", words: int = 0) -> str:
    filler = " ".join(f"word{j}" for j in range(words))
    return (
        f"# Page {i}\n\nThe parser turns tokens into a tree; $a^2 + b^2$ is math.\n\n## How it works\n\n{filler}\n\n"
        "| step | module |\n|---|---|\n| parse | `calc/parser.py` |\n\n"
        "```python\ndef evaluate(tree):\n    return tree.value\n```\n\n"
        f"{diagram}\nSee [the evaluator](#page-2).\n\nSources: [calc/parser.py:4-6]()\n"
    )


def build_wiki(home: Path, repo: Path, *, pages: int = 3, owner: str = "local", name: str = "demo",
               language: str = "en", comprehensive: bool = False, words: int = 0) -> WikiCacheData:  # fmt: skip
    """A cached wiki of `repo` (local) in `home`'s wiki cache, as `wikismith generate` writes one."""
    generated = {}
    for i in range(1, pages + 1):
        diagram = DIAGRAM if i == 1 else BROKEN if i == 2 else ""
        generated[f"page-{i}"] = WikiPage(
            id=f"page-{i}", title=f"Page {i}", content=page_text(i, diagram=diagram, words=words),
            filePaths=["calc/parser.py"], relatedPages=[f"page-{j}" for j in (1, 2, 3) if j != i and j <= pages],
        )  # fmt: skip
    half = max(1, pages // 2)
    structure = WikiStructure(
        title=f"{name} wiki",
        description="A calculator's wiki.",
        pages=[p.model_copy(update={"content": ""}) for p in generated.values()],
        sections=[
            WikiSection(id="overview", title="Overview", pages=[f"page-{i}" for i in range(1, half + 1)]),
            WikiSection(id="internals", title="Internals", pages=[f"page-{i}" for i in range(half + 1, pages + 1)]),
        ],
        rootSections=["overview", "internals"],
    )
    data = WikiCacheData(
        wiki_structure=structure, generated_pages=generated, provider="emu", model="m1", commit=COMMIT,
        repo=RepoInfo(owner=owner, repo=name, type="local", localPath=str(repo)),
    )  # fmt: skip
    WikiStore(home / "wikicache").put(owner, name, "local", language, data, comprehensive)
    return data


@dataclass
class WebApp:
    server: LiveServer
    home: Path
    repo: Path
    roots: Path
    emulator: Emulator

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def wiki(self) -> str:
        return self.url + "/wiki/local/local/demo"


def start_app(base: Path, emulator: Emulator, default_model: str = "m1", **env: Any) -> WebApp:
    """The web app over a demo wiki made by emu/m1; `default_model` is the configuration's default for emu."""
    roots = base / "roots"
    repo = roots / "demo"
    repo_files(repo)
    config_dir = base / "config"
    providers = emulator_providers(emulator.base_url)
    providers["emu"]["default_model"] = default_model
    write_generator(config_dir, providers)
    write_embedder(config_dir)
    home = base / "home"
    build_wiki(home, repo)
    env.setdefault("WIKISMITH_LOCAL_ROOTS", str(roots))
    env.setdefault("WIKISMITH_CATALOGUE_REFRESH", "0")
    settings = make_settings(home, config_dir, **env)
    app = create_app(settings, load_config(config_dir, settings.env))
    return WebApp(LiveServer(app).start(), home, repo, roots, emulator)


@pytest.fixture(scope="module")
def web_app(tmp_path_factory: pytest.TempPathFactory, emulator_server: Emulator) -> Iterator[WebApp]:
    app = start_app(tmp_path_factory.mktemp("web"), emulator_server)
    yield app
    app.server.stop()


# --- the browser --------------------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-default-apps", "--disable-extensions",
]  # fmt: skip
LOOPBACK = ("http://127.0.0.1:", "data:", "blob:", "about:")


def ensure_chromium() -> Path:
    """Debian's chromium (Playwright's own browser download cannot work here), installed when missing."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0:
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), or run as root")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env, stdout=subprocess.DEVNULL)
    return CHROMIUM


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(exist_ok=True)
    _SHOTS.append(folder)
    return folder


_SHOTS: list[Path] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for folder in _SHOTS:
        if any(folder.iterdir()):
            terminalreporter.write_line(f"browser screenshots: {folder}")


@pytest.fixture(scope="module")  # the browser tests are one module: one browser for all of them
def browser() -> Iterator[Any]:
    """Chromium for one module, closed after it: Playwright's sync API leaves its event loop marked running in
    this thread while it is open, which would break any later test that runs an event loop of its own."""
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Tab:
    """A browser page whose every request is logged; any not to the server on loopback is refused."""

    page: Any
    requests: list[str]
    outside: list[str]
    shots: Path

    def shot(self, name: str, *, full: bool = False) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full)
        return path


def open_tab(browser: Any, shots: Path, *, width: int = 1280, height: int = 860) -> Tab:
    context = browser.new_context(viewport={"width": width, "height": height}, service_workers="block")
    requests: list[str] = []
    outside: list[str] = []

    def route(handle: Any) -> None:
        url = handle.request.url
        requests.append(url)
        if url.startswith(LOOPBACK):
            handle.continue_()
        else:
            outside.append(url)
            handle.abort()

    context.route("**/*", route)
    return Tab(context.new_page(), requests, outside, shots)


@pytest.fixture
def tab(browser: Any, screenshots: Path) -> Iterator[Tab]:
    opened = open_tab(browser, screenshots)
    yield opened
    opened.page.context.close()
    assert opened.requests, "the page made no request at all"
    assert not opened.outside, f"requests left loopback: {opened.outside}"
