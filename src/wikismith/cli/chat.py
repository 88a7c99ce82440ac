"""`wikismith chat "question"`: one-shot chat through the router, streamed to the terminal.

The answer goes to stdout as it arrives (pipe-friendly); reasoning, if the model streams any, and the closing
dim line (target that served, tokens in/out, cost, time) go to stderr. A failure is one `error:` line on
stderr (exit 1; 2 for configuration errors); text already streamed stays on screen.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer

from wikismith.cli.options import MODEL, ModelChoice, grouped
from wikismith.cli.runtime import load, open_router, run

if TYPE_CHECKING:
    from wikismith.config.models import AppConfig
    from wikismith.config.settings import Settings
    from wikismith.llm.types import ChatRequest, Usage


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)


@grouped
def chat(
    question: Annotated[str, typer.Argument(help="What to ask.")],
    choice: ModelChoice = MODEL,
    system: Annotated[str | None, typer.Option("--system", "-s", help="An optional system message.")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1, help="Cap on the answer's length.")] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", min=0.0, max=2.0)] = None,
) -> None:
    """Ask one question and stream the answer (default: generator.json's default provider and model)."""
    from wikismith.llm.types import ChatRequest, GenerationParams, Message

    if not question.strip():
        raise typer.BadParameter("the question is empty", param_hint="QUESTION")
    settings, config = load()
    name = choice.resolve(config)
    messages = ([Message(role="system", content=system)] if system else []) + [Message(role="user", content=question)]
    params = GenerationParams(max_tokens=max_tokens, temperature=temperature)
    request = ChatRequest(model=name, messages=messages, params=params, tag="cli-chat")
    run(_answer(config, settings, request))


async def _answer(config: AppConfig, settings: Settings, request: ChatRequest) -> None:
    from wikismith.llm.events import ReasoningDelta, Routed, TextDelta, UsageReport

    target = request.model
    usage: Usage | None = None
    started = time.perf_counter()
    ended_with_newline = True
    async with open_router(config, settings) as router:
        async for event in router.stream(request):
            if isinstance(event, TextDelta):
                sys.stdout.write(event.text)
                sys.stdout.flush()
                ended_with_newline = event.text.endswith("\n")
            elif isinstance(event, ReasoningDelta):
                sys.stderr.write(f"\x1b[2m{event.text}\x1b[0m" if sys.stderr.isatty() else event.text)
                sys.stderr.flush()
            elif isinstance(event, Routed):
                target = event.target
            elif isinstance(event, UsageReport):
                usage = event.usage
    if not ended_with_newline:
        sys.stdout.write("\n")
        sys.stdout.flush()
    _summary(target, usage, time.perf_counter() - started)


def _summary(target: str, usage: Usage | None, seconds: float) -> None:
    from rich.console import Console

    parts = [target]
    if usage is not None:
        parts.append(f"{usage.prompt_tokens} → {usage.completion_tokens} tokens")
        if usage.cost is not None:
            cost = f"{usage.cost:.8f}".rstrip("0").rstrip(".")
            parts.append(f"{'~' if usage.cost_is_estimate else ''}${cost}")
    parts.append(f"{seconds:.1f}s")
    Console(stderr=True, highlight=False, soft_wrap=True).print(" · ".join(parts), style="dim", markup=False)
