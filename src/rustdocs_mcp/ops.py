"""What the MCP tools and the CLI do, written once. Each function takes the clients it uses."""

from __future__ import annotations

import logging
import math
import re
import time

import asyncpg
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from . import jobs, metrics
from .embed import Embedder
from .errors import InvalidInput, NotIndexed, ServiceUnavailable
from .jobs import Job
from .models import ITEM_KINDS
from .schemas import (
    AddResult,
    CrateInfo,
    CrateList,
    ItemDoc,
    JobStatus,
    RemoveResult,
    SearchResult,
    StatusResult,
    check_crate_name,
    check_version,
)
from .search import search
from .settings import Settings
from .store import VectorStore

log = logging.getLogger(__name__)

_EXACT = re.compile(r"^=?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")
MAX_PAGE = 1_000_000  # keeps OFFSET within Postgres' bigint whatever the page size


async def canonical_name(pool: asyncpg.Pool, name: str) -> str:
    """The indexed crate's stored name when one matches (crates.io ignores case and -/_)."""
    found = await pool.fetchval(
        "SELECT name FROM crates"
        " WHERE replace(lower(name), '-', '_') = replace(lower($1), '-', '_')",
        name,
    )
    return str(found) if found else name


async def enqueue_job(redis: ArqRedis, settings: Settings, job: Job) -> bool:
    """Put the job on the arq queue under its own id; False if arq already has it."""
    fn = "ingest_crate" if job.operation == "ingest" else "remove_crate"
    queued = await redis.enqueue_job(
        fn, str(job.id), _job_id=str(job.id), _queue_name=settings.queue_name
    )
    return queued is not None


async def _create_and_enqueue(
    pool: asyncpg.Pool, redis: ArqRedis, settings: Settings, **kw: object
) -> tuple[Job, bool]:
    job, created = await jobs.create(pool, max_attempts=settings.job_max_tries, **kw)  # type: ignore[arg-type]
    if created:
        try:
            await enqueue_job(redis, settings, job)
        except (RedisError, OSError) as e:
            await pool.execute(
                "UPDATE crate_jobs SET status = 'failed', stage = 'failed', finished_at = now(),"
                " error = $2 WHERE id = $1 AND status = 'queued'",
                job.id,
                f"could not enqueue: Redis unavailable ({e})",
            )
            raise ServiceUnavailable(f"Redis is unavailable, the job was not queued: {e}") from e
    return job, created


async def add_crate(
    pool: asyncpg.Pool,
    redis: ArqRedis,
    settings: Settings,
    crate_name: str,
    version: str = "latest",
    force: bool = False,
) -> AddResult:
    name = await canonical_name(pool, check_crate_name(crate_name))
    req = check_version(version)
    if not force and _EXACT.match(req):
        row = await pool.fetchrow(
            "SELECT version FROM crates WHERE name = $1 AND status = 'indexed'"
            " AND deleted_at IS NULL AND version = $2",
            name,
            req.lstrip("="),
        )
        if row is not None:
            return AddResult(
                status_code=200,
                job_id=None,
                crate_name=name,
                version=row["version"],
                status="complete",
                message=f"{name} {row['version']} is already indexed (pass force=true to re-index)",
            )
    job, created = await _create_and_enqueue(
        pool,
        redis,
        settings,
        crate_name=name,
        operation="ingest",
        requested_version=req,
        force=force,
    )
    msg = (
        f"queued {name} {req}; poll check_rust_status(job_id) for progress"
        if created
        else f"{name} already has a {job.status} ingest job; returning it"
    )
    return AddResult(
        status_code=202,
        job_id=str(job.id),
        crate_name=name,
        version=job.requested_version,
        status=job.status,
        message=msg,
    )


async def job_status(
    pool: asyncpg.Pool, job_id: str | None = None, crate_name: str | None = None, limit: int = 20
) -> StatusResult:
    if job_id:
        return StatusResult(jobs=[JobStatus.of(await jobs.get(pool, job_id))])
    name = await canonical_name(pool, check_crate_name(crate_name)) if crate_name else None
    found = await jobs.list_jobs(pool, crate_name=name, limit=max(1, min(limit, 200)))
    if name and not found:
        raise NotIndexed(f"no jobs for crate {name!r}")
    return StatusResult(jobs=[JobStatus.of(j) for j in found])


