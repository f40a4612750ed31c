"""Faults of the outside services, end to end on real Postgres and Redis.

- docs.rs throttling (429 with Retry-After) and failing in bursts (503) while two real worker
  processes (`arq worker.WorkerSettings`) crawl at once: both jobs complete and the requests
  that reach docs.rs, from both processes together, never exceed the configured rate.
- The vector store failing its writes in the middle of a job, for both stores: the job fails
  after its retries with the reason, Postgres and the store agree (`admin verify`), and the
  same job run again once the store is back indexes the crate.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import run_worker, start_worker_process
from fake_docsrs import FakeDocsRsServer
from qdrant_client.http.exceptions import UnexpectedResponse
from redis.asyncio import Redis

from rustdocs_mcp import admin, jobs
from rustdocs_mcp.deps import Deps
from rustdocs_mcp.ops import enqueue_job
from rustdocs_mcp.ratelimit import RedisRateLimiter
from rustdocs_mcp.store import Point, VectorStore, collection_spec, open_store
from rustdocs_mcp.store_edge import EdgeStore
from rustdocs_mcp.store_qdrant import QdrantServerStore

# --------------------------------------------------------------------------- docs.rs faults

RATE = 5  # requests per second to docs.rs, shared by both worker processes
RETRY_AFTER = 1  # seconds, in the Retry-After header of every 429 and 503
OK = None  # a request the fake docs.rs lets through
FAULTS = [429] * 4 + ([OK] * 5 + [503] * 3) * 3  # throttled first, then 503 bursts
CRATES = ("semver", "anyhow")  # crawled page by page (HTML): one request per page


def start_worker(deps: Deps, data_dir: Path) -> subprocess.Popen[bytes]:
    """A real worker process running one job at a time, with its own embedded store."""
    return start_worker_process(
        deps.settings,
        data_dir,
        docsrs_rate_limit=str(RATE),
        # More tries per request than the longest run of faults: no request gives up.
        docsrs_retries="8",
        worker_concurrency="1",
    )


def pid_of(job: jobs.Job) -> int:
    """The process id in a worker id (host:pid:suffix)."""
    return int(str(job.worker_id).rsplit(":", 2)[1])


async def poll(
    deps: Deps, workers: list[subprocess.Popen[bytes]], sql: str, *args: Any, until: Any
) -> None:
    """Poll a query every 50 ms (for at most a minute) until it returns `until`."""
    for _ in range(1200):
        if await deps.pool.fetchval(sql, *args) == until:
            return
        assert all(w.poll() is None for w in workers), "a worker process exited"
        await asyncio.sleep(0.05)
    raise AssertionError(f"{sql} never returned {until!r}")


async def test_two_worker_processes_ride_out_429s_and_503_bursts_within_the_shared_rate_limit(
    deps: Deps, docsrs: FakeDocsRsServer, tmp_path: Path
) -> None:
    docsrs.state.no_json.update(CRATES)
    docsrs.state.retry_after = RETRY_AFTER
    docsrs.fail(r"^/", FAULTS)
    data_dirs = {}  # worker pid -> its store (the embedded store belongs to one process)
    workers = []
    try:
        for name in ("a", "b"):
            worker = start_worker(deps, tmp_path / name)
            workers.append(worker)
            data_dirs[worker.pid] = tmp_path / name
        # Both are up before any job exists, so each takes one job and they crawl at once.
        await poll(deps, workers, "SELECT count(*) FROM workers WHERE stopped_at IS NULL", until=2)
        created = []
        for crate in CRATES:
            job, _ = await jobs.create(deps.pool, crate_name=crate, operation="ingest")
            await enqueue_job(deps.redis, deps.settings, job)
            created.append(job)
        await poll(
            deps,
            workers,
            "SELECT count(*) FROM crate_jobs WHERE id = ANY($1::uuid[])"
            " AND status IN ('complete', 'failed')",
            [j.id for j in created],
            until=len(created),
        )
        # and arq has finished with them too, so no job is mid-bookkeeping at the SIGTERM
        for _ in range(200):
            if await deps.redis.zcard(deps.settings.queue_name) == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        for worker in workers:
            worker.terminate()  # graceful: the store is flushed and its lock released
        for worker in workers:
            worker.wait(timeout=60)

    done = [await jobs.get(deps.pool, j.id) for j in created]
    for job in done:
        assert job.status == "complete", job.error
        assert job.attempts == 1  # the request retries absorbed every fault
    ran_on = {pid_of(job) for job in done}
    assert ran_on == set(data_dirs)  # one job in each process

    log = sorted(docsrs.requests(), key=lambda r: r.at)
    spans = [[r.at for r in log if f"/{crate}/" in r.path] for crate in CRATES]
    assert max(s[0] for s in spans) < min(s[-1] for s in spans)  # the two crawls overlapped

    # Every injected fault was served, and each faulted request was retried no sooner than
    # its Retry-After.
    assert docsrs.state.faults[0][1] == []
    faulted = [r for r in log if r.status in (429, 503)]
    assert [r.status for r in faulted] == [s for s in FAULTS if s is not None]
    for bad in faulted:
        again = next((r for r in log if r.path == bad.path and r.at > bad.at), None)
        assert again is not None, f"{bad.path} was not asked for again"
        assert again.at - bad.at >= RETRY_AFTER * 0.99, bad.path

    # The rate docs.rs saw, from both processes together.
    assert len(log) > 4 * RATE
    peak = docsrs.peak_per_second()
    print(f"{len(log)} requests to docs.rs, peak {peak} in one second, limit {RATE}")
    assert peak <= RATE

    # Each job's points are in the store of the worker that ran it, one per Postgres chunk.
    spec = collection_spec(deps.embedder.model_name, deps.embedder.dimension)
    for job in done:
        pg_points = {
            str(r["point_id"])
            for r in await deps.pool.fetch(
                "SELECT point_id FROM chunks WHERE crate_name = $1", job.crate_name
            )
        }
        assert len(pg_points) == job.chunks > 0
        own = pid_of(job)
        for pid, data_dir in data_dirs.items():
            store = await open_store(deps.settings.model_copy(update={"data_dir": data_dir}), spec)
            try:
                expected = len(pg_points) if pid == own else 0
                assert await store.count(job.crate_name) == expected
                if pid == own:
                    assert await store.existing_ids(sorted(pg_points)) == pg_points
            finally:
                await store.close()


# --------------------------------------------------------------------------- store faults


class StoreOutage:
    """Wraps the deps' store: from upsert call `fail_after + 1` on, the backend fails each
    upsert the way it really does (the server answers 503, the embedded shard raises), until
    healed. Everything else keeps working."""

    def __init__(self, inner: VectorStore, fail_after: int) -> None:
        self.inner = inner
        self.fail_after = fail_after
        self.healed = False
        self.calls = 0
        self.failures = 0
        self.written: set[str] = set()  # point ids of the upserts that went through

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def upsert(self, points: list[Point]) -> None:
        self.calls += 1
        if self.healed or self.calls <= self.fail_after:
            await self.inner.upsert(points)
            self.written.update(p.id for p in points)
            return
        self.failures += 1
        with self._broken():
            await self.inner.upsert(points)
        raise AssertionError("the broken backend accepted an upsert")

    @contextlib.contextmanager
    def _broken(self) -> Iterator[None]:
        inner = self.inner
        if isinstance(inner, QdrantServerStore):

            async def unavailable(*args: Any, **kwargs: Any) -> Any:
                raise UnexpectedResponse(503, "Service Unavailable", b"overloaded", httpx.Headers())

            inner.client.upsert = unavailable  # type: ignore[method-assign]
            try:
                yield
            finally:
                del inner.client.upsert
        else:
            assert isinstance(inner, EdgeStore)
            shard = inner._shard
            inner._shard = _DiskFullShard(shard)
            try:
                yield
            finally:
                inner._shard = shard


class _DiskFullShard:
    """An edge shard whose writes fail as qdrant-edge reports them (a plain Exception)."""

    def __init__(self, shard: Any) -> None:
        self.shard = shard

    def __getattr__(self, name: str) -> Any:
        return getattr(self.shard, name)

    def update(self, operation: Any) -> None:
        raise Exception("Service internal error: No space left on device (os error 28)")


@pytest.fixture(params=["server", "embedded"])
async def backend(request: pytest.FixtureRequest, deps: Deps, tmp_path: Path) -> AsyncIterator[str]:
    """Runs the test once on the Qdrant server store (in-memory client), once on EdgeStore."""
    if request.param == "server":
        yield "server"
        return
    edge = EdgeStore(tmp_path / "qdrant-edge" / deps.store.spec.name, deps.store.spec)
    await edge.ensure_collection()
    server, deps.store = deps.store, edge
    try:
        yield "embedded"
    finally:
        deps.store = server
        await edge.close()


async def ingest(deps: Deps, crate: str) -> jobs.Job:
    job, _ = await jobs.create(
        deps.pool, crate_name=crate, operation="ingest", max_attempts=deps.settings.job_max_tries
    )
    await enqueue_job(deps.redis, deps.settings, job)
    await run_worker(deps)
    return await jobs.get(deps.pool, job.id)


async def store_matches_postgres(deps: Deps, store: VectorStore, crate: str) -> int:
    """Points of `crate` in the store are exactly the chunks Postgres has; returns how many."""
    pg_points = {
        str(r["point_id"])
        for r in await deps.pool.fetch("SELECT point_id FROM chunks WHERE crate_name = $1", crate)
    }
    assert await store.count(crate) == len(pg_points)
    assert await store.existing_ids(sorted(pg_points)) == pg_points
    return len(pg_points)


async def test_a_store_failing_mid_job_fails_it_after_retries_without_drift_and_a_rerun_succeeds(
    deps: Deps, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy = await ingest(deps, "itoa")
    assert healthy.status == "complete", healthy.error
    itoa_points = await store_matches_postgres(deps, deps.store, "itoa")

    monkeypatch.setattr("rustdocs_mcp.ingest.EMBED_BATCH", 8)  # several upserts per job
    real = deps.store
    outage = StoreOutage(real, fail_after=2)
    deps.store = outage  # type: ignore[assignment]
    try:
        failed = await ingest(deps, "anyhow")
        assert failed.status == "failed"
        assert failed.attempts == deps.settings.job_max_tries
        assert outage.failures == failed.attempts  # every attempt met the broken store
        assert outage.written  # the first attempt wrote points before the store broke
        expected_reason = {
            "server": r"the Qdrant server failed to store vectors: HTTP 503",
            "embedded": r"the embedded vector store at \S+ failed a write: .*No space left",
        }[backend]
        assert re.search(expected_reason, failed.error or ""), failed.error
        assert f"gave up after {failed.attempts} attempts" in (failed.error or "")
        retries = await deps.pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE job_id = $1 AND action = 'job.retry'", failed.id
        )
        assert retries == failed.attempts - 1

        # Nothing of the failed job is left: its points were cleaned up, no rows written.
        assert await real.existing_ids(sorted(outage.written)) == set()
        assert await real.count("anyhow") == 0
        rows = await deps.pool.fetchval(
            "SELECT count(*) FROM documents WHERE crate_name = $1", "anyhow"
        )
        assert rows == 0
        assert await admin.verify(deps.pool, deps.redis, deps.settings, deps.store) == []
        assert await store_matches_postgres(deps, real, "itoa") == itoa_points

        # The store comes back; the failed job is retried and indexes the crate.
        outage.healed = True
        assert await admin.retry(deps.pool, deps.redis, deps.settings, str(failed.id), False) == [
            str(failed.id)
        ]
        await run_worker(deps)
    finally:
        deps.store = real
    rerun = await jobs.get(deps.pool, failed.id)
    assert rerun.status == "complete", rerun.error
    assert rerun.attempts == 1
    points = await store_matches_postgres(deps, real, "anyhow")
    assert points == rerun.chunks > 8 * 2
    assert await store_matches_postgres(deps, real, "itoa") == itoa_points
    assert await admin.verify(deps.pool, deps.redis, deps.settings, real) == []


# --------------------------------------------------------------------------- Redis faults


class RedisOutage:
    """The docs.rs rate limiter, whose Redis goes away after `healthy` requests and comes back
    after `down` refused ones. Down, it is a real limiter on a port nothing listens on."""

    def __init__(self, deps: Deps, healthy: int, down: int):
        self.deps = deps
        self.real = deps.docsrs.limiter
        self.dead = RedisRateLimiter(Redis.from_url("redis://127.0.0.1:1/0"), 5)
        self.healthy, self.down = healthy, down
        self.refused = 0
        self.after_outage: tuple[int, int] | None = None  # (points, documents) once it healed

    async def acquire(self) -> float:
        if self.healthy > 0:
            self.healthy -= 1
            return float(await self.real.acquire())
        if self.refused < self.down:
            self.refused += 1
            return float(await self.dead.acquire())  # raises ServiceUnavailable
        if self.after_outage is None:
            self.after_outage = (
                await self.deps.store.count("semver"),
                await self.deps.pool.fetchval(
                    "SELECT count(*) FROM documents WHERE crate_name = 'semver'"
                ),
            )
        return float(await self.real.acquire())


async def test_redis_going_away_under_the_rate_limiter_mid_job_retries_it_and_commits_once(
    deps: Deps, docsrs: FakeDocsRsServer
) -> None:
    docsrs.state.no_json.add("semver")  # crawled page by page: many requests
    outage = RedisOutage(deps, healthy=4, down=1)
    deps.docsrs.limiter = outage
    try:
        job = await ingest(deps, "semver")
    finally:
        deps.docsrs.limiter = outage.real
        await outage.dead.redis.aclose()
    assert outage.refused == 1
    assert job.status == "complete", job.error
    assert job.attempts == 2
    retry = await deps.pool.fetchrow(
        "SELECT detail FROM audit_log WHERE job_id = $1 AND action = 'job.retry'", job.id
    )
    assert retry is not None
    assert "Redis is unavailable" in str(retry["detail"])
    # When the second attempt started, Postgres had nothing of the first (no half commit);
    # points the first had written (invisible to search) were reused, not written again.
    assert outage.after_outage is not None
    left, documents = outage.after_outage
    assert documents == 0
    assert job.embeddings_reused >= left
    assert await store_matches_postgres(deps, deps.store, "semver") > 0
