"""`wikismith mcp`: the MCP server over stdin/stdout, in a process of its own that owns its router, wiki store,
index cache and generation jobs (closed when the client goes away). The SDK keeps stray output off the wire:
while it serves, file descriptor 1 points at stderr, where the logs go too.

Its jobs are recorded under `WIKISMITH_HOME/mcp-jobs/` (not the server's `jobs/`, which a running `wikismith serve`
holds); a job the last `wikismith mcp` left running is resumed when the next one starts. A second `wikismith mcp`
on the same data directory serves everything but generation (its tools say so).
"""

from __future__ import annotations

import logging
from pathlib import Path

from wikismith.chat import IndexCache
from wikismith.config.models import AppConfig
from wikismith.config.settings import Settings
from wikismith.jobs import FileJobStore, JobContext, JobQueue, StoreBusy, max_jobs_setting
from wikismith.router import build_router
from wikismith.server.mcp.runtime import Runtime
from wikismith.server.mcp.server import build_server
from wikismith.wiki.store import WikiStore

log = logging.getLogger("wikismith.server.mcp")


async def _open_jobs(runtime: Runtime) -> None:
    settings, config = runtime.settings, runtime.config
    context = JobContext(runtime.router, settings, config, runtime.store, lambda: runtime.cache.embedder(config, None))
    queue = JobQueue(context, FileJobStore(settings.home / "mcp-jobs"), max_jobs=max_jobs_setting(settings.env))
    try:
        await queue.open()
    except StoreBusy as exc:
        runtime.jobs_off = f"generation jobs are off in this process: {exc}"
        log.warning("%s", runtime.jobs_off)
        return
    runtime.jobs = queue


async def serve_stdio(settings: Settings, config: AppConfig, local_roots: tuple[Path, ...]) -> None:
    """Serve until stdin closes. `local_roots` replace the settings' for everything this process opens."""
    settings = settings.model_copy(update={"local_roots": local_roots})
    router = build_router(config, settings)
    cache = IndexCache()
    runtime = Runtime(settings, config, router, WikiStore(settings.data.wikicache), cache, local_roots)
    try:
        await _open_jobs(runtime)
        await build_server(lambda: runtime).run_stdio_async()
    finally:
        if runtime.jobs is not None:
            await runtime.jobs.aclose()  # a running job is interrupted, resumed by the next `wikismith mcp`
        await cache.aclose()
        await router.aclose()
