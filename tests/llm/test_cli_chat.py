"""`wikismith chat` as a user runs it: a subprocess, against the emulator (OPENROUTER_BASE_URL) and the local model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.llm.conftest import KEY
from tests.support.emulator import Emulator, Reply, error

WIKISMITH = str(Path(sys.executable).parent / "wikismith")


def chat(emulator: Emulator | None, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WIKISMITH_", "DEEPWIKI_", "OPENROUTER_"))}
    env.update({"WIKISMITH_HOME": str(home), "OPENROUTER_API_KEY": KEY, "NO_COLOR": "1"})
    if emulator is not None:
        env["OPENROUTER_BASE_URL"] = emulator.base_url
    return subprocess.run([WIKISMITH, "chat", *args], env=env, capture_output=True, text=True, timeout=120)


def test_streams_the_answer_and_ends_with_target_tokens_and_cost(emulator: Emulator, tmp_path: Path) -> None:
    emulator.script("openai/gpt-4o-mini", Reply(text="Paris is the capital.", comments=2, split=True))
    result = chat(emulator, tmp_path, "What is the capital of France?", "--max-tokens", "50")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Paris is the capital.\n"
    assert "openrouter/openai/gpt-4o-mini" in result.stderr
    assert "12 → 5 tokens" in result.stderr and "$0.00042" in result.stderr
    body = emulator.chat_requests()[-1].json
    assert body["stream"] is True and body["max_tokens"] == 50
    assert body["messages"][-1] == {"role": "user", "content": "What is the capital of France?"}


def test_provider_and_model_options_and_system_message(emulator: Emulator, tmp_path: Path) -> None:
    result = chat(
        emulator, tmp_path, "hi", "--provider", "openrouter", "--model", "anthropic/claude-sonnet-4", "-s", "Be brief."
    )
    assert result.returncode == 0, result.stderr
    body = emulator.chat_requests()[-1].json
    assert body["model"] == "anthropic/claude-sonnet-4"
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}


def test_auth_error_is_one_line_without_the_key(emulator: Emulator, tmp_path: Path) -> None:
    emulator.script("openai/gpt-4o-mini", error(401, f"User not found for key {KEY}"))
    result = chat(emulator, tmp_path, "hi")
    assert result.returncode == 1
    assert "error:" in result.stderr and "User not found" in result.stderr
    assert KEY not in result.stderr and KEY not in result.stdout


def test_unknown_provider_is_a_config_error(tmp_path: Path) -> None:
    result = chat(None, tmp_path, "hi", "--provider", "nope")
    assert result.returncode == 2 and "unknown provider 'nope'" in result.stderr


def test_an_empty_question_is_refused_without_a_call(emulator: Emulator, tmp_path: Path) -> None:
    result = chat(emulator, tmp_path, " ")
    assert result.returncode == 2 and "the question is empty" in result.stderr
    assert emulator.requests == []


@pytest.mark.slow
def test_answers_offline_with_the_local_model(tmp_path: Path) -> None:
    result = chat(None, tmp_path, "What is the capital of France?", "--provider", "local", "--max-tokens", "12")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "local/smollm2" in result.stderr and "$0 " in result.stderr + " "
