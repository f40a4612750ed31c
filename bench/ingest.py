"""Ingestion benchmark: index crates from a local docs.rs imitation and report the figures.

    cd ../shared/docsrs-mirror && python docsrs_mirror.py --data data --port 8765 &
    .venv/bin/python bench/ingest.py --docsrs http://127.0.0.1:8765 serde:json serde:html bytes:json

Each case runs in its own process (so peak RSS is that case's), on real Postgres and Redis,
with the embedded vector store in a temporary directory and the local embedding model.
Prints requests made, items, chunks, wall time, chunks embedded per second, peak RSS (the
case process's own high-water mark, and the sampled peak of it plus its children, such as
the vector index build).
`--rate` sets the shared docs.rs rate limit (docs.rs itself asks for 1 request/s).

The pieces are importable: `bench_deps` (a throwaway database and data dir), `ingest_once`
(one job, its counts), `run_case` (a case in a fresh process, RSS sampled) and `print_table`
are used by `large_crate.py` and `reembed.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import IO, Any

import asyncpg
import psutil

from rustdocs_mcp import jobs
from rustdocs_mcp.deps import Deps, open_deps
from rustdocs_mcp.docsrs import DocsRsClient, Release
from rustdocs_mcp.embed import Embedder
from rustdocs_mcp.ingest import run_ingest
from rustdocs_mcp.settings import Settings

PG = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/14"
MODEL_CACHE = str(Path(tempfile.gettempdir()) / "rustdocs-bench-models")

COLUMNS = [
    "crate",
    "path",
    "version",
    "requests",
    "items",
    "chunks",
    "points",
    "embedded",
    "wall_s",
    "chunks_per_s",
    "peak_rss_mb",
    "peak_tree_rss_mb",
]


class HtmlOnly(DocsRsClient):
    """Pretend docs.rs has no rustdoc JSON, to measure the HTML path."""

    async def fetch_json(self, release: Release) -> dict[str, Any] | None:
        return None


def link_model_cache(data_dir: Path, cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    (data_dir / "models").symlink_to(cache.resolve())


def peak_rss_mb() -> int:
    """This process's RSS high-water mark, MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


@contextlib.asynccontextmanager
async def bench_deps(
    *,
    docsrs: str,
    pg: str = PG,
    redis: str = REDIS,
    rate: float = 1000.0,
    model_cache: str = MODEL_CACHE,
    embedder: Embedder | None = None,
) -> AsyncIterator[Deps]:
    """Deps on a fresh database and data dir, both dropped on exit."""
    db = f"rustdocs_bench_{os.getpid()}"
    admin = pg.rsplit("/", 1)[0] + "/postgres"
    with tempfile.TemporaryDirectory() as data_dir:
        if model_cache:  # share the rebuilt model graph between cases, as an install does
            link_model_cache(Path(data_dir), Path(model_cache))
        settings = Settings(
            database_url=pg.rsplit("/", 1)[0] + f"/{db}",
            redis_url=redis,
            data_dir=Path(data_dir),
            docsrs_url=docsrs,
            docsrs_rate_limit=rate,
            queue_name=f"rustdocs-bench-{os.getpid()}",
        )
        try:
            async with open_deps(settings, embedder=embedder) as deps:
                await deps.redis.delete("rustdocs:docsrs:bucket")
                yield deps
        finally:
            conn = await asyncpg.connect(admin)
            await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            await conn.close()


async def _log_progress(deps: Deps, job_id: Any, every: float) -> None:
    started = time.perf_counter()
    while True:
        await asyncio.sleep(every)
        j = await jobs.get(deps.pool, job_id)
        print(
            f"[{time.perf_counter() - started:7.1f}s] {j.stage} {j.progress}%"
            f" pages={j.pages_fetched} items={j.documents} chunks={j.chunks}"
            f" embedded={j.embeddings} reused={j.embeddings_reused}"
            f" rss={round(psutil.Process().memory_info().rss / 2**20)}MB peak={peak_rss_mb()}MB",
            file=sys.stderr,
            flush=True,
        )


