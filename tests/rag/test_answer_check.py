"""The chat flow checks the identifiers an answer names against the code map and cites the named symbols."""

from __future__ import annotations

from pathlib import Path

from tests.rag.conftest import SAMPLE, write_tree
from tests.rag.test_chat import ask, run
from tests.support.scripted import ScriptedModel, answer
from wikismith.chat import AnswerChecked
from wikismith.config.models import AppConfig
from wikismith.config.settings import Settings
from wikismith.rag.answer_check import check_answer
from wikismith.rag.codemap import build_codemap
from wikismith.router import Router
from wikismith.router.retry import RetryPolicy

ANSWER = "`send_email()` calls `smtp_send`, and `parse_invoice` adds the lines; `MailQueue.flush` retries."


async def test_the_answer_check_comes_last_with_counts_and_the_named_symbols_sources(
    tmp_path: Path, settings: Settings, config: AppConfig
) -> None:
    repo = write_tree(tmp_path / "repo", SAMPLE)
    model = ScriptedModel()
    model.add("m", *answer(ANSWER))
    router = Router(config, client_factory=lambda provider: model, policy=RetryPolicy(max_attempts=1))
    events = await run(router, settings, config, ask(repo, ("user", "how is mail sent?")))
    assert isinstance(events[-1], AnswerChecked)
    check = events[-1].check
    assert (check.named, check.resolved, check.unresolved) == (4, 3, ("MailQueue.flush",))
    assert {c.chunk.symbol for c in check.cited} == {"src/mailer.py::send_email", "src/invoice.py::parse_invoice"}
    assert check.line() == "identifiers: 4 named, 3 resolved; not in the code: MailQueue.flush"


def test_a_named_symbol_that_was_not_retrieved_is_cited_from_its_definition(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "repo", SAMPLE)
    codemap = build_codemap(repo, list(SAMPLE))
    check = check_answer("Totals come from `parse_invoice`.", [], codemap)
    assert [(c.chunk.path, c.chunk.start_line, c.chunk.symbol) for c in check.cited] == [
        ("src/invoice.py", 1, "src/invoice.py::parse_invoice")
    ]
