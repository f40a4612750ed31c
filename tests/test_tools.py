"""The MCP tools as a client sees them: in-process mcp.Client against the real server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from typing import Any

import pytest
from conftest import run_worker
from fake_docsrs import FakeDocsRsServer
from mcp import Client

from rustdocs_mcp.deps import Deps
from rustdocs_mcp.tools import build_server


@asynccontextmanager
async def connect(deps: Deps) -> AsyncIterator[Client]:
    """An in-process MCP client (entered and left in the test's own task, as anyio requires)."""
    server = build_server(deps.settings, run_worker=False, deps_factory=lambda _: nullcontext(deps))
    async with Client(server) as c:
        yield c


async def call(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    res = await client.call_tool(tool, args)
    assert not res.is_error, res.content
    assert res.structured_content is not None
    return res.structured_content


async def call_error(client: Client, tool: str, **args: Any) -> str:
    res = await client.call_tool(tool, args)
    assert res.is_error, res.structured_content
    return " ".join(getattr(c, "text", "") for c in res.content)


async def wait_for_progress(deps: Deps, job_id: str, at_least: int) -> None:
    for _ in range(1200):
        row = await deps.pool.fetchrow(
            "SELECT progress, status FROM crate_jobs WHERE id = $1", uuid.UUID(job_id)
        )
        if row["progress"] >= at_least or row["status"] in ("complete", "failed"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {at_least}%")


async def add_and_run(client: Client, deps: Deps, crate: str, **args: Any) -> dict[str, Any]:
    added = await call(client, "add_rust_crate", crate_name=crate, **args)
    await run_worker(deps)
    (job,) = (await call(client, "check_rust_status", job_id=added["job_id"]))["jobs"]
    return job


async def test_every_tool_is_listed_with_input_and_output_schemas(deps: Deps) -> None:
    async with connect(deps) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == {
            "add_rust_crate",
            "check_rust_status",
            "list_rust_crates",
            "remove_rust_crate",
            "restore_rust_crate",
            "cancel_rust_job",
            "search_rust_docs",
            "get_rust_item",
            "rust_queue_stats",
        }
        for t in tools.values():
            assert t.description
            assert t.output_schema is not None
        assert tools["add_rust_crate"].input_schema["required"] == ["crate_name"]


async def test_add_answers_202_with_a_queued_job_without_waiting_for_docsrs(
    deps: Deps, docsrs: FakeDocsRsServer
) -> None:
    async with connect(deps) as client:
        res = await call(client, "add_rust_crate", crate_name="itoa")
        assert res["status_code"] == 202
        assert res["status"] == "queued"
        assert res["crate_name"] == "itoa"
        assert res["version"] == "latest"
        uuid.UUID(res["job_id"])
        assert docsrs.requests() == []  # nothing was fetched yet
        assert await deps.redis.zcard(deps.settings.queue_name) == 1


async def test_adding_a_crate_twice_returns_its_active_job(deps: Deps) -> None:
    async with connect(deps) as client:
        first = await call(client, "add_rust_crate", crate_name="itoa")
        again = await call(client, "add_rust_crate", crate_name="itoa")
        assert again["job_id"] == first["job_id"]
        assert "already has" in again["message"]


async def test_twenty_concurrent_adds_of_one_crate_make_one_job(deps: Deps) -> None:
    async with connect(deps) as client:
        results = await asyncio.gather(
            *(call(client, "add_rust_crate", crate_name="anyhow") for _ in range(20))
        )
        assert len({r["job_id"] for r in results}) == 1
        assert await deps.pool.fetchval("SELECT count(*) FROM crate_jobs") == 1
        assert await deps.redis.zcard(deps.settings.queue_name) == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty"),
        ("../etc", "not a valid crate name"),
        ("a" * 65, "at most 64"),
        ("serde'; DROP TABLE crates; --", "not a valid crate name"),
        ("1password", "start with a letter"),
        ("serde json", "not a valid crate name"),
    ],
)
async def test_add_rejects_malformed_crate_names_with_a_clear_error(
    deps: Deps, name: str, message: str
) -> None:
    async with connect(deps) as client:
        assert message in await call_error(client, "add_rust_crate", crate_name=name)
        assert await deps.pool.fetchval("SELECT count(*) FROM crate_jobs") == 0


@pytest.mark.parametrize("version", ["x", "1.2.3; rm -rf /", "latest!", "1..2"])
async def test_add_rejects_malformed_versions(deps: Deps, version: str) -> None:
    async with connect(deps) as client:
        assert "is not a version" in await call_error(
            client, "add_rust_crate", crate_name="serde", version=version
        )


@pytest.mark.parametrize("version", ["1.0.1", "^1", "~1.0", "=1.0.1", "1", "*", ">=1.0, <2"])
async def test_add_accepts_exact_versions_and_requirements(deps: Deps, version: str) -> None:
    async with connect(deps) as client:
        res = await call(client, "add_rust_crate", crate_name="itoa", version=version)
        assert res["version"] == version


async def test_status_follows_a_job_to_complete_with_counts(deps: Deps) -> None:
    async with connect(deps) as client:
        job = await add_and_run(client, deps, "itoa")
        assert job["status"] == "complete"
        assert job["progress"] == 100
        assert job["version"] == "1.0.2"
        assert job["counts"]["documents"] > 3
        assert job["counts"]["chunks"] >= job["counts"]["documents"]
        assert job["counts"]["embeddings"] == job["counts"]["chunks"]
        assert job["attempts"] == 1
        assert job["started_at"] is not None
        assert job["finished_at"] is not None
        by_crate = await call(client, "check_rust_status", crate_name="itoa")
        assert [j["job_id"] for j in by_crate["jobs"]] == [job["job_id"]]
        recent = await call(client, "check_rust_status")
        assert job["job_id"] in [j["job_id"] for j in recent["jobs"]]


async def test_an_unknown_crate_fails_and_status_says_why(deps: Deps) -> None:
    async with connect(deps) as client:
        job = await add_and_run(client, deps, "definitely-not-a-crate")
        assert job["status"] == "failed"
        assert "does not know a crate named" in job["error"]


@pytest.mark.parametrize("job_id", [str(uuid.UUID(int=1)), "not-a-uuid"])
async def test_status_of_an_unknown_job_is_an_error(deps: Deps, job_id: str) -> None:
    async with connect(deps) as client:
        text = await call_error(client, "check_rust_status", job_id=job_id)
        assert "no job with id" in text or "is not a job id" in text


async def test_list_paginates_indexed_crates_with_counts(deps: Deps) -> None:
    async with connect(deps) as client:
        empty = await call(client, "list_rust_crates")
        assert empty == {"crates": [], "total": 0, "page": 1, "page_size": 20, "pages": 1}
        await add_and_run(client, deps, "itoa")
        await add_and_run(client, deps, "anyhow")
        page1 = await call(client, "list_rust_crates", page=1, page_size=1)
        page2 = await call(client, "list_rust_crates", page=2, page_size=1)
        page3 = await call(client, "list_rust_crates", page=3, page_size=1)
        assert (page1["total"], page1["pages"]) == (2, 2)
        assert [c["name"] for c in page1["crates"] + page2["crates"]] == ["anyhow", "itoa"]
        assert page3["crates"] == []
        anyhow = page1["crates"][0]
        assert anyhow["version"] == "1.0.69"
        assert anyhow["status"] == "indexed"
        assert anyhow["document_count"] > 10
        assert anyhow["embedding_count"] == await deps.store.count("anyhow")
        assert anyhow["description"].startswith("This library provides `anyhow::Error`")
        found = await call(client, "list_rust_crates", query="ito")
        assert [c["name"] for c in found["crates"]] == ["itoa"]
        assert found["crates"][0]["active_job"] is None
        again = await call(client, "add_rust_crate", crate_name="itoa", force=True)
        busy = (await call(client, "list_rust_crates", query="ito"))["crates"][0]
        assert busy["active_job"]["job_id"] == again["job_id"]
        assert busy["active_job"]["status"] == "queued"


@pytest.mark.parametrize(("page", "size"), [(0, 20), (1, 0), (1, 101), (-3, 5)])
async def test_list_rejects_out_of_range_pages(deps: Deps, page: int, size: int) -> None:
    async with connect(deps) as client:
        assert await call_error(client, "list_rust_crates", page=page, page_size=size)


async def test_search_finds_items_with_urls_and_signatures(deps: Deps) -> None:
    async with connect(deps) as client:
        await add_and_run(client, deps, "anyhow")
        res = await call(client, "search_rust_docs", query="attach context to an error", limit=5)
        assert res["results"]
        hit = res["results"][0]
        assert hit["crate"] == "anyhow"
        assert hit["url"].startswith(deps.settings.docsrs_url + "/anyhow/1.0.69/anyhow/")
        assert set(hit) >= {"path", "kind", "signature", "snippet", "score", "version"}
        paths = [h["path"] for h in res["results"]]
        assert len(paths) == len(set(paths))  # chunks of one item collapse into one hit


async def test_soft_deleted_crates_never_appear_until_restored(deps: Deps) -> None:
    async with connect(deps) as client:
        await add_and_run(client, deps, "itoa")
        removed = await call(client, "remove_rust_crate", crate_name="itoa", soft=True)
        assert removed["status"] == "soft_deleted"
        assert (await call(client, "list_rust_crates"))["crates"] == []
        listed = await call(client, "list_rust_crates", include_deleted=True)
        assert [c["status"] for c in listed["crates"]] == ["soft_deleted"]
        assert await call(client, "search_rust_docs", query="integer buffer") == {
            "query": "integer buffer",
            "results": [],
        }
        assert "not indexed" in await call_error(
            client, "search_rust_docs", query="buffer", crate_name="itoa"
        )
        assert await deps.store.count("itoa") > 0  # the data is kept
        await call(client, "restore_rust_crate", crate_name="itoa")
        hits = (await call(client, "search_rust_docs", query="integer buffer"))["results"]
        assert hits[0]["crate"] == "itoa"


async def test_remove_cascades_over_rows_and_points(deps: Deps) -> None:
    async with connect(deps) as client:
        await add_and_run(client, deps, "itoa")
        res = await call(client, "remove_rust_crate", crate_name="itoa")
        assert res["status_code"] == 202
        await run_worker(deps)
        assert await deps.store.count("itoa") == 0
        assert await deps.pool.fetchval("SELECT count(*) FROM documents") == 0
        assert "not indexed" in await call_error(client, "remove_rust_crate", crate_name="itoa")


async def test_remove_during_an_ingest_cancels_it_and_leaves_nothing(
    deps: Deps, docsrs: FakeDocsRsServer
) -> None:
    async with connect(deps) as client:
        docsrs.state.no_json.add("semver")
        docsrs.state.latency = 0.5  # a crawl of several seconds: the cancel lands mid-way
        added = await call(client, "add_rust_crate", crate_name="semver")
        worker = asyncio.create_task(run_worker(deps))
        await wait_for_progress(deps, added["job_id"], 10)
        await call(client, "remove_rust_crate", crate_name="semver")
        await worker
        await run_worker(deps)
        (job,) = (await call(client, "check_rust_status", job_id=added["job_id"]))["jobs"]
        assert job["status"] == "failed"
        assert job["error"] == "cancelled"
        assert await deps.store.count("semver") == 0
        assert await deps.pool.fetchval("SELECT count(*) FROM documents") == 0
        assert await deps.pool.fetchval("SELECT count(*) FROM crates") == 0


async def test_get_item_returns_the_whole_documentation(deps: Deps) -> None:
    async with connect(deps) as client:
        await add_and_run(client, deps, "itoa")
        item = await call(client, "get_rust_item", crate_name="itoa", path="itoa::Buffer::format")
        assert item["kind"] == "method"
        assert "pub fn format" in item["signature"]
        assert "Print an integer" in item["docs"] or "Write an integer" in item["docs"]
        short = await call(client, "get_rust_item", crate_name="itoa", path="Buffer")
        assert short["path"] == "itoa::Buffer"
        assert "```" in short["docs"]
        text = await call_error(client, "get_rust_item", crate_name="itoa", path="itoa::Bufer")
        assert "no item" in text
        assert "not indexed" in await call_error(
            client, "get_rust_item", crate_name="serde", path="x"
        )


async def test_cancel_stops_a_queued_job(deps: Deps) -> None:
    async with connect(deps) as client:
        added = await call(client, "add_rust_crate", crate_name="itoa")
        cancelled = await call(client, "cancel_rust_job", job_id=added["job_id"])
        assert cancelled["status"] == "failed"
        assert cancelled["error"] == "cancelled"
        await run_worker(deps)
        assert await deps.pool.fetchval("SELECT count(*) FROM documents") == 0
        again = await call(client, "add_rust_crate", crate_name="itoa")
        assert again["job_id"] != added["job_id"]


async def test_the_server_runs_jobs_in_process_with_the_embedded_worker(deps: Deps) -> None:
    server = build_server(deps.settings, run_worker=True, deps_factory=lambda _: nullcontext(deps))
    async with Client(server) as c:
        added = await call(c, "add_rust_crate", crate_name="itoa")
        for _ in range(600):
            (job,) = (await call(c, "check_rust_status", job_id=added["job_id"]))["jobs"]
            if job["status"] in ("complete", "failed"):
                break
            await asyncio.sleep(0.1)
        assert job["status"] == "complete", job["error"]
        assert (await call(c, "search_rust_docs", query="integer to string"))["results"]
