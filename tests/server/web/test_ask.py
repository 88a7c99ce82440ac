"""Ask beside a wiki page (`POST …/-/ask`, Server-Sent Events) over the provider emulator: the one chat flow,
sources as source-view links, Deep Research run by the server, and provider errors said in words."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.server.web.conftest import WebApp, start_app
from tests.support.emulator import Emulator, Reply, error

FIRST = "## Research Plan\nThe parser first.\n\n## Next Steps\nLook at the evaluator module next."
SECOND = "## Research Update 2\nThe evaluator walks the tree.\n\n## Next Steps\nCheck how results are printed."
THIRD = "## Final Conclusion\nParsing, then evaluation."


def ask(app: WebApp, text: str, **body: Any) -> list[tuple[str, Any]]:
    payload = {"messages": [{"role": "user", "content": text}], "model": "emu/m1", **body}
    response = httpx2.post(app.wiki + "/-/ask", json=payload, headers={"accept": "text/event-stream"}, timeout=30)
    assert response.status_code == 200, response.text
    events = []
    for block in response.text.strip().split("\n\n"):
        name, data = block.split("\n", 1)
        events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def test_an_answer_streams_with_its_sources_linked_to_the_source_view(web_app: WebApp, emulator: Emulator) -> None:
    emulator.script("m1", Reply(text="The parser is in [calc/parser.py:4-6]()."))
    events = ask(web_app, "Where is the parser?")
    names = [n for n, _ in events]
    assert names[0] == "sources" and names[-1] == "done" and "usage" in names
    sources = events[0][1]["sources"]
    assert sources and all(s["url"].startswith("/wiki/local/local/demo/-/source/") for s in sources)
    assert "".join(d["text"] for n, d in events if n == "delta") == "The parser is in [calc/parser.py:4-6]()."
    html = [d["html"] for n, d in events if n == "html"][-1]
    assert 'href="/wiki/local/local/demo/-/source/calc/parser.py?lines=4-6#L-4" class="cite"' in html
    prompt = json.dumps(emulator.chat_requests()[-1].json["messages"])
    assert "calc/" in prompt and "Where is the parser?" in prompt


def test_a_question_without_a_model_goes_to_the_wikis_model_as_the_pages_picker_does(
    tmp_path: Path, emulator_server: Emulator
) -> None:
    app = start_app(tmp_path, emulator_server, default_model="m2")  # the wiki was made by emu/m1
    try:
        emulator_server.script("m1", Reply(text="From the wiki's model."))
        payload = {"messages": [{"role": "user", "content": "Where is the parser?"}]}
        response = httpx2.post(app.wiki + "/-/ask", json=payload, timeout=30)
        assert response.status_code == 200 and "From the wiki's model." in response.text
        assert emulator_server.chat_requests()[-1].json["model"] == "m1"
    finally:
        app.server.stop()


def test_the_conversation_so_far_goes_with_the_next_question(web_app: WebApp, emulator: Emulator) -> None:
    turns = [{"role": "user", "content": "What is it?"}, {"role": "assistant", "content": "A calculator."},
             {"role": "user", "content": "And its parser?"}]  # fmt: skip
    response = httpx2.post(web_app.wiki + "/-/ask", json={"messages": turns}, timeout=30)
    assert response.status_code == 200 and "event: done" in response.text
    sent = emulator.chat_requests()[-1].json["messages"]
    assert [m["role"] for m in sent[1:]] == ["user", "assistant", "user"] and sent[2]["content"] == "A calculator."


def test_deep_research_runs_its_iterations_each_retrieving_for_the_last_ones_next_steps(
    web_app: WebApp, emulator: Emulator
) -> None:
    emulator.script("m1", Reply(text=FIRST), Reply(text=SECOND), Reply(text=THIRD))
    events = ask(web_app, "How is an expression computed?", deep_research=True)
    steps = [d for n, d in events if n == "step"]
    assert [s["iteration"] for s in steps] == [1, 2, 3]  # the third gave its Final Conclusion: no fourth
    assert steps[1]["query"] == "How is an expression computed?\nLook at the evaluator module next."
    assert [n for n, _ in events].count("sources") == 3
    chats = emulator.chat_requests()
    assert len(chats) == 3
    assert "iteration 2" in chats[1].json["messages"][0]["content"]
    assert chats[1].json["messages"][2] == {"role": "assistant", "content": FIRST}
    embedded = [r.json["input"] for r in emulator.requests if r.path.endswith("/embeddings")]
    queries = [q for batch in embedded for q in ([batch] if isinstance(batch, str) else batch)]
    assert any("Look at the evaluator module next." in q for q in queries)
    assert any("Check how results are printed." in q for q in queries)


def test_deep_researchs_tag_in_a_message_keeps_working(web_app: WebApp, emulator: Emulator) -> None:
    emulator.script("m1", Reply(text=THIRD))
    events = ask(web_app, "[DEEP RESEARCH] How is an expression computed?", deep_research=True)
    assert [d["iteration"] for n, d in events if n == "step"] == [1]
    system = emulator.chat_requests()[-1].json["messages"][0]["content"]
    assert "first iteration" in system.lower()


def test_no_credits_is_an_error_in_words_never_an_answer(web_app: WebApp, emulator: Emulator) -> None:
    emulator.script("m1", error(402, "Insufficient credits. Add more using https://openrouter.ai/credits"))
    events = ask(web_app, "Where is the parser?")
    errors = [d for n, d in events if n == "error"]
    assert errors and errors[0]["kind"] == "no_credits" and errors[0]["status"] == 402
    assert errors[0]["message"].startswith("No credits left with the provider (402)")
    assert not [n for n, _ in events if n in ("delta", "done")]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"messages": []}, 422),
        ({"messages": [{"role": "user", "content": "hi"}], "model": "emu/nope", "extra": 1}, 422),
        ({"messages": [{"role": "user", "content": "hi"}], "model": "nowhere/m"}, 404),
        ({"messages": [{"role": "assistant", "content": "hi"}]}, 422),
    ],
)
def test_a_bad_request_is_refused_before_any_work(
    web_app: WebApp, emulator: Emulator, body: dict[str, Any], status: int
) -> None:
    response = httpx2.post(web_app.wiki + "/-/ask", json=body, timeout=10)
    assert response.status_code == status, response.text
    assert response.json()["detail"] and not emulator.chat_requests()


def test_stopping_the_answer_stops_the_model_call(web_app: WebApp, emulator: Emulator) -> None:
    emulator.script("m1", Reply(text=" ".join(["word"] * 200), chunk_delay=0.05))
    payload = {"messages": [{"role": "user", "content": "Tell me everything"}]}
    with httpx2.stream("POST", web_app.wiki + "/-/ask", json=payload, timeout=30) as response:
        for line in response.iter_lines():
            if line.startswith("event: delta"):
                break
    assert emulator.wait_until(lambda: emulator.disconnects, timeout=5)
