"""`wikismith generate` and `wikismith remove` as a user runs them: a subprocess against the emulator on
loopback, killed mid-run with SIGKILL and run again; `remove` in-process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.support.emulator import Emulator, Reply, error
from tests.wiki.test_generator import STRUCTURE
from wikismith.cli import remove

ALPHA = (
    "# Overview\n\nIt adds. See [ops](#page-2).\n\nSources: [calc/ops.py:1-4](), [calc/ops.py:900-990](), [x.py:1]()"
)
WIKISMITH = [sys.executable, "-c", "from wikismith.cli.app import main; main()"]


def write_config(directory: Path, base_url: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    generator = {
        "default_provider": "emu",
        "providers": {
            "emu": {
                "client_class": "OpenAICompatibleClient",
                "default_model": "m",
                "supportsCustomModel": True,
                "base_url": base_url,
                "models": {"m": {"temperature": 0.2}},
            }
        },
    }
    embedder = {
        "default": "emu",
        "embedder_emu": {
            "client_class": "OpenAICompatibleClient",
            "initialize_kwargs": {"base_url": base_url},
            "model_kwargs": {"model": "emb", "dimensions": 16},
        },
    }
    (directory / "generator.json").write_text(json.dumps(generator))
    (directory / "embedder.json").write_text(json.dumps(embedder))
    return directory


def env_for(tmp_path: Path, emulator: Emulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WIKISMITH_", "DEEPWIKI_"))}
    env.update(
        WIKISMITH_HOME=str(tmp_path / "home"),
        WIKISMITH_CONFIG_DIR=str(write_config(tmp_path / "config", emulator.base_url)),
        NO_COLOR="1",
    )
    return env


def topics(emulator: Emulator, since: int) -> list[str]:
    """What each chat request since `since` asked for: the structure or a page's topic."""
    found = []
    for request in emulator.chat_requests()[since:]:
        text = request.json["messages"][-1]["content"]
        if "create a wiki structure" in text:
            found.append("structure")
        else:
            found.append(next((t for t in ("topic-alpha", "topic-beta", "topic-gamma") if t in text), "?"))
    return found


def wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def page_done(manifest: Path, page_id: str) -> bool:
    try:
        return bool(json.loads(manifest.read_text())["pages"][page_id]["status"] == "done")
    except (OSError, ValueError, KeyError):
        return False


def test_generate_killed_mid_run_resumes_without_redoing_pages(
    emulator: Emulator, repo_dir: Path, tmp_path: Path
) -> None:
    env = env_for(tmp_path, emulator)
    out = tmp_path / "out"
    args = [*WIKISMITH, "generate", str(repo_dir), "--model", "emu/m", "--output", str(out), "--concurrency", "1"]
    emulator.script("m", Reply(text=STRUCTURE), Reply(text=ALPHA), Reply(text="# never", delay=15))
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: page_done(out / "manifest.json", "page-1") and "topic-beta" in topics(emulator, 0))
    finally:
        process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate(timeout=10)
        print(stderr)
    assert topics(emulator, 0) == ["structure", "topic-alpha", "topic-beta"]
    first_run = len(emulator.chat_requests())

    emulator.script(
        "m",
        error(500, "upstream hiccup"),
        error(500, "upstream hiccup"),
        Reply(text="# Operations\n\nSources: [calc/ops.py:2-3]()"),
        Reply(text="# Command line\n\nSources: [cli.py:4-5]()"),
    )
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert topics(emulator, first_run) == ["topic-beta"] * 3 + ["topic-gamma"]  # no structure, no page-1 again
    assert "pages: 2 written, 1 already done, 0 failed, 0 pending of 3" in done.stdout
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "README.md", "manifest.json", "page-1.md", "page-2.md", "page-3.md", "wiki.json"
    ]  # fmt: skip
    page = (out / "page-1.md").read_text()
    assert "Sources: [calc/ops.py:1-4](), [calc/ops.py:" in page and "900-990" not in page and "x.py" not in page
    assert "[Operations & Parsing](page-2.md)" in (out / "README.md").read_text()
    wiki = json.loads((out / "wiki.json").read_text())
    assert sorted(wiki["generated_pages"]) == ["page-1", "page-2", "page-3"]
    cached = sorted(p.name for p in (tmp_path / "home" / "wikicache").iterdir())
    assert cached == ["deepwiki_cache_local_local_calcpkg_en_concise.json"]  # the default mode, recorded


def test_generate_reports_failed_pages_by_name_and_exits_1(emulator: Emulator, repo_dir: Path, tmp_path: Path) -> None:
    env = env_for(tmp_path, emulator)
    out = tmp_path / "out"
    emulator.script(
        "m", Reply(text=STRUCTURE), Reply(text=ALPHA), error(400, "bad prompt"), Reply(text="# Command line\n\nok")
    )
    (repo_dir / "logo.bin").write_bytes(b"\x89PNG\x00\x01\x02" * 10)
    args = [*WIKISMITH, "generate", str(repo_dir), "--model", "emu/m", "--output", str(out), "-j", "1"]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "failed pages: page-2" in " ".join(result.stderr.split())
    assert "files: 5 indexed, 1 skipped (excluded_file 1)" in result.stderr  # what was left out is said, by reason
    assert (out / "page-1.md").is_file() and (out / "page-3.md").is_file()


