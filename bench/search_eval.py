"""Search quality on the test fixtures: Hit@1, Hit@5 and MRR per search mode and query type.

Indexes the fixture crates (itoa, anyhow, semver, bytes) served by the test suite's fake
docs.rs, on real Postgres (a throwaway database) and Redis, with the real local embedder,
then runs every query of tests/eval/queries.jsonl in each mode (dense, sparse, hybrid)
through `rustdocs_mcp.search.search` with limit 10 and prints the figures.

    .venv/bin/python bench/search_eval.py [--store edge|memory] [--show-misses]

A query scores at the rank of the first hit whose item path is one of its `expected` paths;
MRR is over the top 10 (0 when none of them is expected). Latency is wall time of one
`search()` call (Postgres + embedding + vector store), p50 over all queries of a mode.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from qdrant_client import AsyncQdrantClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fake_docsrs import FakeDocsRsServer  # noqa: E402

from rustdocs_mcp import jobs  # noqa: E402
from rustdocs_mcp.deps import Deps, open_deps  # noqa: E402
from rustdocs_mcp.embed import make_embedder  # noqa: E402
from rustdocs_mcp.ingest import run_ingest  # noqa: E402
from rustdocs_mcp.search import ItemHit, search  # noqa: E402
from rustdocs_mcp.settings import Settings  # noqa: E402
from rustdocs_mcp.store import SearchMode, VectorStore, collection_spec, open_store  # noqa: E402
from rustdocs_mcp.store_qdrant import QdrantServerStore  # noqa: E402

CRATES = ("itoa", "anyhow", "semver", "bytes")
MODES: tuple[SearchMode, ...] = ("dense", "sparse", "hybrid")
TYPES = ("natural", "identifier", "path")
LIMIT = 10


@dataclass(frozen=True)
class Query:
    query: str
    expected: tuple[str, ...]
    type: str


@dataclass
class Outcome:
    query: Query
    rank: int | None  # 1-based rank of the first expected hit in the top LIMIT
    seconds: float
    top: list[ItemHit] = field(default_factory=list)


def load_queries(path: Path) -> list[Query]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("type") not in TYPES or not row.get("expected"):
            raise SystemExit(f"{path}:{n}: needs a type in {TYPES} and a non-empty expected")
        out.append(Query(row["query"], tuple(row["expected"]), row["type"]))
    return out


@asynccontextmanager
async def indexed(args: argparse.Namespace) -> AsyncIterator[Deps]:
    """Deps with the fixture crates indexed; the database and temp dir are gone afterwards."""
    db = f"rustdocs_eval_{os.getpid()}"
    admin_url = args.pg.rsplit("/", 1)[0] + "/postgres"
    server = FakeDocsRsServer().start()
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            settings = Settings(
                database_url=args.pg.rsplit("/", 1)[0] + f"/{db}",
                redis_url=args.redis,
                data_dir=Path(data_dir),
                docsrs_url=server.url,
                docsrs_rate_limit=1000,
                queue_name=f"rustdocs-eval-{os.getpid()}",
            )
            async with AsyncExitStack() as stack:
                embedder = make_embedder(settings)
                stack.push_async_callback(embedder.aclose)
                spec = collection_spec(embedder.model_name, embedder.dimension)
                store: VectorStore
                if args.store == "edge":
                    store = await open_store(settings, spec)
                else:
                    store = QdrantServerStore(AsyncQdrantClient(location=":memory:"), spec)
                stack.push_async_callback(store.close)
                deps = await stack.enter_async_context(
                    open_deps(settings, embedder=embedder, store=store)
                )
                await deps.redis.delete("rustdocs:docsrs:bucket")
                for crate in args.crates:
                    t0 = time.perf_counter()
                    job, _ = await jobs.create(deps.pool, crate_name=crate, operation="ingest")
                    claimed = await jobs.claim(deps.pool, job.id, "eval")
                    assert claimed is not None
                    summary = await run_ingest(deps, claimed)
                    await jobs.complete(deps.pool, job.id)
                    print(f"{summary} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
                yield deps
    finally:
        server.stop()
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        finally:
            await conn.close()


async def check_expected(deps: Deps, queries: list[Query]) -> None:
    """Warn about expected paths that are not indexed: typos in the set, or lost items."""
    paths = {r["path"] for r in await deps.pool.fetch("SELECT path FROM documents")}
    for q in queries:
        missing = [p for p in q.expected if p not in paths]
        if missing:
            print(f"warning: {q.query!r} expects unindexed {missing}", file=sys.stderr)


async def run(deps: Deps, queries: list[Query], mode: SearchMode) -> list[Outcome]:
    await search(deps.pool, deps.store, deps.embedder, "warm up", limit=LIMIT, mode=mode)
    out = []
    for q in queries:
        t0 = time.perf_counter()
        hits = await search(deps.pool, deps.store, deps.embedder, q.query, limit=LIMIT, mode=mode)
        seconds = time.perf_counter() - t0
        rank = next((i for i, h in enumerate(hits, 1) if h.path in q.expected), None)
        out.append(Outcome(q, rank, seconds, hits))
    return out


def scores(outcomes: list[Outcome]) -> tuple[float, float, float]:
    n = len(outcomes) or 1
    hit1 = sum(o.rank == 1 for o in outcomes) / n
    hit5 = sum(o.rank is not None and o.rank <= 5 for o in outcomes) / n
    mrr = sum(1 / o.rank for o in outcomes if o.rank is not None) / n
    return hit1, hit5, mrr


def table(results: dict[str, list[Outcome]]) -> str:
    cols = ["mode", "queries", "n", "Hit@1", "Hit@5", "MRR@10", "p50 ms"]
    lines = [" | ".join(cols), " | ".join("---" for _ in cols)]
    for mode, outcomes in results.items():
        p50 = statistics.median(o.seconds for o in outcomes) * 1000
        groups: list[tuple[str, list[Outcome]]] = [("all", outcomes)]
        groups += [(t, [o for o in outcomes if o.query.type == t]) for t in TYPES]
        for name, group in groups:
            if not group:
                continue
            h1, h5, mrr = scores(group)
            lat = f"{p50:.1f}" if name == "all" else ""
            row = [mode, name, str(len(group)), f"{h1:.3f}", f"{h5:.3f}", f"{mrr:.3f}", lat]
            lines.append(" | ".join(row))
    return "\n".join(lines)


def misses(results: dict[str, list[Outcome]]) -> str:
    """Hybrid queries whose expected item is not in the top 5, with the other modes' ranks."""
    lines = []
    for i, o in enumerate(results["hybrid"]):
        if o.rank is not None and o.rank <= 5:
            continue
        others = ", ".join(f"{m} {results[m][i].rank or '-'}" for m in results if m != "hybrid")
        rank = f"rank {o.rank}" if o.rank else "not in top 10"
        lines.append(f"[{o.query.type}] {o.query.query!r}: {rank} ({others})")
        lines.append(f"    expected {list(o.query.expected)}")
        for i, h in enumerate(o.top[:3], 1):
            lines.append(f"    {i}. {h.path} ({h.kind}) {h.score}")
    return "\n".join(lines) if lines else "(none)"


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    queries = load_queries(args.queries)
    async with indexed(args) as deps:
        await check_expected(deps, queries)
        results = {mode: await run(deps, queries, mode) for mode in args.modes}
    print()
    print(table(results))
    counts = {t: sum(q.type == t for q in queries) for t in TYPES}
    print(
        f"({len(queries)} queries: {counts}; store {args.store}; limit {LIMIT};"
        f" {os.cpu_count()} cores)"
    )
    if args.show_misses and "hybrid" in results:
        print("\nhybrid: expected item not in the top 5")
        print(misses(results))
    return {
        m: dict(zip(("hit1", "hit5", "mrr"), scores(o), strict=True)) for m, o in results.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", choices=("edge", "memory"), default="edge")
    ap.add_argument("--queries", type=Path, default=ROOT / "tests" / "eval" / "queries.jsonl")
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    ap.add_argument("--crates", nargs="+", default=list(CRATES))
    ap.add_argument("--show-misses", action="store_true", help="hybrid queries missing the top 5")
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