async def list_crates(
    pool: asyncpg.Pool,
    page: int = 1,
    page_size: int = 20,
    include_deleted: bool = False,
    query: str | None = None,
) -> CrateList:
    if page < 1:
        raise InvalidInput("page starts at 1")
    if page > MAX_PAGE:
        raise InvalidInput(f"page must be at most {MAX_PAGE}")
    if not 1 <= page_size <= 100:
        raise InvalidInput("page_size must be between 1 and 100")
    pattern = f"%{query.strip().lower()}%" if query and query.strip() else None
    rows = await pool.fetch(
        """
        SELECT c.*, count(*) OVER () AS total FROM crates c
        WHERE ($1 OR c.deleted_at IS NULL)
          AND ($2::text IS NULL OR lower(c.name) LIKE $2 OR lower(c.description) LIKE $2)
        ORDER BY c.name LIMIT $3 OFFSET $4
        """,
        include_deleted,
        pattern,
        page_size,
        (page - 1) * page_size,
    )
    total = int(rows[0]["total"]) if rows else await _count_crates(pool, include_deleted, pattern)
    active = {j.crate_name: j for j in await jobs.active_for(pool, [r["name"] for r in rows])}
    crates = [
        CrateInfo(
            name=r["name"],
            version=r["version"],
            status="soft_deleted" if r["deleted_at"] else r["status"],
            description=r["description"],
            source=r["source"],
            document_count=r["doc_count"],
            chunk_count=r["chunk_count"],
            embedding_count=r["embedding_count"],
            embedding_model=r["embedding_model"],
            last_updated=r["updated_at"],
            last_indexed_at=r["last_indexed_at"],
            deleted=r["deleted_at"] is not None,
            active_job=JobStatus.of(active[r["name"]]) if r["name"] in active else None,
        )
        for r in rows
    ]
    return CrateList(
        crates=crates,
        total=total,
        page=page,
        page_size=page_size,
        pages=max(1, math.ceil(total / page_size)),
    )


async def _count_crates(pool: asyncpg.Pool, include_deleted: bool, pattern: str | None) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM crates c WHERE ($1 OR c.deleted_at IS NULL)"
            " AND ($2::text IS NULL OR lower(c.name) LIKE $2 OR lower(c.description) LIKE $2)",
            include_deleted,
            pattern,
        )
    )


async def remove_crate(
    pool: asyncpg.Pool, redis: ArqRedis, settings: Settings, crate_name: str, soft: bool = False
) -> RemoveResult:
    name = await canonical_name(pool, check_crate_name(crate_name))
    known = await pool.fetchrow("SELECT name, deleted_at FROM crates WHERE name = $1", name)
    ingest = await jobs.active(pool, name, "ingest")
    if known is None and ingest is None:
        raise NotIndexed(f"{name!r} is not indexed, so there is nothing to remove")
    if soft:
        if known is None:
            raise NotIndexed(f"{name!r} has no finished index yet; cancel its job or remove it")
        await pool.execute(
            "UPDATE crates SET deleted_at = coalesce(deleted_at, now()), updated_at = now()"
            " WHERE name = $1",
            name,
        )
        await jobs.audit(pool, "crate.soft_deleted", crate_name=name)
        return RemoveResult(
            status_code=200,
            job_id=None,
            crate_name=name,
            status="soft_deleted",
            message=f"{name} is hidden from list and search; restore_rust_crate brings it back",
        )
    if ingest is not None:
        await jobs.cancel(pool, ingest.id)
    job, _ = await _create_and_enqueue(pool, redis, settings, crate_name=name, operation="remove")
    return RemoveResult(
        status_code=202,
        job_id=str(job.id),
        crate_name=name,
        status=job.status,
        message=f"removing {name} from Postgres and the vector store"
        + ("; its running ingest was cancelled" if ingest is not None else ""),
    )


