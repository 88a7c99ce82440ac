"""The chat flow over a scripted model behind the real Router: validation first, sources, DeepWiki's prompts,
Deep Research iterations, the no-context retry on ContextTooLong, and the per-process index cache."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.rag.conftest import SAMPLE, write_tree
from tests.support.embedders import HashEmbedder
from tests.support.git_http import GitServer, commit, git, make_repo
from tests.support.scripted import ScriptedModel, answer
from wikismith.chat import ChatInput, ContextDropped, IndexCache, Sources, chat_stream
from wikismith.config.models import AppConfig, ConfigError
from wikismith.config.settings import Settings
from wikismith.llm.errors import AuthError, ContextTooLong
from wikismith.llm.events import TextDelta
from wikismith.llm.types import ChatRequest
from wikismith.rag import RepoNotFound, UnsafeSource
from wikismith.router import Router
from wikismith.router.retry import RetryPolicy


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "repo", SAMPLE)


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel()


@pytest.fixture
def router(config: AppConfig, model: ScriptedModel) -> Router:
    return Router(config, client_factory=lambda provider: model, policy=RetryPolicy(max_attempts=1))


def ask(repo: Path, *messages: tuple[str, str], **kw: Any) -> ChatInput:
    turns = [{"role": r, "content": c} for r, c in messages]
    return ChatInput.model_validate({"repo": str(repo), "messages": turns, "model": "s/m", **kw})


async def run(router: Router, settings: Settings, config: AppConfig, inp: ChatInput, **kw: Any) -> list[Any]:
    kw.setdefault("embedder", HashEmbedder())
    kw.setdefault("cache", IndexCache())
    return [event async for event in chat_stream(router, settings, config, inp, **kw)]


def text_of(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def last_request(model: ScriptedModel) -> ChatRequest:
    return model.requests[-1]


async def test_sources_come_first_then_the_streamed_answer(
    repo: Path, router: Router, model: ScriptedModel, settings: Settings, config: AppConfig
) -> None:
    model.add("m", *answer("It sends mail via smtp_send."))
    events = await run(router, settings, config, ask(repo, ("user", "smtp_send address body")))
    assert isinstance(events[0], Sources)
    assert events[0].chunks[0].chunk.path == "src/mailer.py"
    assert text_of(events) == "It sends mail via smtp_send."


async def test_the_prompt_has_the_system_role_context_with_lines_and_the_query(
    repo: Path, router: Router, model: ScriptedModel, settings: Settings, config: AppConfig
) -> None:
    model.add("m", *answer("ok"))
    await run(router, settings, config, ask(repo, ("user", "smtp_send?"), language="ja"))
    system, user = last_request(model).messages[0], last_request(model).messages[-1]
    assert system.role == "system" and "You MUST respond in Japanese (日本語) language" in (system.content or "")
    assert "expert code analyst" in (system.content or "")
    content = user.content or ""
    assert "<START_OF_CONTEXT>" in content and "## File Path: src/mailer.py" in content
    assert "Lines 1-3:" in content and content.endswith("<query>\nsmtp_send?\n</query>")


async def test_history_is_sent_as_turns(
    repo: Path, router: Router, model: ScriptedModel, settings: Settings, config: AppConfig
) -> None:
    model.add("m", *answer("ok"))
    inp = ask(repo, ("user", "first question"), ("assistant", "first answer"), ("user", "second"))
    await run(router, settings, config, inp)
    roles = [(m.role, m.content) for m in last_request(model).messages[1:-1]]
    assert roles == [("user", "first question"), ("assistant", "first answer")]


@pytest.mark.parametrize(
    "messages",
    [[], [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]],
)
def test_bad_messages_are_rejected_by_validation(messages: list[dict[str, str]]) -> None:
    with pytest.raises(ValidationError):
        ChatInput.model_validate({"repo": "/x", "messages": messages})


async def test_an_unknown_model_fails_before_the_repository_is_opened(
    tmp_path: Path, router: Router, settings: Settings, config: AppConfig
) -> None:
    inp = ask(tmp_path / "does-not-exist", ("user", "q"), model="nope/x")
    with pytest.raises(ConfigError, match="nope"):
        await run(router, settings, config, inp)
    with pytest.raises(RepoNotFound):
        await run(router, settings, config, ask(tmp_path / "does-not-exist", ("user", "q")))


def test_deepwiki_request_fields_are_accepted(repo: Path, config: AppConfig) -> None:
    inp = ChatInput.model_validate(
        {
            "repo_url": str(repo),
            "type": "local",
            "token": "tok-123456",
            "filePath": "src/mailer.py",
            "provider": "s",
            "model": "m",
            "messages": [{"role": "user", "content": "q"}],
            "excluded_dirs": "docs\nbuild",
            "custom_model": "ignored",
        }
    )
    assert inp.repo == str(repo) and inp.file_path == "src/mailer.py" and inp.model_name(config) == "s/m"
    assert inp.access_token is not None and "tok-123456" not in repr(inp)
    filters = inp.filters()
    assert filters is not None and filters.excluded_dirs == ["docs", "build"]


async def test_request_filters_exclude_files_from_retrieval(
    repo: Path, router: Router, model: ScriptedModel, settings: Settings, config: AppConfig
) -> None:
    model.add("m", *answer("ok"))
    events = await run(router, settings, config, ask(repo, ("user", "configure SMTP_HOST"), excluded_dirs="docs"))
    assert all(hit.chunk.path != "docs/guide.md" for hit in events[0].chunks)


async def test_the_current_file_is_read_from_the_checkout_and_never_outside_it(
    repo: Path, tmp_path: Path, router: Router, model: ScriptedModel, settings: Settings, config: AppConfig
) -> None:
    (tmp_path / "secret.txt").write_text("TOP SECRET")
    model.add("m", *answer("ok"))
    model.add("m", *answer("ok"))
    await run(router, settings, config, ask(repo, ("user", "explain"), file_path="src/mailer.py"))
    assert '<currentFileContent path="src/mailer.py">\ndef send_email' in (
        last_request(model).messages[-1].content or ""
    )
    await run(router, settings, config, ask(repo, ("user", "explain"), file_path="../secret.txt"))
    assert "TOP SECRET" not in (last_request(model).messages[-1].content or "")


@pytest.mark.parametrize(
    ("assistant_turns", "heading"),
    [(0, "## Research Plan"), (1, "## Research Update 2"), (3, "## Research Update 4"), (4, "## Final Conclusion")],
)
async def test_deep_research_picks_the_iteration_prompt(
    repo: Path,
    router: Router,
    model: ScriptedModel,
    settings: Settings,
    config: AppConfig,
    assistant_turns: int,
    heading: str,
) -> None:
    turns: list[tuple[str, str]] = [("user", "[DEEP RESEARCH] How are invoices parsed?")]
    for i in range(assistant_turns):
        turns += [("assistant", f"finding {i}"), ("user", "[DEEP RESEARCH] Continue the research")]
    model.add("m", *answer("ok"))
    await run(router, settings, config, ask(repo, *turns))
    request = last_request(model)
    assert heading in (request.messages[0].content or "")
    final = request.messages[-1].content or ""
    assert final.endswith("<query>\nHow are invoices parsed?\n</query>")  # the topic, not "Continue the research"
    assert "[DEEP RESEARCH]" not in final


async def test_context_too_long_is_retried_once_without_the_retrieved_context(
    repo: Path, router: Router, model: ScriptedModel, settings: Settings, config: AppConfig
) -> None:
    model.add("m", ContextTooLong("maximum context length exceeded"))
    model.add("m", *answer("short answer"))
    events = await run(router, settings, config, ask(repo, ("user", "smtp_send?")))
    assert [type(e).__name__ for e in events[:2]] == ["Sources", "ContextDropped"]
    assert isinstance(events[1], ContextDropped)
    assert text_of(events) == "short answer"
    retry = last_request(model).messages[-1].content or ""
    assert "<START_OF_CONTEXT>" not in retry and "due to input size constraints" in retry


async def test_other_model_errors_are_raised_not_retried(
    repo: Path, router: Router, model: ScriptedModel, settings: Settings, config: AppConfig
) -> None:
    model.add("m", AuthError("bad key"))
    with pytest.raises(AuthError):
        await run(router, settings, config, ask(repo, ("user", "q")))
    assert len(model.requests) == 1


async def test_the_index_is_cached_between_questions(
    repo: Path, router: Router, model: ScriptedModel, settings: Settings, config: AppConfig
) -> None:
    embedder, cache = HashEmbedder(), IndexCache()
    for _ in range(2):
        model.add("m", *answer("ok"))
    await run(router, settings, config, ask(repo, ("user", "one")), embedder=embedder, cache=cache)
    after_first = len(embedder.embedded)
    await run(router, settings, config, ask(repo, ("user", "two")), embedder=embedder, cache=cache)
    assert len(embedder.embedded) == after_first + 1  # only the query was embedded


def test_the_index_cache_evicts_the_least_recently_used() -> None:
    cache = IndexCache(size=2)
    a, b, c = (object() for _ in range(3))
    cache.put("a", a)  # type: ignore[arg-type]
    cache.put("b", b)  # type: ignore[arg-type]
    assert cache.get("a") is a
    cache.put("c", c)  # type: ignore[arg-type]
    assert cache.get("b") is None and cache.get("a") is a and cache.get("c") is c


async def test_a_remote_repository_is_cloned_once_per_freshness_window(
    tmp_path: Path, model: ScriptedModel, settings: Settings, make_config: Callable[..., AppConfig]
) -> None:
    config = make_config(repository={"allowed_hosts": ["127.0.0.1"], "allow_private_hosts": True})
    router = Router(config, client_factory=lambda provider: model, policy=RetryPolicy(max_attempts=1))
    root = tmp_path / "served"
    make_repo(root, "acme", "mail", {"src/mailer.py": SAMPLE["src/mailer.py"]})
    cache = IndexCache()
    with GitServer(root, token="tok-abcdef-123") as server:
        fetches = []
        for _ in range(2):
            model.add("m", *answer("ok"))
            inp = ChatInput.model_validate(
                {"repo_url": server.url("acme", "mail"), "token": "tok-abcdef-123", "model": "s/m",
                 "messages": [{"role": "user", "content": "smtp_send"}]}
            )  # fmt: skip
            events = await run(router, settings, config, inp, cache=cache)
            assert events[0].chunks[0].chunk.path == "src/mailer.py"
            fetches.append(len(server.authorizations))
    assert fetches[0] > 0 and fetches[1] == fetches[0]  # the second question did not fetch again


async def test_a_chat_request_can_name_the_branch_to_answer_from(
    tmp_path: Path, model: ScriptedModel, settings: Settings, make_config: Callable[..., AppConfig]
) -> None:
    config = make_config(repository={"allowed_hosts": ["127.0.0.1"], "allow_private_hosts": True})
    router = Router(config, client_factory=lambda provider: model, policy=RetryPolicy(max_attempts=1))
    root = tmp_path / "served"
    work = make_repo(root, "acme", "mail", {"src/mailer.py": SAMPLE["src/mailer.py"]})
    git(work, "checkout", "-q", "-b", "v2")
    commit(work, {"src/pager.py": "def page_someone(number):\n    return dial(number)\n"}, "pager")
    git(work, "push", "-q", "origin", "v2")
    seen = {}
    with GitServer(root) as server:
        for ref in (None, "v2"):
            model.add("m", *answer("ok"))
            inp = ChatInput.model_validate(
                {"repo_url": server.url("acme", "mail"), "ref": ref, "model": "s/m",
                 "messages": [{"role": "user", "content": "page_someone"}]}
            )  # fmt: skip
            events = await run(router, settings, config, inp, cache=IndexCache())
            seen[ref] = {hit.chunk.path for hit in events[0].chunks}
    assert "src/pager.py" in seen["v2"] and "src/pager.py" not in seen[None]


async def test_local_roots_are_enforced_on_every_question(
    repo: Path, tmp_path: Path, router: Router, model: ScriptedModel, settings: Settings, config: AppConfig
) -> None:
    cache = IndexCache()
    model.add("m", *answer("ok"))
    await run(router, settings, config, ask(repo, ("user", "q")), cache=cache)  # the CLI: any directory
    elsewhere = tmp_path / "allowed"
    elsewhere.mkdir()
    with pytest.raises(UnsafeSource):
        await run(router, settings, config, ask(repo, ("user", "q")), cache=cache, local_roots=[elsewhere])
