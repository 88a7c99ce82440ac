"""compare(): one prompt on several models, measured per model."""

from __future__ import annotations

from collections.abc import Callable

from tests.router.conftest import factory_for
from tests.support.scripted import ScriptedModel, answer
from wikismith.config.models import AppConfig
from wikismith.llm.errors import AuthError
from wikismith.llm.types import Message
from wikismith.router import Router
from wikismith.router.compare import compare
from wikismith.router.retry import RetryPolicy


async def test_compare_reports_each_model_side_by_side(make_config: Callable[..., AppConfig]) -> None:
    config = make_config()
    models = {pid: ScriptedModel() for pid in config.generator.providers}
    models["a"].add("m", 0.01, *answer("alpha answer", prompt_tokens=12, completion_tokens=2, cost=0.003))
    models["b"].add("m", *answer("beta"))
    models["c"].add("m", AuthError("bad key"))
    router = Router(config, client_factory=factory_for(models), policy=RetryPolicy(max_attempts=1))
    rows = await compare(router, ["a/m", "b/m", "c/m"], [Message(role="user", content="hi")])
    assert [r.model for r in rows] == ["a/m", "b/m", "c/m"]
    a, b, c = rows
    assert (a.ok, a.text, a.prompt_tokens, a.completion_tokens, a.cost, a.finish_reason) == (
        True, "alpha answer", 12, 2, 0.003, "stop",
    )  # fmt: skip
    assert a.ttft_ms is not None and a.ttft_ms >= 0 and a.total_ms >= a.ttft_ms
    assert a.served_by == "a/m"
    assert b.ok and b.text == "beta"
    assert not c.ok and c.error is not None and "bad key" in c.error and c.ttft_ms is None
    assert rows[0].as_dict()["model"] == "a/m"