async def restore_crate(pool: asyncpg.Pool, crate_name: str) -> CrateInfo:
    name = await canonical_name(pool, check_crate_name(crate_name))
    row = await pool.fetchrow(
        "UPDATE crates SET deleted_at = NULL, updated_at = now() WHERE name = $1"
        " AND deleted_at IS NOT NULL RETURNING name",
        name,
    )
    if row is None:
        exists = await pool.fetchval("SELECT 1 FROM crates WHERE name = $1", name)
        raise NotIndexed(f"{name!r} is not soft-deleted" if exists else f"{name!r} is not indexed")
    await jobs.audit(pool, "crate.restored", crate_name=name)
    listing = await list_crates(pool, query=name, page_size=100)
    return next(c for c in listing.crates if c.name == name)


async def cancel_job(pool: asyncpg.Pool, job_id: str) -> JobStatus:
    job = await jobs.get(pool, job_id)
    if job.status not in jobs.ACTIVE:
        raise InvalidInput(
            f"job {job.id} is already {job.status}; only queued or running jobs cancel"
        )
    return JobStatus.of(await jobs.cancel(pool, job.id))


async def search_docs(
    pool: asyncpg.Pool,
    store: VectorStore,
    embedder: Embedder,
    query: str,
    crate_name: str | None = None,
    version: str | None = None,
    kind: str | None = None,
    limit: int = 10,
) -> SearchResult:
    name = await canonical_name(pool, check_crate_name(crate_name)) if crate_name else None
    if kind is not None and kind not in ITEM_KINDS:
        raise InvalidInput(f"kind must be one of: {', '.join(ITEM_KINDS)}")
    if version is not None and not name:
        raise InvalidInput("version filters need crate_name too")
    started = time.perf_counter()
    hits = await search(
        pool, store, embedder, query, crate=name, version=version, kind=kind, limit=limit
    )
    metrics.SEARCH_SECONDS.observe(time.perf_counter() - started)
    return SearchResult(query=query, results=hits)


async def get_item(pool: asyncpg.Pool, crate_name: str, path: str) -> ItemDoc:
    name = await canonical_name(pool, check_crate_name(crate_name))
    path = path.strip()
    if not path:
        raise InvalidInput("path is empty; give an item path such as 'serde::Deserialize'")
    if not path.lower().startswith(name.lower().replace("-", "_") + "::") and path != name:
        full = f"{name.replace('-', '_')}::{path}"
    else:
        full = path
    rows = await pool.fetch(
        """
        SELECT d.* FROM documents d JOIN crates c ON c.name = d.crate_name
        WHERE d.crate_name = $1 AND c.deleted_at IS NULL AND c.status = 'indexed'
          AND lower(d.path) = lower($2)
        ORDER BY (d.impl_of IS NOT NULL), d.id
        """,
        name,
        full,
    )
    if not rows:
        indexed = await pool.fetchval(
            "SELECT 1 FROM crates WHERE name = $1 AND deleted_at IS NULL AND status = 'indexed'",
            name,
        )
        if not indexed:
            raise NotIndexed(f"{name!r} is not indexed; add it with add_rust_crate first")
        similar = await pool.fetch(
            "SELECT DISTINCT path FROM documents WHERE crate_name = $1 AND lower(path) LIKE $2"
            " ORDER BY path LIMIT 5",
            name,
            "%" + full.rsplit("::", 1)[-1].lower() + "%",
        )
        hint = ", ".join(r["path"] for r in similar)
        raise NotIndexed(
            f"no item {full!r} in {name}" + (f"; similar paths: {hint}" if hint else "")
        )
    d = rows[0]
    return ItemDoc(
        crate=d["crate_name"],
        version=d["version"],
        path=d["path"],
        kind=d["kind"],
        signature=d["signature"],
        docs=d["docs"],
        url=d["url"],
        deprecated=d["deprecated"],
        features=list(d["features"] or []),
        parent=d["parent"],
        impl_of=d["impl_of"],
        other_matches=[r["url"] for r in rows[1:]],
    )
