"""Jobs survive lost queues and dead workers (real Postgres and Redis)."""

from __future__ import annotations

from conftest import run_worker

from rustdocs_mcp import jobs
from rustdocs_mcp.deps import Deps
from rustdocs_mcp.ops import enqueue_job


async def test_queued_jobs_lost_by_redis_are_enqueued_again_and_complete(deps: Deps) -> None:
    created = []
    for crate in ("itoa", "anyhow"):
        job, _ = await jobs.create(deps.pool, crate_name=crate, operation="ingest")
        await enqueue_job(deps.redis, deps.settings, job)
        created.append(job)
    await deps.redis.flushdb()  # Redis restarted: it keeps nothing on disk here
    await run_worker(deps)
    for job in created:
        done = await jobs.get(deps.pool, job.id)
        assert done.status == "complete", done.error
        assert done.attempts == 1


async def _running_on_dead_worker(deps: Deps, crate: str, max_attempts: int) -> jobs.Job:
    await deps.pool.execute(
        "INSERT INTO workers (id, host, pid, last_beat)"
        " VALUES ('dead', 'h', 1, now() - interval '1 hour')"
    )
    job, _ = await jobs.create(
        deps.pool, crate_name=crate, operation="ingest", max_attempts=max_attempts
    )
    claimed = await jobs.claim(deps.pool, job.id, "dead")
    assert claimed is not None
    assert claimed.status == "running"
    return claimed


async def test_a_running_job_of_a_killed_worker_is_retried_to_completion(deps: Deps) -> None:
    job = await _running_on_dead_worker(deps, "itoa", max_attempts=3)
    await run_worker(deps)
    done = await jobs.get(deps.pool, job.id)
    assert done.status == "complete", done.error
    assert done.attempts == 2
    actions = [
        r["action"]
        for r in await deps.pool.fetch(
            "SELECT action FROM audit_log WHERE job_id = $1 ORDER BY id", job.id
        )
    ]
    assert actions == [
        "job.queued",
        "job.running",
        "job.worker_lost",
        "job.running",
        "job.complete",
    ]


async def test_a_lost_job_without_attempts_left_fails_with_the_reason(deps: Deps) -> None:
    job = await _running_on_dead_worker(deps, "itoa", max_attempts=1)
    await run_worker(deps)
    done = await jobs.get(deps.pool, job.id)
    assert done.status == "failed"
    assert "worker lost" in (done.error or "")


async def test_a_running_job_of_a_live_worker_is_left_alone(deps: Deps) -> None:
    await deps.pool.execute("INSERT INTO workers (id, host, pid) VALUES ('alive', 'h', 2)")
    job, _ = await jobs.create(deps.pool, crate_name="itoa", operation="ingest")
    await jobs.claim(deps.pool, job.id, "alive")
    await run_worker(deps)
    assert (await jobs.get(deps.pool, job.id)).status == "running"
