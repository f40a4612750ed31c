"""The crate_jobs table: every state change is one guarded UPDATE.

No row back means someone else moved the job first (cancelled, reclaimed, finished), and
the caller must not act as if it owned it. Each transition writes its audit_log row in the
same statement.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from .db import Executor
from .errors import JobNotFound

Status = Literal["queued", "running", "failed", "complete"]
Operation = Literal["ingest", "remove"]
ACTIVE: tuple[Status, ...] = ("queued", "running")

_COLUMNS = """id, crate_name, operation, status, progress, stage, requested_version, version,
    force, attempts, max_attempts, pages_fetched, documents, chunks, embeddings,
    embeddings_reused, error, worker_id, cancel_requested, created_at, started_at,
    finished_at, updated_at"""


@dataclass(frozen=True, slots=True)
class Job:
    id: uuid.UUID
    crate_name: str
    operation: Operation
    status: Status
    progress: int
    stage: str
    requested_version: str
    version: str | None
    force: bool
    attempts: int
    max_attempts: int
    pages_fetched: int
    documents: int
    chunks: int
    embeddings: int
    embeddings_reused: int
    error: str | None
    worker_id: str | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime

    @classmethod
    def from_record(cls, r: asyncpg.Record) -> Job:
        return cls(**dict(r))


def _transition(where: str, sets: str, action: str) -> str:
    """UPDATE guarded by `where`, plus its audit row, as one statement. $1 is the job id."""
    return f"""
    WITH moved AS (
        UPDATE crate_jobs SET {sets}, updated_at = now()
        WHERE id = $1 AND {where}
        RETURNING {_COLUMNS}
    ), audit AS (
        INSERT INTO audit_log (action, crate_name, job_id, detail)
        SELECT '{action}', crate_name, id,
               jsonb_build_object('status', status, 'attempts', attempts, 'error', error)
        FROM moved
    )
    SELECT * FROM moved
    """


_CLAIM = _transition(
    "status = 'queued' AND NOT cancel_requested",
    "status = 'running', attempts = attempts + 1, started_at = now(), finished_at = NULL,"
    " worker_id = $2, stage = 'starting', error = NULL",
    "job.running",
)
_COMPLETE = _transition(
    "status = 'running'",
    "status = 'complete', progress = 100, stage = 'done', finished_at = now(), error = NULL",
    "job.complete",
)
_FAIL = _transition(
    "status = 'running'",
    "status = 'failed', stage = 'failed', finished_at = now(), error = $2",
    "job.failed",
)
_RETRY_LATER = _transition(
    "status = 'running' AND attempts < max_attempts AND NOT cancel_requested",
    "status = 'queued', stage = 'retrying', error = $2, worker_id = NULL",
    "job.retry",
)
_CANCEL_QUEUED = _transition(
    "status = 'queued'",
    "status = 'failed', stage = 'cancelled', finished_at = now(), error = 'cancelled',"
    " cancel_requested = true",
    "job.cancelled",
)
_REQUEST_CANCEL = _transition(
    "status = 'running'",
    "cancel_requested = true",
    "job.cancel_requested",
)
# A job whose cancel was requested fails as cancelled instead of going back to the queue:
# claim refuses it, so queued it would never run, nor ever leave the queue.
_REQUEUE_STALE = _transition(
    "status = 'running' AND worker_id IS NOT DISTINCT FROM $2",
    "status = CASE WHEN attempts < max_attempts AND NOT cancel_requested THEN 'queued'"
    " ELSE 'failed' END,"
    " stage = CASE WHEN cancel_requested THEN 'cancelled'"
    " WHEN attempts < max_attempts THEN 'retrying' ELSE 'failed' END,"
    " finished_at = CASE WHEN attempts < max_attempts AND NOT cancel_requested THEN NULL"
    " ELSE now() END,"
    " error = CASE WHEN cancel_requested THEN 'cancelled'"
    " ELSE 'worker lost (no heartbeat): ' || coalesce($2, 'unknown') END, worker_id = NULL",
    "job.worker_lost",
)
_HAND_BACK = _transition(
    "status = 'running' AND worker_id = $2",
    "status = CASE WHEN cancel_requested THEN 'failed' ELSE 'queued' END,"
    " stage = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'interrupted' END,"
    " finished_at = CASE WHEN cancel_requested THEN now() ELSE finished_at END,"
    " error = CASE WHEN cancel_requested THEN 'cancelled' ELSE error END,"
    " attempts = greatest(attempts - 1, 0), worker_id = NULL",
    "job.handed_back",
)
_RETRY_FAILED = _transition(
    "status = 'failed'",
    "status = 'queued', stage = 'queued', attempts = 0, error = NULL, finished_at = NULL,"
    " progress = 0, cancel_requested = false",
    "job.requeued",
)


async def create(
    conn: Executor,
    *,
    crate_name: str,
    operation: Operation,
    requested_version: str = "latest",
    force: bool = False,
    max_attempts: int = 3,
) -> tuple[Job, bool]:
    """Insert a queued job, or return the crate's active job of that operation.

    Returns (job, created). The partial unique index on active jobs makes concurrent callers
    agree on one job.
    """
    for _ in range(5):
        row = await conn.fetchrow(
            f"""
            WITH ins AS (
                INSERT INTO crate_jobs (id, crate_name, operation, requested_version, force,
                                        max_attempts)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (crate_name, operation) WHERE status IN ('queued', 'running')
                DO NOTHING
                RETURNING {_COLUMNS}
            ), audit AS (
                INSERT INTO audit_log (action, crate_name, job_id, detail)
                SELECT 'job.queued', crate_name, id,
                       jsonb_build_object('operation', operation, 'version', requested_version,
                                          'force', force)
                FROM ins
            )
            SELECT * FROM ins
            """,
            uuid.uuid4(),
            crate_name,
            operation,
            requested_version,
            force,
            max_attempts,
        )
        if row is not None:
            return Job.from_record(row), True
        existing = await active(conn, crate_name, operation)
        if existing is not None:
            return existing, False
        # The active job finished between our insert and select: try again.
    raise RuntimeError(f"could not create or find an active {operation} job for {crate_name}")


async def get(conn: Executor, job_id: uuid.UUID | str) -> Job:
    try:
        jid = job_id if isinstance(job_id, uuid.UUID) else uuid.UUID(str(job_id))
    except ValueError:
        raise JobNotFound(f"{job_id!r} is not a job id (expected a UUID)") from None
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM crate_jobs WHERE id = $1", jid)
    if row is None:
        raise JobNotFound(f"no job with id {jid}")
    return Job.from_record(row)


async def active(conn: Executor, crate_name: str, operation: Operation) -> Job | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM crate_jobs WHERE crate_name = $1 AND operation = $2"
        " AND status IN ('queued', 'running')",
        crate_name,
        operation,
    )
    return Job.from_record(row) if row else None


async def active_for(conn: Executor, crate_names: list[str]) -> list[Job]:
    """Queued or running jobs of these crates."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM crate_jobs WHERE crate_name = ANY($1::text[])"
        " AND status IN ('queued', 'running') ORDER BY created_at",
        crate_names,
    )
    return [Job.from_record(r) for r in rows]


