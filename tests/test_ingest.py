"""End-to-end ingestion through arq on real Postgres and Redis, against the fake docs.rs."""

from __future__ import annotations

import asyncio
import codecs
import gzip
import json
from typing import Any

import pytest
from conftest import run_worker
from fake_docsrs import FIXTURES, FakeDocsRsServer

from rustdocs_mcp import jobs
from rustdocs_mcp.deps import Deps
from rustdocs_mcp.errors import StoreUnavailable
from rustdocs_mcp.jobs import Job
from rustdocs_mcp.ops import enqueue_job
from rustdocs_mcp.search import search
from rustdocs_mcp.store import Point


async def ingest(deps: Deps, crate: str, version: str = "latest", *, force: bool = False) -> Job:
    job, _ = await jobs.create(
        deps.pool,
        crate_name=crate,
        operation="ingest",
        requested_version=version,
        force=force,
        max_attempts=deps.settings.job_max_tries,
    )
    await enqueue_job(deps.redis, deps.settings, job)
    await run_worker(deps)
    return await jobs.get(deps.pool, job.id)


async def remove(deps: Deps, crate: str) -> Job:
    job, _ = await jobs.create(deps.pool, crate_name=crate, operation="remove")
    await enqueue_job(deps.redis, deps.settings, job)
    await run_worker(deps)
    return await jobs.get(deps.pool, job.id)


async def row_counts(deps: Deps, crate: str) -> tuple[int, int]:
    docs = await deps.pool.fetchval("SELECT count(*) FROM documents WHERE crate_name = $1", crate)
    chunks = await deps.pool.fetchval("SELECT count(*) FROM chunks WHERE crate_name = $1", crate)
    return docs, chunks


async def test_json_path_indexes_items_into_postgres_and_the_vector_store(deps: Deps) -> None:
    job = await ingest(deps, "itoa")
    assert job.status == "complete", job.error
    assert job.progress == 100
    assert job.version == "1.0.2"
    crate = await deps.pool.fetchrow("SELECT * FROM crates WHERE name = 'itoa'")
    assert crate["source"] == "json"
    assert crate["status"] == "indexed"
    docs, chunks = await row_counts(deps, "itoa")
    assert docs == crate["doc_count"] == job.documents > 3
    assert chunks == crate["chunk_count"] == job.chunks
    assert await deps.store.count("itoa") == chunks
    paths = {r["path"] for r in await deps.pool.fetch("SELECT path FROM documents")}
    assert {"itoa", "itoa::Buffer", "itoa::Buffer::format", "itoa::Integer"} <= paths
    hits = await search(deps.pool, deps.store, deps.embedder, "format an integer into a buffer")
    assert hits[0].path.startswith("itoa::Buffer")
    assert hits[0].url.startswith(deps.settings.docsrs_url + "/itoa/1.0.2/itoa/")


async def test_html_path_is_used_when_docsrs_has_no_rustdoc_json(
    deps: Deps, docsrs: FakeDocsRsServer
) -> None:
    docsrs.state.no_json.add("itoa")
    job = await ingest(deps, "itoa", "1.0.1")
    assert job.status == "complete", job.error
    assert await deps.pool.fetchval("SELECT source FROM crates WHERE name = 'itoa'") == "html"
    rows = await deps.pool.fetch("SELECT path, kind, url FROM documents")
    by_path = {r["path"]: r for r in rows}
    assert by_path["itoa::Buffer::format"]["kind"] == "method"
    assert by_path["itoa::Buffer::format"]["url"].endswith("struct.Buffer.html#method.format")
    assert job.pages_fetched >= 4
    assert docsrs.requests(r"/json")[0].status == 404


async def test_unsupported_json_format_falls_back_to_html(
    deps: Deps, docsrs: FakeDocsRsServer
) -> None:
    body = gzip.compress(json.dumps({"format_version": 9999, "index": {}, "root": 0}).encode())
    docsrs.override("/crate/itoa/1.0.1/json.gz", body)
    job = await ingest(deps, "itoa", "1.0.1")
    assert job.status == "complete", job.error
    assert await deps.pool.fetchval("SELECT source FROM crates WHERE name = 'itoa'") == "html"


async def test_unknown_crate_fails_at_once_with_a_clear_reason(
    deps: Deps, docsrs: FakeDocsRsServer
) -> None:
    job = await ingest(deps, "no-such-crate-anywhere")
    assert job.status == "failed"
    assert job.attempts == 1
    assert "does not know a crate named 'no-such-crate-anywhere'" in (job.error or "")
    assert len(docsrs.requests("no-such-crate")) == 1


async def test_unknown_version_is_reported_as_a_missing_version(deps: Deps) -> None:
    job = await ingest(deps, "itoa", "9.9.9")
    assert job.status == "failed"
    assert "no release of itoa matching '9.9.9'" in (job.error or "")


