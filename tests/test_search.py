"""Search behaviour: item paths first, filters, grouping (real stores, real local model)."""

from __future__ import annotations

import pytest
from test_ingest import ingest

from rustdocs_mcp.deps import Deps
from rustdocs_mcp.search import path_query, search


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tokio::spawn", "tokio::spawn"),
        ("Mutex::lock", "mutex::lock"),
        ("bail!", "bail"),
        ("HashMap::entry()", "hashmap::entry"),
        ("  Bytes  ", "bytes"),
        ("how do I spawn a task", None),
        ("Vec<u8>", None),
        ("a::", None),
    ],
)
def test_path_queries_are_recognised(query: str, expected: str | None) -> None:
    assert path_query(query) == expected


async def test_a_query_naming_an_item_returns_that_item_first(deps: Deps) -> None:
    for crate in ("anyhow", "bytes"):
        job = await ingest(deps, crate)
        assert job.status == "complete", job.error
    cases = {
        "anyhow::Context": "anyhow::Context",
        "Bytes::slice": "bytes::Bytes::slice",
        "bail!": "anyhow::bail",
        "BufMut::put_u8": "bytes::buf::BufMut::put_u8",
        "bytes::BytesMut": "bytes::BytesMut",
    }
    for query, path in cases.items():
        hits = await search(deps.pool, deps.store, deps.embedder, query)
        assert hits[0].path == path, (query, [h.path for h in hits[:3]])
        assert len({h.url for h in hits}) == len(hits)


async def test_filters_by_crate_and_kind_hold_for_every_hit(deps: Deps) -> None:
    for crate in ("anyhow", "bytes"):
        await ingest(deps, crate)
    hits = await search(
        deps.pool, deps.store, deps.embedder, "error", crate="anyhow", kind="method"
    )
    assert hits
    assert {h.crate for h in hits} == {"anyhow"}
    assert {h.kind for h in hits} == {"method"}
    exact = await search(deps.pool, deps.store, deps.embedder, "slice", kind="struct")
    assert all(h.kind == "struct" for h in exact)
