"""arq jobs: ingest_crate and remove_crate, and the worker's life cycle.

Whole-job retries live here: a transient failure puts the job back to queued (guarded) and
asks arq to run it again later with exponential backoff; a permanent one fails it at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from contextlib import AsyncExitStack
from typing import Any

from arq import Retry
from arq.connections import RedisSettings
from arq.constants import in_progress_key_prefix

from . import jobs
from .deps import Deps, open_deps
from .errors import JobCancelled, PermanentError, RustdocsError
from .ingest import drop_uncommitted, run_ingest, run_remove
from .ops import enqueue_job
from .settings import Settings, load_settings

log = logging.getLogger(__name__)

RETRY_BASE = 10.0  # seconds before the second attempt; doubles each time
RETRY_MAX = 600.0


def retry_delay(attempt: int, base: float = RETRY_BASE) -> float:
    """Exponential backoff with jitter for whole-job retries (attempt counts from 1)."""
    # The exponent is bounded: 2 ** 1024 no longer fits a float, and 2 ** 64 is past any cap.
    exp = min(RETRY_MAX, base * 2.0 ** min(attempt - 1, 64))
    return random.uniform(exp / 2, exp)


async def _cleanup_quietly(deps: Deps, crate: str) -> None:
    try:
        await drop_uncommitted(deps.pool, deps.store, crate)
    except Exception as e:  # the store may be the thing that is down
        log.warning("could not clean up uncommitted points of %s: %s", crate, e)


async def _run(ctx: dict[str, Any], job_id: str, operation: str) -> str:
    deps: Deps = ctx["deps"]
    worker_id: str = ctx["worker_id"]
    job = await jobs.claim(deps.pool, uuid.UUID(job_id), worker_id)
    if job is None:
        current = await jobs.get(deps.pool, job_id)
        log.info("job %s not claimed: it is %s", job_id, current.status)
        return f"not claimed ({current.status})"
    ctx["current_job"] = job.id
    log.info("job %s: %s %s (attempt %d)", job.id, operation, job.crate_name, job.attempts)
    try:
        if operation == "ingest":
            summary = await run_ingest(deps, job)
        else:
            summary = await run_remove(deps, job)
    except asyncio.CancelledError:
        # The worker is stopping (SIGTERM): hand the job back rather than leave it running.
        await asyncio.shield(jobs.hand_back(deps.pool, job.id, worker_id))
        log.warning("job %s handed back: worker shutting down", job.id)
        raise
    except JobCancelled:
        if operation == "ingest":
            await _cleanup_quietly(deps, job.crate_name)
        await jobs.fail(deps.pool, job.id, "cancelled")
        log.info("job %s cancelled", job.id)
        return "cancelled"
    except PermanentError as e:
        if operation == "ingest":
            await _cleanup_quietly(deps, job.crate_name)
        await jobs.fail(deps.pool, job.id, str(e))
        ctx["jobs_failed"] = ctx.get("jobs_failed", 0) + 1
        log.warning("job %s failed: %s", job.id, e)
        return f"failed: {e}"
    except Exception as e:
        message = str(e) if isinstance(e, RustdocsError) else f"{type(e).__name__}: {e}"
        if await jobs.retry_later(deps.pool, job.id, message):
            delay = retry_delay(job.attempts, ctx.get("retry_base", RETRY_BASE))
            log.warning(
                "job %s attempt %d failed (%s); retrying in %.0fs",
                job.id,
                job.attempts,
                message,
                delay,
            )
            raise Retry(defer=delay) from e
        if operation == "ingest":
            await _cleanup_quietly(deps, job.crate_name)
        final = f"{message} (gave up after {job.attempts} attempts)"
        await jobs.fail(deps.pool, job.id, final)
        ctx["jobs_failed"] = ctx.get("jobs_failed", 0) + 1
        log.error("job %s failed: %s", job.id, final)
        return f"failed: {final}"
    finally:
        ctx.pop("current_job", None)
    await jobs.complete(deps.pool, job.id)
    ctx["jobs_done"] = ctx.get("jobs_done", 0) + 1
    log.info("job %s complete: %s", job.id, summary)
    return summary


async def ingest_crate(ctx: dict[str, Any], job_id: str) -> str:
    return await _run(ctx, job_id, "ingest")


async def remove_crate(ctx: dict[str, Any], job_id: str) -> str:
    return await _run(ctx, job_id, "remove")


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def startup(ctx: dict[str, Any]) -> None:
    """arq on_startup: open dependencies once per process, unless the host already did."""
    if "deps" not in ctx:
        stack = AsyncExitStack()
        settings: Settings = ctx.get("settings") or load_settings()
        ctx["deps"] = await stack.enter_async_context(open_deps(settings))
        ctx["exit_stack"] = stack
    ctx.setdefault("worker_id", new_worker_id())
    deps: Deps = ctx["deps"]
    await deps.pool.execute(
        "INSERT INTO workers (id, host, pid) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        ctx["worker_id"],
        socket.gethostname(),
        os.getpid(),
    )
    await reconcile(deps)
    ctx["heartbeat"] = asyncio.create_task(_heartbeat(ctx), name="rustdocs-heartbeat")


async def reconcile(deps: Deps) -> dict[str, int]:
    """Bring the arq queue in line with crate_jobs, which is the truth.

    - a `running` job whose worker stopped beating is requeued (or failed when out of
      attempts): the worker was killed;
    - a `queued` job that Redis does not know is enqueued again: Redis lost it (restart,
      flush). Enqueueing is idempotent: the arq job id is the job id.
    """
    stale = await deps.pool.fetch(
        """
        SELECT j.id, j.worker_id FROM crate_jobs j LEFT JOIN workers w ON w.id = j.worker_id
        WHERE j.status = 'running'
          AND (w.id IS NULL OR w.stopped_at IS NOT NULL
               OR w.last_beat < now() - make_interval(secs => $1))
        """,
        deps.settings.heartbeat_stale_after,
    )
    requeued = 0
    for row in stale:
        moved = await jobs.requeue_lost(deps.pool, row["id"], row["worker_id"])
        if moved is not None and moved.status == "queued":
            # arq marks a started job in progress for the whole job timeout; the dead
            # worker will never clear it, so clear it here and the job can run again.
            await deps.redis.delete(in_progress_key_prefix + str(row["id"]))
            requeued += 1
    queued = await deps.pool.fetch("SELECT id FROM crate_jobs WHERE status = 'queued'")
    enqueued = 0
    for row in queued:
        job = await jobs.get(deps.pool, row["id"])
        if await enqueue_job(deps.redis, deps.settings, job):
            enqueued += 1
    if requeued or enqueued:
        log.info(
            "reconciled the queue: %d lost jobs requeued, %d jobs re-enqueued", requeued, enqueued
        )
    return {"requeued": requeued, "enqueued": enqueued}


async def _heartbeat(ctx: dict[str, Any]) -> None:
    deps: Deps = ctx["deps"]
    beats = 0
    while True:
        await asyncio.sleep(deps.settings.heartbeat_interval)
        beats += 1
        try:
            await deps.pool.execute(
                "UPDATE workers SET last_beat = now(), current_job = $2, jobs_done = $3,"
                " jobs_failed = $4 WHERE id = $1",
                ctx["worker_id"],
                ctx.get("current_job"),
                ctx.get("jobs_done", 0),
                ctx.get("jobs_failed", 0),
            )
            if beats % 6 == 0:
                await reconcile(deps)
        except Exception as e:  # keep beating through a Postgres blip
            log.warning("heartbeat failed: %s", e)


async def shutdown(ctx: dict[str, Any]) -> None:
    beat: asyncio.Task[None] | None = ctx.pop("heartbeat", None)
    if beat is not None:
        beat.cancel()
        await asyncio.gather(beat, return_exceptions=True)
    deps: Deps | None = ctx.get("deps")
    if deps is not None and "worker_id" in ctx:
        try:
            await deps.pool.execute(
                "UPDATE workers SET stopped_at = now() WHERE id = $1", ctx["worker_id"]
            )
        except Exception as e:
            log.warning("could not record worker stop: %s", e)
    stack: AsyncExitStack | None = ctx.pop("exit_stack", None)
    if stack is not None:
        await stack.aclose()


def worker_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for arq.Worker (and attributes of WorkerSettings)."""
    return {
        "functions": [ingest_crate, remove_crate],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "queue_name": settings.queue_name,
        "max_jobs": settings.worker_concurrency,
        "job_timeout": settings.job_timeout,
        "max_tries": settings.job_max_tries + 2,  # our attempts are counted in Postgres
        "keep_result": 0,  # job state lives in Postgres; lets a job id be enqueued again
        "health_check_key": f"{settings.queue_name}:health-check",
        "allow_abort_jobs": True,
    }
