"""One behaviour suite for both vector stores: the Qdrant server store (run on qdrant-client's
local mode) and the embedded Qdrant Edge store."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import AsyncQdrantClient

from rustdocs_mcp import store_edge
from rustdocs_mcp.errors import EmbeddingModelMismatch, StoreUnavailable
from rustdocs_mcp.settings import Settings
from rustdocs_mcp.store import (
    CollectionSpec,
    Point,
    SearchFilter,
    SparseVector,
    VectorStore,
    collection_spec,
    open_store,
)
from rustdocs_mcp.store_edge import EdgeStore
from rustdocs_mcp.store_qdrant import QdrantServerStore

DIM = 8
SPEC = collection_spec("test-model", DIM)
NO_FILTER = SearchFilter()


def pid(n: int) -> str:
    return str(uuid.UUID(int=n))


def basis(i: int, tilt: int | None = None) -> list[float]:
    """Unit vector along axis i, optionally tilted a little towards axis `tilt`."""
    v = [0.0] * DIM
    v[i] = 1.0
    if tilt is not None:
        v[tilt] = 0.3
    return v


def point(
    n: int,
    crate: str = "serde",
    version: str = "1.0.0",
    *,
    dense: list[float] | None = None,
    sparse: dict[int, float] | None = None,
    kind: str = "fn",
) -> Point:
    terms = sparse if sparse is not None else {1000 + n: 1.0}
    return Point(
        id=pid(n),
        dense=dense if dense is not None else basis(n % DIM),
        sparse=SparseVector(list(terms), list(terms.values())),
        payload={
            "crate": crate,
            "version": version,
            "kind": kind,
            "path": f"{crate}::item{n}",
            "path_lc": f"{crate}::item{n}",
        },
    )


class Backend:
    """Makes stores of one kind that share their storage (one client, or one directory)."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.tmp_path = tmp_path
        self.client = AsyncQdrantClient(location=":memory:") if kind == "server" else None

    @property
    def embedded(self) -> bool:
        return self.kind == "edge"

    def make(self, spec: CollectionSpec = SPEC, **edge_options: Any) -> VectorStore:
        if self.client is not None:
            return QdrantServerStore(self.client, spec)
        edge_options.setdefault("auto_optimize", False)
        return EdgeStore(self.tmp_path / "stores" / spec.name, spec, **edge_options)


