"""One crate release, end to end: docs.rs → DocItems → chunks → vectors → both stores.

Fetching (rate limited, I/O bound) runs ahead of embedding (CPU bound, in a thread) through
a bounded queue, so memory stays flat and neither waits for the other longer than needed:
a few pages in flight, one parsed at a time (in one thread for the whole process), at most
QUEUE_PAGES parsed pages waiting, EMBED_BATCH chunks per embed-and-store step. What is kept
for the final commit is the items and, per chunk, its id, index and hash (not its text).

Consistency: points are written first under content-derived ids; they are invisible to
search until the Postgres transaction that swaps the crate's documents commits (search only
returns (crate, version) pairs that Postgres says are indexed). After the commit, points of
the crate that Postgres no longer references are deleted. A failed job deletes the points
it wrote that Postgres does not reference, leaving the previous index as it was.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import hashlib
import logging
import sys
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urldefrag

import asyncpg

from . import jobs, metrics
from .chunk import chunk, embedding_text
from .db import Executor
from .deps import Deps
from .docsrs import DocsRsClient, Release
from .errors import JobCancelled, MalformedDocument, TransientError
from .jobs import Job
from .models import Chunk, DocItem
from .parse import (
    is_redirect_stub,
    parse_all_items,
    parse_crate_description,
    parse_item_page,
    parse_module_items,
)
from .rustdoc_json import UnsupportedFormat, parse_crate_json
from .sparse import encode_document
from .store import Point, SparseVector, StoredVectors, VectorStore, batched

log = logging.getLogger(__name__)

EMBED_BATCH = 128  # chunks handed to the embedder at once
QUEUE_PAGES = 16  # parsed pages waiting for the embedder, at most
FETCH_CONCURRENCY = 4  # requests (pages fetched, not yet parsed) in flight, at most
COMMIT_ROWS = 1000  # documents per INSERT in the commit transaction
TRIM_AFTER_CHARS = 256 * 1024  # hand freed heap back to the OS after parsing a page this big
REPORT_EVERY = 1.0  # seconds between progress writes
REMOVE_WAIT = 120.0  # seconds a remove waits for a cancelled ingest of its crate to stop


class TransientIngestRunning(TransientError):
    """A remove found an ingest of the same crate still running."""


@dataclass
class Counts:
    pages_fetched: int = 0
    documents: int = 0
    chunks: int = 0
    embeddings: int = 0
    embeddings_reused: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Batch:
    """Items parsed from one page (HTML) or one slice (JSON), with the fetch progress."""

    items: list[DocItem]
    done: int
    total: int


class Reporter:
    """Writes progress at a bounded rate; raises JobCancelled when the job must stop."""

    def __init__(self, pool: asyncpg.Pool, job_id: uuid.UUID, counts: Counts):
        self.pool = pool
        self.job_id = job_id
        self.counts = counts
        self.version: str | None = None
        self._last = 0.0

    async def __call__(self, stage: str, progress: float, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < REPORT_EVERY:
            return
        self._last = now
        keep_going = await jobs.report(
            self.pool,
            self.job_id,
            stage=stage,
            progress=int(progress),
            counts=self.counts.as_dict(),
            version=self.version,
        )
        if not keep_going:
            raise JobCancelled(f"job {self.job_id} was cancelled")


@dataclass(frozen=True, slots=True)
class ChunkRef:
    """A stored chunk's row data, without its text: what the pipeline keeps until the commit."""

    id: str
    index: int
    hash: str

    @classmethod
    def of(cls, c: Chunk) -> ChunkRef:
        return cls(c.id, c.index, c.hash)


@dataclass
class Indexed:
    items: dict[str, DocItem] = field(default_factory=dict)  # url → item
    chunks: dict[str, list[ChunkRef]] = field(default_factory=dict)  # url → its chunks
    point_ids: set[str] = field(default_factory=set)


# --------------------------------------------------------------------------- parsing
# HTML pages are parsed in one thread for the whole process, and after a big page the freed
# heap is handed back to the OS. An lxml tree takes several times its page (std's biggest
# pages are 1-3 MB), and glibc gives each thread that allocates its own heap arena, which
# keeps its high-water mark after the tree is freed. Crawling and parsing std's 2,250 pages
# in asyncio's default pool (up to 6 threads) peaked at 293 MB, in one thread with
# malloc_trim at 184 MB; indexing std, the worker went from 652 MB to 516-527 MB with this,
# the chunk refs and the sliced commit (bench/large_crate.py).
_PARSE_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rustdocs-parse")
_T = TypeVar("_T")


