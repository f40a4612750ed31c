"""Re-embedding benchmark: what share of a crate's chunks a re-index embeds again.

    .venv/bin/python bench/reembed.py [--paths json,html] [--mirror-data DIR] [--std]

Each sequence runs on a fresh database and vector store, with the local model; its steps:
the first release (everything embedded), a forced re-index of that same release (expected:
nothing embedded), then the next release (only chunks whose text changed are embedded).
- itoa 1.0.1, 1.0.1, 1.0.2 from tests/fixtures/docsrs (1.0.2 is 1.0.1 with one doc
  paragraph changed, see tests/fixtures/make_itoa_102.py), served by the test suite's
  tests/fake_docsrs.py, on the JSON and the HTML path;
- every crate with two or more versions in the shared docs.rs imitation's corpus
  (`--mirror-data`), served by its docsrs_mirror.py;
- `--std` (slow: ~30 min on 2 cores): the standard library's real rustdoc HTML of two
  installed toolchains (stable 1.95.0 and nightly 1.97.0 here, ~2,500 pages each), laid
  out by large_crate.py's `prepare` and served by docsrs_mirror.py, on the HTML path.

Embeddings are counted twice: by a wrapper around the embedder (texts actually sent to the
model) and by the job's own counters; the two must agree. Fraction = computed / chunks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ingest
from large_crate import MIRROR, load_mirror, prepare, toolchain_html_roots

from rustdocs_mcp.deps import Deps
from rustdocs_mcp.embed import Embedder

REPO = Path(__file__).resolve().parent.parent
MIRROR_DATA = MIRROR.parent / "data"


class CountingEmbedder:
    """Passes everything to `inner`, counting the texts it embeds."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.texts = 0
        self.calls = 0

    @property
    def model_name(self) -> str:
        return self.inner.model_name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts += len(texts)
        self.calls += 1
        return await self.inner.embed(texts)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _run(
    deps: Deps, counter: CountingEmbedder, crate: str, version: str, path: str, force: bool
) -> dict[str, Any]:
    before = counter.texts
    row = await ingest.ingest_once(deps, crate, path=path, version=version, force=force)
    row["computed"] = counter.texts - before
    if row["computed"] != row["embedded"]:
        raise SystemExit(f"embedder saw {row['computed']} texts, job says {row['embedded']}")
    row["fraction"] = round(row["computed"] / row["chunks"], 4) if row["chunks"] else 0.0
    return row


async def sequence(
    docsrs: str, crate: str, versions: list[str], path: str, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Index `crate` at each of `versions` in turn, on one fresh database and store
    (forced, so a same-version step re-indexes)."""
    async with ingest.bench_deps(
        docsrs=docsrs, pg=args.pg, redis=args.redis, model_cache=args.model_cache
    ) as deps:
        counter = CountingEmbedder(deps.embedder)
        deps.embedder = counter
        rows = []
        previous: str | None = None
        for version in versions:
            row = await _run(deps, counter, crate, version, path, force=True)
            row["step"] = (
                "first index"
                if previous is None
                else "same version"
                if version == previous
                else f"{previous} -> {version}"
            )
            previous = version
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
        return rows


def multi_version_crates(data: Path) -> dict[str, list[str]]:
    """Crates with two or more versions in a docs.rs imitation's index.json, oldest first."""
    index = json.loads((data / "index.json").read_text())["crates"]

    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split("-")[0].split("+")[0].split(".")[:3])

    return {
        name: sorted(c["versions"], key=key) for name, c in index.items() if len(c["versions"]) >= 2
    }


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    sys.path.insert(0, str(REPO / "tests"))
    from fake_docsrs import FakeDocsRsServer  # the test suite's docs.rs imitation

    fake = FakeDocsRsServer().start()
    try:
        for path in args.paths:
            rows += await sequence(fake.url, "itoa", ["1.0.1", "1.0.1", "1.0.2"], path, args)
    finally:
        fake.stop()

    if args.mirror_data and (args.mirror_data / "index.json").is_file():
        crates = multi_version_crates(args.mirror_data)
        if not crates:
            print(f"no crate has two versions in {args.mirror_data}", file=sys.stderr)
        else:
            server = load_mirror(args.mirror).MirrorServer(str(args.mirror_data), port=0).start()
            try:
                for crate, versions in crates.items():
                    steps = [versions[0], versions[0], *versions[1:]]
                    for path in args.paths:
                        rows += await sequence(server.url, crate, steps, path, args)
            finally:
                server.stop()

    if args.std:
        roots = toolchain_html_roots()
        pages = prepare(roots, "std", args.std_data)
        if len(pages) < 2:
            print("--std needs two toolchains with rust-docs installed", file=sys.stderr)
            return rows
        old, new = sorted(pages, key=lambda v: tuple(int(p) for p in v.split(".")))[-2:]
        print(f"std: {pages} HTML pages", file=sys.stderr, flush=True)
        server = load_mirror(args.mirror).MirrorServer(str(args.std_data), port=0).start()
        try:
            rows += await sequence(server.url, "std", [old, old, new], "html", args)
        finally:
            server.stop()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--paths", default="json,html", help="json, html or both")
    ap.add_argument("--mirror", type=Path, default=MIRROR, help="path of docsrs_mirror.py")
    ap.add_argument(
        "--mirror-data",
        type=Path,
        default=MIRROR_DATA,
        help="the shared imitation's corpus ('' to skip)",
    )
    ap.add_argument("--std", action="store_true", help="also std of two toolchains (slow)")
    ap.add_argument(
        "--std-data",
        type=Path,
        default=Path(tempfile.gettempdir()) / "rustdocs-bench-std-versions",
        help="where the imitation's data dir for --std is prepared",
    )
    ap.add_argument("--pg", default=ingest.PG)
    ap.add_argument("--redis", default=ingest.REDIS)
    ap.add_argument("--model-cache", default=ingest.MODEL_CACHE)
    args = ap.parse_args()
    args.paths = [p for p in args.paths.split(",") if p]
    if args.mirror_data == Path(""):
        args.mirror_data = None
    started = time.perf_counter()
    rows = asyncio.run(main_async(args))
    cols = ["crate", "path", "step", "version", "pages", "items", "chunks", "computed"]
    cols += ["reused", "fraction", "wall_s"]
    ingest.print_table(rows, cols)
    print(f"({time.perf_counter() - started:.0f} s in all, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