@pytest.fixture(params=["server", "edge"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return Backend(request.param, tmp_path)


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[VectorStore]:
    s = backend.make()
    await s.ensure_collection()
    yield s
    await s.close()


async def ids_of(store: VectorStore, flt: SearchFilter, **kw: Any) -> list[str]:
    dense = kw.pop("dense", basis(0))
    sparse = kw.pop("sparse", None)
    hits = await store.search(dense, sparse, flt=flt, limit=kw.pop("limit", 50), **kw)
    return [h.id for h in hits]


# Collections


def test_collection_name_ties_model_and_dimension() -> None:
    assert collection_spec("all-MiniLM-L6-v2", 384).name == "rustdocs__all-minilm-l6-v2__384"
    assert collection_spec("all-MiniLM-L6-v2", 384).dimension == 384
    assert collection_spec("text-embedding-3-small", 512).name.endswith("__512")


def test_collection_names_of_different_models_never_collide() -> None:
    a = collection_spec("BAAI/bge-small-en-v1.5", 384).name
    b = collection_spec("baai-bge-small-en-v1-5", 384).name
    assert a != b
    assert a.startswith("rustdocs__baai-bge-small-en-v1-5-")
    assert "/" not in a
    assert "." not in a


async def test_ensure_collection_can_run_again_without_losing_points(store: VectorStore) -> None:
    await store.upsert([point(1)])
    await store.ensure_collection()
    assert await store.count() == 1


async def test_a_collection_built_for_another_dimension_is_refused(backend: Backend) -> None:
    first = backend.make(SPEC)
    await first.ensure_collection()
    if backend.embedded:
        await first.close()
    other = backend.make(CollectionSpec(name=SPEC.name, dimension=DIM * 2))
    with pytest.raises(EmbeddingModelMismatch, match=r"8-dimensional.*16-dimensional"):
        await other.ensure_collection()
    await other.close()
    if not backend.embedded:
        await first.close()


# Writes and counts


async def test_upserted_points_are_counted_per_crate_and_version(store: VectorStore) -> None:
    await store.upsert(
        [point(1), point(2), point(3, version="1.0.1"), point(4, crate="tokio", version="1.40.0")]
    )
    assert await store.count() == 4
    assert await store.count("serde") == 3
    assert await store.count("serde", "1.0.0") == 2
    assert await store.count("serde", "1.0.1") == 1
    assert await store.count("tokio") == 1
    assert await store.count("rand") == 0


async def test_upserting_the_same_ids_again_keeps_the_count(store: VectorStore) -> None:
    points = [point(n) for n in range(1, 40)]
    await store.upsert(points)
    await store.upsert(points)
    assert await store.count() == 39


async def test_upsert_replaces_the_payload_of_an_existing_id(store: VectorStore) -> None:
    await store.upsert([point(1, version="1.0.0")])
    await store.upsert([point(1, version="2.0.0")])
    assert await store.count("serde", "1.0.0") == 0
    assert await store.count("serde", "2.0.0") == 1


async def test_existing_ids_returns_only_stored_ids_as_the_caller_spelled_them(
    store: VectorStore,
) -> None:
    await store.upsert([point(1), point(2)])
    upper = pid(2).upper()
    assert await store.existing_ids([pid(1), upper, pid(3)]) == {pid(1), upper}
    assert await store.existing_ids([]) == set()


async def test_stored_vectors_read_back_as_written(store: VectorStore) -> None:
    dense = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    await store.upsert(
        [
            point(1, dense=dense, sparse={7: 2.0, 3: 0.5, 99: 1.0}),
            point(2, sparse={}),
        ]
    )
    got = await store.get_vectors([pid(1), pid(2), pid(3)])
    assert set(got) == {pid(1), pid(2)}
    norm = math.sqrt(sum(x * x for x in dense))  # cosine collections store unit vectors
    assert got[pid(1)].dense == pytest.approx([x / norm for x in dense], abs=1e-6)
    assert got[pid(1)].sparse == SparseVector([3, 7, 99], [0.5, 2.0, 1.0])
    assert got[pid(2)].sparse == SparseVector([], [])


async def test_delete_crate_keeps_only_the_listed_ids(store: VectorStore) -> None:
    await store.upsert([point(n) for n in range(1, 6)] + [point(6, crate="tokio")])
    await store.delete_crate("serde", keep_ids=[pid(2), pid(4)])
    assert await store.existing_ids([pid(n) for n in range(1, 7)]) == {pid(2), pid(4), pid(6)}


async def test_delete_crate_with_many_kept_ids_keeps_them_all(store: VectorStore) -> None:
    await store.upsert([point(n) for n in range(1, 301)])
    keep = [pid(n) for n in range(1, 301) if n % 3] + [pid(n) for n in range(10_000, 20_000)]
    await store.delete_crate("serde", keep_ids=keep)
    assert await store.count("serde") == 200


async def test_delete_crate_with_a_version_leaves_other_versions(store: VectorStore) -> None:
    await store.upsert([point(1), point(2, version="2.0.0"), point(3, crate="tokio")])
    await store.delete_crate("serde", version="1.0.0")
    assert await store.counts_by_release() == {("serde", "2.0.0"): 1, ("tokio", "1.0.0"): 1}


async def test_delete_ids_removes_only_those_points(store: VectorStore) -> None:
    await store.upsert([point(n) for n in range(1, 5)])
    await store.delete_ids([pid(1), pid(3), pid(77)])
    assert await store.existing_ids([pid(n) for n in range(1, 5)]) == {pid(2), pid(4)}


async def test_counts_by_release_reports_every_crate_version_pair(store: VectorStore) -> None:
    assert await store.counts_by_release() == {}
    await store.upsert(
        [point(1), point(2), point(3, version="1.0.1"), point(4, crate="tokio", version="1.40.0")]
    )
    assert await store.counts_by_release() == {
        ("serde", "1.0.0"): 2,
        ("serde", "1.0.1"): 1,
        ("tokio", "1.40.0"): 1,
    }


# Search


async def test_dense_search_ranks_the_nearest_point_first(store: VectorStore) -> None:
    await store.upsert([point(n, dense=basis(n)) for n in range(DIM)])
    hits = await store.search(basis(5, tilt=2), None, flt=NO_FILTER, limit=3, mode="dense")
    assert [h.id for h in hits[:2]] == [pid(5), pid(2)]
    assert len(hits) == 3
    assert hits[0].score == pytest.approx(1 / math.sqrt(1.09), abs=1e-4)
    assert hits[0].payload["path"] == "serde::item5"
    assert hits[0].payload["release"] == "serde@1.0.0"  # added by the store


async def test_sparse_search_ranks_the_best_term_match_first(store: VectorStore) -> None:
    await store.upsert(
        [
            point(1, sparse={10: 1.0, 11: 1.0}),
            point(2, sparse={10: 3.0}),
            point(3, sparse={12: 1.0}),
        ]
    )
    hits = await store.search(
        None, SparseVector([10], [1.0]), flt=NO_FILTER, limit=10, mode="sparse"
    )
    assert [h.id for h in hits] == [pid(2), pid(1)]  # point 3 shares no term


async def test_sparse_search_weighs_rare_terms_above_common_ones(store: VectorStore) -> None:
    # Term 1 is in every point, term 2 in one: with IDF one rare hit beats three common ones.
    points = [point(n, sparse={1: 1.0}) for n in range(1, 10)]
    points.append(point(10, sparse={1: 3.0}))
    points.append(point(11, sparse={1: 1.0, 2: 1.0}))
    await store.upsert(points)
    query = SparseVector([1, 2], [1.0, 1.0])
    hits = await store.search(None, query, flt=NO_FILTER, limit=3, mode="sparse")
    assert hits[0].id == pid(11)


async def test_hybrid_search_puts_first_what_both_rankings_like(store: VectorStore) -> None:
    await store.upsert(
        [
            point(1, dense=basis(0, tilt=1), sparse={5: 1.0}),  # 2nd by dense, 2nd by terms
            point(2, dense=basis(0), sparse={6: 1.0}),  # 1st by dense, no term
            point(3, dense=basis(4), sparse={5: 2.0}),  # far by dense, 1st by terms
            point(4, dense=basis(0, tilt=2), sparse={6: 1.0}),  # 3rd by dense (a tie), no term
        ]
    )
    hits = await store.search(
        basis(0, tilt=1), SparseVector([5], [1.0]), flt=NO_FILTER, limit=3, mode="hybrid"
    )
    assert hits[0].id == pid(1)
    assert {h.id for h in hits} <= {pid(1), pid(2), pid(3), pid(4)}
    assert pid(3) in {h.id for h in hits}


async def test_hybrid_search_without_query_terms_ranks_by_dense_only(store: VectorStore) -> None:
    await store.upsert([point(n, dense=basis(n)) for n in range(DIM)])
    assert (await ids_of(store, NO_FILTER, dense=basis(3), limit=1)) == [pid(3)]
    empty = SparseVector([], [])
    assert (await ids_of(store, NO_FILTER, dense=basis(3), sparse=empty, limit=1)) == [pid(3)]


async def test_sparse_search_without_query_terms_finds_nothing(store: VectorStore) -> None:
    await store.upsert([point(1)])
    assert (
        await store.search(None, SparseVector([], []), flt=NO_FILTER, limit=5, mode="sparse") == []
    )


async def test_search_returns_only_allowed_releases(store: VectorStore) -> None:
    await store.upsert(
        [
            point(1, "serde", "1.0.0"),
            point(2, "serde", "1.0.1"),
            point(3, "tokio", "1.0.0"),
            point(4, "tokio", "1.40.0"),
            point(5, "rand", "0.8.5"),
        ]
    )
    one = SearchFilter(releases=[("serde", "1.0.1")])
    two = SearchFilter(releases=[("serde", "1.0.0"), ("tokio", "1.40.0"), ("serde", "1.0.0")])
    three = SearchFilter(releases=[("serde", "1.0.0"), ("serde", "1.0.1"), ("rand", "0.8.5")])
    for mode in ("dense", "hybrid"):
        assert set(await ids_of(store, one, mode=mode)) == {pid(2)}
        assert set(await ids_of(store, two, mode=mode)) == {pid(1), pid(4)}
        assert set(await ids_of(store, three, mode=mode)) == {pid(1), pid(2), pid(5)}
    terms = SparseVector([1001, 1003, 1004], [1.0, 1.0, 1.0])
    assert set(await ids_of(store, two, sparse=terms, mode="sparse")) == {pid(1), pid(4)}


async def test_search_with_no_allowed_releases_returns_nothing(store: VectorStore) -> None:
    await store.upsert([point(1)])
    nothing = SearchFilter(releases=[])
    for mode in ("dense", "sparse", "hybrid"):
        assert await ids_of(store, nothing, sparse=SparseVector([1001], [1.0]), mode=mode) == []


async def test_search_returns_only_allowed_kinds(store: VectorStore) -> None:
    await store.upsert(
        [point(1, kind="fn"), point(2, kind="struct"), point(3, kind="trait"), point(4, kind="fn")]
    )
    flt = SearchFilter(releases=[("serde", "1.0.0")], kinds=["struct", "trait"])
    assert set(await ids_of(store, flt, mode="dense")) == {pid(2), pid(3)}
    assert set(await ids_of(store, SearchFilter(kinds=["fn"]), mode="hybrid")) == {pid(1), pid(4)}


async def test_search_returns_at_most_limit_hits(store: VectorStore) -> None:
    await store.upsert([point(n) for n in range(1, 30)])
    assert len(await ids_of(store, NO_FILTER, limit=7, mode="dense")) == 7
    assert (
        len(
            await ids_of(
                store, NO_FILTER, limit=7, mode="hybrid", sparse=SparseVector([1001], [1.0])
            )
        )
        == 7
    )


async def test_search_finds_the_same_points_after_optimize(store: VectorStore) -> None:
    await store.upsert([point(n, dense=basis(n % DIM, tilt=(n + 1) % DIM)) for n in range(1, 60)])
    before = await ids_of(store, NO_FILTER, mode="dense", limit=5)
    await store.optimize()
    assert await ids_of(store, NO_FILTER, mode="dense", limit=5) == before
    assert await store.count() == 59


# Embedded store only


@pytest.fixture
def edge_backend(tmp_path: Path) -> Backend:
    return Backend("edge", tmp_path)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


OPEN_IN_CHILD = """
    import asyncio, sys
    from pathlib import Path
    from rustdocs_mcp.store import collection_spec
    from rustdocs_mcp.store_edge import EdgeStore

    async def main():
        store = EdgeStore(Path({path!r}), collection_spec("test-model", {dim}))
        try:
            await store.ensure_collection()
            print("opened", await store.count())
        except Exception as e:
            print(type(e).__name__, e)
        finally:
            await store.close()

    asyncio.run(main())
"""


async def wait_for_index_build(store: EdgeStore) -> None:
    for _ in range(3000):
        if store.building_index:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the index build process never started")


async def test_a_second_process_cannot_open_an_open_embedded_store(edge_backend: Backend) -> None:
    store = edge_backend.make()
    await store.ensure_collection()
    await store.upsert([point(1)])
    assert isinstance(store, EdgeStore)
    code = OPEN_IN_CHILD.format(path=str(store.path), dim=DIM)
    child = await asyncio.to_thread(run_python, code)
    assert child.stdout.startswith("StoreLocked"), child.stderr
    assert f"pid {os.getpid()}" in child.stdout
    assert "RUSTDOCS_QDRANT_URL" in child.stdout
    await store.close()
    child = await asyncio.to_thread(run_python, code)
    assert child.stdout.strip() == "opened 1", child.stderr


async def test_embedded_store_keeps_its_data_after_close_and_reopen(edge_backend: Backend) -> None:
    store = edge_backend.make()
    await store.upsert([point(n) for n in range(1, 11)])
    await store.delete_ids([pid(10)])
    await store.close()
    again = edge_backend.make()
    await again.ensure_collection()
    assert await again.count() == 9
    assert (await ids_of(again, NO_FILTER, dense=basis(3), mode="dense", limit=1)) == [pid(3)]
    await again.close()


async def test_building_the_index_keeps_every_point_and_every_write_made_meanwhile(
    edge_backend: Backend,
) -> None:
    store = edge_backend.make(optimize_min_points=1, index_min_points=50)
    assert isinstance(store, EdgeStore)
    await store.upsert([point(n, dense=basis(n % DIM, tilt=(n + 3) % DIM)) for n in range(1, 401)])
    assert await store.unindexed_points() == 400
    build = asyncio.create_task(store.optimize())
    await wait_for_index_build(store)
    # written while the index is built: journaled, replayed after the swap
    await store.upsert([point(n, dense=[1.0] * DIM if n == 405 else None) for n in range(401, 421)])
    await store.delete_ids([pid(1)])
    await build
    assert await store.count() == 419
    assert await store.unindexed_points() < 50
    assert (await ids_of(store, NO_FILTER, dense=[1.0] * DIM, mode="dense", limit=1)) == [pid(405)]
    assert sorted(p.name for p in store.path.iterdir()) == ["rustdocs-mcp.lock", "shard"]
    await store.close()


async def test_close_abandons_an_index_build_in_progress(edge_backend: Backend) -> None:
    store = edge_backend.make(optimize_min_points=1, index_min_points=50)
    assert isinstance(store, EdgeStore)
    await store.upsert([point(n) for n in range(1, 301)])
    build = asyncio.create_task(store.optimize())
    await wait_for_index_build(store)
    await store.close()
    await build
    assert sorted(p.name for p in store.path.iterdir()) == ["rustdocs-mcp.lock", "shard"]
    again = edge_backend.make()
    assert await again.count() == 300
    await again.close()


async def test_a_failed_index_build_leaves_the_store_as_it_was(
    edge_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_edge, "_OPTIMIZE_CHILD", "import sys; sys.exit('disk on fire')")
    store = edge_backend.make(optimize_min_points=1, index_min_points=50)
    assert isinstance(store, EdgeStore)
    await store.upsert([point(n) for n in range(1, 101)])
    await store.optimize()
    await store.upsert([point(101)])
    assert await store.count() == 101
    assert await store.unindexed_points() == 101
    assert sorted(p.name for p in store.path.iterdir()) == ["rustdocs-mcp.lock", "shard"]
    await store.close()


async def test_open_store_uses_the_embedded_store_under_data_dir_without_a_url(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, qdrant_url=None)
    store = await open_store(settings, SPEC)
    assert isinstance(store, EdgeStore)
    assert store.path == tmp_path / "qdrant-edge" / SPEC.name
    assert (store.path / "shard").is_dir()
    await store.close()


async def test_an_interrupted_index_swap_is_undone_on_open(edge_backend: Backend) -> None:
    store = edge_backend.make()
    assert isinstance(store, EdgeStore)
    await store.upsert([point(n) for n in range(1, 6)])
    await store.close()
    (store.path / "shard").rename(store.path / "shard.old-123")  # crash between the renames
    (store.path / "shard.optimizing-456").mkdir()
    again = edge_backend.make()
    assert await again.count() == 5
    assert sorted(p.name for p in store.path.iterdir()) == ["rustdocs-mcp.lock", "shard"]
    await again.close()


# Server store only


async def test_an_unreachable_server_raises_store_unavailable() -> None:
    store = QdrantServerStore.connect("http://127.0.0.1:9", SPEC, timeout=5)
    with pytest.raises(StoreUnavailable, match=r"could not be reached"):
        await store.ensure_collection()
    await store.close()


async def test_a_failing_server_raises_store_unavailable() -> None:
    async def answer_503(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer_503, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = QdrantServerStore.connect(f"http://127.0.0.1:{port}", SPEC, timeout=5)
    try:
        with pytest.raises(StoreUnavailable, match=r"HTTP 503"):
            await store.count()
    finally:
        await store.close()
        server.close()
        await server.wait_closed()
