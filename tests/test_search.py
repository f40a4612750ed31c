"""Search behaviour: item paths first, filters, grouping (real stores, real local model)."""

from __future__ import annotations

import pytest
from test_ingest import ingest

from rustdocs_mcp.deps import Deps
from rustdocs_mcp.search import group_hits, path_query, search
from rustdocs_mcp.store import Hit


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


def _hit(score: float, path: str, kind: str, body: str, url: str | None = None) -> Hit:
    text = f"{path} ({kind})\npub fn to_string<T>(value: &T) -> Result<String>\n{body}"
    url = url or f"https://docs.rs/serde_json/1.0.0/{path.replace('::', '/')}.html"
    payload = {"crate": "serde_json", "version": "1.0.0", "path": path, "kind": kind}
    return Hit(url + f"#{score}", score, {**payload, "text": text, "url": url})


@pytest.mark.parametrize(
    ("hits", "expected"),
    [
        pytest.param(
            [
                _hit(0.9, "serde_json::to_string", "fn", "Serialize as a String."),
                _hit(0.8, "serde_json::ser::to_string", "fn", "Serialize as a String."),
            ],
            ["serde_json::to_string"],
            id="a re-export is the same item",
        ),
        pytest.param(
            [
                _hit(0.9, "serde_json::to_string", "fn", "Serialize as a String."),
                _hit(0.8, "serde_json::ser::to_string", "fn", "Another text."),
            ],
            ["serde_json::to_string", "serde_json::ser::to_string"],
            id="different docs are different items",
        ),
        pytest.param(
            [
                _hit(0.7, "serde_json::to_string", "fn", "Same."),
                _hit(0.9, "serde_json::ser::to_string", "fn", "Same."),
                _hit(0.8, "serde_json::to_vec", "fn", "Same."),
            ],
            ["serde_json::ser::to_string", "serde_json::to_vec"],
            id="the best-scoring path stays; another name is another item",
        ),
        pytest.param(
            [
                _hit(0.9, "serde_json::Value", "struct", "part one", url="u#a"),
                _hit(0.8, "serde_json::Value", "struct", "part two", url="u#a"),
            ],
            ["serde_json::Value"],
            id="chunks of one item collapse",
        ),
    ],
)
def test_results_are_items_once_whatever_path_or_chunk_found_them(
    hits: list[Hit], expected: list[str]
) -> None:
    assert [h.path for h in group_hits(hits, 10)] == expected