async def test_docsrs_429_and_5xx_are_retried_until_the_crate_is_indexed(
    deps: Deps, docsrs: FakeDocsRsServer
) -> None:
    docsrs.fail(r"^/itoa/", [429, 500, 503])
    docsrs.fail(r"/json", [502])
    job = await ingest(deps, "itoa")
    assert job.status == "complete", job.error
    assert job.attempts == 1  # the request-level retries absorbed the faults
    statuses = [r.status for r in docsrs.requests(r"^/itoa/|/json")]
    assert statuses[:3] == [429, 500, 503]
    assert 502 in statuses


async def test_docsrs_down_for_good_fails_the_job_after_its_attempts_and_writes_nothing(
    deps: Deps, docsrs: FakeDocsRsServer
) -> None:
    docsrs.fail(r"/", [503] * 1000)
    job = await ingest(deps, "itoa")
    assert job.status == "failed"
    assert job.attempts == deps.settings.job_max_tries
    assert "503" in (job.error or "")
    assert "gave up" in (job.error or "")
    assert await row_counts(deps, "itoa") == (0, 0)
    assert await deps.store.count("itoa") == 0


async def test_rerunning_an_ingest_is_idempotent(deps: Deps) -> None:
    first = await ingest(deps, "itoa", "1.0.1")
    points = await deps.store.count("itoa")
    again = await ingest(deps, "itoa", "1.0.1", force=True)
    assert first.status == again.status == "complete"
    assert await deps.store.count("itoa") == points
    assert await row_counts(deps, "itoa") == (first.documents, first.chunks)
    assert again.embeddings == 0
    assert again.embeddings_reused == first.chunks


