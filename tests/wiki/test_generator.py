"""End to end over the router with scripted models on a small repository written by the test."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.scripted import answer
from tests.wiki.conftest import HashEmbedder, TopicModel, router_over
from wikismith.config.models import AppConfig
from wikismith.config.settings import Settings
from wikismith.llm.errors import BadRequest, UpstreamError
from wikismith.wiki.generator import PreparedRepo, Progress, WikiOptions, generate_wiki, prepare_repo
from wikismith.wiki.store import WikiStore
from wikismith.wiki.structure import StructureError

STRUCTURE = """Here is the structure you asked for:

```xml
<wiki_structure>
  <title>calcpkg & friends</title>
  <description>A calculator</description>
  <pages>
    <page id="page-1"><title>Overview</title><description>topic-alpha overview</description>
      <importance>high</importance>
      <relevant_files><file_path>README.md</file_path><file_path>calc/ops.py</file_path>
        <file_path>does/not/exist.py</file_path></relevant_files>
      <related_pages><related>page-2</related><related>page-99</related></related_pages></page>
    <page id="page-2"><title>Operations & Parsing</title><description>topic-beta ops</description>
      <relevant_files><file_path>calc/ops.py</file_path><file_path>calc/parser.py</file_path></relevant_files>
    </page>
    <page id="page-3"><title>Command line</title><description>topic-gamma cli</description>
      <relevant_files><file_path>cli.py</file_path></relevant_files></page>
  </pages>
</wiki_structure>
```
"""
TOPICS = ["create a wiki structure", "could not be used", "syntax errors", "topic-alpha", "topic-beta", "topic-gamma"]
PAGE_ALPHA = """Sure, here is the page.

# Overview

