"""Search latency over MCP: search_rust_docs p50/p99 with ~200k chunks in the embedded store.

Builds (once; cached under --data-dir with its Postgres database) an index of the real
fixture crates (itoa, anyhow, semver, bytes from tests/fixtures/docsrs, served by the test
suite's fake docs.rs, embedded by the real local model) plus ~200 synthetic crates in the
same collection, up to --points chunks in all, and builds HNSW over it. Then starts the real
server as a stdio subprocess (`python -m rustdocs_mcp serve`, embedded store and worker, as
an MCP client launches it), connects with the MCP SDK client and times `search_rust_docs`
calls client-side: crate-filtered (the crate of the query's expected item) and global, the
two interleaved, with the queries of tests/eval/queries.jsonl. Finally (after the server has
exited) the same searches run in-process through `ops.search_docs` with timers around the
embedder, the vector store and Postgres, for the server-side split.

    .venv/bin/python bench/search_mcp.py [--points 200000] [--calls 300] [--rebuild]

Synthetic crates are made from the fixture items: each synthetic item copies a real item
(kind, module path, member names, docs, signature) with the crate and type names replaced
by generated ones, goes through the real chunker, gets its lexical vector from the real
`sparse.encode_document` and its payload from `ingest._point`; its dense vector is the
template chunk's real vector plus a share of another real vector plus noise (cosine ~0.8 to
the template), so the dense space has the clumps of real docs without exact duplicates.
Postgres gets the same crates, documents and chunks rows a real ingest writes
(`ingest.commit`), so exact path lookups scan realistic tables.

`--clean` drops the cached database and data dir and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import re
import shutil
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fake_docsrs import FakeDocsRsServer  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402

from rustdocs_mcp import jobs, ops  # noqa: E402
from rustdocs_mcp.chunk import chunk  # noqa: E402
from rustdocs_mcp.deps import open_deps  # noqa: E402
from rustdocs_mcp.docsrs import Release  # noqa: E402
from rustdocs_mcp.embed import Embedder, make_embedder  # noqa: E402
from rustdocs_mcp.ingest import ChunkRef, Indexed, _point, commit, run_ingest  # noqa: E402
from rustdocs_mcp.models import Chunk, DocItem  # noqa: E402
from rustdocs_mcp.settings import Settings  # noqa: E402
from rustdocs_mcp.store import Point, SparseVector, StoredVectors, collection_spec  # noqa: E402
from rustdocs_mcp.store_edge import EdgeStore  # noqa: E402

FIXTURE_CRATES = ("itoa", "anyhow", "semver", "bytes")
DEFAULT_DATA_DIR = Path("/tmp/rustdocs-bench-search-mcp")
DEFAULT_DB = "rustdocs_bench_search_mcp"
MARKER = "bench-search-mcp.json"
BUILD_FORMAT = 1  # bump when the synthetic data changes shape
DOCS_BASE = "https://docs.rs"
NOISE = 0.04  # per-dimension noise added to the (unit) template vector; cos ~0.8 at 384-d
MIX = 0.3  # share of a second, random real vector

log = logging.getLogger("bench.search_mcp")


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- settings
def db_url(pg: str, db: str) -> str:
    return pg.rsplit("/", 1)[0] + f"/{db}"


def bench_settings(args: argparse.Namespace, **extra: Any) -> Settings:
    return Settings(
        database_url=db_url(args.pg, args.db),
        redis_url=args.redis,
        data_dir=args.data_dir,
        queue_name=f"rustdocs-bench-search-mcp-{os.getpid()}",
        log_level="WARNING",
        **extra,
    )


async def admin_exec(pg: str, sql: str) -> Any:
    conn = await asyncpg.connect(db_url(pg, "postgres"))
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def read_marker(data_dir: Path) -> dict[str, Any] | None:
    try:
        marker: dict[str, Any] = json.loads((data_dir / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker


def wipe_data_dir(data_dir: Path, *, keep_models: bool = False) -> None:
    """Empty a data dir this bench made, or refuse to touch it; `keep_models`: the model cache."""
    if not data_dir.exists():
        return
    # A build interrupted before its marker leaves only what we create: allow that.
    ours = {"qdrant-edge", "models", MARKER}
    if read_marker(data_dir) is None and {p.name for p in data_dir.iterdir()} - ours:
        raise SystemExit(f"{data_dir} is not empty and not a search_mcp data dir; refusing")
    for entry in data_dir.iterdir():
        if entry.is_dir() and not (keep_models and entry.name == "models"):
            shutil.rmtree(entry)
        elif entry.is_file():
            entry.unlink()


# --------------------------------------------------------------------------- synthetic data
@dataclass
class Template:
    item: DocItem
    vectors: list[np.ndarray]  # the real chunk vectors, by chunk index


_WORD = re.compile(r"\b[a-z]{3,10}\b")


def vocabulary(templates: Sequence[Template]) -> list[str]:
    words: dict[str, int] = defaultdict(int)
    for t in templates:
        for w in _WORD.findall(t.item.docs):
            words[w] += 1
    return [w for w, n in sorted(words.items(), key=lambda kv: -kv[1]) if n >= 2][:3000]


class Namer:
    """Fresh, plausible identifiers built from words of the fixture docs."""

    def __init__(self, rng: random.Random, words: list[str]):
        self.rng, self.words = rng, words

    def camel(self) -> str:
        n = self.rng.choice((1, 2, 2, 3))
        return "".join(self.rng.choice(self.words).capitalize() for _ in range(n))

    def snake(self) -> str:
        n = self.rng.choice((1, 2, 2, 3))
        return "_".join(self.rng.choice(self.words) for _ in range(n))

    def like(self, name: str) -> str:
        return self.camel() if name[:1].isupper() else self.snake()


@dataclass
class SynthCrate:
    name: str
    version: str
    items: dict[str, DocItem] = field(default_factory=dict)  # url → item
    chunks: dict[str, list[Chunk]] = field(default_factory=dict)
    bases: list[np.ndarray] = field(default_factory=list)  # one template vector per chunk
    paths: set[str] = field(default_factory=set)
    renames: dict[str, str] = field(default_factory=dict)  # template type name → ours
    modules: dict[str, str] = field(default_factory=dict)  # template module name → ours

    @property
    def ident(self) -> str:
        return self.name.replace("-", "_")

    @property
    def n_chunks(self) -> int:
        return len(self.bases)


def synth_item(crate: SynthCrate, t: Template, namer: Namer) -> DocItem:
    src = t.item
    segs = src.path.split("::")
    new = [crate.ident]
    for i, seg in enumerate(segs[1:], 1):
        # Types, traits and modules are renamed consistently within the crate; member
        # names (new, len, as_ref, ...) are kept, as many crates share them.
        if seg[:1].isupper():
            seg = crate.renames.setdefault(seg, namer.camel())
        elif i < len(segs) - 1:
            seg = crate.modules.setdefault(seg, namer.snake())
        new.append(seg)

    def url_of(parts: list[str]) -> str:
        root = f"{DOCS_BASE}/{crate.name}/{crate.version}/{crate.ident}/"
        tail = "".join(f"{p}/" for p in parts[1:-1])
        return f"{root}{tail}{src.kind}.{parts[-1]}.html"

    while "::".join(new) in crate.paths or url_of(new) in crate.items:
        if len(new) == 1:
            new.append(namer.snake())
        else:
            new[-1] = namer.like(new[-1])
    path = "::".join(new)
    crate.paths.add(path)

    def rename(text: str) -> str:
        if len(segs) > 1 and len(new) == len(segs) and segs[-1] != new[-1]:
            text = re.sub(rf"\b{re.escape(segs[-1])}\b", new[-1], text)
        text = re.sub(rf"\b{re.escape(src.crate)}\b", crate.ident, text)
        for old, ours in crate.renames.items():
            if old in text:
                text = re.sub(rf"\b{re.escape(old)}\b", ours, text)
        return text

    return DocItem(
        crate=crate.name,
        version=crate.version,
        path=path,
        kind=src.kind,
        signature=rename(src.signature),
        docs=rename(src.docs),
        url=url_of(new),
        deprecated=src.deprecated,
        features=src.features,
        parent="::".join(new[:-1]) if src.parent else None,
        impl_of=rename(src.impl_of) if src.impl_of else None,
    )


def crate_sizes(rng: np.random.Generator, total: int, crates: int) -> list[int]:
    """Chunks per crate: log-normal (a few big crates, many small ones), summing to total."""
    raw = rng.lognormal(0.0, 1.0, crates)
    sizes = np.maximum(20, np.round(raw / raw.sum() * total)).astype(int)
    return [int(s) for s in sizes]


def crate_names(rng: random.Random, words: list[str], n: int) -> list[str]:
    names: set[str] = set()
    while len(names) < n:
        name = f"{rng.choice(words)}-{rng.choice(words)}"
        if name not in FIXTURE_CRATES:
            names.add(name)
    return sorted(names)


def dense_for(bases: list[np.ndarray], pool: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    base = np.stack(bases)
    other = pool[rng.integers(0, len(pool), len(bases))]
    v = base + MIX * other + rng.standard_normal(base.shape).astype(np.float32) * NOISE
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v.astype(np.float32)


async def load_templates(pool: asyncpg.Pool, store: EdgeStore) -> list[Template]:
    docs = await pool.fetch(
        "SELECT id, crate_name, version, url, path, kind, signature, docs, deprecated,"
        " features, parent, impl_of FROM documents"
    )
    rows = await pool.fetch("SELECT point_id::text AS pid, document_id, idx FROM chunks")
    vectors = await store.get_vectors([r["pid"] for r in rows])
    by_doc: dict[int, dict[int, np.ndarray]] = defaultdict(dict)
    for r in rows:
        vec = vectors.get(r["pid"])
        if vec is not None:
            by_doc[r["document_id"]][r["idx"]] = np.asarray(vec.dense, dtype=np.float32)
    out = []
    for d in docs:
        chunks = by_doc.get(d["id"], {})
        item = DocItem(
            crate=d["crate_name"],
            version=d["version"],
            path=d["path"],
            kind=d["kind"],
            signature=d["signature"],
            docs=d["docs"],
            url=d["url"],
            deprecated=d["deprecated"],
            features=tuple(d["features"]),
            parent=d["parent"],
            impl_of=d["impl_of"],
        )
        if item.impl_of is None and not chunks:
            continue  # embedded kinds without stored vectors: nothing to copy from
        out.append(Template(item, [chunks[i] for i in sorted(chunks)]))
    return out


async def add_synthetic(
    pool: asyncpg.Pool,
    store: EdgeStore,
    embedder: Embedder,
    target: int,
    n_crates: int,
    seed: int,
) -> tuple[int, int]:
    """Synthetic crates with `target` chunks in all; returns (chunks, documents) written."""
    templates = await load_templates(pool, store)
    real = np.stack([v for t in templates for v in t.vectors])
    words = vocabulary(templates)
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    namer = Namer(rng, words)
    max_tokens = min(embedder.max_tokens, 512)
    say(f"templates: {len(templates)} items ({len(real)} real vectors), {len(words)} words")
    written_chunks = written_docs = 0
    started = time.perf_counter()
    names = crate_names(rng, words, n_crates)
    for n, (name, size) in enumerate(zip(names, crate_sizes(nrng, target, n_crates), strict=True)):
        crate = SynthCrate(name, f"{rng.choice((0, 1))}.{rng.randint(0, 30)}.{rng.randint(0, 9)}")
        while crate.n_chunks < size:
            t = rng.choice(templates)
            item = synth_item(crate, t, namer)
            parts = (
                []
                if item.impl_of
                else chunk(item, max_tokens=max_tokens, count=embedder.count_tokens)
            )
            crate.items[item.url] = item
            crate.chunks[item.url] = parts
            for c in parts:
                crate.bases.append(t.vectors[min(c.index, len(t.vectors) - 1)])
        dense = dense_for(crate.bases, real, nrng)
        flat = [c for parts in crate.chunks.values() for c in parts]
        points: list[Point] = [
            _point(c, StoredVectors(dense[i].tolist(), SparseVector([], [])))
            for i, c in enumerate(flat)
        ]
        await store.upsert(points)
        refs = {url: [ChunkRef.of(c) for c in parts] for url, parts in crate.chunks.items()}
        idx = Indexed(items=crate.items, chunks=refs, point_ids={c.id for c in flat})
        release = Release(
            crate=crate.name,
            version=crate.version,
            target_name=crate.ident,
            root_url=f"{DOCS_BASE}/{crate.name}/{crate.version}/{crate.ident}/",
            root_html="",
        )
        async with pool.acquire() as conn, conn.transaction():
            await commit(
                conn,
                release,
                idx,
                source="json",
                description=f"synthetic crate {n} for bench/search_mcp.py",
                requested="latest",
                model=embedder.model_name,
            )
        written_chunks += len(flat)
        written_docs += len(crate.items)
        if (n + 1) % 10 == 0 or n + 1 == n_crates:
            rate = written_chunks / (time.perf_counter() - started)
            say(
                f"synthetic crates {n + 1}/{n_crates}: {written_chunks} chunks,"
                f" {written_docs} documents ({rate:.0f} chunks/s)"
            )
    return written_chunks, written_docs


# --------------------------------------------------------------------------- build
async def build(args: argparse.Namespace) -> dict[str, Any]:
    say(f"building into {args.data_dir} and database {args.db} (this takes a while)")
    await admin_exec(args.pg, f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
    wipe_data_dir(args.data_dir, keep_models=True)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    server = FakeDocsRsServer().start()
    try:
        settings = bench_settings(args, docsrs_url=server.url, docsrs_rate_limit=1000)
        embedder = make_embedder(settings)
        spec_model, spec_dim = embedder.model_name, embedder.dimension
        spec = collection_spec(spec_model, spec_dim)
        # auto_optimize off: one HNSW build at the end instead of one per 10k points written
        store = EdgeStore(settings.data_dir / "qdrant-edge" / spec.name, spec, auto_optimize=False)
        try:
            async with open_deps(settings, embedder=embedder, store=store) as deps:
                await deps.redis.delete("rustdocs:docsrs:bucket")
                t = time.perf_counter()
                for crate in FIXTURE_CRATES:
                    job, _ = await jobs.create(deps.pool, crate_name=crate, operation="ingest")
                    claimed = await jobs.claim(deps.pool, job.id, "bench-search-mcp")
                    assert claimed is not None
                    summary = await run_ingest(deps, claimed)
                    await jobs.complete(deps.pool, job.id)
                    say(summary)
                timings["fixture ingest"] = time.perf_counter() - t
                real_chunks = await store.count()
                t = time.perf_counter()
                synth_chunks, synth_docs = await add_synthetic(
                    deps.pool,
                    store,
                    embedder,
                    max(0, args.points - real_chunks),
                    args.crates,
                    args.seed,
                )
                timings["synthetic write"] = time.perf_counter() - t
                say(f"wrote {synth_chunks} synthetic chunks in {timings['synthetic write']:.0f} s")
                t = time.perf_counter()
                say(f"building HNSW over {await store.unindexed_points()} points (child process)")
                task = asyncio.create_task(store.optimize(force=True))
                while not task.done():
                    await asyncio.wait([task], timeout=60)
                    if not task.done():
                        say(f"  HNSW build running, {time.perf_counter() - t:.0f} s")
                await task
                timings["HNSW build"] = time.perf_counter() - t
                unindexed = await store.unindexed_points()
                say(f"HNSW built in {timings['HNSW build']:.0f} s; unindexed points: {unindexed}")
                total = await store.count()
                docs = await deps.pool.fetchval("SELECT count(*) FROM documents")
        finally:
            await store.close()
            await embedder.aclose()
    finally:
        server.stop()
    timings["total"] = time.perf_counter() - t_all
    marker = {
        "format": BUILD_FORMAT,
        "db": args.db,
        "requested_points": args.points,
        "crates": args.crates,
        "seed": args.seed,
        "model": spec_model,
        "dimension": spec_dim,
        "points": total,
        "real_chunks": real_chunks,
        "synthetic_chunks": synth_chunks,
        "synthetic_documents": synth_docs,
        "documents": docs,
        "unindexed_after_build": unindexed,
        "build_seconds": {k: round(v, 1) for k, v in timings.items()},
        "built_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    (args.data_dir / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    return marker


async def usable_cache(args: argparse.Namespace) -> dict[str, Any] | None:
    marker = read_marker(args.data_dir)
    if marker is None:
        return None
    wanted = {"format": BUILD_FORMAT, "db": args.db, "requested_points": args.points}
    wanted |= {"crates": args.crates, "seed": args.seed}
    if any(marker.get(k) != v for k, v in wanted.items()):
        say(f"cached build in {args.data_dir} was made with other options; rebuilding")
        return None
    exists = await admin_exec(
        args.pg, f"SELECT count(*) FROM pg_database WHERE datname = '{args.db}'"
    )
    if not exists:
        say(f"database {args.db} is gone; rebuilding")
        return None
    conn = await asyncpg.connect(db_url(args.pg, args.db))
    try:
        chunks = await conn.fetchval("SELECT count(*) FROM chunks")
    finally:
        await conn.close()
    if chunks != marker["points"]:
        say(f"database has {chunks} chunks, the cache {marker['points']}; rebuilding")
        return None
    return marker


async def store_state(args: argparse.Namespace, marker: dict[str, Any]) -> tuple[int, int]:
    """(points, points without HNSW) of the cached store, read with the store closed after."""
    settings = bench_settings(args)
    spec = collection_spec(marker["model"], marker["dimension"])
    store = EdgeStore(settings.data_dir / "qdrant-edge" / spec.name, spec, auto_optimize=False)
    try:
        await store.ensure_collection()
        return await store.count(), await store.unindexed_points()
    finally:
        await store.close()


# --------------------------------------------------------------------------- queries
@dataclass(frozen=True)
class Query:
    text: str
    type: str
    crate: str


def load_queries(path: Path) -> list[Query]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out.append(Query(row["query"], row["type"], row["expected"][0].split("::")[0]))
    return out


CASES = ("crate-filtered", "global")


def tool_args(case: str, q: Query) -> dict[str, Any]:
    if case == "crate-filtered":
        return {"query": q.text, "crate_name": q.crate}
    return {"query": q.text}


@dataclass
class Sample:
    case: str
    type: str
    ms: float
    results: int


def pct(values: Sequence[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


# --------------------------------------------------------------------------- over MCP
def server_pid() -> int | None:
    """The stdio server: our child process running rustdocs_mcp."""
    me = str(os.getpid())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[1] == me and b"rustdocs_mcp" in cmdline:
            return int(proc.name)
    return None


def memory_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


async def run_mcp(
    args: argparse.Namespace, queries: list[Query]
) -> tuple[list[Sample], float, dict[str, float]]:
    env = {
        "RUSTDOCS_DATABASE_URL": db_url(args.pg, args.db),
        "RUSTDOCS_REDIS_URL": args.redis,
        "RUSTDOCS_DATA_DIR": str(args.data_dir),
        "RUSTDOCS_DOCSRS_URL": "http://127.0.0.1:9",  # no job runs; never contacted
        "RUSTDOCS_QUEUE_NAME": f"rustdocs-bench-search-mcp-{os.getpid()}",
        "RUSTDOCS_LOG_LEVEL": "WARNING",
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "rustdocs_mcp", "serve"], env=env
    )
    samples: list[Sample] = []
    t = time.perf_counter()
    async with Client(params) as client:
        started = time.perf_counter() - t
        say(f"server up and initialized in {started:.1f} s")

        async def call(case: str, q: Query) -> Sample:
            t0 = time.perf_counter()
            res = await client.call_tool("search_rust_docs", tool_args(case, q))
            ms = (time.perf_counter() - t0) * 1000
            if res.is_error or res.structured_content is None:
                raise SystemExit(f"{case} {q.text!r}: {res.content}")
            return Sample(case, q.type, ms, len(res.structured_content["results"]))

        for i in range(args.warmup):
            for case in CASES:
                await call(case, queries[i % len(queries)])
        order = random.Random(args.seed).sample(queries, len(queries))
        for i in range(args.calls):
            q = order[i % len(order)]
            for case in CASES:  # interleaved, so load changes hit both cases alike
                samples.append(await call(case, q))
            if (i + 1) % 100 == 0:
                say(f"  {i + 1}/{args.calls} rounds")
        pid = server_pid()
        mem = memory_mb(pid) if pid else {}
    return samples, started, mem


# --------------------------------------------------------------------------- in-process split
class Timer:
    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return await fn(*a, **kw)
            finally:
                self.seconds += time.perf_counter() - t

        return timed


class Proxy:
    """Delegates everything to `target`, with the named coroutine methods timed."""

    def __init__(self, target: Any, timer: Timer, methods: Sequence[str]):
        self._target = target
        for m in methods:
            setattr(self, m, timer.wrap(getattr(target, m)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


PARTS = ("total", "embed", "store", "postgres", "other")


@dataclass
class Split:
    case: str
    type: str
    ms: dict[str, float]  # PARTS → ms


async def run_split(args: argparse.Namespace, queries: list[Query]) -> list[Split]:
    """The same searches in-process, timing the embedder, vector store and Postgres calls."""
    settings = bench_settings(args)
    out: list[Split] = []
    async with open_deps(settings) as deps:
        pg, st, em = Timer(), Timer(), Timer()
        pool = Proxy(deps.pool, pg, ("fetch", "fetchval", "fetchrow"))
        store = Proxy(deps.store, st, ("search",))
        embedder = Proxy(deps.embedder, em, ("embed",))

        async def one(case: str, q: Query) -> Split:
            pg.seconds = st.seconds = em.seconds = 0.0
            t = time.perf_counter()
            await ops.search_docs(
                pool,  # type: ignore[arg-type]
                store,  # type: ignore[arg-type]
                embedder,  # type: ignore[arg-type]
                q.text,
                crate_name=q.crate if case == "crate-filtered" else None,
            )
            total = time.perf_counter() - t
            parts = {"embed": em.seconds, "store": st.seconds, "postgres": pg.seconds}
            parts["other"] = total - sum(parts.values())
            parts["total"] = total
            return Split(case, q.type, {k: v * 1000 for k, v in parts.items()})

        for i in range(args.warmup):
            for case in CASES:
                await one(case, queries[i % len(queries)])
        order = random.Random(args.seed).sample(queries, len(queries))
        for i in range(args.split_calls):
            for case in CASES:
                out.append(await one(case, order[i % len(order)]))
    return out


# --------------------------------------------------------------------------- report
def report(
    marker: dict[str, Any],
    state: tuple[int, int],
    samples: list[Sample],
    startup: float,
    mem: dict[str, float],
    split: list[Split] | None,
) -> None:
    points, unindexed = state
    print()
    print(
        f"store: {points} points ({marker['real_chunks']} real fixture chunks +"
        f" {marker['synthetic_chunks']} synthetic over {marker['crates']} crates),"
        f" {marker['documents']} documents in Postgres; points without HNSW: {unindexed}"
    )
    print(f"build ({marker['built_at']}): {marker['build_seconds']}")
    extra = ""
    if mem:
        extra = f"; server RSS {mem.get('VmRSS', 0):.0f} MB (peak {mem.get('VmHWM', 0):.0f} MB)"
    print(f"server start to initialized: {startup:.1f} s{extra}")
    print()
    print("| case | calls | p50 ms | p99 ms | max ms | mean ms | results/call |")
    print("|---|---|---|---|---|---|---|")
    for case in CASES:
        ms = [s.ms for s in samples if s.case == case]
        res = statistics.fmean(s.results for s in samples if s.case == case)
        print(
            f"| {case} | {len(ms)} | {pct(ms, 50):.1f} | {pct(ms, 99):.1f} | {max(ms):.1f}"
            f" | {statistics.fmean(ms):.1f} | {res:.1f} |"
        )
    types = sorted({s.type for s in samples})
    print()
    print("p50 / p99 ms by query type:")
    print()
    print("| case | " + " | ".join(types) + " |")
    print("|---|" + "---|" * len(types))
    for case in CASES:
        cells = []
        for ty in types:
            ms = [s.ms for s in samples if s.case == case and s.type == ty]
            cells.append(f"{pct(ms, 50):.1f} / {pct(ms, 99):.1f} (n={len(ms)})")
        print(f"| {case} | " + " | ".join(cells) + " |")
    if split:
        print()
        print("in-process split (ops.search_docs, same data, after the server exited), ms:")
        print()
        print(
            "| case | queries | calls | " + " | ".join(f"{p} p50" for p in PARTS) + " | total p99 |"
        )
        print("|---|---|---|" + "---|" * (len(PARTS) + 1))
        for case in CASES:
            for ty in ("all", *types):
                group = [x for x in split if x.case == case and ty in ("all", x.type)]
                if not group:
                    continue
                cells = [f"{statistics.median(x.ms[p] for x in group):.1f}" for p in PARTS]
                p99 = pct([x.ms["total"] for x in group], 99)
                print(f"| {case} | {ty} | {len(group)} | " + " | ".join(cells) + f" | {p99:.1f} |")
    print()
    print(f"({os.cpu_count()} cores; load average at the end {os.getloadavg()[0]:.1f})")


async def amain(args: argparse.Namespace) -> None:
    if args.clean:
        await admin_exec(args.pg, f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
        wipe_data_dir(args.data_dir)
        if args.data_dir.exists():
            args.data_dir.rmdir()
        say(f"dropped {args.db} and {args.data_dir}")
        return
    queries = load_queries(args.queries)
    marker = None if args.rebuild else await usable_cache(args)
    if marker is None:
        marker = await build(args)
    else:
        say(f"using the cached build in {args.data_dir} ({marker['built_at']})")
    state = await store_state(args, marker)
    say(f"store: {state[0]} points, {state[1]} without HNSW")
    samples, startup, mem = await run_mcp(args, queries)
    split = await run_split(args, queries) if args.split_calls else None
    report(marker, state, samples, startup, mem, split)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=200_000, help="chunks in the store in all")
    ap.add_argument("--crates", type=int, default=200, help="synthetic crates")
    ap.add_argument("--calls", type=int, default=300, help="search_rust_docs calls per case")
    ap.add_argument("--warmup", type=int, default=20, help="calls per case before timing")
    ap.add_argument("--split-calls", type=int, default=100, help="in-process calls; 0 to skip")
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    ap.add_argument("--db", default=DEFAULT_DB, help="Postgres database kept with the data dir")
    ap.add_argument("--rebuild", action="store_true", help="ignore the cached build")
    ap.add_argument("--clean", action="store_true", help="drop the cached build and exit")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--queries", type=Path, default=ROOT / "tests" / "eval" / "queries.jsonl")
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/11")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    logging.getLogger("rustdocs_mcp.store_edge").setLevel(logging.INFO)
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
