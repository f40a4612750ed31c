"""VectorStore embedded in the process: a Qdrant Edge shard under data_dir (the default).

Same engine, vectors and semantics as the server store: a cosine "dense" vector, a "lexical"
sparse vector with Qdrant's IDF modifier, keyword payload indexes, hybrid search as two
prefetches fused by reciprocal rank. The edge API is synchronous, so calls run in worker
threads; writes are serialised and flushed (WAL and segments) before they are acknowledged.

Two properties of qdrant-edge 0.9 shape the rest:

* It has no background optimizer: new points stay in a plain (brute force) segment until
  `EdgeShard.optimize()` builds HNSW.
* No call releases the GIL. Queries take a millisecond or two, but `optimize()` takes minutes
  on a large store (about 6 min for 200k 384-d points on 2 cores), and would freeze the whole
  process (event loop, MCP requests, job heartbeats) for that long.

So the index is built out of process: copy the flushed shard, let a child process (`nice`d)
load the copy and optimize it while this process keeps serving queries and writing to the
live shard (writes made meanwhile are journaled), then swap the directories, reopen and replay
the journal. Everything pauses only for the swap, which is mostly reopening the shard (0.4 s
at 20k points, 1.7 s at 200k). `optimize()` starts this when at least `optimize_min_points`
points lack HNSW; `upsert` starts it in the background after as many new points, and the
pipeline should call it after each job. The copy doubles the disk used while it lasts.

Layout under the store directory (one per collection, `<data_dir>/qdrant-edge/<collection>`):
`rustdocs-mcp.lock` (exclusive flock: one process per store), `shard/` (the edge shard), and
transiently `shard.optimizing-*` and `shard.old-*` (the copy being optimized, the shard being
replaced); leftovers from a crash are cleaned up (or restored) on open.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from pathlib import Path
from typing import Any, cast

import qdrant_edge as qe

from .errors import EmbeddingModelMismatch, StoreLocked, StoreUnavailable
from .store import (
    DENSE,
    RELEASE,
    RRF_K,
    SPARSE,
    UPSERT_BATCH,
    CollectionSpec,
    Hit,
    Point,
    SearchFilter,
    SearchMode,
    SparseVector,
    StoredVectors,
    batched,
    canonical_id,
    counts_by_release_key,
    prefetch_limit,
    release_keys,
    sorted_sparse,
    stored_payload,
)

log = logging.getLogger(__name__)

LOCK_FILE = "rustdocs-mcp.lock"
SHARD_DIR = "shard"
CONFIG_FILE = "edge_config.json"  # written by qdrant-edge inside the shard
_ID_BATCH = 1024
_FACET_LIMIT = 1_000_000

# Runs in the child process: nothing but qdrant_edge, dies with its parent (Linux), low priority.
_OPTIMIZE_CHILD = """
import ctypes, os, sys
try:
    ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG = SIGKILL
except Exception:
    pass
if os.getppid() != int(sys.argv[2]):
    sys.exit(3)
