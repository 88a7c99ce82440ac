"""Wiki test support: a small repository written by the test, a model that answers
by topic (so concurrent page requests get their own scripts), and a router over it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

__all__ = ["HashEmbedder", "TopicModel", "router_over"]
from pathlib import Path

import pytest

from tests.router.conftest import write_config
from tests.support.embedders import HashEmbedder
from tests.support.scripted import ScriptedModel, Step
from wikismith.config.models import AppConfig, ResolvedProvider
from wikismith.config.settings import Settings
from wikismith.llm.base import ChatModel
from wikismith.llm.events import StreamEvent
from wikismith.llm.types import ChatRequest, ChatResponse, ModelInfo
from wikismith.router import Router
from wikismith.router.retry import RetryPolicy

OPS = "".join(f"def op_{i}(a, b):\n    return a + b * {i}\n\n" for i in range(15))  # 45 lines
REPO_FILES = {
    "README.md": "# calcpkg\n\nA calculator package & command line.\n",
    "calc/__init__.py": '"""calc."""\n',
    "calc/ops.py": OPS,
    "calc/parser.py": "".join(f"TOKEN_{i} = {i}\n" for i in range(20)),
    "cli.py": "import sys\n\n\ndef main():\n    print(sys.argv)\n",
}


class TopicModel:
    """Delegates each request to the ScriptedModel of the first topic word found in its last message."""

    def __init__(self, topics: Sequence[str]) -> None:
        self.models = {topic: ScriptedModel() for topic in topics}
        self.requests: list[tuple[str, ChatRequest]] = []

    def add(self, topic: str, *steps: Step) -> None:
        self.models[topic].add("m", *steps)

    def reset(self, *topics: str) -> None:
        for topic in topics:
            self.models[topic] = ScriptedModel()

    def topic(self, request: ChatRequest) -> str:
        text = request.messages[-1].content or ""
        for topic in self.models:
            if topic in text:
                return topic
        raise AssertionError(f"no topic in request: {text[:200]!r}")

    def calls(self, topic: str) -> int:
        return sum(1 for t, _ in self.requests if t == topic)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        topic = self.topic(request)
        self.requests.append((topic, request))
        async for event in self.models[topic].stream(request):
            yield event

    async def complete(self, request: ChatRequest) -> ChatResponse:
        topic = self.topic(request)
        self.requests.append((topic, request))
        return await self.models[topic].complete(request)

    async def list_models(self) -> list[ModelInfo]:
        return []

    async def aclose(self) -> None:
        return None


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    root = tmp_path / "calcpkg"
    for name, text in REPO_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def wiki_config(tmp_path: Path) -> AppConfig:
    return write_config(tmp_path / "config", {"s": {}})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"WIKISMITH_HOME": str(tmp_path / "home")})


def router_over(config: AppConfig, model: ChatModel) -> Router:
    def factory(_: ResolvedProvider) -> ChatModel:
        return model

    return Router(config, client_factory=factory, policy=RetryPolicy(max_attempts=3, initial=0.01, cap=0.02))
