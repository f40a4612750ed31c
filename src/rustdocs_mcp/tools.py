"""The MCP server: tools over the service layer, and the process's dependencies in a lifespan.

With the embedded vector store (no RUSTDOCS_QDRANT_URL) the server also runs the arq worker
in its own process, so one process is all a person has to start.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from arq.worker import Worker
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from . import ops
from .admin import QueueStats, queue_stats
from .deps import Deps, open_deps
from .errors import RustdocsError
from .schemas import (
    AddResult,
    CrateInfo,
    CrateList,
    ItemDoc,
    JobStatus,
    RemoveResult,
    SearchResult,
    StatusResult,
)
from .settings import Settings
from .tasks import new_worker_id, worker_options

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

INSTRUCTIONS = """\
rustdocs-mcp keeps Rust crate documentation from docs.rs searchable.
- add_rust_crate("tokio") indexes a crate in the background and returns a job id at once;
  check_rust_status(job_id) shows progress. Searching works on whatever is already indexed.
- search_rust_docs("spawn a task on the runtime", crate_name="tokio") finds items; a query can
  also be an item path like "tokio::spawn" or "Mutex::lock".
- get_rust_item("tokio", "tokio::sync::Mutex::lock") returns one item's whole documentation.
- list_rust_crates() shows what is indexed; remove_rust_crate() deletes a crate's index.
"""


@dataclass
class App:
    deps: Deps
    worker: Worker | None


# The App of each running server, for HTTP routes outside MCP (/metrics).
_RUNNING: weakref.WeakKeyDictionary[MCPServer[App], App] = weakref.WeakKeyDictionary()


def running_app(server: MCPServer[App]) -> App | None:
    return _RUNNING.get(server)


def _deps(ctx: Context[App, Any]) -> Deps:
    app: App = ctx.request_context.lifespan_context
    return app.deps


def _check_text(name: str, value: str) -> None:
    """JSON can carry what no store can: NUL characters and lone UTF-16 surrogates."""
    if "\x00" in value:
        raise ToolError(f"{name} contains a NUL character (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ToolError(f"{name} contains a lone surrogate ({value[e.start]!r}), not text") from e


def raises_tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Our errors become ToolError: the client sees isError with a message a person can act on."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for name, value in kwargs.items():
            if isinstance(value, str):
                _check_text(name, value)
        try:
            return await fn(*args, **kwargs)
        except RustdocsError as e:
            raise ToolError(str(e)) from e

    return wrapper


@asynccontextmanager
async def run_embedded_worker(deps: Deps) -> AsyncIterator[Worker]:
    opts = worker_options(deps.settings)
    worker = Worker(**opts, ctx={"deps": deps, "worker_id": new_worker_id()}, handle_signals=False)
    task = asyncio.create_task(worker.async_run(), name="arq-worker")
    try:
        yield worker
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        try:
            await worker.close()
        except Exception as e:  # shutting down anyway
            log.debug("worker close: %s", e)


def build_server(
    settings: Settings,
    *,
    run_worker: bool | None = None,
    deps_factory: Callable[[Settings], Any] | None = None,
) -> MCPServer[App]:
    """The MCP server. `run_worker` defaults to True with the embedded store."""
    with_worker = settings.embedded_store if run_worker is None else run_worker

    @asynccontextmanager
    async def lifespan(server: MCPServer[App]) -> AsyncIterator[App]:
        opener = deps_factory or open_deps
        async with opener(settings) as deps, AsyncExitStack() as stack:
            worker = (
                await stack.enter_async_context(run_embedded_worker(deps)) if with_worker else None
            )
            app = App(deps, worker)
            _RUNNING[server] = app
            try:
                yield app
            finally:
                _RUNNING.pop(server, None)

    mcp: MCPServer[App] = MCPServer(
        "rustdocs-mcp", instructions=INSTRUCTIONS, version="0.1.0", lifespan=lifespan
    )

    @mcp.tool()
    @raises_tool_errors
    async def add_rust_crate(
        crate_name: str, ctx: Context[App, Any], version: str = "latest", force: bool = False
    ) -> AddResult:
        """Index a crate's docs from docs.rs in the background; answers at once with a job id.

        version: "latest" (default), an exact version ("1.0.188") or a requirement ("^1.2").
        An active job for the crate is returned instead of starting another; a crate already
        indexed at that exact version is left alone unless force=true.
        """
        d = _deps(ctx)
        return await ops.add_crate(d.pool, d.redis, d.settings, crate_name, version, force)

    @mcp.tool()
    @raises_tool_errors
    async def check_rust_status(
        ctx: Context[App, Any], job_id: str | None = None, crate_name: str | None = None
    ) -> StatusResult:
        """Status of one job (job_id), of a crate's jobs (crate_name), or of recent jobs.

        Each job: status (queued, running, failed, complete), progress 0-100, stage, counts of
        pages, documents, chunks and embeddings, attempts, times, an ETA while running, and the
        error of a failed job.
        """
        return await ops.job_status(_deps(ctx).pool, job_id, crate_name)

    @mcp.tool()
    @raises_tool_errors
    async def list_rust_crates(
        ctx: Context[App, Any],
        page: int = 1,
        page_size: int = 20,
        include_deleted: bool = False,
        query: str | None = None,
    ) -> CrateList:
        """Indexed crates, a page at a time: version, description, document and embedding
        counts, status and last update. `query` filters by name or description."""
        return await ops.list_crates(_deps(ctx).pool, page, page_size, include_deleted, query)

    @mcp.tool()
    @raises_tool_errors
    async def remove_rust_crate(
        crate_name: str, ctx: Context[App, Any], soft: bool = False
    ) -> RemoveResult:
        """Remove a crate's index from Postgres and the vector store (a background job; a
        running ingest of it is cancelled first). soft=true only hides it from list and
        search, keeping the data; restore_rust_crate undoes that."""
        d = _deps(ctx)
        return await ops.remove_crate(d.pool, d.redis, d.settings, crate_name, soft)

    @mcp.tool()
    @raises_tool_errors
    async def restore_rust_crate(crate_name: str, ctx: Context[App, Any]) -> CrateInfo:
        """Undo a soft delete: the crate shows in list and search again."""
        return await ops.restore_crate(_deps(ctx).pool, crate_name)

    @mcp.tool()
    @raises_tool_errors
    async def cancel_rust_job(job_id: str, ctx: Context[App, Any]) -> JobStatus:
        """Cancel a queued or running job; a cancelled ingest leaves the previous index intact."""
        return await ops.cancel_job(_deps(ctx).pool, job_id)

    @mcp.tool()
    @raises_tool_errors
    async def search_rust_docs(
        query: str,
        ctx: Context[App, Any],
        crate_name: str | None = None,
        version: str | None = None,
        kind: str | None = None,
        limit: int = 10,
    ) -> SearchResult:
        """Search indexed Rust docs; works while crates are still being indexed.

        query: natural language ("read a file into a string") or an item path
        ("tokio::spawn", "Mutex::lock"). Filters: crate_name, version, kind (struct, enum,
        trait, fn, method, macro, module, ...). Each hit: crate, version, item path, kind,
        signature, a snippet, the docs.rs URL and a score.
        """
        d = _deps(ctx)
        return await ops.search_docs(
            d.pool, d.store, d.embedder, query, crate_name, version, kind, limit
        )

    @mcp.tool()
    @raises_tool_errors
    async def get_rust_item(crate_name: str, path: str, ctx: Context[App, Any]) -> ItemDoc:
        """The whole documentation of one item, e.g. ("serde", "serde::de::Deserialize") or
        ("bytes", "Bytes::slice"): signature, full docs with examples, docs.rs URL."""
        return await ops.get_item(_deps(ctx).pool, crate_name, path)

    @mcp.tool()
    @raises_tool_errors
    async def rust_queue_stats(ctx: Context[App, Any]) -> QueueStats:
        """Queue statistics: jobs by status and operation, last-hour throughput and success
        rate, mean and p95 job time, workers alive."""
        d = _deps(ctx)
        return await queue_stats(d.pool, d.redis, d.settings)

    return mcp