os.nice(10)
import qdrant_edge
shard = qdrant_edge.EdgeShard.load(sys.argv[1])
shard.optimize()
shard.flush()
shard.close()
"""


def build_filter(
    flt: SearchFilter | None = None,
    *,
    crate: str | None = None,
    version: str | None = None,
    keep_ids: Collection[str] = (),
) -> Any:
    must: list[Any] = []
    if crate is not None:
        must.append(_match("crate", crate))
    if version is not None:
        must.append(_match("version", version))
    if flt is not None and flt.releases is not None:
        must.append(qe.FieldCondition(RELEASE, match=qe.MatchAny(release_keys(flt.releases))))
    if flt is not None and flt.kinds is not None:
        must.append(qe.FieldCondition("kind", match=qe.MatchAny(list(flt.kinds))))
    must_not: list[Any] = []
    if keep_ids:
        must_not.append(qe.HasIdCondition({canonical_id(i) for i in keep_ids}))
    if not must and not must_not:
        return None
    return qe.Filter(must=must or None, must_not=must_not or None)


def _match(key: str, value: str) -> Any:
    return qe.FieldCondition(key, match=qe.MatchValue(value))


def _acquire_lock(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        finally:
            os.close(fd)
        pid = f" (pid {holder})" if holder.isdigit() else ""
        raise StoreLocked(
            f"the embedded vector store at {path.parent} is already open in another "
            f"process{pid}; run one rustdocs-mcp process, or set RUSTDOCS_QDRANT_URL to use a "
            "Qdrant server shared by separate workers"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _release_lock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


class _Gate:
    """Many holders of the shard at once, or the one that swaps or closes it."""

    def __init__(self) -> None:
        self._cond = asyncio.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0

    @contextlib.asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        async with self._cond:
            await self._cond.wait_for(lambda: not self._exclusive and not self._waiting)
            self._shared += 1
        try:
            yield
        finally:
            async with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        async with self._cond:
            self._waiting += 1
            try:
                await self._cond.wait_for(lambda: not self._exclusive and not self._shared)
            finally:
                self._waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            async with self._cond:
                self._exclusive = False
                self._cond.notify_all()


class EdgeStore:
    def __init__(
        self,
        path: Path,
        spec: CollectionSpec,
        *,
        optimize_min_points: int = 10_000,
        index_min_points: int = 5_000,
        auto_optimize: bool = True,
    ) -> None:
        """`path`: the store directory. HNSW is built for segments of at least
        `index_min_points` points, once `optimize_min_points` points lack it."""
        self.path = path
        self.spec = spec
        self.optimize_min_points = optimize_min_points
        self.index_min_points = index_min_points
        self.auto_optimize = auto_optimize
        self._shard: Any = None
        self._lock_fd: int | None = None
        self._closed = False
        self._gate = _Gate()
        self._write_lock = asyncio.Lock()
        self._optimize_lock = asyncio.Lock()
        self._optimize_task: asyncio.Task[None] | None = None
        self._child: asyncio.subprocess.Process | None = None
        self._journal: list[Any] | None = None  # writes made while a copy is optimized
        self._written = 0  # points written since the last optimize check

    @property
    def shard_path(self) -> Path:
        return self.path / SHARD_DIR

    @property
    def building_index(self) -> bool:
        """Whether a child process is building HNSW on a copy of the shard right now."""
        return self._child is not None and self._child.returncode is None

    def _config(self) -> Any:
        threshold_kb = max(1, self.index_min_points * self.spec.dimension * 4 // 1024)
        return qe.EdgeConfig(
            vectors={
                DENSE: qe.EdgeVectorParams(size=self.spec.dimension, distance=qe.Distance.Cosine)
            },
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=threshold_kb),
        )

    # Opening and closing

    async def ensure_collection(self) -> None:
        if self._closed:
            raise RuntimeError("the embedded vector store was closed")
        if self._shard is None:
            async with self._write_lock, self._gate.exclusive():
                if self._shard is None:
                    self._shard = await asyncio.to_thread(self._open_sync)

    def _open_sync(self) -> Any:
        self.path.mkdir(parents=True, exist_ok=True)
        fd = self._lock_fd if self._lock_fd is not None else _acquire_lock(self.path / LOCK_FILE)
        try:
            self._recover_sync()
            config_path = self.shard_path / CONFIG_FILE
            if config_path.exists():
                self._check_dimension(config_path)
                shard = qe.EdgeShard.load(str(self.shard_path), self._config())
            else:
                shard = qe.EdgeShard.create(str(self.shard_path), self._config())
                log.info("created embedded vector store at %s", self.path)
            indexed = set(shard.info().payload_schema)
            for field_name in self.spec.payload_indexes:
                if field_name not in indexed:
                    schema = (
                        qe.KeywordIndexParams(is_tenant=True)
                        if field_name == "crate"
                        else qe.PayloadSchemaType.Keyword
                    )
                    shard.update(qe.UpdateOperation.create_field_index(field_name, schema))
            shard.flush()
        except BaseException:
            _release_lock(fd)
            raise
        self._lock_fd = fd
        return shard

    def _recover_sync(self) -> None:
        """Undo what a crash during an index build left behind."""
        olds = sorted(self.path.glob(f"{SHARD_DIR}.old-*"), key=lambda p: p.stat().st_mtime)
        if not self.shard_path.exists() and olds:
            log.warning("restoring %s after an interrupted index build", olds[-1])
            olds.pop().rename(self.shard_path)
        for leftover in [*olds, *self.path.glob(f"{SHARD_DIR}.optimizing-*")]:
            shutil.rmtree(leftover, ignore_errors=True)

    def _check_dimension(self, config_path: Path) -> None:
        try:
            stored = json.loads(config_path.read_text())
            size = int(stored["vectors"][DENSE]["size"])
            _ = stored["sparse_vectors"][SPARSE]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise EmbeddingModelMismatch(
                f"{config_path} does not describe a rustdocs-mcp store with {DENSE!r} and "
                f"{SPARSE!r} vectors ({e!r}); move {self.path} away and index again"
            ) from e
        if size != self.spec.dimension:
            raise EmbeddingModelMismatch(
                f"the embedded vector store at {self.path} holds {size}-dimensional vectors but "
                f"the embedding model makes {self.spec.dimension}-dimensional ones; use the model "
                "it was built with, or delete that directory and index again"
            )

    async def close(self) -> None:
        self._closed = True
        if self._child is not None and self._child.returncode is None:
            log.info("closing: abandoning the vector index build in progress")
            with contextlib.suppress(ProcessLookupError):
                self._child.kill()
        if self._optimize_task is not None:
            await asyncio.wait([self._optimize_task])  # the task logs its own errors
        async with self._optimize_lock, self._write_lock, self._gate.exclusive():
            shard, self._shard = self._shard, None
            if shard is not None:
                await asyncio.to_thread(self._close_sync, shard)

    def _close_sync(self, shard: Any) -> None:
        try:
            shard.flush()
            shard.close()
        finally:
            if self._lock_fd is not None:
                _release_lock(self._lock_fd)
                self._lock_fd = None

    # Reads run concurrently; writes one at a time, flushed before they return

    async def _read(self, method: str, *args: Any) -> Any:
        await self.ensure_collection()
        async with self._gate.shared():
            return await asyncio.to_thread(getattr(self._live(), method), *args)

    def _live(self) -> Any:
        if self._shard is None:
            raise RuntimeError("the embedded vector store was closed")
        return self._shard

    async def _write(self, operations: Sequence[Any]) -> None:
        await self.ensure_collection()

        def run(shard: Any) -> None:
            for op in operations:
                shard.update(op)
            shard.flush()

        async with self._write_lock:
            async with self._gate.shared():
                shard = self._live()
                try:
                    await asyncio.to_thread(run, shard)
                except Exception as e:  # qdrant-edge raises plain Exception (disk full, I/O)
                    raise StoreUnavailable(
                        f"the embedded vector store at {self.path} failed a write: {e}"
                    ) from e
            if self._journal is not None:
                self._journal.extend(operations)

    async def upsert(self, points: Sequence[Point]) -> None:
        if not points:
            return
        ops = [
            qe.UpdateOperation.upsert_points([_edge_point(p) for p in batch])
            for batch in batched(points, UPSERT_BATCH)
        ]
        await self._write(ops)
        self._written += len(points)
        if self.auto_optimize and self._written >= self.optimize_min_points:
            self._written = 0
            if self._optimize_task is None or self._optimize_task.done():
                self._optimize_task = asyncio.create_task(self.optimize())

    async def delete_ids(self, ids: Sequence[str]) -> None:
        if ids:
            await self._write(
                [
                    qe.UpdateOperation.delete_points([canonical_id(i) for i in batch])
                    for batch in batched(ids, _ID_BATCH)
                ]
            )

    async def delete_crate(
        self, crate: str, *, version: str | None = None, keep_ids: Collection[str] = ()
    ) -> None:
        flt = build_filter(crate=crate, version=version, keep_ids=keep_ids)
        await self._write([qe.UpdateOperation.delete_points_by_filter(flt)])

    # Index building (see the module docstring)

    async def unindexed_points(self) -> int:
        """Points whose dense vector has no HNSW index yet (searched by brute force)."""
        has_sparse = qe.CountRequest(
            exact=True, filter=qe.Filter(must=[qe.HasVectorCondition(SPARSE)])
        )
        info = await self._read("info")
        with_sparse = int(await self._read("count", has_sparse))
        # indexed_vectors_count counts indexed dense vectors plus every sparse vector
        return max(0, int(info.points_count) - (int(info.indexed_vectors_count) - with_sparse))

    async def optimize(self, *, force: bool = False) -> None:
        """Build HNSW out of process if enough points lack it (or `force`); see module doc.

        A failed build is logged, not raised: search stays correct, only slower.
        """
        async with self._optimize_lock:
            if self._closed:
                return
            pending = await self.unindexed_points()
            if pending < self.optimize_min_points and not force:
                return
            started = time.perf_counter()
            work = self.path / f"{SHARD_DIR}.optimizing-{uuid.uuid4().hex[:12]}"
            try:
                async with self._write_lock:
                    async with self._gate.shared():
                        await asyncio.to_thread(self._copy_sync, work)
                    self._journal = []
                if not await self._run_child(work):
                    return
                async with self._write_lock, self._gate.exclusive():
                    journal, self._journal = self._journal or [], None
                    await asyncio.to_thread(self._swap_sync, work, journal)
            except Exception:
                log.exception("building the vector index failed; search stays correct but slower")
                return
            finally:
                self._journal = None
                if work.exists():
                    await asyncio.to_thread(shutil.rmtree, work, True)
            log.info(
                "vector index built for %d points in %.1f s", pending, time.perf_counter() - started
            )

    def _copy_sync(self, work: Path) -> None:
        self._live().flush()
        shutil.copytree(self.shard_path, work)

    async def _run_child(self, work: Path) -> bool:
        if self._closed:
            return False
        self._child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _OPTIMIZE_CHILD,
            str(work),
            str(os.getpid()),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,  # never onto our stdout (the MCP stdio channel)
            stderr=asyncio.subprocess.PIPE,
        )
        if self._closed:  # close() ran while the process started
            self._child.kill()
        try:
            _, stderr = await self._child.communicate()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                self._child.kill()
            await self._child.wait()
            raise
        finally:
            returncode, self._child = self._child.returncode, None
        if self._closed:
            return False
        if returncode != 0:
            tail = stderr.decode(errors="replace").strip()[-2000:]
            raise RuntimeError(f"the index build process exited with {returncode}: {tail}")
        return True

    def _swap_sync(self, work: Path, journal: list[Any]) -> None:
        """Replace the live shard by the optimized copy, replaying writes made meanwhile."""
        old = self._live()
        old.flush()
        old.close()
        self._shard = None
        backup = self.path / f"{SHARD_DIR}.old-{work.name.rsplit('-', 1)[-1]}"
        new: Any = None
        try:
            self.shard_path.rename(backup)
        except BaseException:
            self._shard = qe.EdgeShard.load(str(self.shard_path), self._config())
            raise
        try:
            work.rename(self.shard_path)
            new = qe.EdgeShard.load(str(self.shard_path), self._config())
            for op in journal:
                new.update(op)
            new.flush()
        except BaseException:
            log.exception("could not switch to the optimized vector index; keeping the old one")
            if new is not None:
                with contextlib.suppress(Exception):
                    new.close()
            shutil.rmtree(self.shard_path, ignore_errors=True)
            backup.rename(self.shard_path)
            self._shard = qe.EdgeShard.load(str(self.shard_path), self._config())
            raise
        self._shard = new
        shutil.rmtree(backup, ignore_errors=True)

    # Queries

    async def existing_ids(self, ids: Sequence[str]) -> set[str]:
        by_canonical = {canonical_id(i): i for i in ids}
        found: set[str] = set()
        for batch in batched(list(by_canonical), _ID_BATCH):
            records = await self._read("retrieve", list(batch), False, False)
            found.update(by_canonical[canonical_id(r.id)] for r in records)
        return found

    async def get_vectors(self, ids: Sequence[str]) -> dict[str, StoredVectors]:
        by_canonical = {canonical_id(i): i for i in ids}
        out: dict[str, StoredVectors] = {}
        for batch in batched(list(by_canonical), _ID_BATCH):
            records = await self._read("retrieve", list(batch), False, True)
            for r in records:
                stored = _stored_vectors(r.vector)
                if stored is not None:
                    out[by_canonical[canonical_id(r.id)]] = stored
        return out

    async def count(self, crate: str | None = None, version: str | None = None) -> int:
        request = qe.CountRequest(exact=True, filter=build_filter(crate=crate, version=version))
        return int(await self._read("count", request))

    async def _facet(self, key: str, flt: Any) -> dict[str, int]:
        request = qe.FacetRequest(key, limit=_FACET_LIMIT, exact=True, filter=flt)
        response = await self._read("facet", request)
        return {str(hit.value): int(hit.count) for hit in response.hits}

    async def counts_by_release(self) -> dict[tuple[str, str], int]:
        return counts_by_release_key(await self._facet(RELEASE, None))

    async def search(
        self,
        dense: Sequence[float] | None,
        sparse: SparseVector | None,
        *,
        flt: SearchFilter,
        limit: int,
        mode: SearchMode = "hybrid",
    ) -> list[Hit]:
        if (flt.releases is not None and not flt.releases) or limit <= 0:
            return []
        query_filter = build_filter(flt)
        sparse_q = _sparse_query(sparse)
        if mode == "hybrid" and dense is not None and sparse_q is not None:
            fetch = prefetch_limit(limit)
            request = qe.QueryRequest(
                limit=limit,
                prefetches=[
                    qe.Prefetch(
                        fetch, qe.Query.Nearest(list(dense), using=DENSE), filter=query_filter
                    ),
                    qe.Prefetch(
                        fetch, qe.Query.Nearest(sparse_q, using=SPARSE), filter=query_filter
                    ),
                ],
                query=cast(Any, qe.Fusion.Rrf(k=RRF_K)),  # the stub's union omits Rrf
                with_payload=True,
            )
        else:
            if mode in ("hybrid", "dense"):
                if dense is None:
                    raise ValueError(f"a {mode} search needs a dense query vector")
                query = qe.Query.Nearest(list(dense), using=DENSE)
            elif sparse_q is None:
                return []  # no query term is in the vocabulary: nothing can match
            else:
                query = qe.Query.Nearest(sparse_q, using=SPARSE)
            request = qe.QueryRequest(
                limit=limit, query=query, filter=query_filter, with_payload=True
            )
        points = await self._read("query", request)
        return [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in points]


def _edge_point(p: Point) -> Any:
    vector: dict[str, Any] = {DENSE: list(p.dense)}
    if p.sparse.indices:
        indices, values = sorted_sparse(p.sparse)
        vector[SPARSE] = qe.SparseVector(indices, values)
    return qe.Point(canonical_id(p.id), vector, stored_payload(p.payload))


def _sparse_query(sparse: SparseVector | None) -> Any:
    if sparse is None or not sparse.indices:
        return None
    indices, values = sorted_sparse(sparse)
    return qe.SparseVector(indices, values)


def _stored_vectors(vector: object) -> StoredVectors | None:
    if not isinstance(vector, dict) or DENSE not in vector:
        return None
    sparse = vector.get(SPARSE)
    return StoredVectors(
        dense=[float(x) for x in vector[DENSE]],
        sparse=(
            SparseVector(list(sparse.indices), [float(v) for v in sparse.values])
            if sparse is not None
            else SparseVector([], [])
        ),
    )
