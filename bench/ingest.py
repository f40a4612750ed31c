"""Ingestion benchmark: index crates from a local docs.rs imitation and report the figures.

    cd ../shared/docsrs-mirror && python docsrs_mirror.py --data data --port 8765 &
    .venv/bin/python bench/ingest.py --docsrs http://127.0.0.1:8765 serde:json serde:html bytes:json

Each case runs in its own process (so peak RSS is that case's), on real Postgres and Redis,
with the embedded vector store in a temporary directory and the local embedding model.
Prints requests made, items, chunks, wall time, chunks embedded per second, peak RSS.
`--rate` sets the shared docs.rs rate limit (docs.rs itself asks for 1 request/s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from rustdocs_mcp import jobs
from rustdocs_mcp.deps import open_deps
from rustdocs_mcp.docsrs import DocsRsClient, Release
from rustdocs_mcp.ingest import run_ingest
from rustdocs_mcp.settings import Settings


class HtmlOnly(DocsRsClient):
    """Pretend docs.rs has no rustdoc JSON, to measure the HTML path."""

    async def fetch_json(self, release: Release) -> dict[str, Any] | None:
        return None


def link_model_cache(data_dir: Path, cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    (data_dir / "models").symlink_to(cache.resolve())


async def one(crate: str, path: str, args: argparse.Namespace) -> dict[str, Any]:
    db = f"rustdocs_bench_{os.getpid()}"
    admin = args.pg.rsplit("/", 1)[0] + "/postgres"
    with tempfile.TemporaryDirectory() as data_dir:
        if args.model_cache:  # share the rebuilt model graph between cases, as an install does
            link_model_cache(Path(data_dir), Path(args.model_cache))
        settings = Settings(
            database_url=args.pg.rsplit("/", 1)[0] + f"/{db}",
            redis_url=args.redis,
            data_dir=Path(data_dir),
            docsrs_url=args.docsrs,
            docsrs_rate_limit=args.rate,
            queue_name=f"rustdocs-bench-{os.getpid()}",
        )
        try:
            async with open_deps(settings) as deps:
                if path == "html":
                    deps.docsrs.__class__ = HtmlOnly
                await deps.redis.delete("rustdocs:docsrs:bucket")
                job, _ = await jobs.create(deps.pool, crate_name=crate, operation="ingest")
                claimed = await jobs.claim(deps.pool, job.id, "bench")
                assert claimed is not None
                t0 = time.perf_counter()
                summary = await run_ingest(deps, claimed)
                wall = time.perf_counter() - t0
                done = await jobs.get(deps.pool, job.id)
                points = await deps.store.count(crate)
                return {
                    "crate": crate,
                    "path": path,
                    "version": done.version,
                    "requests": deps.docsrs.requests,
                    "items": done.documents,
                    "chunks": done.chunks,
                    "points": points,
                    "embedded": done.embeddings,
                    "wall_s": round(wall, 2),
                    "chunks_per_s": round(done.embeddings / wall, 1) if wall else 0.0,
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                    "summary": summary,
                }
        finally:
            conn = await asyncpg.connect(admin)
            await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "cases", nargs="*", default=["serde:json", "serde:html", "bytes:json", "bytes:html"]
    )
    ap.add_argument("--docsrs", default="http://127.0.0.1:8765")
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    ap.add_argument("--rate", type=float, default=1000.0, help="docs.rs requests per second")
    ap.add_argument(
        "--model-cache",
        default=str(Path(tempfile.gettempdir()) / "rustdocs-bench-models"),
        help="directory for the cached model graph ('' to rebuild it in every case)",
    )
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        crate, path = args.one.split(":")
        print(json.dumps(asyncio.run(one(crate, path, args))))
        return
    rows = []
    for case in args.cases:
        cmd = [
            sys.executable,
            __file__,
            "--one",
            case,
            "--docsrs",
            args.docsrs,
            "--pg",
            args.pg,
            "--redis",
            args.redis,
            "--rate",
            str(args.rate),
        ]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            print(f"{case}: failed\n{res.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    cols = [
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
    ]
    print(" | ".join(cols))
    print(" | ".join("---" for _ in cols))
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols))
    print(f"(docs.rs rate limit {args.rate}/s, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
