"""Ask, beside every wiki page: `POST /wiki/<type>/<owner>/<repo>/-/ask`, answered as Server-Sent Events.

The answer comes from the one RAG chat flow (`wikismith.chat`: `chat_stream`, or `research_stream` when Deep
Research is on, whose iterations the server runs). Body: `{"messages": [{role, content}…], "deep_research":
bool, "model": "provider/model"}`. Events: `step` {iteration, final, query} (Deep Research: an iteration
begins), `sources` {sources: [{path, start_line, end_line, score, url}]}, `delta` {text}, `notice` {message},
`usage` {prompt_tokens, completion_tokens, cost}, then `done` {target}; or `error` {message, kind, status}
with the failure said in words (no credits, rate limited, context too long), never as answer text. A bad body
is a 4xx before any work; a client that goes away (the stop button) stops the model call.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from wikismith.chat import ChatInput, ChatTurn, ContextDropped, ResearchStep, Sources, chat_stream, research_stream
from wikismith.config.models import ConfigError
from wikismith.llm.errors import AllTargetsFailed, ContextTooLong, LLMError
from wikismith.llm.events import Finish, Routed, TextDelta, UsageReport
from wikismith.rag.source import SourceError
from wikismith.server.deps import ServerState, read_body, state
from wikismith.server.errors import HTTPProblem, status_for
from wikismith.server.routes.chat import index_cache
from wikismith.server.schemas import parse_body
from wikismith.server.streaming import StreamResponse
from wikismith.server.web.pages import reading, same_origin, wiki_model
from wikismith.server.web.reading import Reading
from wikismith.server.web.views import PageProblem, sse, unknown_model

router = APIRouter(include_in_schema=False)
log = logging.getLogger("wikismith.server.web")


class AskBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    messages: list[ChatTurn] = Field(min_length=1, max_length=64)
    deep_research: bool = False
    model: str | None = Field(None, max_length=300)


@router.post("/wiki/{repo_type}/{owner}/{repo}/-/ask")
async def ask(request: Request, repo_type: str, owner: str, repo: str) -> Response:
    same_origin(request)
    server = state(request)
    server.auth.bearer(request.headers)
    body = parse_body(AskBody, await read_body(request), status=422)
    lang, variant = request.query_params.get("lang"), request.query_params.get("variant")
    try:
        wiki = await reading(request, repo_type, owner, repo, lang, variant)
    except PageProblem as problem:
        raise HTTPProblem(problem.status, problem.message, code="no_wiki") from None
    inp = _chat_input(server, wiki, body)
    server.acquire_stream()
    headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
    return StreamResponse(
        _answer(server, wiki, inp, body.deep_research), headers=headers, on_close=server.release_stream
    )


def _chat_input(server: ServerState, wiki: Reading, body: AskBody) -> ChatInput:
    """The chat request for the wiki's repository; 403 when the server may not read it, 404 for a bad model."""
    data = wiki.data
    info = data.repo
    if info is not None and info.local_path:
        if wiki.repository is None:
            raise HTTPProblem(403, "this wiki's directory is not one the server may read", code="not_readable")
        repo, repo_type = str(wiki.repository.root), "local"
    else:
        repo = (info.repo_url if info is not None else None) or data.repo_url or ""
        repo_type = info.type if info is not None else wiki.key.repo_type
    if not repo:
        raise HTTPProblem(404, "this wiki does not record its repository", code="no_repository")
    try:
        model = body.model or wiki_model(wiki, server)  # as the page's model picker: the wiki's own model first
        inp = ChatInput(repo=repo, repo_type=repo_type, messages=body.messages, model=model,
                        language=wiki.variant.language)  # fmt: skip
        inp.model_name(server.config)
    except ConfigError as exc:
        raise unknown_model(exc) from None
    except ValueError as exc:
        raise HTTPProblem(422, str(exc), code="invalid_request") from None
    return inp


