"""Enqueue latency: N add_rust_crate calls over MCP against real Postgres and Redis.

    .venv/bin/python bench/enqueue.py [--calls 200]

The MCP client talks to the real server in-process (no worker runs, so jobs stay queued);
a throwaway database and Redis db 12 are used and cleaned. Prints p50, p99 and max latency
of whole tool calls, as a client sees them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from mcp import Client

from rustdocs_mcp.deps import Deps, open_deps
from rustdocs_mcp.settings import Settings
from rustdocs_mcp.tools import build_server


async def main(calls: int, pg: str, redis: str) -> None:
    db = f"rustdocs_enqueue_{os.getpid()}"
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            database_url=pg.rsplit("/", 1)[0] + f"/{db}",
            redis_url=redis,
            data_dir=Path(data_dir),
            queue_name=f"rustdocs-enqueue-{os.getpid()}",
        )

        @asynccontextmanager
        async def deps_factory(s: Settings) -> AsyncIterator[Deps]:
            async with open_deps(s) as d:
                yield d

        server = build_server(settings, run_worker=False, deps_factory=deps_factory)
        latencies: list[float] = []
        try:
            async with Client(server) as client:
                await client.call_tool("list_rust_crates", {})  # warm up the pool
                for i in range(calls):
                    t0 = time.perf_counter()
                    res = await client.call_tool(
                        "add_rust_crate", {"crate_name": f"bench-crate-{i}"}
                    )
                    latencies.append((time.perf_counter() - t0) * 1000)
                    assert not res.is_error, res.content
        finally:
            conn = await asyncpg.connect(pg.rsplit("/", 1)[0] + "/postgres")
            await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            await conn.close()
            from redis.asyncio import Redis

            r = Redis.from_url(redis)
            await r.flushdb()
            await r.aclose()
    q = statistics.quantiles(latencies, n=100)
    print(f"{calls} add_rust_crate calls over MCP (in-process client, real Postgres + Redis)")
    print(f"p50 {q[49]:.2f} ms   p99 {q[98]:.2f} ms   max {max(latencies):.2f} ms")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/12")
    a = ap.parse_args()
    asyncio.run(main(a.calls, a.pg, a.redis))