def _load_malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None elsewhere (macOS, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_malloc_trim = _load_malloc_trim()


def _parse_then_trim(fn: Callable[[str, str], _T], html: str, url: str) -> _T:
    try:
        return fn(html, url)
    finally:
        if _malloc_trim is not None and len(html) >= TRIM_AFTER_CHARS:
            _malloc_trim(0)


async def in_parse_thread(fn: Callable[[str, str], _T], html: str, url: str) -> _T:
    """`fn(html, url)` in the parsing thread (CPU work: off the event loop, so heartbeats
    and requests keep time)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        _PARSE_THREAD, functools.partial(_parse_then_trim, fn, html, url)
    )


# --------------------------------------------------------------------------- sources
def _in_release(url: str, release: Release) -> bool:
    return url.startswith(release.root_url) and url.endswith(".html") and "/src/" not in url


async def html_batches(
    client: DocsRsClient, release: Release, counts: Counts
) -> AsyncIterator[Batch]:
    """Crawl all.html and the module tree; one batch per item page, in discovery order."""
    root = release.root_url
    seen: set[str] = set()
    todo: list[str] = []

    def discover(urls: list[str]) -> None:
        for u in urls:
            u = urldefrag(u)[0]
            if u not in seen and _in_release(u, release):
                seen.add(u)
                todo.append(u)

    async def links(parse_links: Callable[[str, str], list[str]], html: str, url: str) -> None:
        try:
            discover(await in_parse_thread(parse_links, html, url))
        except MalformedDocument as e:
            log.warning("no links read from %s: %s", url, e)

    parse = functools.partial(_parse, release)

    seen.add(root + "index.html")
    all_html = await client.fetch_page(root + "all.html")
    counts.pages_fetched += 1
    await links(parse_module_items, release.root_html, root + "index.html")
    if all_html:
        await links(parse_all_items, all_html, root + "all.html")
    root_items = await in_parse_thread(parse, release.root_html, root + "index.html")
    done = 1
    yield Batch(root_items, done, len(todo) + 1)
    del all_html, root_items

    # A sliding window: up to FETCH_CONCURRENCY pages in flight, consumed in discovery
    # order, each page dropped once parsed (the rate limiter sets the pace).
    pos = 0
    window: deque[tuple[str, asyncio.Task[str | None]]] = deque()
    try:
        while True:
            while pos < len(todo) and len(window) < FETCH_CONCURRENCY:
                window.append((todo[pos], asyncio.create_task(client.fetch_page(todo[pos]))))
                pos += 1
            if not window:
                return
            url, task = window.popleft()
            html = await task
            counts.pages_fetched += 1
            done += 1
            items: list[DocItem] = []
            if html is not None and not is_redirect_stub(html):
                if url.endswith("/index.html"):
                    await links(parse_module_items, html, url)
                items = await in_parse_thread(parse, html, url)
            del html, task
            yield Batch(items, done, len(todo) + 1)
    finally:
        for _, pending in window:
            pending.cancel()
        await asyncio.gather(*(t for _, t in window), return_exceptions=True)


def _parse(release: Release, html: str, url: str) -> list[DocItem]:
    try:
        return parse_item_page(html, crate=release.crate, version=release.version, url=url)
    except MalformedDocument as e:
        log.warning("skipping malformed page %s: %s", url, e)
        return []


# --------------------------------------------------------------------------- embedding
async def _vectors_for(
    deps: Deps, crate: str, new: list[Chunk], counts: Counts
) -> dict[str, StoredVectors]:
    """Dense+sparse vectors for chunks not yet stored: reused by content hash, else embedded."""
    out: dict[str, StoredVectors] = {}
    rows = await deps.pool.fetch(
        "SELECT DISTINCT ON (hash) hash, point_id::text AS pid FROM chunks"
        " WHERE crate_name = $1 AND hash = ANY($2::text[])",
        crate,
        list({c.hash for c in new}),
    )
    by_hash = {r["hash"]: r["pid"] for r in rows}
    if by_hash:
        stored = await deps.store.get_vectors(list(by_hash.values()))
        for c in new:
            pid = by_hash.get(c.hash)
            if pid is not None and pid in stored:
                out[c.id] = stored[pid]
        counts.embeddings_reused += len(out)
    todo = [c for c in new if c.id not in out]
    if todo:
        started = time.monotonic()
        dense = await deps.embedder.embed([embedding_text(c) for c in todo])
        metrics.EMBEDDINGS.inc(len(todo))
        metrics.EMBED_SECONDS.inc(time.monotonic() - started)
        for c, vec in zip(todo, dense, strict=True):
            out[c.id] = StoredVectors(list(vec), encode_document(c.text))
        counts.embeddings += len(todo)
    return out


def _point(c: Chunk, vec: StoredVectors) -> Point:
    sparse = vec.sparse if vec.sparse.indices else encode_document(c.text)
    return Point(
        id=c.id,
        dense=vec.dense,
        sparse=SparseVector(list(sparse.indices), list(sparse.values)),
        payload={
            "crate": c.crate,
            "version": c.version,
            "path": c.path,
            "path_lc": c.path.lower(),
            "name_lc": c.path.rsplit("::", 1)[-1].lower(),
            "kind": c.kind,
            "url": c.url,
            "signature": c.signature,
            "chunk": c.index,
            "text": c.body,
            "hash": c.hash,
        },
    )


async def _store_chunks(deps: Deps, crate: str, pending: list[Chunk], counts: Counts) -> None:
    ids = [c.id for c in pending]
    exists = await deps.store.existing_ids(ids)
    counts.embeddings_reused += len(exists)
    new = [c for c in pending if c.id not in exists]
    if not new:
        return
    vectors = await _vectors_for(deps, crate, new, counts)
    await deps.store.upsert([_point(c, vectors[c.id]) for c in new])


# --------------------------------------------------------------------------- run
_DONE = object()


async def index_release(
    deps: Deps,
    release: Release,
    batches: AsyncIterator[Batch],
    counts: Counts,
    report: Reporter,
    *,
    fetch_weight: float = 0.0,
) -> Indexed:
    """Consume item batches; chunk, embed and upsert as they come.

    Progress runs from 5 to 95: `fetch_weight` of it for pages fetched (HTML crawls are
    rate limited, so fetching is most of their time), the rest for chunks stored.
    """
    idx = Indexed()
    queue: asyncio.Queue[Batch | BaseException | object] = asyncio.Queue(maxsize=QUEUE_PAGES)
    fetched = 0.0

    async def produce() -> None:
        try:
            async for batch in batches:
                await queue.put(batch)
        except Exception as e:  # handed to the consumer, which raises it
            await queue.put(e)
        else:
            await queue.put(_DONE)

    producer = asyncio.create_task(produce())
    pending: list[Chunk] = []
    max_tokens = min(deps.embedder.max_tokens, 512)
    stored = 0

    def progress() -> float:
        embedded = stored / counts.chunks if counts.chunks else 1.0
        return 5 + 88 * fetched * (fetch_weight + (1 - fetch_weight) * embedded)

    try:
        while True:
            got = await queue.get()
            if isinstance(got, BaseException):
                raise got
            final = got is _DONE
            if isinstance(got, Batch):
                fetched = got.done / max(got.total, 1)
                for item in got.items:
                    if item.url in idx.items:
                        continue
                    # Trait-impl members mostly repeat the trait's docs: they stay in Postgres
                    # (exact path lookups, get_rust_item) but are not embedded, so they do not
                    # crowd the real answers out of semantic search (measured on tests/eval).
                    parts = (
                        []
                        if item.impl_of
                        else chunk(item, max_tokens=max_tokens, count=deps.embedder.count_tokens)
                    )
                    idx.items[item.url] = item
                    idx.chunks[item.url] = [ChunkRef.of(c) for c in parts]
                    pending.extend(parts)
                    idx.point_ids.update(c.id for c in parts)
                counts.documents = len(idx.items)
                counts.chunks = len(idx.point_ids)
            # Embed full batches; and when no page is waiting, whatever is pending, so the CPU
            # works while the next (rate-limited) fetch is in flight.
            while pending and (len(pending) >= EMBED_BATCH or final or queue.empty()):
                take, pending = pending[:EMBED_BATCH], pending[EMBED_BATCH:]
                await _store_chunks(deps, release.crate, take, counts)
                stored += len(take)
                await report("embedding", progress())
            if final:
                return idx
            await report("fetching", progress())
    finally:
        producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)


async def source_batches(
    deps: Deps, release: Release, counts: Counts
) -> tuple[str, str, AsyncIterator[Batch]]:
    """(source, description, batches): rustdoc JSON when docs.rs has a usable file, else HTML."""
    doc = await deps.docsrs.fetch_json(release)
    counts.pages_fetched += 1
    if doc is not None:
        try:
            items = await asyncio.to_thread(
                lambda: parse_crate_json(
                    doc, crate=release.crate, version=release.version, docs_base=release.docs_base
                )
            )
        except UnsupportedFormat as e:
            log.info("%s %s: %s; using the HTML pages", release.crate, release.version, e)
        else:
            del doc
            description = next((i.summary for i in items if i.kind == "module"), "")

            async def from_json() -> AsyncIterator[Batch]:
                step = 256
                for i in range(0, len(items), step):
                    yield Batch(items[i : i + step], min(i + step, len(items)), len(items))

            return "json", description, from_json()
    description = parse_crate_description(release.root_html)
    return "html", description, html_batches(deps.docsrs, release, counts)


FETCH_WEIGHT = {"json": 0.0, "html": 0.6}


async def commit(
    conn: Executor,
    release: Release,
    idx: Indexed,
    *,
    source: str,
    description: str,
    requested: str,
    model: str,
) -> None:
    """Swap the crate's documents and chunks for the new ones, in one transaction."""
    crate = release.crate
    await conn.execute(
        """
        INSERT INTO crates (name, version, requested, source, status, description,
                            embedding_model, doc_count, chunk_count, embedding_count,
                            last_indexed_at, updated_at, deleted_at)
        VALUES ($1, $2, $3, $4, 'indexed', $5, $6, $7, $8, $8, now(), now(), NULL)
        ON CONFLICT (name) DO UPDATE SET version = $2, requested = $3, source = $4,
            status = 'indexed', description = $5, embedding_model = $6, doc_count = $7,
            chunk_count = $8, embedding_count = $8, last_indexed_at = now(), updated_at = now(),
            deleted_at = NULL
        """,
        crate,
        release.version,
        requested,
        source,
        description[:2000],
        model,
        len(idx.items),
        len(idx.point_ids),
    )
    await conn.execute("DELETE FROM documents WHERE crate_name = $1", crate)
    # In slices: one statement for a 30k-item crate would encode all its docs at once.
    for urls in batched(list(idx.items), COMMIT_ROWS):
        await _insert_documents(conn, release, idx, urls)


async def _insert_documents(
    conn: Executor, release: Release, idx: Indexed, urls: Sequence[str]
) -> None:
    """Insert the documents of `urls` and their chunks."""
    crate = release.crate
    items = [idx.items[u] for u in urls]
    rows = await conn.fetch(
        """
        INSERT INTO documents (crate_name, version, url, path, kind, signature, docs,
                               deprecated, features, parent, impl_of, hash)
        SELECT $1, $2, u.url, u.path, u.kind, u.signature, u.docs, u.deprecated,
               coalesce(string_to_array(u.features, E'\x1f'), '{}'), u.parent, u.impl_of,
               u.hash
        FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                    $9::text[], $10::text[], $11::text[], $12::text[])
             AS u(url, path, kind, signature, docs, deprecated, features, parent, impl_of, hash)
        RETURNING id, url
        """,
        crate,
        release.version,
        urls,
        [i.path for i in items],
        [i.kind for i in items],
        [i.signature for i in items],
        [i.docs for i in items],
        [i.deprecated for i in items],
        ["\x1f".join(i.features) if i.features else None for i in items],
        [i.parent for i in items],
        [i.impl_of for i in items],
        [_item_hash(i) for i in items],
    )
    records = [
        (uuid.UUID(c.id), r["id"], crate, c.index, c.hash)
        for r in rows
        for c in idx.chunks.get(r["url"], ())
    ]
    await conn.copy_records_to_table(
        "chunks", records=records, columns=["point_id", "document_id", "crate_name", "idx", "hash"]
    )


def _item_hash(item: DocItem) -> str:
    h = hashlib.sha256()
    for part in (item.path, item.kind, item.signature, item.docs, item.deprecated or ""):
        h.update(part.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()


async def committed_point_ids(pool: asyncpg.Pool, crate: str) -> set[str]:
    rows = await pool.fetch("SELECT point_id::text AS pid FROM chunks WHERE crate_name = $1", crate)
    return {r["pid"] for r in rows}


async def drop_uncommitted(pool: asyncpg.Pool, store: VectorStore, crate: str) -> None:
    """Delete the crate's points that Postgres does not reference (a failed or stale write)."""
    keep = await committed_point_ids(pool, crate)
    await store.delete_crate(crate, keep_ids=keep)


async def run_ingest(deps: Deps, job: Job) -> str:
    """Index the job's crate. Returns a one-line summary. Raises RustdocsError subclasses."""
    counts = Counts()
    report = Reporter(deps.pool, job.id, counts)
    await report("resolving", 1, force=True)
    release = await deps.docsrs.resolve(job.crate_name, job.requested_version)
    counts.pages_fetched += 1
    report.version = release.version
    current = await deps.pool.fetchrow(
        "SELECT version, status, embedding_model, deleted_at FROM crates WHERE name = $1",
        release.crate,
    )
    model = deps.embedder.model_name
    if (
        not job.force
        and current is not None
        and current["version"] == release.version
        and current["status"] == "indexed"
        and current["embedding_model"] == model
        and current["deleted_at"] is None
    ):
        await report("up to date", 99, force=True)
        return f"{release.crate} {release.version} is already indexed"
    await report("fetching", 3, force=True)
    source, description, batches = await source_batches(deps, release, counts)
    idx = await index_release(
        deps, release, batches, counts, report, fetch_weight=FETCH_WEIGHT[source]
    )
    if not idx.items:
        raise MalformedDocument(
            f"no documented items found for {release.crate} {release.version} ({source} source)"
        )
    await report("committing", 94, force=True)
    async with deps.pool.acquire() as conn, conn.transaction():
        # Lock the job row: a cancel that lands now waits for this commit or wins before it.
        stop = await conn.fetchval(
            "SELECT cancel_requested OR status <> 'running' FROM crate_jobs WHERE id = $1"
            " FOR UPDATE",
            job.id,
        )
        if stop:
            raise JobCancelled(f"job {job.id} was cancelled before its commit")
        await commit(
            conn,
            release,
            idx,
            source=source,
            description=description,
            requested=job.requested_version,
            model=model,
        )
    await report("cleaning up", 97, force=True)
    await deps.store.delete_crate(release.crate, keep_ids=idx.point_ids)
    optimize = getattr(deps.store, "optimize", None)
    if optimize is not None:
        await optimize()
    return (
        f"indexed {release.crate} {release.version} from {source}: {len(idx.items)} items,"
        f" {len(idx.point_ids)} chunks ({counts.embeddings} embedded,"
        f" {counts.embeddings_reused} reused)"
    )


async def run_remove(deps: Deps, job: Job) -> str:
    """Cascade remove: hide the crate, delete its points, then its rows. Idempotent."""
    crate = job.crate_name
    deadline = time.monotonic() + REMOVE_WAIT
    while (running := await jobs.active(deps.pool, crate, "ingest")) is not None:
        if running.status == "queued":
            await jobs.cancel(deps.pool, running.id)
        elif time.monotonic() > deadline:
            raise TransientIngestRunning(f"an ingest of {crate} is still running; will retry")
        await asyncio.sleep(0.2)
    await deps.pool.execute(
        "UPDATE crates SET status = 'removing', updated_at = now() WHERE name = $1", crate
    )
    await jobs.report(deps.pool, job.id, stage="deleting points", progress=30)
    await deps.store.delete_crate(crate)
    await jobs.report(deps.pool, job.id, stage="deleting rows", progress=70)
    async with deps.pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM crates WHERE name = $1", crate)
        await jobs.audit(conn, "crate.removed", crate_name=crate, job_id=job.id)
    return f"removed {crate}"
