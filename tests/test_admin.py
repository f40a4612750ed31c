"""Operator tooling on real Postgres and Redis: stats, verify/repair, cleanup, retry, health."""

from __future__ import annotations

import uuid

from conftest import run_worker
from test_ingest import ingest

from rustdocs_mcp import admin, jobs
from rustdocs_mcp.deps import Deps
from rustdocs_mcp.store import Point, SparseVector


async def test_queue_stats_count_jobs_by_status_and_operation(deps: Deps) -> None:
    await ingest(deps, "itoa")
    await ingest(deps, "no-such-crate-here")
    await jobs.create(deps.pool, crate_name="anyhow", operation="ingest")  # left queued
    stats = await admin.queue_stats(deps.pool, deps.redis, deps.settings)
    assert stats.by_status == {"queued": 1, "running": 0, "failed": 1, "complete": 1}
    assert stats.by_operation == {"ingest": {"queued": 1, "failed": 1, "complete": 1}}
    assert stats.finished_last_hour == 2
    assert stats.succeeded_last_hour == 1
    assert stats.success_rate_last_hour == 0.5
    assert stats.mean_job_seconds is not None
    assert stats.mean_job_seconds > 0


async def test_verify_finds_stray_points_and_repair_deletes_them(deps: Deps) -> None:
    await ingest(deps, "itoa")
    assert await admin.verify(deps.pool, deps.redis, deps.settings, deps.store) == []
    stray = Point(
        id=str(uuid.uuid4()),
        dense=[1.0] + [0.0] * (deps.embedder.dimension - 1),
        sparse=SparseVector([], []),
        payload={"crate": "itoa", "version": "1.0.2", "path": "itoa::ghost", "kind": "fn"},
    )
    await deps.store.upsert([stray])
    (drift,) = await admin.verify(deps.pool, deps.redis, deps.settings, deps.store)
    assert (drift.crate, drift.stray_points) == ("itoa", 1)
    await admin.verify(deps.pool, deps.redis, deps.settings, deps.store, repair=True)
    assert await admin.verify(deps.pool, deps.redis, deps.settings, deps.store) == []
    assert await deps.store.existing_ids([stray.id]) == set()


async def test_verify_repair_reindexes_a_crate_that_lost_points(deps: Deps) -> None:
    job = await ingest(deps, "itoa")
    some = [
        str(r["point_id"]) for r in await deps.pool.fetch("SELECT point_id FROM chunks LIMIT 2")
    ]
    await deps.store.delete_ids(some)
    (drift,) = await admin.verify(deps.pool, deps.redis, deps.settings, deps.store, repair=True)
    assert drift.store_points == job.chunks - 2
    assert "re-index queued" in (drift.repaired or "")
    await run_worker(deps)
    assert await admin.verify(deps.pool, deps.redis, deps.settings, deps.store) == []
    assert await deps.store.count("itoa") == job.chunks


async def test_cleanup_deletes_only_old_complete_jobs(deps: Deps) -> None:
    old = await ingest(deps, "itoa")
    await deps.pool.execute(
        "UPDATE crate_jobs SET finished_at = now() - interval '40 days' WHERE id = $1", old.id
    )
    recent = await ingest(deps, "anyhow")
    failed = await ingest(deps, "not-a-crate-at-all")
    await deps.pool.execute(
        "UPDATE crate_jobs SET finished_at = now() - interval '40 days' WHERE id = $1", failed.id
    )
    assert await admin.cleanup(deps.pool, 30) == 1
    left = {r["id"] for r in await deps.pool.fetch("SELECT id FROM crate_jobs")}
    assert left == {recent.id, failed.id}


async def test_retry_puts_a_failed_job_back_in_the_queue(deps: Deps) -> None:
    failed = await ingest(deps, "not-a-crate-at-all")
    assert failed.status == "failed"
    ids = await admin.retry(deps.pool, deps.redis, deps.settings, None, all_failed=True)
    assert ids == [str(failed.id)]
    again = await jobs.get(deps.pool, failed.id)
    assert (again.status, again.attempts, again.error) == ("queued", 0, None)
    assert await deps.redis.zcard(deps.settings.queue_name) == 1


async def test_health_reports_every_service(deps: Deps) -> None:
    res = await admin.health(deps.pool, deps.redis, deps.settings, deps.store)
    assert res.ok
    assert res.checks["postgres"] == "ok"
    assert res.checks["redis"] == "ok"
    assert res.checks["vector_store"].startswith("ok")
    assert "alive" in res.checks["workers"]