async def list_jobs(
    conn: Executor,
    *,
    crate_name: str | None = None,
    status: Status | None = None,
    limit: int = 50,
) -> list[Job]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM crate_jobs"
        " WHERE ($1::text IS NULL OR crate_name = $1) AND ($2::text IS NULL OR status = $2)"
        " ORDER BY created_at DESC LIMIT $3",
        crate_name,
        status,
        limit,
    )
    return [Job.from_record(r) for r in rows]


async def _move(conn: Executor, sql: str, *args: Any) -> Job | None:
    row = await conn.fetchrow(sql, *args)
    return Job.from_record(row) if row else None


async def claim(conn: Executor, job_id: uuid.UUID, worker_id: str) -> Job | None:
    """queued → running. None: the job is not queued (cancelled, taken, finished)."""
    return await _move(conn, _CLAIM, job_id, worker_id)


async def complete(conn: Executor, job_id: uuid.UUID) -> Job | None:
    return await _move(conn, _COMPLETE, job_id)


async def fail(conn: Executor, job_id: uuid.UUID, error: str) -> Job | None:
    return await _move(conn, _FAIL, job_id, error[:4000])


async def retry_later(conn: Executor, job_id: uuid.UUID, error: str) -> Job | None:
    """running → queued while attempts remain. None: no attempts left (or cancelled)."""
    return await _move(conn, _RETRY_LATER, job_id, error[:4000])


async def cancel(conn: Executor, job_id: uuid.UUID) -> Job:
    """Cancel a queued job at once; ask a running one to stop at its next progress report."""
    job = await _move(conn, _CANCEL_QUEUED, job_id)
    if job is None:
        job = await _move(conn, _REQUEST_CANCEL, job_id)
    return job if job is not None else await get(conn, job_id)


async def requeue_lost(conn: Executor, job_id: uuid.UUID, worker_id: str | None) -> Job | None:
    """running on a dead worker → queued (failed when out of attempts or cancel requested)."""
    return await _move(conn, _REQUEUE_STALE, job_id, worker_id)


async def hand_back(conn: Executor, job_id: uuid.UUID, worker_id: str) -> Job | None:
    """running → queued without using up an attempt (the worker is shutting down); failed
    as cancelled when a cancel was requested."""
    return await _move(conn, _HAND_BACK, job_id, worker_id)


async def retry_failed(conn: Executor, job_id: uuid.UUID) -> Job | None:
    return await _move(conn, _RETRY_FAILED, job_id)


async def report(
    conn: Executor,
    job_id: uuid.UUID,
    *,
    stage: str,
    progress: int,
    counts: dict[str, int] | None = None,
    version: str | None = None,
) -> bool:
    """Write progress of a running job. Returns False when the job should stop: it was
    cancelled or is no longer running (reclaimed by another worker)."""
    c = counts or {}
    row = await conn.fetchrow(
        """
        UPDATE crate_jobs SET stage = $2, progress = GREATEST(progress, LEAST($3, 99)),
            version = coalesce($4, version),
            pages_fetched = coalesce($5, pages_fetched), documents = coalesce($6, documents),
            chunks = coalesce($7, chunks), embeddings = coalesce($8, embeddings),
            embeddings_reused = coalesce($9, embeddings_reused), updated_at = now()
        WHERE id = $1 AND status = 'running'
        RETURNING cancel_requested
        """,
        job_id,
        stage,
        max(0, min(progress, 99)),
        version,
        c.get("pages_fetched"),
        c.get("documents"),
        c.get("chunks"),
        c.get("embeddings"),
        c.get("embeddings_reused"),
    )
    return row is not None and not row["cancel_requested"]


async def audit(
    conn: Executor,
    action: str,
    *,
    crate_name: str | None = None,
    job_id: uuid.UUID | None = None,
    actor: str = "system",
    **detail: Any,
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (action, crate_name, job_id, actor, detail)"
        " VALUES ($1, $2, $3, $4, $5)",
        action,
        crate_name,
        job_id,
        actor,
        json.dumps(detail, default=str),
    )
