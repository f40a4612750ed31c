"""Search latency of the vector stores on synthetic data.

Builds an embedded (Qdrant Edge) store in a temporary directory with N random points
(normalised 384-d dense vectors, a dozen random term weights each, spread over C crates),
times crate-filtered, release-set and global top-10 queries (dense and hybrid) before and
after the HNSW build, and while that build runs in its child process; then the same on
qdrant-client's local mode (brute force Python) with fewer points, for comparison.

    .venv/bin/python bench/search.py [--points 200000] [--crates 200] [--local-points 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
from qdrant_client import AsyncQdrantClient

from rustdocs_mcp.store import (
    CollectionSpec,
    Point,
    SearchFilter,
    SparseVector,
    VectorStore,
    collection_spec,
)
from rustdocs_mcp.store_edge import EdgeStore
from rustdocs_mcp.store_qdrant import QdrantServerStore

DIM = 384
VOCAB = 30_000
KINDS = ("fn", "struct", "enum", "trait", "method", "macro")
WRITE_CHUNK = 2_000


def make_points(rng: np.random.Generator, start: int, n: int, crates: int) -> list[Point]:
    dense = rng.standard_normal((n, DIM), dtype=np.float32)
    dense /= np.linalg.norm(dense, axis=1, keepdims=True)
    rows = dense.tolist()
    # Zipf-ish term ids: a few common terms, a long tail of rare ones
    terms = np.minimum(rng.zipf(1.3, size=(n, 12)), VOCAB) - 1
    tfs = rng.integers(1, 4, size=(n, 12))
    points = []
    for i in range(n):
        k = start + i
        weights = dict(zip(terms[i].tolist(), tfs[i].astype(float).tolist(), strict=True))
        crate = f"crate{k % crates}"
        points.append(
            Point(
                id=str(uuid.UUID(int=k + 1)),
                dense=rows[i],
                sparse=SparseVector(list(weights), list(weights.values())),
                payload={
                    "crate": crate,
                    "version": "1.0.0",
                    "kind": KINDS[k % len(KINDS)],
                    "path": f"{crate}::module{k % 37}::Item{k}",
                    "path_lc": f"{crate}::module{k % 37}::item{k}",
                },
            )
        )
    return points


def query_vectors(rng: np.random.Generator, n: int) -> list[tuple[list[float], SparseVector]]:
    out = []
    for _ in range(n):
        v = rng.standard_normal(DIM, dtype=np.float32)
        v /= np.linalg.norm(v)
        terms = sorted({int(t) for t in np.minimum(rng.zipf(1.3, size=4), VOCAB) - 1})
        out.append((v.tolist(), SparseVector(terms, [1.0] * len(terms))))
    return out


Case = tuple[str, Callable[[int], Awaitable[object]]]


def cases(
    store: VectorStore, queries: list[tuple[list[float], SparseVector]], crates: int
) -> list[Case]:
    def flt(kind: str, i: int) -> SearchFilter:
        if kind == "crate":
            return SearchFilter(releases=[(f"crate{i % crates}", "1.0.0")])
        if kind == "50 releases":
            return SearchFilter(releases=[(f"crate{(i + j) % crates}", "1.0.0") for j in range(50)])
        return SearchFilter()

    def case(kind: str, mode: str) -> Case:
        async def run(i: int) -> object:
            dense, sparse = queries[i % len(queries)]
            return await store.search(dense, sparse, flt=flt(kind, i), limit=10, mode=mode)  # type: ignore[arg-type]

        return f"{kind:11s} {mode}", run

    return [case(k, m) for k in ("crate", "50 releases", "global") for m in ("dense", "hybrid")]


async def measure(run: Callable[[int], Awaitable[object]], n: int) -> list[float]:
    await run(0)  # warm up
    times = []
    for i in range(n):
        t = time.perf_counter()
        await run(i)
        times.append((time.perf_counter() - t) * 1000)
    return times


def pct(times: list[float], p: float) -> float:
    s = sorted(times)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def row(label: str, times: list[float]) -> str:
    return (
        f"  {label:32s} p50 {pct(times, 50):8.2f} ms   p99 {pct(times, 99):8.2f} ms"
        f"   mean {statistics.fmean(times):8.2f} ms   (n={len(times)})"
    )


async def run_cases(title: str, store: VectorStore, crates: int, n: int, seed: int) -> None:
    print(title)
    queries = query_vectors(np.random.default_rng(seed), 64)
    for label, run in cases(store, queries, crates):
        print(row(label, await measure(run, n)), flush=True)


async def fill(store: VectorStore, points: int, crates: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    for start in range(0, points, WRITE_CHUNK):
        await store.upsert(make_points(rng, start, min(WRITE_CHUNK, points - start), crates))
    return time.perf_counter() - started


async def bench_edge(args: argparse.Namespace) -> None:
    spec = collection_spec("bench", DIM)
    with tempfile.TemporaryDirectory(prefix="rustdocs-bench-") as tmp:
        store = EdgeStore(Path(tmp) / spec.name, spec, auto_optimize=False)
        await store.ensure_collection()
        took = await fill(store, args.points, args.crates, seed=1)
        print(f"edge: wrote {args.points} points in {took:.1f} s (flushed every {WRITE_CHUNK})")
        await run_cases("edge, before the HNSW build:", store, args.crates, args.queries, 2)

        started = time.perf_counter()
        build = asyncio.create_task(store.optimize(force=True))
        during: list[float] = []
        queries = query_vectors(np.random.default_rng(3), 64)
        _, crate_dense = cases(store, queries, args.crates)[0]
        while not build.done():
            t = time.perf_counter()
            await crate_dense(len(during))
            during.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.05)
        await build
        print(f"edge: HNSW built out of process in {time.perf_counter() - started:.1f} s")
        print(row("crate dense, during the build", during))
        print(f"  unindexed points after: {await store.unindexed_points()}")
        await run_cases("edge, after the HNSW build:", store, args.crates, args.queries, 2)
        await store.close()
        started = time.perf_counter()
        reopened = EdgeStore(Path(tmp) / spec.name, spec, auto_optimize=False)
        await reopened.ensure_collection()
        print(f"edge: reopened in {time.perf_counter() - started:.2f} s")
        await reopened.close()


async def bench_local(args: argparse.Namespace) -> None:
    spec = CollectionSpec(name="bench", dimension=DIM)
    store = QdrantServerStore(AsyncQdrantClient(location=":memory:"), spec)
    await store.ensure_collection()
    took = await fill(store, args.local_points, args.crates, seed=1)
    print(f"qdrant-client local mode: wrote {args.local_points} points in {took:.1f} s")
    await run_cases(
        f"local mode ({args.local_points} points):",
        store,
        args.crates,
        args.local_queries,
        2,
    )
    await store.close()


def peak_rss() -> str:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return f"peak RSS: this process {own:.0f} MB, index build child {child:.0f} MB"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--crates", type=int, default=200)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--local-points", type=int, default=10_000, help="0 to skip")
    parser.add_argument("--local-queries", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    await bench_edge(args)
    print(peak_rss())
    if args.local_points:
        await bench_local(args)
        print(peak_rss())


if __name__ == "__main__":
    asyncio.run(main())
