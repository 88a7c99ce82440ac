"""Hot routes served straight from the edge middleware, skipping FastAPI's routing, dependency solving and
exception middleware (about a third of the per-request Python work). The routes stay registered with FastAPI
for the OpenAPI schema and docs; errors are rendered by the same functions as everywhere else (`errors`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from wikismith.config.models import ConfigError
from wikismith.llm.errors import LLMError
from wikismith.server.errors import HTTPProblem, config_error_response, llm_error_response, problem_response
from wikismith.server.streaming import ClientGone

Endpoint = Callable[[Request], Awaitable[Response]]


def fast_routes() -> Mapping[tuple[str, str], Endpoint]:
    from wikismith.server.routes import openai

    return {("POST", "/v1/chat/completions"): openai.chat_completions, ("GET", "/v1/models"): openai.list_models}


async def dispatch(endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
    """Run `endpoint` as an ASGI app; known errors become responses in the OpenAI error shape."""
    try:
        response = await endpoint(Request(scope, receive))
    except HTTPProblem as problem:
        response = problem_response(problem)
    except LLMError as error:
        response = llm_error_response(error)
    except ConfigError as error:
        response = config_error_response(error)
    except ClientGone:
        return
    await response(scope, receive, send)
