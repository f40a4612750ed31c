"""Operator tooling: queue statistics, store verification and repair, health, clean-up."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import asyncpg
from arq.connections import ArqRedis
from pydantic import BaseModel

from . import jobs
from .errors import InvalidInput
from .ingest import committed_point_ids
from .ops import add_crate, enqueue_job
from .settings import Settings
from .store import VectorStore

log = logging.getLogger(__name__)


class QueueStats(BaseModel):
    by_status: dict[str, int]
    by_operation: dict[str, dict[str, int]]
    arq_queued: int
    finished_last_hour: int
    succeeded_last_hour: int
    success_rate_last_hour: float | None
    mean_job_seconds: float | None
    p95_job_seconds: float | None
    workers_alive: int


async def queue_stats(pool: asyncpg.Pool, redis: ArqRedis, settings: Settings) -> QueueStats:
    rows = await pool.fetch(
        "SELECT operation, status, count(*) AS n FROM crate_jobs GROUP BY operation, status"
    )
    by_status = {s: 0 for s in ("queued", "running", "failed", "complete")}
    by_op: dict[str, dict[str, int]] = {}
    for r in rows:
        by_status[r["status"]] += r["n"]
        by_op.setdefault(r["operation"], {})[r["status"]] = r["n"]
    hour = await pool.fetchrow(
        "SELECT count(*) AS finished, count(*) FILTER (WHERE status = 'complete') AS ok"
        " FROM crate_jobs WHERE finished_at > now() - interval '1 hour'"
    )
    durations = await pool.fetchrow(
        "SELECT avg(extract(epoch FROM finished_at - started_at)) AS mean,"
        " percentile_cont(0.95) WITHIN GROUP"
        " (ORDER BY extract(epoch FROM finished_at - started_at)) AS p95 FROM crate_jobs"
        " WHERE status = 'complete' AND started_at IS NOT NULL"
        " AND finished_at > now() - interval '1 day'"
    )
    alive = await pool.fetchval(
        "SELECT count(*) FROM workers WHERE stopped_at IS NULL"
        " AND last_beat > now() - make_interval(secs => $1)",
        settings.heartbeat_stale_after,
    )
    assert hour is not None  # aggregates always return a row
    assert durations is not None
    finished, ok = int(hour["finished"]), int(hour["ok"])
    return QueueStats(
        by_status=by_status,
        by_operation=by_op,
        arq_queued=int(await redis.zcard(settings.queue_name)),
        finished_last_hour=finished,
        succeeded_last_hour=ok,
        success_rate_last_hour=round(ok / finished, 3) if finished else None,
        mean_job_seconds=_round(durations["mean"]),
        p95_job_seconds=_round(durations["p95"]),
        workers_alive=int(alive),
    )


def _round(v: object) -> float | None:
    return round(float(v), 2) if v is not None else None  # type: ignore[arg-type]


class Drift(BaseModel):
    crate: str
    version: str | None
    postgres_chunks: int
    store_points: int
    stray_points: int  # in the store, not referenced by Postgres
    repaired: str | None = None


async def verify(
    pool: asyncpg.Pool,
    redis: ArqRedis,
    settings: Settings,
    store: VectorStore,
    *,
    repair: bool = False,
) -> list[Drift]:
    """Compare Postgres chunks with store points per crate; with repair, fix the drift:
    stray points are deleted, crates missing points are re-indexed."""
    pg = {
        r["name"]: (r["version"], int(r["n"]))
        for r in await pool.fetch(
            "SELECT c.name, c.version, count(ch.point_id) AS n FROM crates c"
            " LEFT JOIN chunks ch ON ch.crate_name = c.name GROUP BY c.name, c.version"
        )
    }
    points: dict[str, int] = {}
    for (crate, _version), n in (await store.counts_by_release()).items():
        points[crate] = points.get(crate, 0) + n
    drift: list[Drift] = []
    for crate in sorted(set(pg) | set(points)):
        version, expected = pg.get(crate, (None, 0))
        have = points.get(crate, 0)
        if have == expected:
            continue
        keep = await committed_point_ids(pool, crate)
        stray = max(0, have - len(keep)) if keep or have else 0
        d = Drift(
            crate=crate,
            version=version,
            postgres_chunks=expected,
            store_points=have,
            stray_points=stray,
        )
        if repair:
            await store.delete_crate(crate, keep_ids=keep)
            remaining = await store.count(crate)
            if remaining < expected:
                res = await add_crate(pool, redis, settings, crate, version or "latest", force=True)
                d.repaired = f"stray points deleted; re-index queued as job {res.job_id}"
            else:
                d.repaired = "stray points deleted"
            await jobs.audit(pool, "admin.repair", crate_name=crate, detail=d.repaired)
        drift.append(d)
    return drift


async def cleanup(pool: asyncpg.Pool, older_than_days: float) -> int:
    if older_than_days < 0:
        raise InvalidInput("--older-than must be positive")
    status = await pool.execute(
        "DELETE FROM crate_jobs WHERE status = 'complete' AND finished_at < now() - $1::interval",
        timedelta(days=older_than_days),
    )
    deleted = int(status.split()[-1])
    await jobs.audit(pool, "admin.cleanup", deleted=deleted, older_than_days=older_than_days)
    return deleted


async def retry(
    pool: asyncpg.Pool, redis: ArqRedis, settings: Settings, job_id: str | None, all_failed: bool
) -> list[str]:
    """Put failed jobs back in the queue (a crate with an active job is skipped)."""
    if job_id:
        targets = [(await jobs.get(pool, job_id)).id]
    elif all_failed:
        targets = [
            r["id"]
            for r in await pool.fetch(
                "SELECT DISTINCT ON (crate_name, operation) id FROM crate_jobs"
                " WHERE status = 'failed'"
                " ORDER BY crate_name, operation, created_at DESC"
            )
        ]
    else:
        raise InvalidInput("give a job id or --failed")
    done: list[str] = []
    for jid in targets:
        try:
            moved = await jobs.retry_failed(pool, uuid.UUID(str(jid)))
        except asyncpg.UniqueViolationError:
            continue  # the crate already has an active job of that kind
        if moved is not None:
            await enqueue_job(redis, settings, moved)
            done.append(str(moved.id))
    return done


async def reindex_missing(pool: asyncpg.Pool, redis: ArqRedis, settings: Settings) -> list[str]:
    """Queue a re-index of crates whose embeddings are incomplete or whose last job failed."""
    rows = await pool.fetch(
        """
        SELECT c.name, c.version FROM crates c
        WHERE c.deleted_at IS NULL AND (
            c.embedding_count < c.chunk_count
            OR (SELECT status FROM crate_jobs j
                WHERE j.crate_name = c.name AND j.operation = 'ingest'
                ORDER BY created_at DESC LIMIT 1) = 'failed')
        """
    )
    queued = []
    for r in rows:
        res = await add_crate(
            pool, redis, settings, r["name"], r["version"] or "latest", force=True
        )
        queued.append(f"{r['name']} ({res.job_id})")
    return queued


class Health(BaseModel):
    ok: bool
    checks: dict[str, str]


async def health(
    pool: asyncpg.Pool, redis: ArqRedis, settings: Settings, store: VectorStore | None
) -> Health:
    checks: dict[str, str] = {}
    try:
        await pool.fetchval("SELECT 1")
        checks["postgres"] = "ok"
    except Exception as e:
        checks["postgres"] = f"error: {e}"
    try:
        await redis.ping()
        beat = await redis.get(f"{settings.queue_name}:health-check")
        checks["redis"] = "ok"
        checks["arq"] = (
            beat.decode() if isinstance(beat, bytes) else (beat or "no worker health record")
        )
    except Exception as e:
        checks["redis"] = f"error: {e}"
    if store is not None:
        try:
            checks["vector_store"] = f"ok ({await store.count()} points)"
        except Exception as e:
            checks["vector_store"] = f"error: {e}"
    try:
        alive = await pool.fetchval(
            "SELECT count(*) FROM workers WHERE stopped_at IS NULL"
            " AND last_beat > now() - make_interval(secs => $1)",
            settings.heartbeat_stale_after,
        )
        checks["workers"] = f"{alive} alive"
    except Exception as e:
        checks["workers"] = f"error: {e}"
    ok = all(not v.startswith("error") for v in checks.values())
    return Health(ok=ok, checks=checks)
