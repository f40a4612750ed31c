"""`rustdocs-mcp`: the server, and the same operations as the MCP tools for people and scripts."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import asyncpg
import typer
from arq.connections import ArqRedis
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import jobs, ops
from .db import open_pool
from .deps import open_deps, open_redis
from .errors import RustdocsError, StoreLocked
from .logs import setup_logging
from .schemas import CrateList, ItemDoc, JobStatus, SearchResult, StatusResult
from .settings import Settings, load_settings

app = typer.Typer(
    help="Rust crate docs from docs.rs, searchable by MCP clients.", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)
T = TypeVar("T")


@dataclass
class Light:
    settings: Settings
    pool: asyncpg.Pool
    redis: ArqRedis


@asynccontextmanager
async def light(settings: Settings) -> AsyncIterator[Light]:
    """Postgres and Redis only: enough to queue and inspect jobs without the vector store."""
    async with AsyncExitStack() as stack:
        pool = await open_pool(settings.database_url, max_size=4)
        stack.push_async_callback(pool.close)
        redis = await open_redis(settings)
        stack.push_async_callback(redis.aclose)
        yield Light(settings, pool, redis)


def run(coro_fn: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    try:
        settings = load_settings()
        setup_logging(settings)
        return asyncio.run(coro_fn(settings))
    except RustdocsError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def emit(model: BaseModel, as_json: bool, render: Callable[[Any], None]) -> None:
    if as_json:
        sys.stdout.write(model.model_dump_json(indent=2) + "\n")
    else:
        render(model)


# --------------------------------------------------------------------------- serve
@app.command()
def serve(
    transport: Annotated[str, typer.Option(help="stdio or http")] = "stdio",
    host: Annotated[str, typer.Option(help="HTTP bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port")] = 8000,
    worker: Annotated[
        bool | None, typer.Option("--worker/--no-worker", help="run the arq worker in-process")
    ] = None,
) -> None:
    """Run the MCP server (stdio by default; --transport http for streamable HTTP)."""
    from .http import serve_http
    from .tools import build_server

    try:
        settings = load_settings()
    except RustdocsError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    setup_logging(settings)
    server = build_server(settings, run_worker=worker)
    if transport == "stdio":
        server.run("stdio")
    elif transport == "http":
        try:
            asyncio.run(serve_http(server, settings, host=host, port=port))
        except RustdocsError as e:
            err.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2) from None
    else:
        err.print("[red]error:[/red] --transport must be stdio or http")
        raise typer.Exit(2)


# --------------------------------------------------------------------------- jobs
async def _wait(c: Light, job_id: uuid.UUID) -> jobs.Job:
    """Follow a job to its end with a progress bar; run it here if no worker can."""
    stack = AsyncExitStack()
    if c.settings.embedded_store:
        try:
            from .tools import run_embedded_worker

            deps = await stack.enter_async_context(open_deps(c.settings))
            await stack.enter_async_context(run_embedded_worker(deps))
        except StoreLocked:
            err.print("[dim]the server owns the embedded store; its worker runs the job[/dim]")
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=err,
            transient=False,
        ) as bar:
            task = bar.add_task("queued", total=100)
            while True:
                job = await jobs.get(c.pool, job_id)
                bar.update(
                    task, completed=job.progress, description=f"{job.crate_name}: {job.stage}"
                )
                if job.status in ("complete", "failed"):
                    return job
                await asyncio.sleep(0.5)
    finally:
        await stack.aclose()


@app.command()
def add(
    crate: str,
    version: Annotated[
        str, typer.Option("--version", "-v", help="latest, 1.2.3 or ^1.2")
    ] = "latest",
    force: Annotated[bool, typer.Option(help="re-index even if this version is indexed")] = False,
    wait: Annotated[bool, typer.Option(help="wait for the job, with a progress bar")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Queue a crate for indexing (202 + job id); --wait follows it to the end."""

    async def go(settings: Settings) -> int:
        async with light(settings) as c:
            res = await ops.add_crate(c.pool, c.redis, settings, crate, version, force)
            emit(
                res,
                as_json and not wait,
                lambda r: out.print(f"{r.status_code} {r.message} (job {r.job_id})"),
            )
            if not wait or res.job_id is None:
                return 0
            job = await _wait(c, uuid.UUID(res.job_id))
            if as_json:
                sys.stdout.write(JobStatus.of(job).model_dump_json(indent=2) + "\n")
            if job.status == "failed":
                err.print(f"[red]failed:[/red] {job.error}")
                return 1
            out.print(
                f"[green]indexed[/green] {job.crate_name} {job.version}: {job.documents} items,"
                f" {job.chunks} chunks ({job.embeddings} embedded, {job.embeddings_reused} reused)"
            )
            return 0

    raise typer.Exit(run(go))