async def test_a_commit_written_in_slices_stores_the_same_rows(
    deps: Deps, docsrs: FakeDocsRsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    docsrs.state.no_json.add("itoa")  # the HTML crawl: many pages, items in page order
    query = (
        "SELECT d.url, d.path, c.idx, c.point_id FROM chunks c JOIN documents d"
        " ON d.id = c.document_id WHERE c.crate_name = 'itoa' ORDER BY 1, 3"
    )
    whole = await ingest(deps, "itoa", "1.0.1")
    rows = await deps.pool.fetch(query)
    monkeypatch.setattr("rustdocs_mcp.ingest.COMMIT_ROWS", 3)
    sliced = await ingest(deps, "itoa", "1.0.1", force=True)
    assert sliced.status == "complete", sliced.error
    assert await row_counts(deps, "itoa") == (whole.documents, whole.chunks)
    assert [tuple(r) for r in await deps.pool.fetch(query)] == [tuple(r) for r in rows]


async def test_adding_an_indexed_version_again_without_force_does_no_work(deps: Deps) -> None:
    await ingest(deps, "itoa", "1.0.1")
    again = await ingest(deps, "itoa", "1.0.1")
    assert again.status == "complete"
    assert again.chunks == 0
    assert again.embeddings == 0


async def test_reindex_to_a_new_version_swaps_points_and_rows(deps: Deps) -> None:
    old = await ingest(deps, "itoa", "1.0.1")
    new = await ingest(deps, "itoa", "1.0.2")
    assert new.status == "complete", new.error
    assert await deps.store.count("itoa", "1.0.1") == 0
    assert await deps.store.count("itoa", "1.0.2") == new.chunks
    versions = {r["version"] for r in await deps.pool.fetch("SELECT version FROM documents")}
    assert versions == {"1.0.2"}
    # Only the chunk whose text changed (plus the version in URLs, which is not embedded)
    # needs the model again; the rest reuse vectors by content hash.
    assert new.embeddings < old.embeddings / 2
    assert new.embeddings + new.embeddings_reused == new.chunks


async def test_search_keeps_finding_the_old_version_while_a_reindex_runs(
    deps: Deps, docsrs: FakeDocsRsServer
) -> None:
    await ingest(deps, "itoa", "1.0.1")
    docsrs.state.latency = 0.2  # slow docs.rs so the job is observably in flight
    job, _ = await jobs.create(deps.pool, crate_name="itoa", operation="ingest", force=True)
    await enqueue_job(deps.redis, deps.settings, job)
    worker = asyncio.create_task(run_worker(deps))
    seen: set[str] = set()
    while not worker.done():
        hits = await search(deps.pool, deps.store, deps.embedder, "integer buffer", crate="itoa")
        assert hits, "search found nothing while the re-index ran"
        seen.update(h.version for h in hits)
        await asyncio.sleep(0.05)
    await worker
    assert "1.0.1" in seen
    final = await search(deps.pool, deps.store, deps.embedder, "integer buffer", crate="itoa")
    assert {h.version for h in final} == {"1.0.2"}


class FailingUpserts:
    """A store whose upserts fail, as if Qdrant went down in the middle of a job."""

    def __init__(self, inner: Any, fail_after: int) -> None:
        self.inner = inner
        self.calls = 0
        self.fail_after = fail_after

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def upsert(self, points: list[Point]) -> None:
        self.calls += 1
        if self.calls > self.fail_after:
            raise StoreUnavailable("Qdrant is unavailable (injected)")
        await self.inner.upsert(points)


async def test_a_failed_reindex_leaves_the_previous_index_intact(
    deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ingest(deps, "itoa", "1.0.1")
    rows_before = await row_counts(deps, "itoa")
    points_before = await deps.store.count("itoa", "1.0.1")
    monkeypatch.setattr("rustdocs_mcp.ingest.EMBED_BATCH", 4)  # several upserts per job
    real = deps.store
    flaky = FailingUpserts(real, fail_after=1)
    deps.store = flaky  # type: ignore[assignment]
    failed = await ingest(deps, "itoa", "1.0.2")
    deps.store = real
    assert failed.status == "failed"
    assert failed.attempts == deps.settings.job_max_tries
    assert "Qdrant is unavailable" in (failed.error or "")
    assert flaky.calls > 1  # the first batch of 1.0.2 was written, then cleaned up
    assert await deps.store.count("itoa", "1.0.2") == 0
    assert await deps.store.count("itoa", "1.0.1") == points_before
    assert await row_counts(deps, "itoa") == rows_before
    hits = await search(deps.pool, deps.store, deps.embedder, "integer buffer", crate="itoa")
    assert {h.version for h in hits} == {"1.0.1"}


async def test_remove_deletes_points_and_rows_together(deps: Deps) -> None:
    await ingest(deps, "itoa")
    await ingest(deps, "anyhow")
    job = await remove(deps, "itoa")
    assert job.status == "complete", job.error
    assert await deps.store.count("itoa") == 0
    assert await row_counts(deps, "itoa") == (0, 0)
    assert await deps.pool.fetchval("SELECT count(*) FROM crates WHERE name = 'itoa'") == 0
    assert await deps.store.count("anyhow") > 0
    again = await remove(deps, "itoa")
    assert again.status == "complete"  # idempotent


INTEGER_PAGE = "/itoa/1.0.1/itoa/trait.Integer.html"
_REAL_PAGE = (FIXTURES / "rustdoc/itoa/1.0.1/itoa/trait.Integer.html").read_text()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<html><body><div>garbage", id="garbage"),
        pytest.param(_REAL_PAGE[: len(_REAL_PAGE) // 3].encode(), id="truncated"),
        pytest.param(bytes(range(256)) * 64, id="binary"),
        pytest.param(b"<html>" + b"<div>" * (9 * 1024 * 1024 // 5), id="over-the-size-cap"),
    ],
)
async def test_a_bad_item_page_is_skipped_and_the_rest_indexed(
    deps: Deps, docsrs: FakeDocsRsServer, body: bytes
) -> None:
    docsrs.state.no_json.add("itoa")
    docsrs.override(INTEGER_PAGE, body)
    job = await ingest(deps, "itoa", "1.0.1")
    assert job.status == "complete", job.error
    paths = {r["path"] for r in await deps.pool.fetch("SELECT path FROM documents")}
    assert {"itoa::Buffer", "itoa::Buffer::format"} <= paths
    assert "itoa::Integer" not in paths
    _, chunks = await row_counts(deps, "itoa")
    assert await deps.store.count("itoa") == chunks > 0


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig"])
async def test_a_page_with_a_byte_order_mark_is_decoded_by_it(
    deps: Deps, docsrs: FakeDocsRsServer, encoding: str
) -> None:
    docsrs.state.no_json.add("itoa")
    page = _REAL_PAGE.replace("An integer that", "An integer — “naïve” — that")
    body = page.encode(encoding)
    if encoding == "utf-16-be":
        body = codecs.BOM_UTF16_BE + body
    docsrs.override(INTEGER_PAGE, body)
    job = await ingest(deps, "itoa", "1.0.1")
    assert job.status == "complete", job.error
    docs = await deps.pool.fetchval("SELECT docs FROM documents WHERE path = 'itoa::Integer'")
    assert docs.startswith("An integer — “naïve” — that can be written into an `itoa::Buffer`.")


async def test_job_transitions_are_written_to_the_audit_log(deps: Deps) -> None:
    job = await ingest(deps, "itoa")
    actions = [
        r["action"]
        for r in await deps.pool.fetch(
            "SELECT action FROM audit_log WHERE job_id = $1 ORDER BY id", job.id
        )
    ]
    assert actions == ["job.queued", "job.running", "job.complete"]


@pytest.mark.parametrize("crate", ["anyhow", "semver", "bytes"])
async def test_fixture_crates_index_from_json(deps: Deps, crate: str) -> None:
    job = await ingest(deps, crate)
    assert job.status == "complete", job.error
    assert await deps.store.count(crate) == job.chunks > 20