async def ingest_once(
    deps: Deps,
    crate: str,
    *,
    path: str = "json",
    version: str = "latest",
    force: bool = False,
    progress_every: float = 0.0,
) -> dict[str, Any]:
    """Run one ingest job in this process; its counts, wall time and the docs.rs requests."""
    deps.docsrs.__class__ = HtmlOnly if path == "html" else DocsRsClient
    requests_before = deps.docsrs.requests
    job, _ = await jobs.create(
        deps.pool, crate_name=crate, operation="ingest", requested_version=version, force=force
    )
    claimed = await jobs.claim(deps.pool, job.id, "bench")
    assert claimed is not None
    logger = (
        asyncio.create_task(_log_progress(deps, job.id, progress_every)) if progress_every else None
    )
    t0 = time.perf_counter()
    try:
        summary = await run_ingest(deps, claimed)
    finally:
        if logger is not None:
            logger.cancel()
    wall = time.perf_counter() - t0
    await jobs.complete(deps.pool, job.id)
    done = await jobs.get(deps.pool, job.id)
    return {
        "crate": crate,
        "path": path,
        "version": done.version,
        "requests": deps.docsrs.requests - requests_before,
        "pages": done.pages_fetched,
        "items": done.documents,
        "chunks": done.chunks,
        "points": await deps.store.count(crate),
        "embedded": done.embeddings,
        "reused": done.embeddings_reused,
        "wall_s": round(wall, 2),
        "chunks_per_s": round(done.embeddings / wall, 1) if wall else 0.0,
        "summary": summary,
    }


async def one(crate: str, path: str, args: argparse.Namespace) -> dict[str, Any]:
    async with bench_deps(
        docsrs=args.docsrs,
        pg=args.pg,
        redis=args.redis,
        rate=args.rate,
        model_cache=args.model_cache,
    ) as deps:
        row = await ingest_once(deps, crate, path=path, progress_every=args.progress)
    row["peak_rss_mb"] = peak_rss_mb()
    return row


def _rss(procs: Sequence[psutil.Process]) -> int:
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def run_case(
    case: str,
    *,
    docsrs: str,
    pg: str = PG,
    redis: str = REDIS,
    rate: float = 1000.0,
    model_cache: str = MODEL_CACHE,
    progress_every: float = 0.0,
    sample_every: float = 0.1,
    stderr: IO[str] | None = None,
) -> dict[str, Any] | None:
    """Run `crate:path` in a fresh process; its row, with the sampled peak RSS of the process
    and its children together (`peak_tree_rss_mb`) and of the children alone
    (`peak_children_rss_mb`). None (stderr shown) if the case failed.

    `stderr`: where the case's log goes (default: kept and shown on failure only).
    """
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--one",
        case,
        "--docsrs",
        docsrs,
        "--pg",
        pg,
        "--redis",
        redis,
        "--rate",
        str(rate),
        "--model-cache",
        model_cache,
        "--progress",
        str(progress_every),
    ]
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr or err, text=True)
        peak = peak_children = 0
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak, peak_children
            ps = psutil.Process(proc.pid)
            while not stop.is_set():
                with contextlib.suppress(psutil.Error):
                    children = _rss(ps.children(recursive=True))
                    peak = max(peak, _rss([ps]) + children)
                    peak_children = max(peak_children, children)
                stop.wait(sample_every)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, _ = proc.communicate()
        stop.set()
        sampler.join()
        if proc.returncode != 0:
            err.seek(0)
            print(f"{case}: failed\n{err.read()[-3000:]}", file=sys.stderr)
            return None
    row: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    row["peak_tree_rss_mb"] = round(peak / 2**20)
    row["peak_children_rss_mb"] = round(peak_children / 2**20)
    return row


def print_table(rows: Sequence[dict[str, Any]], cols: Sequence[str]) -> None:
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "cases", nargs="*", default=["serde:json", "serde:html", "bytes:json", "bytes:html"]
    )
    ap.add_argument("--docsrs", default="http://127.0.0.1:8765")
    ap.add_argument("--pg", default=PG)
    ap.add_argument("--redis", default=REDIS)
    ap.add_argument("--rate", type=float, default=1000.0, help="docs.rs requests per second")
    ap.add_argument(
        "--model-cache",
        default=MODEL_CACHE,
        help="directory for the cached model graph ('' to rebuild it in every case)",
    )
    ap.add_argument(
        "--progress", type=float, default=0.0, help="log job progress every N s (stderr)"
    )
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        crate, path = args.one.split(":")
        print(json.dumps(asyncio.run(one(crate, path, args))))
        return
    rows = []
    for case in args.cases:
        row = run_case(
            case,
            docsrs=args.docsrs,
            pg=args.pg,
            redis=args.redis,
            rate=args.rate,
            model_cache=args.model_cache,
            progress_every=args.progress,
        )
        if row is not None:
            rows.append(row)
    print_table(rows, COLUMNS)
    print(f"(docs.rs rate limit {args.rate}/s, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
