"""The docs.rs rate limit holds across clients sharing Redis (real Redis, fake docs.rs)."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import httpx
import pytest
from conftest import run_worker
from fake_docsrs import FakeDocsRsServer

from rustdocs_mcp import jobs
from rustdocs_mcp.deps import Deps, open_redis
from rustdocs_mcp.docsrs import DocsRsClient
from rustdocs_mcp.ops import enqueue_job
from rustdocs_mcp.ratelimit import LocalRateLimiter, RedisRateLimiter
from rustdocs_mcp.settings import Settings

PAGES = [
    "/itoa/1.0.1/itoa/all.html",
    "/itoa/1.0.1/itoa/struct.Buffer.html",
    "/itoa/1.0.1/itoa/trait.Integer.html",
    "/itoa/1.0.1/itoa/index.html",
]


async def test_two_processes_worth_of_clients_share_one_rate(
    settings: Settings, docsrs: FakeDocsRsServer
) -> None:
    """Each client has its own Redis connection, as separate worker processes would."""
    rate = 8.0
    key = f"test-bucket-{uuid.uuid4().hex}"
    redis_a, redis_b = await open_redis(settings), await open_redis(settings)
    async with httpx.AsyncClient() as http:
        clients = [
            DocsRsClient(http, RedisRateLimiter(r, rate, key=key), base_url=docsrs.url)
            for r in (redis_a, redis_b)
        ]
        await asyncio.gather(
            *(c.fetch_page(docsrs.url + PAGES[i % 4]) for c in clients for i in range(12))
        )
    await redis_a.aclose()
    await redis_b.aclose()
    assert len(docsrs.requests()) == 24
    assert docsrs.peak_per_second() <= rate


async def test_the_limiter_spaces_requests_evenly_within_one_process() -> None:
    limiter = LocalRateLimiter(20.0)
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def take() -> None:
        await limiter.acquire()
        times.append(loop.time())

    await asyncio.gather(*(take() for _ in range(10)))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.05 * 0.95  # never closer than 1/rate (scheduler jitter aside)


async def test_two_concurrent_ingest_jobs_stay_within_the_shared_limit(
    deps: Deps, docsrs: FakeDocsRsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    rate = 10.0
    deps.docsrs.limiter = RedisRateLimiter(deps.redis, rate, key=f"test-{uuid.uuid4().hex}")
    docsrs.state.no_json.update({"anyhow", "semver"})  # the HTML path: one request per page
    created = []
    for crate in ("anyhow", "semver"):
        job, _ = await jobs.create(deps.pool, crate_name=crate, operation="ingest")
        await enqueue_job(deps.redis, deps.settings, job)
        created.append(job)
    await run_worker(deps)  # max_jobs=2: both jobs run at once
    for job in created:
        done = await jobs.get(deps.pool, job.id)
        assert done.status == "complete", done.error
    assert len(docsrs.requests()) >= 20
    assert docsrs.peak_per_second() <= rate
