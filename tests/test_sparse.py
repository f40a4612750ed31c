"""Rust-aware lexical terms and sparse vectors (pure functions, table-driven)."""

from __future__ import annotations

import pytest

from rustdocs_mcp.sparse import encode_document, encode_query, term_index, terms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HashMap::entry", ["hashmap", "hash", "map", "entri", "hashmap::entry"]),
        ("read_to_string", ["read_to_string", "read", "to", "string"]),
        ("IOError", ["ioerror", "io", "error"]),
        ("u8", ["u8"]),
        ("anyhow!", ["anyhow"]),
        ("the lock of a Mutex", ["lock", "mutex"]),
        (
            "serde_json::from_str",
            ["serde_json", "serd", "json", "from_str", "from", "str", "serde_json::from_str"],
        ),
        ("advanced bytes holds", ["advanc", "byte", "hold"]),
        ("is_empty parsing", ["is_empty", "is", "empti", "pars"]),
        (
            "tokio::sync::Mutex",
            ["tokio", "sync", "mutex", "tokio::sync", "sync::mutex"],
        ),
    ],
)
def test_terms_split_paths_and_identifiers_as_people_search_them(
    text: str, expected: list[str]
) -> None:
    assert terms(text) == expected


def test_a_query_naming_an_item_shares_its_distinctive_terms() -> None:
    doc = encode_document("bytes::Bytes::slice (method)\npub fn slice(&self) -> Bytes")
    query = encode_query("Bytes::slice")
    assert set(query.indices) <= set(doc.indices)
    assert term_index("bytes::slice") in doc.indices


@pytest.mark.parametrize(
    ("query", "doc"),
    [
        ("skip bytes that were advanced", "Advance the internal cursor of the Buf"),
        ("holding a byte", "Returns true if the buffer holds no bytes"),
        ("parse versions", "Parsing a version string"),
    ],
)
def test_inflected_words_in_a_query_match_the_docs_wording(query: str, doc: str) -> None:
    assert set(encode_query(query).indices) & set(encode_document(doc).indices)


def test_document_weights_saturate_with_repetition() -> None:
    once = dict(zip(*(lambda v: (v.indices, v.values))(encode_document("lock")), strict=True))
    many = dict(zip(*(lambda v: (v.indices, v.values))(encode_document("lock " * 50)), strict=True))
    i = term_index("lock")
    assert once[i] < many[i] < 2.3  # BM25 saturation: bounded by k1 + 1


def test_sparse_vectors_are_sorted_and_empty_for_no_terms() -> None:
    v = encode_document("zeta alpha Mutex::lock alpha")
    assert v.indices == sorted(v.indices)
    assert len(v.indices) == len(set(v.indices))
    empty = encode_document("the of and")
    assert (empty.indices, empty.values) == ([], [])
