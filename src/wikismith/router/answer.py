"""What counts as an answer. "HTTP 200 but failed" is a failure: an `error` finish reason or an answer with no
content, no tool call and no reasoning feeds the same retry/fallback policy as a 5xx (most clients report
these as empty successes). In a stream, events before the first content are held back until the router has
said which target serves (`Routed`), so fallback stays possible until then.
"""

from __future__ import annotations

from wikismith.llm.errors import EmptyResponse, LLMError, UpstreamError
from wikismith.llm.events import (
    Finish,
    ReasoningDelta,
    Routed,
    Served,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    UsageReport,
)
from wikismith.llm.types import ChatRequest, ChatResponse, Usage
from wikismith.router.cost import priced
from wikismith.router.route import RouteState, Target, answered_by, serving
from wikismith.router.tokens import estimate_messages

_CONTENT = (TextDelta, ReasoningDelta, ToolCallDelta)


class StreamRun:
    """One request's stream, batch by batch: events before the first content are held back until `Routed` has
    been sent; text is recorded in `sent` (for the partial answer of a later failure); usage is priced."""

    def __init__(self, group: list[Target], sent: list[str]) -> None:
        self.group = group  # the targets of the request, from the one answering once content has started
        self.target = group[0]  # the one named in `Routed`: pricing
        self.sent = sent
        self.started = False
        self.usage: Usage | None = None
        self.model: str | None = None
        self.held: list[StreamEvent] = []

    def admit(self, batch: list[StreamEvent], state: RouteState) -> tuple[list[StreamEvent], LLMError | None]:
        """The events of `batch` to pass on now, and the failure met among them (after those events)."""
        out: list[StreamEvent] = []
        for event in batch:
            if self.started and type(event) is TextDelta:  # nearly every event once content has started
                self.sent.append(event.text)
                out.append(event)
                continue
            if isinstance(event, UsageReport):
                usage = priced(event.usage, self.target.info)
                self.usage = usage
                event = UsageReport(usage) if usage is not None and usage is not event.usage else event
            elif isinstance(event, Finish):
                self.model = event.model
                if event.reason == "error":
                    return out, self._error(UpstreamError, 'the stream finished with finish_reason "error"')
            elif type(event) is Served:
                self.model = event.model
                continue
            if not self.started:
                if not isinstance(event, _CONTENT):
                    self.held.append(event)
                    continue
                self.started = True
                if len(self.group) > 1:  # a native request: it is served from the model its stream named on
                    self.group = state.reached(self.group, serving(self.group, self.model))
                    self.target = self.group[0]
                out.append(Routed(self.target.name, tuple(state.attempts)))
                out.extend(self.held)
                self.held.clear()
            if isinstance(event, TextDelta):
                self.sent.append(event.text)
            out.append(event)
        return out, None

    def ended(self) -> None:
        """The upstream stream has ended: one that never started (no content at all) is a failure."""
        if not self.started:
            raise self._error(EmptyResponse, "the stream ended without content, tool call or reasoning")

    def _error(self, cls: type[LLMError], message: str) -> LLMError:
        return _failed(cls, message, answered_by(self.group, self.model) or self.target, self.model)


def prompt_estimate(request: ChatRequest) -> int:
    """Tokens to meter against a TPM limit: a cheap character estimate of the prompt plus max_tokens."""
    return estimate_messages(request.messages) + (request.params.max_tokens or 0)


def check_answer(response: ChatResponse, target: Target) -> None:
    """ "HTTP 200 but failed" is a failure: finish_reason "error", or nothing at all in the answer. `target`: the
    one that answered."""
    if response.finish_reason == "error":
        raise _failed(UpstreamError, 'the answer finished with finish_reason "error"', target, response.model)
    if not response.text and not response.tool_calls and not response.reasoning:
        raise _failed(EmptyResponse, "the answer has no content, tool call or reasoning", target, response.model)


def _failed(cls: type[LLMError], message: str, target: Target, served: str | None) -> LLMError:
    error = cls(message, provider=target.target.provider.id, model=target.target.model, status=200)
    error.served_model = served or target.target.model
    return error