async def _answer(server: ServerState, wiki: Reading, inp: ChatInput, deep: bool) -> AsyncIterator[bytes]:
    roots = (wiki.repository.root,) if wiki.repository is not None and inp.repo_type == "local" else server.local_roots
    options: dict[str, Any] = {"local_roots": roots, "cache": index_cache(server)}
    config, settings = server.config, server.settings
    events = (
        research_stream(server.router, settings, config, inp, **options)
        if deep
        else chat_stream(server.router, settings, config, inp, **options)
    )
    target: str | None = None
    answer = _Rendering(wiki)
    try:
        async for event in events:
            if isinstance(event, Routed):
                target = event.target
            elif isinstance(event, ResearchStep | Finish) and (html := answer.end()) is not None:
                yield html
            frame = _frame_of(event, wiki)
            if frame is not None:
                yield frame
            if isinstance(event, TextDelta) and (html := answer.add(event.text)) is not None:
                yield html
    except (LLMError, ConfigError, SourceError) as error:
        log.info("ask failed: %s", error)
        if (html := answer.end()) is not None:
            yield html
        yield sse("error", explain(error))
        return
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    if (html := answer.end()) is not None:
        yield html
    yield sse("done", {"target": target})


class _Rendering:
    """The answer so far as HTML (the reader's Markdown rendering, citations linked), sent at most every
    `EVERY` seconds while it streams and once more when it is complete."""

    EVERY = 0.15

    def __init__(self, wiki: Reading) -> None:
        self.wiki = wiki
        self.text = ""
        self.sent = ""
        self.last = 0.0

    def add(self, text: str) -> bytes | None:
        self.text += text
        return self._send() if time.monotonic() - self.last >= self.EVERY else None

    def end(self) -> bytes | None:
        """The answer's final HTML when it changed since last sent; the next text starts a new answer."""
        html = self._send() if self.text != self.sent else None
        self.text = self.sent = ""
        return html

    def _send(self) -> bytes:
        self.last = time.monotonic()
        self.sent = self.text
        return sse("html", {"html": self.wiki.render_text(self.text).html})


def _frame_of(event: object, wiki: Reading) -> bytes | None:
    if isinstance(event, TextDelta):
        return sse("delta", {"text": event.text}) if event.text else None
    if isinstance(event, ResearchStep):
        return sse("step", {"iteration": event.iteration, "final": event.final, "query": event.query})
    if isinstance(event, Sources):
        found = [
            {"path": s.chunk.path, "start_line": s.chunk.start_line, "end_line": s.chunk.end_line,
             "score": round(s.score, 4), "url": wiki.source_url(s.chunk.path, s.chunk.start_line, s.chunk.end_line)
             if wiki.repository is not None else None}
            for s in event.chunks
        ]  # fmt: skip
        return sse("sources", {"sources": found})
    if isinstance(event, ContextDropped):
        return sse("notice", {"message": "The question with its context was too long: answered without it."})
    if isinstance(event, UsageReport):
        usage = event.usage
        return sse("usage", {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                             "cost": usage.cost})  # fmt: skip
    return None


Kind = Literal["no_credits", "rate_limited", "context_too_long", "auth", "model", "repository", "config"]


def explain(error: Exception) -> dict[str, Any]:
    """A failure in words a reader can act on: `{message, kind, status}`."""
    if isinstance(error, SourceError):
        return {"message": f"The repository cannot be opened: {error}", "kind": "repository", "status": 400}
    if isinstance(error, ConfigError):
        return {"message": f"Configuration: {error}", "kind": "config", "status": 404}
    assert isinstance(error, LLMError)
    status = status_for(error)
    last = error.last if isinstance(error, AllTargetsFailed) and error.last is not None else error
    who = "/".join(p for p in (last.provider, last.model) if p)
    detail = last.message + (f" ({who})" if who else "")
    kind: Kind
    if status == 402:
        kind, message = "no_credits", f"No credits left with the provider (402): {detail}"
    elif status == 429:
        wait = f" Try again in {math.ceil(last.retry_after)} s." if last.retry_after else " Try again shortly."
        kind, message = "rate_limited", f"Rate limited by the provider (429).{wait} {detail}"
    elif isinstance(last, ContextTooLong):
        kind, message = "context_too_long", f"The question and its context are too long for this model: {detail}"
    elif status in (401, 403):
        kind, message = "auth", f"The provider refused the request ({status}): check its API key. {detail}"
    else:
        kind, message = "model", f"The model call failed ({status}): {detail}"
    return {"message": message, "kind": kind, "status": status}
