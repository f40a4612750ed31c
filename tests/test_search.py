"""Search behaviour: item paths first, filters, grouping (real stores, real local model)."""

from __future__ import annotations

import asyncpg
import pytest
from test_ingest import ingest

from rustdocs_mcp.chunk import chunk, embedding_text
from rustdocs_mcp.deps import Deps
from rustdocs_mcp.ingest import _point
from rustdocs_mcp.models import DocItem
from rustdocs_mcp.search import exact_matches, group_hits, path_query, search
from rustdocs_mcp.sparse import encode_document
from rustdocs_mcp.store import Hit, StoredVectors


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
                _hit(0.9, "serde_json::to_string", "fn", "As a String."),
                _hit(0.8, "serde_json::ser::to_string", "fn", "As a String."),
            ],
            ["serde_json::to_string"],
            id="a re-export is the same item",
        ),
        pytest.param(
            [
                _hit(0.9, "serde_json::to_string", "fn", "As a String."),
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


REEXPORTS = [  # (path, kind, signature, docs): docs.rs pages of one crate
    ("serde_json::to_string", "fn", "pub fn to_string<T>(value: &T)", "As a String."),
    (
        "serde_json::ser::to_string",
        "fn",
        "pub fn to_string<T>(value: &T)",
        "As a String.",
    ),
    ("serde_json::Value::get", "method", "pub fn get(&self)", "Index into a map or array."),
    ("serde_json::value::Value::get", "method", "pub fn get(&self)", "Index into a map or array."),
    ("serde_json::Map::clone", "method", "fn clone(&self) -> Self", "Returns a copy."),
    ("serde_json::Number::clone", "method", "fn clone(&self) -> Self", "Returns a copy."),
    ("serde_json::de::from_str", "fn", "pub fn from_str(s: &str)", "Deserialize from a str."),
    ("serde_json::value::from_str", "fn", "pub fn from_str(s: &str)", "Another function."),
]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("to_string", ["serde_json::to_string"]),
        ("ser::to_string", ["serde_json::ser::to_string"]),
        ("Value::get", ["serde_json::Value::get"]),
        ("clone", ["serde_json::Map::clone", "serde_json::Number::clone"]),
        ("from_str", ["serde_json::de::from_str", "serde_json::value::from_str"]),
    ],
)
async def test_an_item_named_by_path_is_listed_once_even_when_re_exported(
    db: asyncpg.Pool, query: str, expected: list[str]
) -> None:
    await db.execute(
        "INSERT INTO crates (name, version, status) VALUES ('serde_json', '1.0.0', 'indexed')"
    )
    await db.executemany(
        "INSERT INTO documents (crate_name, version, url, path, kind, signature, docs, hash)"
        " VALUES ('serde_json', '1.0.0', $1, $1, $2, $3, $4, '')",
        REEXPORTS,
    )
    hits = await exact_matches(db, query.lower(), [("serde_json", "1.0.0")], None, 10)
    assert sorted(h.path for h in hits) == sorted(expected)


async def test_a_re_export_of_the_item_named_by_path_does_not_follow_it(deps: Deps) -> None:
    items = [
        DocItem("serde_json", "1.0.0", path, kind, sig, docs, f"https://docs.rs/{path}")
        for path, kind, sig, docs in REEXPORTS
    ]
    await deps.pool.execute(
        "INSERT INTO crates (name, version, status) VALUES ('serde_json', '1.0.0', 'indexed')"
    )
    await deps.pool.executemany(
        "INSERT INTO documents (crate_name, version, url, path, kind, signature, docs, hash)"
        " VALUES ('serde_json', '1.0.0', $1, $2, $3, $4, $5, '')",
        [(i.url, i.path, i.kind, i.signature, i.docs) for i in items],
    )
    chunks = [c for i in items for c in chunk(i)]
    dense = await deps.embedder.embed([embedding_text(c) for c in chunks])
    await deps.store.upsert(
        [
            _point(c, StoredVectors(v, encode_document(c.text)))
            for c, v in zip(chunks, dense, strict=True)
        ]
    )
    hits = await search(deps.pool, deps.store, deps.embedder, "serde_json::Value::get")
    paths = [h.path for h in hits]
    assert paths[0] == "serde_json::Value::get"
    assert "serde_json::value::Value::get" not in paths
    # Items that only look alike stay: other names, other docs.
    assert {"serde_json::Map::clone", "serde_json::Number::clone"} <= set(paths)
