"""The real server over stdio, as an MCP client launches it: one process, embedded worker."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from rustdocs_mcp.settings import Settings
from rustdocs_mcp.store import collection_spec, open_store


async def _call(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    res = await client.call_tool(tool, args)
    assert not res.is_error, res.content
    assert res.structured_content is not None
    return res.structured_content


async def test_stdio_server_indexes_searches_and_removes_a_crate(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await pool.execute("TRUNCATE crates, crate_jobs, audit_log, workers CASCADE")
    env = {
        "RUSTDOCS_DATABASE_URL": settings.database_url,
        "RUSTDOCS_REDIS_URL": settings.redis_url,
        "RUSTDOCS_DATA_DIR": str(tmp_path),
        "RUSTDOCS_DOCSRS_URL": settings.docsrs_url,
        "RUSTDOCS_DOCSRS_RATE_LIMIT": "100",
        "RUSTDOCS_QUEUE_NAME": f"rustdocs-stdio-{uuid.uuid4().hex[:8]}",
        "RUSTDOCS_LOG_LEVEL": "WARNING",
        "PATH": os.environ.get("PATH", ""),
    }
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "rustdocs_mcp", "serve"], env=env
    )
    async with Client(params) as client:
        added = await _call(client, "add_rust_crate", crate_name="itoa")
        assert added["status_code"] == 202
        for _ in range(1200):
            (job,) = (await _call(client, "check_rust_status", job_id=added["job_id"]))["jobs"]
            if job["status"] in ("complete", "failed"):
                break
            await asyncio.sleep(0.1)
        assert job["status"] == "complete", job["error"]
        hits = (await _call(client, "search_rust_docs", query="itoa::Buffer"))["results"]
        assert hits[0]["path"] == "itoa::Buffer"  # an exact path: answered from Postgres
        semantic = await _call(
            client, "search_rust_docs", query="print an integer into a buffer", crate_name="itoa"
        )
        assert semantic["results"]  # answered from the vector store's points
        removed = await _call(client, "remove_rust_crate", crate_name="itoa")
        for _ in range(600):
            (job,) = (await _call(client, "check_rust_status", job_id=removed["job_id"]))["jobs"]
            if job["status"] in ("complete", "failed"):
                break
            await asyncio.sleep(0.1)
        assert job["status"] == "complete", job["error"]
    assert await pool.fetchval("SELECT count(*) FROM documents WHERE crate_name = 'itoa'") == 0
    assert await pool.fetchval("SELECT count(*) FROM crates") == 0
    # The server has exited, so this process can open its embedded store and look inside.
    store = await open_store(
        settings.model_copy(update={"data_dir": tmp_path}),
        collection_spec("all-MiniLM-L6-v2", 384),
    )
    try:
        assert await store.count("itoa") == 0
    finally:
        await store.close()
