"""Shared fixtures: real Postgres and Redis, the project's fake docs.rs, real embedder."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from arq.connections import ArqRedis
from arq.worker import Worker
from fake_docsrs import FakeDocsRsServer
from qdrant_client import AsyncQdrantClient

from rustdocs_mcp.db import open_pool
from rustdocs_mcp.deps import Deps, docsrs_client, open_redis
from rustdocs_mcp.embed import Embedder, make_embedder
from rustdocs_mcp.settings import Settings
from rustdocs_mcp.store import VectorStore, collection_spec
from rustdocs_mcp.store_qdrant import QdrantServerStore
from rustdocs_mcp.tasks import worker_options

PG_ADMIN = os.environ.get("RUSTDOCS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_SERVER = "redis://127.0.0.1:6379"
TEST_DB = f"rustdocs_test_{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim_redis_db() -> Iterator[str]:
    """A Redis database of its own for this test session (databases 15 down to 1).

    Tests flush their database (a Redis restart is one of the faults), so two sessions sharing
    one would wipe each other's queues. Claims live in database 0, keyed by pid; a claim of a
    process that has died is taken over.
    """
    if url := os.environ.get("RUSTDOCS_TEST_REDIS"):
        yield url
        return
    import redis as sync_redis

    locks = sync_redis.Redis.from_url(f"{REDIS_SERVER}/0")
    me = str(os.getpid())
    for n in range(15, 0, -1):
        key = f"rustdocs-test:db:{n}"
        if locks.set(key, me, nx=True, ex=6 * 3600):
            break
        holder = locks.get(key)
        if holder is not None and not _pid_alive(int(holder)):
            locks.set(key, me, ex=6 * 3600)
            break
    else:
        raise RuntimeError("all Redis test databases (1-15) are claimed by live test sessions")
    try:
        yield f"{REDIS_SERVER}/{n}"
    finally:
        if locks.get(key) == me.encode():
            locks.delete(key)
        locks.close()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    yield from _claim_redis_db()


@pytest.fixture(scope="session")
def docsrs() -> Iterator[FakeDocsRsServer]:
    server = FakeDocsRsServer().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _reset_docsrs(request: pytest.FixtureRequest) -> None:
    if "docsrs" in request.fixturenames:
        request.getfixturevalue("docsrs").reset()


@pytest.fixture(scope="session")
def settings(
    docsrs: FakeDocsRsServer, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Settings:
    database_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{TEST_DB}"
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        data_dir=tmp_path_factory.mktemp("data"),
        docsrs_url=docsrs.url,
        docsrs_rate_limit=500,
        queue_name=f"rustdocs-test-{os.getpid()}",
        job_max_tries=3,
    )


@pytest.fixture(scope="session")
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
    await admin.close()
    p = await open_pool(settings.database_url)
    yield p
    await p.close()
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
    await admin.close()


@pytest.fixture
async def db(pool: asyncpg.Pool) -> asyncpg.Pool:
    """The pool, with every table emptied first."""
    await pool.execute(
        "TRUNCATE crates, documents, chunks, crate_jobs, audit_log, workers"
        " RESTART IDENTITY CASCADE"
    )
    return pool


@pytest.fixture(scope="session")
async def redis(settings: Settings) -> AsyncIterator[ArqRedis]:
    r = await open_redis(settings)
    await r.flushdb()
    yield r
    await r.flushdb()
    await r.aclose()


@pytest.fixture(scope="session")
def embedder(settings: Settings) -> Embedder:
    return make_embedder(settings)


@pytest.fixture
async def store(embedder: Embedder) -> AsyncIterator[VectorStore]:
    client = AsyncQdrantClient(location=":memory:")
    s = QdrantServerStore(client, collection_spec(embedder.model_name, embedder.dimension))
    await s.ensure_collection()
    yield s
    await s.close()


@pytest.fixture
async def deps(
    settings: Settings,
    db: asyncpg.Pool,
    redis: ArqRedis,
    store: VectorStore,
    embedder: Embedder,
) -> AsyncIterator[Deps]:
    await redis.flushdb()
    async with httpx.AsyncClient(timeout=10) as http:
        yield Deps(
            settings=settings,
            pool=db,
            redis=redis,
            store=store,
            embedder=embedder,
            http=http,
            docsrs=fast_retries(docsrs_client(settings, http, redis)),
        )


def fast_retries(client: Any) -> Any:
    """Same retry policy, with waits short enough for tests."""
    from rustdocs_mcp.docsrs import backoff_wait

    client._wait = backoff_wait(0.01, 0.05)
    return client


def start_worker_process(
    settings: Settings, data_dir: Path, *, burst: bool = False, **env: str
) -> subprocess.Popen[bytes]:
    """A real `arq worker.WorkerSettings` process on this session's database, queue and fake
    docs.rs, with its own data dir; `env` adds settings (`docsrs_rate_limit="5"`)."""
    full = {
        **os.environ,
        "RUSTDOCS_DATABASE_URL": settings.database_url,
        "RUSTDOCS_REDIS_URL": settings.redis_url,
        "RUSTDOCS_QUEUE_NAME": settings.queue_name,
        "RUSTDOCS_DATA_DIR": str(data_dir),
        "RUSTDOCS_DOCSRS_URL": settings.docsrs_url,
        "RUSTDOCS_LOG_LEVEL": "WARNING",
        **{f"RUSTDOCS_{k.upper()}": v for k, v in env.items()},
    }
    cmd = [sys.executable, "-m", "arq", "worker.WorkerSettings", *(["--burst"] if burst else [])]
    root = Path(__file__).resolve().parents[1]
    return subprocess.Popen(cmd, cwd=root, env=full, stdout=subprocess.DEVNULL)


async def run_worker(deps: Deps, **ctx: Any) -> Worker:
    """Run an in-process arq worker until the queue is empty (burst mode)."""
    opts = worker_options(deps.settings)
    worker = Worker(
        **opts,
        burst=True,
        poll_delay=0.01,
        ctx={"deps": deps, "worker_id": f"test-{uuid.uuid4().hex[:6]}", "retry_base": 0.01, **ctx},
        handle_signals=False,
    )
    await worker.main()
    await worker.close()
    return worker


FIXTURES = Path(__file__).parent / "fixtures"