def _render_jobs(res: StatusResult) -> None:
    t = Table(
        "job", "crate", "op", "status", "progress", "stage", "version", "docs", "chunks", "error"
    )
    for j in res.jobs:
        t.add_row(
            j.job_id[:8],
            j.crate_name,
            j.operation,
            j.status,
            f"{j.progress}%",
            j.stage,
            j.version or j.requested_version,
            str(j.counts.documents),
            str(j.counts.chunks),
            (j.error or "")[:60],
        )
    out.print(t)


@app.command()
def status(
    job_id: Annotated[str | None, typer.Argument()] = None,
    crate: Annotated[str | None, typer.Option("--crate")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Jobs: one by id, a crate's, or the most recent."""

    async def go(settings: Settings) -> None:
        async with light(settings) as c:
            emit(await ops.job_status(c.pool, job_id, crate), as_json, _render_jobs)

    run(go)


@app.command("list")
def list_(
    page: int = 1,
    page_size: int = 20,
    deleted: Annotated[bool, typer.Option("--deleted", help="include soft-deleted")] = False,
    query: Annotated[str | None, typer.Option("--query", "-q")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Indexed crates with their counts."""

    def render(res: CrateList) -> None:
        t = Table(
            "crate", "version", "status", "docs", "embeddings", "source", "updated", "description"
        )
        for c in res.crates:
            status_ = c.status + (
                f" ({c.active_job.status} {c.active_job.progress}%)" if c.active_job else ""
            )
            t.add_row(
                c.name,
                c.version or "",
                status_,
                str(c.document_count),
                str(c.embedding_count),
                c.source or "",
                c.last_updated.strftime("%Y-%m-%d %H:%M"),
                c.description[:50],
            )
        out.print(t)
        out.print(f"page {res.page}/{res.pages}, {res.total} crates")

    async def go(settings: Settings) -> None:
        async with light(settings) as c:
            emit(await ops.list_crates(c.pool, page, page_size, deleted, query), as_json, render)

    run(go)


@app.command()
def remove(
    crate: str,
    soft: Annotated[bool, typer.Option(help="hide from list and search, keep the data")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Remove a crate's index (a background job), or soft-delete it."""

    async def go(settings: Settings) -> None:
        async with light(settings) as c:
            res = await ops.remove_crate(c.pool, c.redis, settings, crate, soft)
            emit(res, as_json, lambda r: out.print(f"{r.status_code} {r.message}"))

    run(go)


@app.command()
def restore(crate: str) -> None:
    """Undo a soft delete."""

    async def go(settings: Settings) -> None:
        async with light(settings) as c:
            res = await ops.restore_crate(c.pool, crate)
            out.print(f"restored {res.name} {res.version}")

    run(go)


@app.command()
def cancel(job_id: str) -> None:
    """Cancel a queued or running job."""

    async def go(settings: Settings) -> None:
        async with light(settings) as c:
            res = await ops.cancel_job(c.pool, job_id)
            out.print(f"{res.job_id}: {res.status} ({res.stage})")

    run(go)


@app.command()
def search(
    query: str,
    crate: Annotated[str | None, typer.Option("--crate")] = None,
    version: Annotated[str | None, typer.Option("--version")] = None,
    kind: Annotated[str | None, typer.Option("--kind")] = None,
    limit: int = 10,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Search the indexed docs."""

    def render(res: SearchResult) -> None:
        if not res.results:
            out.print("no results")
        for i, h in enumerate(res.results, 1):
            out.print(
                f"[bold]{i}. {h.path}[/bold] ({h.kind}, {h.crate} {h.version}) score {h.score}"
            )
            if h.signature:
                out.print(f"   [cyan]{h.signature[:160]}[/cyan]", markup=True, highlight=False)
            out.print(f"   {h.snippet[:240]}", markup=False, highlight=False)
            out.print(f"   [dim]{h.url}[/dim]")

    async def go(settings: Settings) -> None:
        async with open_deps(settings) as d:
            res = await ops.search_docs(
                d.pool, d.store, d.embedder, query, crate, version, kind, limit
            )
            emit(res, as_json, render)

    run(go)


@app.command()
def get(crate: str, path: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print one item's whole documentation."""

    def render(d: ItemDoc) -> None:
        out.print(f"[bold]{d.path}[/bold] ({d.kind}, {d.crate} {d.version})")
        out.print(d.signature, markup=False, highlight=False)
        out.print()
        out.print(d.docs, markup=False, highlight=False)
        out.print(f"\n[dim]{d.url}[/dim]")

    async def go(settings: Settings) -> None:
        async with light(settings) as c:
            emit(await ops.get_item(c.pool, crate, path), as_json, render)

    run(go)


def main() -> None:
    app()


# --------------------------------------------------------------------------- admin
admin = typer.Typer(help="Operate the queue and the stores.", no_args_is_help=True)
app.add_typer(admin, name="admin")


@admin.command("stats")
def admin_stats(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Queue statistics: jobs by status and operation, last-hour throughput, job times."""
    from .admin import queue_stats

    async def go(settings: Settings) -> None:
        async with light(settings) as c:
            stats = await queue_stats(c.pool, c.redis, settings)
            emit(stats, as_json, lambda s: out.print_json(s.model_dump_json()))

    run(go)


@admin.command("jobs")
def admin_jobs(
    status_: Annotated[
        str | None, typer.Option("--status", help="queued|running|failed|complete")
    ] = None,
    limit: int = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List jobs, newest first."""
    if status_ not in (None, "queued", "running", "failed", "complete"):
        err.print("[red]error:[/red] --status must be queued, running, failed or complete")
        raise typer.Exit(2)

    async def go(settings: Settings) -> None:
        async with light(settings) as c:
            found = await jobs.list_jobs(c.pool, status=status_, limit=limit)  # type: ignore[arg-type]
            emit(StatusResult(jobs=[JobStatus.of(j) for j in found]), as_json, _render_jobs)

    run(go)


@admin.command("retry")
def admin_retry(
    job_id: Annotated[str | None, typer.Argument()] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="retry every crate's last failed job")
    ] = False,
) -> None:
    """Queue failed jobs again."""
    from .admin import retry

    async def go(settings: Settings) -> None:
        async with light(settings) as c:
            ids = await retry(c.pool, c.redis, settings, job_id, failed)
            out.print(f"requeued {len(ids)} job(s): {', '.join(ids)}")

    run(go)


@admin.command("cleanup")
def admin_cleanup(
    older_than: Annotated[str, typer.Option("--older-than", help="age like 30d or 12h")] = "30d",
) -> None:
    """Delete complete jobs older than the given age."""
    from .admin import cleanup

    unit = older_than[-1:]
    try:
        days = (
            float(older_than[:-1]) / (24 if unit == "h" else 1)
            if unit in "dh"
            else float(older_than)
        )
    except ValueError:
        err.print("[red]error:[/red] --older-than takes an age like 30d or 12h")
        raise typer.Exit(2) from None

    async def go(settings: Settings) -> None:
        async with light(settings) as c:
            out.print(f"deleted {await cleanup(c.pool, days)} complete job(s)")

    run(go)


@admin.command("reindex")
def admin_reindex(
    missing: Annotated[
        bool, typer.Option("--missing", help="crates with missing embeddings or a failed last job")
    ] = True,
) -> None:
    """Queue re-indexing of crates that need it."""
    from .admin import reindex_missing

    async def go(settings: Settings) -> None:
        async with light(settings) as c:
            queued = await reindex_missing(c.pool, c.redis, settings)
            out.print(f"queued {len(queued)} re-index job(s) " + ", ".join(queued))

    run(go)


@admin.command("verify")
def admin_verify(
    repair: Annotated[bool, typer.Option("--repair", help="fix the drift found")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Compare Postgres chunk counts with vector store points per crate."""
    from .admin import verify

    async def go(settings: Settings) -> int:
        async with open_deps(settings) as d:
            drift = await verify(d.pool, d.redis, settings, d.store, repair=repair)
        if as_json:
            sys.stdout.write("[" + ",".join(x.model_dump_json() for x in drift) + "]\n")
        elif not drift:
            out.print("clean: every crate's points match its Postgres chunks")
        for x in drift if not as_json else []:
            out.print(
                f"{x.crate} {x.version or ''}: postgres {x.postgres_chunks} chunks,"
                f" store {x.store_points} points ({x.stray_points} stray)"
                + (f" → {x.repaired}" if x.repaired else "")
            )
        return 1 if drift and not repair else 0

    raise typer.Exit(run(go))


@admin.command("health")
def admin_health(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Check Postgres, Redis, the vector store, workers and the arq health record."""
    from .admin import health

    async def go(settings: Settings) -> int:
        async with light(settings) as c:
            store = None
            stack = AsyncExitStack()
            try:
                from .store import collection_spec, open_store

                if settings.qdrant_url:
                    from .embed import make_embedder

                    emb = make_embedder(settings)
                    store = await open_store(
                        settings, collection_spec(emb.model_name, emb.dimension)
                    )
                    stack.push_async_callback(store.close)
                res = await health(c.pool, c.redis, settings, store)
            finally:
                await stack.aclose()
        emit(res, as_json, lambda h: out.print("\n".join(f"{k}: {v}" for k, v in h.checks.items())))
        return 0 if res.ok else 1

    raise typer.Exit(run(go))
