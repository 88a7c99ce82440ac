"""Failures said in words a reader can act on (`ask.explain`), and forge links at the commit (`sources`)."""

from __future__ import annotations

from pathlib import Path

from wikismith.llm.errors import AllTargetsFailed, ContextTooLong, InsufficientCredits, RateLimited, UpstreamError
from wikismith.rag.source import UnsafeSource
from wikismith.rag.types import RepoRef, RepoSnapshot
from wikismith.server.web.ask import explain
from wikismith.server.web.sources import Repository


def test_each_provider_failure_gets_its_own_words() -> None:
    credits = explain(InsufficientCredits("no money", status=402))
    assert credits["kind"] == "no_credits" and credits["message"].startswith("No credits left")
    limited = explain(RateLimited("slow down", status=429, retry_after=2.2))
    assert limited["kind"] == "rate_limited" and "Try again in 3 s." in limited["message"]
    long = explain(AllTargetsFailed("all failed", attempts=[], last=ContextTooLong("too long", status=400)))
    assert long["kind"] == "context_too_long" and "too long for this model" in long["message"]
    broken = explain(UpstreamError("boom", status=502))
    assert broken == {"message": "The model call failed (502): boom", "kind": "model", "status": 502}
    refused = explain(UnsafeSource("host 'x' is not allowed"))
    assert refused["kind"] == "repository" and "cannot be opened" in refused["message"]


def test_forge_links_point_at_the_commit_and_lines_in_each_forges_form() -> None:
    commit = "c0ffee" * 6 + "abcd"

    def link(kind: str, url: str) -> str | None:
        ref = RepoRef(type=kind, owner="o", name="r", url=url)  # type: ignore[arg-type]
        repository = Repository(Path("/clone"), RepoSnapshot(ref=ref, root=Path("/clone"), commit=commit))
        return repository.forge_url("src/a b.py", 4, 6)

    assert link("github", "https://github.com/o/r") == f"https://github.com/o/r/blob/{commit}/src/a%20b.py#L4-L6"
    assert link("gitlab", "https://gitlab.com/o/r") == f"https://gitlab.com/o/r/-/blob/{commit}/src/a%20b.py#L4-6"
    assert (
        link("bitbucket", "https://bitbucket.org/o/r")
        == f"https://bitbucket.org/o/r/src/{commit}/src/a%20b.py#lines-4:6"
    )
    assert Repository(Path("/local"), None).forge_url("a.py", 1, 2) is None
