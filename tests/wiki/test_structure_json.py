"""The JSON structure mode: the schema, parsing into the XML parser's type, and its use and fallback in a run."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.scripted import ScriptedModel, answer
from tests.wiki.conftest import TopicModel
from tests.wiki.test_generator import STRUCTURE, prepared, scripted_wiki
from tests.wiki.test_structure import XML
from wikismith.config.models import AppConfig, ResolvedProvider
from wikismith.config.settings import Settings
from wikismith.llm.base import ChatModel
from wikismith.llm.catalogue import Catalogue
from wikismith.llm.errors import AuthError, BadRequest
from wikismith.llm.types import ChatRequest, ModelInfo
from wikismith.router import Router
from wikismith.router.retry import RetryPolicy
from wikismith.wiki.generator import WikiOptions, generate_wiki
from wikismith.wiki.structure import StructureError, parse_structure, structure_prompt
from wikismith.wiki.structure_json import (
    RESPONSE_FORMAT,
    SCHEMA,
    parse_structure_json,
    request_structure_json,
    supports_json_schema,
)
from wikismith.wiki.tally import Tally

# The JSON twin of tests/wiki/test_structure.py's XML (same ids, paths, odd importance values and dangling refs).
TWIN: dict[str, Any] = {
    "title": "Q&A Wiki",
    "description": "Tools & more",
    "sections": [
        {"id": "section-1", "title": "Core", "pages": ["page-1", "ghost"], "subsections": ["section-2"]},
        {"id": "section-2", "title": "Details", "pages": ["page-2"], "subsections": []},
    ],
    "pages": [
        {
            "id": "page-1",
            "title": "Overview",
            "description": "All of it",
            "importance": "HIGH",
            "relevant_files": ["./src/a.py", "missing.py", "b.py"],
            "related_pages": ["page-2", "page-9"],
            "parent_section": "section-1",
        },
        {
            "id": "page-2",
            "title": "Details",
            "description": "",
            "importance": "urgent",
            "relevant_files": ["src/a.py"],
            "related_pages": [],
            "parent_section": "",
        },
    ],
}


def test_json_parses_into_the_same_structure_as_the_xml() -> None:
    assert parse_structure_json(json.dumps(TWIN)) == parse_structure(XML)


def test_json_references_follow_ids_slugged_and_made_unique() -> None:
    data = {
        "title": "T",
        "description": "",
        "sections": [{"id": "Core Section", "title": "Core", "pages": ["Page_A", "Page B"], "subsections": []}],
        "pages": [
            {"id": "Page_A", "title": "A", "related_pages": ["Page B"], "parent_section": "Core Section"},
            {"id": "Page B", "title": "B", "related_pages": ["Page_A"], "parent_section": "Core Section"},
        ],
    }
    structure = parse_structure_json(json.dumps(data))
    a, b = structure.pages
    assert (a.id, a.related, a.parent_section) == ("page-a", ("page-b",), "core-section")
    assert (b.id, b.related, b.parent_section) == ("page-b", ("page-a",), "core-section")
    assert structure.sections[0].pages == ("page-a", "page-b")


def test_a_fenced_json_answer_is_tolerated() -> None:
    assert parse_structure_json(f"```json\n{json.dumps(TWIN)}\n```").title == "Q&A Wiki"


@pytest.mark.parametrize(
    ("answer_text", "reason"),
    [
        ('{"title": "cut', "not valid JSON"),
        ("[1, 2]", "not an object"),
        ('{"title": "t", "pages": []}', "has no pages"),
        ('{"title": "t", "pages": "page-1"}', "has no pages"),
    ],
)
def test_unusable_json_raises_saying_why(answer_text: str, reason: str) -> None:
    with pytest.raises(StructureError, match=reason):
        parse_structure_json(answer_text)


def test_schema_is_strict_with_every_property_required() -> None:
    assert RESPONSE_FORMAT["type"] == "json_schema"
    assert RESPONSE_FORMAT["json_schema"]["name"] == "wiki_structure" and RESPONSE_FORMAT["json_schema"]["strict"]

    def objects(node: Any) -> list[dict[str, Any]]:
        if not isinstance(node, dict):
            return []
        found = [node] if node.get("type") == "object" else []
        return found + [o for child in node.values() for o in objects(child)]

    for obj in objects(SCHEMA):
        assert obj["additionalProperties"] is False and obj["required"] == list(obj["properties"])
    page = SCHEMA["properties"]["pages"]["items"]["properties"]
    assert set(page) == {
        "id", "title", "description", "importance", "relevant_files", "related_pages", "parent_section",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("params", "expected"),
    [(["response_format", "structured_outputs"], True), (["response_format"], False), (None, False)],
)
def test_json_mode_needs_structured_outputs_in_the_catalogue(params: list[str] | None, expected: bool) -> None:
    info = ModelInfo(
        id="p/m", provider="p", model="m", supported_parameters=frozenset(params) if params is not None else None
    )
    assert supports_json_schema(info) is expected
    assert supports_json_schema(None) is False


def test_json_prompt_asks_for_json_not_xml() -> None:
    prompt = structure_prompt(
        owner="o", repo="r", repo_type="github", files=["a.py"], readme="", language_name="English",
        comprehensive=True, output="json",
    )  # fmt: skip
    assert '"relevant_files"' in prompt and "System Architecture" in prompt
    assert "<wiki_structure>" not in prompt and "XML" not in prompt


async def test_request_carries_the_response_format() -> None:
    model = ScriptedModel()
    model.add("m", *answer(json.dumps(TWIN)))
    tally = Tally()
    structure = await request_structure_json(model, "m", "create a wiki structure", tally)
    assert structure is not None and structure.title == "Q&A Wiki"
    assert model.requests[-1].params.response_format == RESPONSE_FORMAT
    assert tally.calls == 1


async def test_a_bad_request_gives_none_and_other_errors_are_raised() -> None:
    model = ScriptedModel()
    model.add("m", BadRequest("response_format is not supported", status=400))
    model.add("m", AuthError("no key", status=401))
    assert await request_structure_json(model, "m", "x", Tally()) is None
    with pytest.raises(AuthError):
        await request_structure_json(model, "m", "x", Tally())


# --- in a whole run -------------------------------------------------------------------------------------------

JSON_STRUCTURE = {
    "title": "calcpkg (JSON)",
    "description": "A calculator",
    "sections": [],
    "pages": [
        {
            "id": f"page-{i}",
            "title": title,
            "description": f"{topic} page",
            "importance": "high",
            "relevant_files": files,
            "related_pages": [],
            "parent_section": "",
        }
        for i, (title, topic, files) in enumerate(
            [
                ("Overview", "topic-alpha", ["README.md", "calc/ops.py"]),
                ("Operations", "topic-beta", ["calc/ops.py"]),
                ("Command line", "topic-gamma", ["cli.py"]),
            ],
            start=1,
        )
    ],
}


def router_knowing(config: AppConfig, model: ChatModel, tmp_path: Path, params: list[str]) -> Router:
    """A router whose catalogue (a real one, read from its cache file) lists `params` for model `m`."""
    cache = tmp_path / "catalogue.json"
    cache.write_text(json.dumps({"fetched_at": time.time(), "data": [{"id": "m", "supported_parameters": params}]}))

    def factory(_: ResolvedProvider) -> ChatModel:
        return model

    policy = RetryPolicy(max_attempts=3, initial=0.01, cap=0.02)
    return Router(config, catalogue=Catalogue(config, cache_path=cache), client_factory=factory, policy=policy)


def structure_requests(model: TopicModel) -> list[ChatRequest]:
    return [r for t, r in model.requests if t == "create a wiki structure"]


async def run(settings: Settings, config: AppConfig, repo_dir: Path, tmp_path: Path, router: Router) -> str:
    repo = await prepared(settings, config, repo_dir)
    summary = await generate_wiki(router, repo, tmp_path / "out", WikiOptions(model="s/m"), language_name="English")
    assert summary.exit_code == 0, summary.failed
    title: str = json.loads((tmp_path / "out" / "wiki.json").read_text())["wiki_structure"]["title"]
    return title


async def test_a_run_asks_for_json_when_the_catalogue_allows_it(
    settings: Settings, wiki_config: AppConfig, repo_dir: Path, tmp_path: Path
) -> None:
    model = scripted_wiki()
    model.reset("create a wiki structure")
    model.add("create a wiki structure", *answer(json.dumps(JSON_STRUCTURE)))
    router = router_knowing(wiki_config, model, tmp_path, ["response_format", "structured_outputs"])
    assert await run(settings, wiki_config, repo_dir, tmp_path, router) == "calcpkg (JSON)"
    (request,) = structure_requests(model)
    assert request.params.response_format == RESPONSE_FORMAT
    assert "JSON object" in (request.messages[-1].content or "")


async def test_a_run_asks_for_xml_when_the_model_takes_no_schema(
    settings: Settings, wiki_config: AppConfig, repo_dir: Path, tmp_path: Path
) -> None:
    model = scripted_wiki()
    router = router_knowing(wiki_config, model, tmp_path, ["response_format", "temperature"])
    assert await run(settings, wiki_config, repo_dir, tmp_path, router) == "calcpkg & friends"
    (request,) = structure_requests(model)
    assert request.params.response_format is None and "<wiki_structure>" in (request.messages[-1].content or "")


async def test_invalid_json_falls_back_to_the_xml_request(
    settings: Settings, wiki_config: AppConfig, repo_dir: Path, tmp_path: Path
) -> None:
    model = scripted_wiki()
    model.reset("create a wiki structure")
    model.add("create a wiki structure", *answer('{"title": "calcpkg", "pages": [{"id": "page-1", "ti'))
    model.add("create a wiki structure", *answer(STRUCTURE))
    router = router_knowing(wiki_config, model, tmp_path, ["structured_outputs"])
    assert await run(settings, wiki_config, repo_dir, tmp_path, router) == "calcpkg & friends"
    json_request, xml_request = structure_requests(model)
    assert json_request.params.response_format == RESPONSE_FORMAT
    assert xml_request.params.response_format is None and "<wiki_structure>" in (xml_request.messages[-1].content or "")


async def test_a_refused_schema_falls_back_to_the_xml_request(
    settings: Settings, wiki_config: AppConfig, repo_dir: Path, tmp_path: Path
) -> None:
    model = scripted_wiki()
    model.reset("create a wiki structure")
    model.add("create a wiki structure", BadRequest("json_schema is not supported by this provider", status=400))
    model.add("create a wiki structure", *answer(STRUCTURE))
    router = router_knowing(wiki_config, model, tmp_path, ["structured_outputs"])
    assert await run(settings, wiki_config, repo_dir, tmp_path, router) == "calcpkg & friends"
    assert len(structure_requests(model)) == 2