def test_generate_refuses_a_repository_with_nothing_to_document(emulator: Emulator, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "blob.bin").write_bytes(b"\x00\x01\x02")
    args = [*WIKISMITH, "generate", str(empty), "--model", "emu/m", "--output", str(tmp_path / "out")]
    result = subprocess.run(args, env=env_for(tmp_path, emulator), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "files: 0 indexed, 1 skipped" in result.stderr and "nothing to document" in result.stderr
    assert emulator.chat_requests() == []


def test_generate_rejects_an_unknown_language(tmp_path: Path, emulator: Emulator, repo_dir: Path) -> None:
    args = [*WIKISMITH, "generate", str(repo_dir), "--model", "emu/m", "--language", "xx"]
    result = subprocess.run(args, env=env_for(tmp_path, emulator), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "unsupported language 'xx'" in result.stderr


@pytest.mark.parametrize(("output", "problem"), [("a-file", "is not a directory"), ("a-file/out", "cannot be created")])
def test_generate_refuses_an_output_that_cannot_be_a_directory_before_indexing(
    tmp_path: Path, emulator: Emulator, repo_dir: Path, output: str, problem: str
) -> None:
    (tmp_path / "a-file").write_text("not a directory\n")
    args = [*WIKISMITH, "generate", str(repo_dir), "--model", "emu/m", "--output", str(tmp_path / output)]
    result = subprocess.run(args, env=env_for(tmp_path, emulator), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert f"--output {tmp_path / output} {problem}" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr and "files:" not in result.stderr  # refused before indexing
    assert emulator.requests == []


def test_remove_lists_then_deletes_exactly_that_repository(home: Path, tmp_path: Path) -> None:
    from wikismith.rag import repo_key
    from wikismith.rag.types import RepoRef

    ref = RepoRef(type="github", owner="o", name="r", url="https://github.com/o/r")
    other = RepoRef(type="github", owner="o", name="r_x", url="https://github.com/o/r_x")
    key, other_key = repo_key(ref), repo_key(other)
    for path in (home / "repos" / key, home / "repos" / other_key, home / "wikis" / key):
        path.mkdir(parents=True)
    index = home / "indexes" / f"{key}_test-hash_0123456789ab"
    other_index = home / "indexes" / f"{other_key}_test-hash_0123456789ab"
    for directory, name in ((index, "r"), (other_index, "r_x")):
        (directory / "v1").mkdir(parents=True)
        (directory / "CURRENT").write_text("v1")
        manifest = {"repo": {"type": "github", "owner": "o", "name": name}}
        (directory / "v1" / "manifest.json").write_text(json.dumps(manifest))
    cache = home / "wikicache"
    cache.mkdir()
    mine = cache / "deepwiki_cache_github_o_r_en.json"
    theirs = cache / "deepwiki_cache_github_o_r_x_en.json"
    for path, name in ((mine, "r"), (theirs, "r_x")):
        path.write_text(json.dumps({"wiki_structure": {"title": "t"}, "repo": {"owner": "o", "repo": name}}))
    app = typer.Typer()
    remove.register(app)
    app.command("noop")(lambda: None)  # a second command keeps `remove` a subcommand
    result = CliRunner().invoke(app, ["remove", "https://github.com/o/r", "--yes"])
    assert result.exit_code == 0, result.output
    assert str(index) in result.output and str(mine) in result.output
    assert not (home / "repos" / key).exists() and not index.exists() and not mine.exists()
    assert not (home / "wikis" / key).exists()
    assert (home / "repos" / other_key).exists() and other_index.exists() and theirs.exists()


def test_remove_leaves_the_cached_wiki_of_a_namesake_on_another_host(home: Path) -> None:
    cache = home / "wikicache"
    cache.mkdir(parents=True)
    elsewhere = cache / "deepwiki_cache_github_o_r_en.json"
    recorded = {"owner": "o", "repo": "r", "type": "github", "repoUrl": "http://127.0.0.1:18240/o/r"}
    elsewhere.write_text(json.dumps({"wiki_structure": {"title": "t"}, "repo": recorded}))
    app = typer.Typer()
    remove.register(app)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["remove", "https://github.com/o/r", "--yes"])
    assert str(elsewhere) not in result.output and elsewhere.exists(), result.output


def test_remove_without_yes_asks_and_keeps_on_no(home: Path) -> None:
    from wikismith.rag import repo_key
    from wikismith.rag.types import RepoRef

    clone = home / "repos" / repo_key(RepoRef(type="github", owner="o", name="r", url="https://github.com/o/r"))
    clone.mkdir(parents=True)
    app = typer.Typer()
    remove.register(app)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["remove", "https://github.com/o/r"], input="n\n")
    assert result.exit_code == 1
    assert clone.exists()


def test_export_writes_deepwiki_markdown_and_json(tmp_path: Path) -> None:
    from wikismith.cli import export
    from wikismith.wiki.store import RepoInfo, WikiCacheData, WikiPage, WikiStructure

    page = WikiPage(id="page-1", title="Overview", content="# Overview\n\nHello.")
    data = WikiCacheData(
        wiki_structure=WikiStructure(title="T", pages=[page.model_copy(update={"content": ""})]),
        generated_pages={"page-1": page},
        repo=RepoInfo(owner="o", repo="r", repoUrl="https://github.com/o/r"),
    )
    (tmp_path / "wiki.json").write_text(data.to_json())
    app = typer.Typer()
    export.register(app)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["export", str(tmp_path), "--output", str(tmp_path / "w.md")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "w.md").read_text()
    assert text.startswith("# Wiki Documentation for https://github.com/o/r\n")
    assert "<a id='page-1'></a>\n\n## Overview" in text
    result = CliRunner().invoke(app, ["export", str(tmp_path), "-f", "json"])
    assert result.exit_code == 0, result.output
    written = Path(result.output.strip())
    assert written.name.startswith("r_wiki_") and json.loads(written.read_text())["metadata"]["page_count"] == 1
