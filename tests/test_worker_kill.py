"""A worker process killed mid-ingest: another worker finishes the job, nothing lost or doubled.

Real arq worker processes (`arq worker.WorkerSettings`), real Postgres and Redis, the fake
docs.rs; the embedded vector store is shared by the two workers in turn (the first dies, its
file lock dies with it).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

from conftest import start_worker_process
from fake_docsrs import FakeDocsRsServer

from rustdocs_mcp import jobs
from rustdocs_mcp.deps import Deps
from rustdocs_mcp.ops import enqueue_job
from rustdocs_mcp.store import collection_spec, open_store


async def job_when(
    deps: Deps, job_id: uuid.UUID, ready: Callable[[jobs.Job], bool], polls: int = 1200
) -> jobs.Job:
    """The job as soon as `ready(job)` holds (polled every 50 ms), else as it is at the end."""
    for _ in range(polls):
        job = await jobs.get(deps.pool, job_id)
        if ready(job):
            return job
        await asyncio.sleep(0.05)
    return job


async def finished(deps: Deps, job_id: uuid.UUID) -> jobs.Job:
    """The job once complete or failed."""
    job = await job_when(deps, job_id, lambda j: j.status in ("complete", "failed"), polls=2400)
    assert job.status in ("complete", "failed"), f"job {job_id} did not finish"
    return job


async def next_worker_finishes(deps: Deps, data_dir: Path, job_id: uuid.UUID) -> jobs.Job:
    """Start a fresh burst worker and return the job once it is complete or failed."""
    worker = start_worker(deps, data_dir, burst=True)
    try:
        return await finished(deps, job_id)
    finally:
        worker.terminate()
        worker.wait(timeout=60)


def start_worker(deps: Deps, data_dir: Path, *, burst: bool) -> subprocess.Popen[bytes]:
    return start_worker_process(
        deps.settings,
        data_dir,
        burst=burst,
        docsrs_rate_limit="50",
        heartbeat_interval="0.3",
        heartbeat_stale_after="2",
    )


async def test_sigkill_mid_ingest_then_another_worker_completes_the_job(
    deps: Deps, docsrs: FakeDocsRsServer, tmp_path: Path
) -> None:
    docsrs.state.no_json.add("bytes")  # the HTML path: many pages, so the kill lands mid-job
    docsrs.state.latency = 0.1
    job, _ = await jobs.create(deps.pool, crate_name="bytes", operation="ingest")
    await enqueue_job(deps.redis, deps.settings, job)

    first = start_worker(deps, tmp_path, burst=False)
    try:
        current = await job_when(
            deps, job.id, lambda j: j.embeddings > 0 or j.status in ("complete", "failed")
        )
        assert current.status == "running", current.error
        assert current.embeddings > 0  # points were written before the kill
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    assert (await jobs.get(deps.pool, job.id)).status == "running"  # left behind by the dead

    # Wait until the dead worker's last heartbeat is older than the stale limit (2 s).
    for _ in range(200):
        if await deps.pool.fetchval(
            "SELECT bool_and(last_beat < now() - interval '2.2 seconds') FROM workers"
        ):
            break
        await asyncio.sleep(0.05)
    docsrs.state.latency = 0.0
    done = await next_worker_finishes(deps, tmp_path, job.id)
    assert done.status == "complete", done.error
    assert done.attempts == 2
    pg_points = {
        str(r["point_id"])
        for r in await deps.pool.fetch("SELECT point_id FROM chunks WHERE crate_name = 'bytes'")
    }
    assert len(pg_points) == done.chunks
    store = await open_store(
        deps.settings.model_copy(update={"data_dir": tmp_path}),
        collection_spec(deps.embedder.model_name, deps.embedder.dimension),
    )
    try:
        assert await store.count("bytes") == len(pg_points)  # no duplicates, no losses
        assert await store.existing_ids(sorted(pg_points)) == pg_points
    finally:
        await store.close()
    lost = await deps.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE job_id = $1 AND action = 'job.worker_lost'", job.id
    )
    assert lost == 1


async def test_sigterm_hands_the_running_job_back_and_the_next_worker_finishes_it(
    deps: Deps, docsrs: FakeDocsRsServer, tmp_path: Path
) -> None:
    docsrs.state.no_json.add("bytes")
    docsrs.state.latency = 0.1
    job, _ = await jobs.create(deps.pool, crate_name="bytes", operation="ingest")
    await enqueue_job(deps.redis, deps.settings, job)
    worker = start_worker(deps, tmp_path, burst=False)
    try:
        current = await job_when(deps, job.id, lambda j: j.status != "queued" and j.progress > 5)
        assert current.status == "running", current.error
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    handed = await jobs.get(deps.pool, job.id)
    assert handed.status == "queued"
    assert handed.attempts == 0  # an interrupted attempt is not counted
    assert handed.stage == "interrupted"

    docsrs.state.latency = 0.0
    done = await next_worker_finishes(deps, tmp_path, job.id)
    assert done.status == "complete", done.error
    assert done.attempts == 1
