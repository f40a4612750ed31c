"""The opened dependencies of one process, bundled in one typed object.

The MCP server's lifespan yields it; arq's on_startup puts it in ctx["deps"].
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import asyncpg
import httpx
from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.exceptions import RedisError

from .db import open_pool
from .docsrs import DocsRsClient
from .embed import Embedder, make_embedder, probe_dimension
from .errors import ConfigError, ServiceUnavailable
from .ratelimit import RedisRateLimiter
from .settings import Settings
from .store import VectorStore, collection_spec, open_store

log = logging.getLogger(__name__)


@dataclass
class Deps:
    settings: Settings
    pool: asyncpg.Pool
    redis: ArqRedis
    store: VectorStore
    embedder: Embedder
    http: httpx.AsyncClient
    docsrs: DocsRsClient


async def open_redis(settings: Settings) -> ArqRedis:
    try:
        return await create_pool(
            RedisSettings.from_dsn(settings.redis_url),
            default_queue_name=settings.queue_name,
            retry=1,
        )
    except (RedisError, OSError) as e:
        raise ServiceUnavailable(f"cannot connect to Redis at {settings.redis_url}: {e}") from e


def docsrs_client(settings: Settings, http: httpx.AsyncClient, redis: ArqRedis) -> DocsRsClient:
    return DocsRsClient(
        http,
        RedisRateLimiter(redis, settings.docsrs_rate_limit),
        base_url=settings.docsrs_url,
        max_page_bytes=settings.docsrs_max_page_bytes,
        max_json_bytes=settings.docsrs_max_json_bytes,
        attempts=settings.docsrs_retries,
    )


@asynccontextmanager
async def open_deps(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    store: VectorStore | None = None,
) -> AsyncIterator[Deps]:
    """Open Postgres, Redis, the embedder, the vector store and the docs.rs client."""
    async with AsyncExitStack() as stack:
        pool = await open_pool(settings.database_url)
        stack.push_async_callback(pool.close)
        redis = await open_redis(settings)
        stack.push_async_callback(redis.aclose)
        if embedder is None:
            embedder = make_embedder(settings)
            stack.push_async_callback(embedder.aclose)
        if store is None:
            try:
                dimension = embedder.dimension
            except ConfigError:  # an OpenAI-compatible model of unknown size: ask it
                dimension = await probe_dimension(embedder)
            spec = collection_spec(embedder.model_name, dimension)
            store = await open_store(settings, spec)  # creates or checks the collection
            stack.push_async_callback(store.close)
        else:
            await store.ensure_collection()
        http = httpx.AsyncClient(
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip"},
            timeout=httpx.Timeout(settings.docsrs_timeout, connect=10.0),
            follow_redirects=False,
        )
        stack.push_async_callback(http.aclose)
        yield Deps(
            settings=settings,
            pool=pool,
            redis=redis,
            store=store,
            embedder=embedder,
            http=http,
            docsrs=docsrs_client(settings, http, redis),
        )