calcpkg adds numbers. See [ops](#page-2).

```mermaid
graph TD
  A[CLI --> B[ops]
```

Sources: [calc/ops.py:1-6](), [calc/ops.py:400-420](), [nowhere.py:1-3](), [README.md]()
"""
REPAIRED = "```mermaid\ngraph TD\n  A[CLI] --> B[ops]\n```"


async def prepared(settings: Settings, config: AppConfig, repo_dir: Path) -> PreparedRepo:
    return await prepare_repo(settings, config, str(repo_dir), embedder=HashEmbedder())


def scripted_wiki() -> TopicModel:
    model = TopicModel(TOPICS)
    model.add("create a wiki structure", *answer(STRUCTURE, cost=0.001))
    model.add("topic-alpha", *answer(PAGE_ALPHA, cost=0.01))
    model.add("syntax errors", *answer(REPAIRED))
    model.add("topic-beta", UpstreamError("500 boom", status=500))
    model.add("topic-beta", UpstreamError("500 boom", status=500))
    model.add("topic-beta", *answer("# Operations\n\nops.\n\nSources: [calc/ops.py:2-3]()"))
    model.add("topic-gamma", *answer("# Command line\n\nmain prints argv.\n\nSources: [cli.py:4-5]()"))
    return model


async def test_generates_a_whole_wiki_with_true_citations(
    settings: Settings, wiki_config: AppConfig, repo_dir: Path, tmp_path: Path
) -> None:
    model = scripted_wiki()
    repo = await prepared(settings, wiki_config, repo_dir)
    store = WikiStore(settings.data.wikicache)
    events: list[Progress] = []
    out = tmp_path / "out"
    summary = await generate_wiki(
        router_over(wiki_config, model),
        repo,
        out,
        WikiOptions(model="s/m"),
        language_name="English",
        store=store,
        progress=events.append,
    )
    assert summary.exit_code == 0, summary.failed
    assert (summary.total, summary.written, summary.failed) == (3, 3, {})
    assert model.calls("topic-beta") == 3  # failed twice, then succeeded (the router's retries)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "README.md",
        "manifest.json",
        "page-1.md",
        "page-2.md",
        "page-3.md",
        "wiki.json",
    ]
    page = (out / "page-1.md").read_text()
    assert page.startswith("<details>\n<summary>Relevant source files</summary>")
    assert f"- [calc/ops.py]({(repo_dir / 'calc/ops.py').as_uri()})" in page
    assert "Sure, here is" not in page
    assert "Sources: [calc/ops.py:1-6](), [calc/ops.py:" in page
    assert "nowhere.py" not in page and "400-420" not in page
    assert "A[cli] --> B[ops]" in page  # repaired by the model, then its node named after the real module cli
    assert "See [ops](page-2.md)" in page
    assert summary.citations.checked == 6
    assert summary.citations.removed == 1 and summary.citations.fixed == 1
    assert summary.diagrams_repaired == 1
    assert summary.tally.cost == pytest.approx(0.011)
    index = (out / "README.md").read_text()
    assert index.startswith("# calcpkg & friends\n")
    assert "- [Operations & Parsing](page-2.md)" in index
    wiki = json.loads((out / "wiki.json").read_text())
    assert wiki["wiki_structure"]["pages"][0]["filePaths"] == ["README.md", "calc/ops.py"]
    assert wiki["wiki_structure"]["pages"][0]["relatedPages"] == ["page-2"]
    assert "See [ops](#page-2)" in wiki["generated_pages"]["page-1"]["content"]
    assert wiki["provider"] == "s" and wiki["model"] == "m"
    manifest = json.loads((out / "manifest.json").read_text())
    assert {p["status"] for p in manifest["pages"].values()} == {"done"}
    assert wiki["comprehensive"] is False  # WikiOptions' default mode, recorded
    stored = store.get("local", "calcpkg", "local", "en", comprehensive=False)
    assert stored is not None and store.get("local", "calcpkg", "local", "en", comprehensive=True) is None
    assert events[-1].kind == "finished" and events[-1].done == 3


async def test_a_page_that_cites_nothing_ends_citing_its_retrieved_context(
    settings: Settings, wiki_config: AppConfig, repo_dir: Path, tmp_path: Path
) -> None:
    """Small models rarely write citations: such a page still gets true `path:start-end` ones, from the chunks
    it was written from; a page with citations of its own gets none added."""
    model = TopicModel(TOPICS)
    model.add("create a wiki structure", *answer(STRUCTURE))
    model.add("topic-alpha", *answer(PAGE_ALPHA))
    model.add("syntax errors", *answer(REPAIRED))
    model.add("topic-beta", *answer("# Operations\n\nops adds and parses numbers."))
    model.add("topic-gamma", *answer("# Command line\n\nmain prints argv.\n\nSources: [cli.py:4-5]()"))
    repo = await prepared(settings, wiki_config, repo_dir)
    out = tmp_path / "out"
    summary = await generate_wiki(
        router_over(wiki_config, model), repo, out, WikiOptions(model="s/m"), language_name="English"
    )
    assert summary.exit_code == 0, summary.failed
    last = (out / "page-2.md").read_text().rstrip().split("\n")[-1]
    assert last.startswith("Sources: [")
    cited = re.findall(r"\[([^\]:]+):(\d+)-(\d+)\]\(\)", last)
    assert cited and len(cited) == summary.citations.added
    for path, start, end in cited:
        lines = (repo_dir / path).read_text().count("\n") + 1
        assert 1 <= int(start) <= int(end) <= lines, (path, start, end)
    assert (out / "page-1.md").read_text().count("Sources:") == 1
    assert (out / "page-3.md").read_text().count("Sources:") == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["pages"]["page-2"]["citations"]["added"] == len(cited)
    assert manifest["pages"]["page-1"]["citations"]["added"] == 0


async def test_interrupted_run_resumes_with_the_missing_pages_only(
    settings: Settings, wiki_config: AppConfig, repo_dir: Path, tmp_path: Path
) -> None:
    model = scripted_wiki()
    model.reset("topic-beta", "topic-gamma")
    model.add("topic-beta", 30.0, *answer("# never"))  # still running when the run is stopped
    model.add("topic-gamma", 30.0, *answer("# never"))
    repo = await prepared(settings, wiki_config, repo_dir)
    out = tmp_path / "out"
    first_done = asyncio.Event()

    def on_progress(event: Progress) -> None:
        if event.kind == "page_done":
            first_done.set()

    run = asyncio.create_task(
        generate_wiki(
            router_over(wiki_config, model),
            repo,
            out,
            WikiOptions(model="s/m", concurrency=4),
            language_name="English",
            progress=on_progress,
        )
    )
    await asyncio.wait_for(first_done.wait(), 10)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    manifest = json.loads((out / "manifest.json").read_text())
    assert [p for p, r in manifest["pages"].items() if r["status"] == "done"] == ["page-1"]
    assert (out / "page-1.md").is_file() and not (out / "page-2.md").exists()

    again = TopicModel(TOPICS)
    again.add("topic-beta", *answer("# Operations\n\nSources: [calc/ops.py:2-3]()"))
    again.add("topic-gamma", *answer("# Command line\n\nSources: [cli.py:1]()"))
    summary = await generate_wiki(
        router_over(wiki_config, again), repo, out, WikiOptions(model="s/m"), language_name="English"
    )
    assert summary.exit_code == 0
    assert (summary.reused, summary.written) == (1, 2)
    assert sorted(t for t, _ in again.requests) == ["topic-beta", "topic-gamma"]  # no structure, no page-1


async def test_a_failed_page_is_recorded_the_others_finish_and_a_rerun_retries_it(
    settings: Settings, wiki_config: AppConfig, repo_dir: Path, tmp_path: Path
) -> None:
    model = scripted_wiki()
    model.reset("topic-beta")
    model.add("topic-beta", BadRequest("400 invalid prompt", status=400))
    repo = await prepared(settings, wiki_config, repo_dir)
    out = tmp_path / "out"
    store = WikiStore(settings.data.wikicache)
    summary = await generate_wiki(
        router_over(wiki_config, model), repo, out, WikiOptions(model="s/m"), language_name="English", store=store
    )
    assert summary.exit_code == 1
    assert list(summary.failed) == ["page-2"] and "invalid prompt" in summary.failed["page-2"]
    assert summary.written == 2
    assert "Operations & Parsing — *not generated (failed: " in (out / "README.md").read_text()
    assert store.get("local", "calcpkg", "local", "en") is None  # only complete wikis go to the cache
    again = TopicModel(TOPICS)
    again.add("topic-beta", *answer("# Operations\n\nfine"))
    summary = await generate_wiki(
        router_over(wiki_config, again), repo, out, WikiOptions(model="s/m"), language_name="English", store=store
    )
    assert summary.exit_code == 0 and [t for t, _ in again.requests] == ["topic-beta"]
    assert store.get("local", "calcpkg", "local", "en") is not None


async def test_unusable_structure_is_asked_again_with_the_parser_error(
    settings: Settings, wiki_config: AppConfig, repo_dir: Path, tmp_path: Path
) -> None:
    model = scripted_wiki()
    model.reset("create a wiki structure")
    model.add("create a wiki structure", *answer("<wiki_structure><title>oops</title>"))
    model.add("could not be used", *answer(STRUCTURE))
    repo = await prepared(settings, wiki_config, repo_dir)
    summary = await generate_wiki(
        router_over(wiki_config, model), repo, tmp_path / "out", WikiOptions(model="s/m"), language_name="English"
    )
    assert summary.exit_code == 0 and summary.structure_source == "model"
    retry = next(r for t, r in model.requests if t == "could not be used")
    assert "no closing </wiki_structure>" in (retry.messages[-1].content or "")
    assert retry.messages[1].role == "assistant"


def turtles() -> TopicModel:
    model = TopicModel([*TOPICS, "calc"])
    model.add("create a wiki structure", *answer("I like turtles"))
    model.add("could not be used", *answer("still turtles"))
    for _ in range(6):
        model.add("calc", *answer("# Page\n\ntext"))
    return model


async def test_structure_failure_is_an_error_naming_the_model(
    settings: Settings, wiki_config: AppConfig, repo_dir: Path, tmp_path: Path
) -> None:
    repo = await prepared(settings, wiki_config, repo_dir)
    with pytest.raises(StructureError, match=r"model s/m .*answer began: 'still turtles'"):
        await generate_wiki(
            router_over(wiki_config, turtles()),
            repo,
            tmp_path / "out",
            WikiOptions(model="s/m"),
            language_name="English",
        )
    assert not (tmp_path / "out" / "manifest.json").exists()


async def test_structure_failure_falls_back_to_the_file_tree_when_allowed(
    settings: Settings, wiki_config: AppConfig, repo_dir: Path, tmp_path: Path
) -> None:
    repo = await prepared(settings, wiki_config, repo_dir)
    options = WikiOptions(model="s/m", fallback_structure=True)
    summary = await generate_wiki(
        router_over(wiki_config, turtles()), repo, tmp_path / "out", options, language_name="English"
    )
    assert summary.structure_source == "fallback" and summary.exit_code == 0
    assert 4 <= summary.total <= 6


async def test_budget_stops_new_pages_and_leaves_them_pending(
    settings: Settings, wiki_config: AppConfig, repo_dir: Path, tmp_path: Path
) -> None:
    model = scripted_wiki()
    repo = await prepared(settings, wiki_config, repo_dir)
    summary = await generate_wiki(
        router_over(wiki_config, model),
        repo,
        tmp_path / "out",
        WikiOptions(model="s/m", concurrency=1, budget=0.005),
        language_name="English",
    )
    assert summary.written == 1 and summary.pending == ["page-2", "page-3"]
    assert summary.exit_code == 1 and summary.stopped is not None and "budget" in summary.stopped


async def test_a_second_run_on_the_same_output_is_refused_while_the_first_holds_it(
    settings: Settings, wiki_config: AppConfig, repo_dir: Path, tmp_path: Path
) -> None:
    from wikismith.wiki.manifest import RunLocked, run_lock

    repo = await prepared(settings, wiki_config, repo_dir)
    with run_lock(tmp_path / "out"), pytest.raises(RunLocked, match="another wikismith run"):
        await generate_wiki(
            router_over(wiki_config, scripted_wiki()),
            repo,
            tmp_path / "out",
            WikiOptions(model="s/m"),
            language_name="English",
        )


async def generated_then_one_page(
    settings: Settings, wiki_config: AppConfig, repo_dir: Path, out: Path, *intro: Any
) -> tuple[PreparedRepo, TopicModel]:
    """A wiki generated in `out`, and a model whose outline has one page, "intro", answered with `intro`."""
    repo = await prepared(settings, wiki_config, repo_dir)
    await generate_wiki(
        router_over(wiki_config, scripted_wiki()), repo, out, WikiOptions(model="s/m"), language_name="English"
    )
    model = TopicModel(TOPICS)
    one_page = (
        STRUCTURE.split("<page id=")[0]
        + '<page id="intro"><title>Intro</title><description>topic-alpha</description></page></pages></wiki_structure>'
    )
    model.add("create a wiki structure", *answer(one_page))
    model.add("topic-alpha", *intro)
    return repo, model


async def test_a_run_for_another_language_starts_afresh_and_removes_old_pages(
    settings: Settings, wiki_config: AppConfig, repo_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    repo, model = await generated_then_one_page(settings, wiki_config, repo_dir, out, *answer("# Intro\n\nBonjour."))
    summary = await generate_wiki(
        router_over(wiki_config, model), repo, out, WikiOptions(model="s/m", language="fr"), language_name="Français"
    )
    assert summary.exit_code == 0 and summary.total == 1
    assert sorted(p.name for p in out.glob("*.md")) == ["README.md", "intro.md"]


async def test_an_interrupted_fresh_run_leaves_no_index_of_the_old_pages(
    settings: Settings, wiki_config: AppConfig, repo_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    # The page's answer is still running when the run is stopped.
    repo, model = await generated_then_one_page(settings, wiki_config, repo_dir, out, 30.0, *answer("# never"))
    started = asyncio.Event()

    def on_progress(event: Progress) -> None:
        if event.kind == "page_started":
            started.set()

    options = WikiOptions(model="s/m", language="fr")
    router = router_over(wiki_config, model)
    run = asyncio.create_task(generate_wiki(router, repo, out, options, language_name="Français", progress=on_progress))
    await asyncio.wait_for(started.wait(), 10)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert sorted(p.name for p in out.glob("page-*.md")) == []
    readme = (out / "README.md").read_text()
    assert "- Intro — *not generated (pending)*" in readme and not re.findall(r"\]\(([^)]+\.md)\)", readme)
    wiki = json.loads((out / "wiki.json").read_text())
    assert [p["id"] for p in wiki["wiki_structure"]["pages"]] == ["intro"]
    assert wiki["generated_pages"] == {}


async def test_an_output_that_cannot_be_a_directory_is_an_output_error(
    settings: Settings, wiki_config: AppConfig, repo_dir: Path, tmp_path: Path
) -> None:
    from wikismith.wiki.manifest import OutputError

    repo = await prepared(settings, wiki_config, repo_dir)
    taken = tmp_path / "a-file"
    taken.write_text("x\n")
    for out in (taken, taken / "out"):
        with pytest.raises(OutputError, match=f"cannot write the wiki to {out}: "):
            await generate_wiki(
                router_over(wiki_config, scripted_wiki()), repo, out, WikiOptions(model="s/m"), language_name="English"
            )
