"""`wikismith index` and `wikismith ask`, end to end over real sockets (the emulator serves chat and embeddings)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from tests.rag.conftest import SAMPLE, write_tree
from tests.support.emulator import Emulator, Reply
from wikismith.cli import ask, index, search

Invoke = Callable[..., typer.testing.Result]


@pytest.fixture
def cli(home: Path, tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    config_dir = tmp_path / "cfg"
    config_dir.mkdir()
    generator = {
        "default_provider": "emu",
        "providers": {
            "emu": {
                "client_class": "OpenAICompatibleClient",
                "default_model": "m",
                "supportsCustomModel": True,
                "base_url": emulator.base_url,
                "api_key": "${EMU_KEY}",
                "models": {"m": {}},
            }
        },
    }
    embedder = {
        "default": "emu",
        "embedder_emu": {
            "client_class": "OpenAIClient",
            "initialize_kwargs": {"api_key": "${EMU_KEY}", "base_url": emulator.base_url},
            "model_kwargs": {"model": "text-embedding-3-small", "dimensions": 16},
        },
    }
    (config_dir / "generator.json").write_text(json.dumps(generator))
    (config_dir / "embedder.json").write_text(json.dumps(embedder))
    monkeypatch.setenv("WIKISMITH_CONFIG_DIR", str(config_dir))
    monkeypatch.setenv("EMU_KEY", "emu-key-abcdef")
    app = typer.Typer()
    for module in (index, ask, search):
        module.register(app)
    runner = CliRunner()

    def invoke(*args: str) -> typer.testing.Result:
        return runner.invoke(app, list(args))

    return invoke


def test_index_prints_counts_and_a_second_run_embeds_nothing(cli: Invoke, tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "repo", {**SAMPLE, "logo.png": b"\x89PNG\x00\x00", "node_modules/x.js": "x\n"})
    first = cli("index", str(repo), "--json")
    assert first.exit_code == 0, first.output
    data = orjson.loads(first.stdout)
    assert data["files_indexed"] == 4 and data["files_embedded"] == 4
    assert data["skipped"] == {"excluded_dir": 1, "excluded_file": 1}
    assert data["chunks"] >= 4 and data["seconds"] >= 0
    assert data["code_map"] == {"languages": {"python": 2}, "symbols": 2}  # parse_invoice, send_email
    again = orjson.loads(cli("index", str(repo), "--json").stdout)
    assert again["files_embedded"] == 0 and again["chunks"] == data["chunks"]
    text = cli("index", str(repo)).stdout
    assert "4 indexed" in text and "excluded_dir 1" in text and "code map    2 symbols (python 2)" in text


def test_index_reports_a_missing_repository_cleanly(cli: Invoke, tmp_path: Path) -> None:
    result = cli("index", str(tmp_path / "missing"))
    assert result.exit_code == 1
    assert "not found" in result.output


def test_ask_streams_the_answer_and_ends_with_sources(cli: Invoke, tmp_path: Path, emulator: Emulator) -> None:
    repo = write_tree(tmp_path / "repo", SAMPLE)
    emulator.script("m", Reply(text="Mail goes through smtp_send (src/mailer.py:1-3)."))
    result = cli("ask", str(repo), "How is mail sent?", "--provider", "emu", "--model", "m")
    assert result.exit_code == 0, result.output
    assert "Mail goes through smtp_send" in result.stdout
    tail = result.stdout.split("Sources:", 1)[1]
    assert "- src/mailer.py:1-3" in tail
    sent = emulator.chat_requests()[-1].json["messages"]
    assert sent[0]["role"] == "system" and "<START_OF_CONTEXT>" in sent[-1]["content"]


def test_ask_rejects_an_unknown_provider_before_indexing(cli: Invoke, tmp_path: Path, emulator: Emulator) -> None:
    result = cli("ask", str(tmp_path / "missing"), "q", "--provider", "nope")
    assert result.exit_code == 2
    assert "nope" in result.output
    assert emulator.requests == []


def test_ask_refuses_an_empty_question_before_any_work(cli: Invoke, tmp_path: Path, emulator: Emulator) -> None:
    repo = write_tree(tmp_path / "repo", SAMPLE)
    result = cli("ask", str(repo), "  ", "--provider", "emu", "--model", "m")
    assert result.exit_code == 2
    assert "error: The last message is empty: ask a question" in result.output
    assert emulator.requests == []


def test_index_filters_from_the_command_line(cli: Invoke, tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "repo", SAMPLE)
    excluded = orjson.loads(cli("index", str(repo), "--json", "--exclude-dir", "docs").stdout)
    assert excluded["files_indexed"] == 3 and excluded["skipped"] == {"excluded_dir": 1}
    only = orjson.loads(cli("index", str(repo), "--json", "--include-file", "*.py").stdout)
    assert only["files_indexed"] == 2 and only["skipped"] == {"not_included": 2}


def test_ask_lists_only_the_sources_the_answer_cited(cli: Invoke, tmp_path: Path, emulator: Emulator) -> None:
    repo = write_tree(tmp_path / "repo", SAMPLE)
    emulator.script("m", Reply(text="Mail goes through smtp_send (src/mailer.py:1-3)."))
    result = cli("ask", str(repo), "How is mail sent?", "--provider", "emu", "--model", "m")
    assert result.exit_code == 0, result.output
    tail = result.stdout.split("Sources:", 1)[1]
    assert [line for line in tail.splitlines() if line.startswith("- ")] == ["- src/mailer.py:1-3"]


def test_ask_lists_every_retrieved_source_when_the_answer_cites_none(
    cli: Invoke, tmp_path: Path, emulator: Emulator
) -> None:
    repo = write_tree(tmp_path / "repo", SAMPLE)
    emulator.script("m", Reply(text="It sends mail over SMTP."))
    result = cli("ask", str(repo), "How is mail sent?", "--provider", "emu", "--model", "m")
    assert result.exit_code == 0, result.output
    listed = [line for line in result.stdout.split("Sources:", 1)[1].splitlines() if line.startswith("- ")]
    assert len(listed) == 5 and {line.split(":")[0] for line in listed} == {f"- {p}" for p in SAMPLE}


def test_ask_rejects_an_unknown_language_before_indexing(cli: Invoke, tmp_path: Path, emulator: Emulator) -> None:
    repo = write_tree(tmp_path / "repo", SAMPLE)
    result = cli("ask", str(repo), "How is mail sent?", "--provider", "emu", "--model", "m", "--language", "xx")
    assert result.exit_code == 2
    assert "unsupported language 'xx'; supported (lang.json): " in result.output and "en" in result.output
    assert emulator.requests == []


def test_ask_answers_in_lang_json_s_default_language_when_none_is_given(
    cli: Invoke, tmp_path: Path, emulator: Emulator
) -> None:
    lang = {"supported_languages": {"en": "English", "fr": "Français (French)"}, "default": "fr"}
    (Path(os.environ["WIKISMITH_CONFIG_DIR"]) / "lang.json").write_text(json.dumps(lang))
    repo = write_tree(tmp_path / "repo", SAMPLE)
    result = cli("ask", str(repo), "How is mail sent?", "--provider", "emu", "--model", "m")
    assert result.exit_code == 0, result.output
    assert "Français (French)" in json.dumps(emulator.chat_requests()[-1].json["messages"], ensure_ascii=False)


@pytest.mark.parametrize("below", ["", "sub"])
def test_a_data_directory_that_cannot_be_one_is_a_clean_error(
    cli: Invoke, tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, below: str
) -> None:
    repo = write_tree(tmp_path / "repo", SAMPLE)
    taken = tmp_path / "a-file"
    taken.write_text("not a directory\n")
    monkeypatch.setenv("WIKISMITH_HOME", str(taken / below))
    result = cli("index", str(repo))
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.exception
    assert f"error: the data directory {taken / below}" in " ".join(result.output.split())
    assert "WIKISMITH_HOME" in result.output and "not a directory" in result.output
    assert emulator.requests == []


def test_search_prints_the_chunks_without_a_model_call(cli: Invoke, tmp_path: Path, emulator: Emulator) -> None:
    repo = write_tree(tmp_path / "repo", SAMPLE)
    result = cli("search", str(repo), "send_email smtp", "-k", "3", "--json")
    assert result.exit_code == 0, result.output
    hits = orjson.loads(result.stdout)
    assert 1 <= len(hits) <= 3
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    for hit in hits:  # each chunk is the file's own lines
        lines = SAMPLE[hit["path"]].splitlines()
        assert hit["text"].rstrip("\n") == "\n".join(lines[hit["start_line"] - 1 : hit["end_line"]])
    assert emulator.chat_requests() == []
    text = cli("search", str(repo), "send_email smtp", "-k", "3").stdout
    first = hits[0]
    assert text.startswith(f"1. {first['path']}:{first['start_line']}-{first['end_line']}")


def test_search_refuses_bad_input_cleanly(cli: Invoke, tmp_path: Path, emulator: Emulator) -> None:
    repo = write_tree(tmp_path / "repo", SAMPLE)
    empty = cli("search", str(repo), "  ")
    assert empty.exit_code == 2 and "the query is empty" in empty.output
    assert cli("search", str(repo), "q", "-k", "0").exit_code == 2
    missing = cli("search", str(tmp_path / "missing"), "q")
    assert missing.exit_code == 1 and "not found" in missing.output
    assert emulator.requests == []
