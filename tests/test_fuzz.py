"""Bad input at every door, fuzzed: a clear error or a skipped page, never another exception."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rustdocs_mcp.chunk import approx_tokens, chunk
from rustdocs_mcp.errors import InvalidInput, MalformedDocument
from rustdocs_mcp.models import DocItem
from rustdocs_mcp.parse import parse_all_items, parse_item_page, parse_module_items
from rustdocs_mcp.rustdoc_json import parse_crate_json
from rustdocs_mcp.schemas import CRATE_NAME, check_crate_name, check_version
from rustdocs_mcp.sparse import encode_document

FIX = Path(__file__).parent / "fixtures" / "docsrs"
PAGE = (FIX / "rustdoc/semver/1.0.14/semver/struct.Version.html").read_text()
ALL = (FIX / "rustdoc/semver/1.0.14/semver/all.html").read_text()
URL = "https://docs.rs/semver/1.0.14/semver/struct.Version.html"
DOC = json.loads(gzip.decompress(next((FIX / "rustdoc-json/itoa/1.0.1").glob("*.gz")).read_bytes()))
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mangled(data: st.DataObject, text: str) -> str:
    """A real page cut, spliced with junk, or decoded from random bytes."""
    how = data.draw(st.sampled_from(["cut", "splice", "bytes"]))
    if how == "cut":
        return text[: data.draw(st.integers(0, len(text)))]
    if how == "splice":
        at = data.draw(st.integers(0, len(text)))
        junk = data.draw(st.text(max_size=200))
        return text[:at] + junk + text[at + data.draw(st.integers(0, 5000)) :]
    raw = data.draw(st.binary(max_size=2000))
    return raw.decode("utf-8", errors="replace")


@FUZZ
@given(st.data())
def test_malformed_item_pages_raise_only_malformed_document(data: st.DataObject) -> None:
    html = _mangled(data, PAGE)
    try:
        items = parse_item_page(html, crate="semver", version="1.0.14", url=URL)
    except MalformedDocument:
        return
    assert all(isinstance(i, DocItem) and i.url.startswith(URL) for i in items)


@FUZZ
@given(st.data())
def test_malformed_link_pages_raise_only_malformed_document(data: st.DataObject) -> None:
    html = _mangled(data, ALL)
    for parse in (parse_all_items, parse_module_items):
        try:
            links = parse(html, "https://docs.rs/semver/1.0.14/semver/all.html")
        except MalformedDocument:
            continue
        assert all(isinstance(u, str) for u in links)


def _damage(doc: Any, data: st.DataObject) -> Any:
    """Delete or replace random values deep inside a real rustdoc JSON document."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 8))):
        node = doc
        for _ in range(data.draw(st.integers(1, 6))):
            if isinstance(node, dict) and node:
                key = data.draw(st.sampled_from(sorted(node, key=str)))
                if not isinstance(node[key], (dict, list)) or data.draw(st.booleans()):
                    if data.draw(st.booleans()):
                        del node[key]
                    else:
                        node[key] = data.draw(st.sampled_from([None, 0, "", [], {}, "x"]))
                    break
                node = node[key]
            elif isinstance(node, list) and node:
                node = node[data.draw(st.integers(0, len(node) - 1))]
            else:
                break
    return doc


@FUZZ
@given(st.data())
def test_damaged_rustdoc_json_gives_items_or_malformed_document(data: st.DataObject) -> None:
    doc = _damage(DOC, data)
    try:
        items = parse_crate_json(
            doc, crate="itoa", version="1.0.1", docs_base="https://docs.rs/itoa/1.0.1/"
        )
    except MalformedDocument:
        return
    assert len({i.url for i in items}) == len(items)


@FUZZ
@given(st.text(max_size=80))
def test_crate_names_are_accepted_only_when_valid(name: str) -> None:
    try:
        accepted = check_crate_name(name)
    except InvalidInput as e:
        message = str(e)
    else:
        assert CRATE_NAME.match(accepted)
        assert len(accepted) <= 64
        return
    assert "crate" in message


@FUZZ
@given(st.text(max_size=40))
def test_versions_are_accepted_or_rejected_with_a_clear_error(version: str) -> None:
    try:
        check_version(version)
    except InvalidInput as e:
        message = str(e)
    else:
        return
    assert "is not a version" in message


@FUZZ
@given(st.text(max_size=3000), st.sampled_from([64, 256]))
def test_any_docs_text_chunks_within_the_window(docs: str, window: int) -> None:
    item = DocItem(
        "c", "1.0.0", "c::f", "fn", "pub fn f()", docs, "https://docs.rs/c/1.0.0/c/fn.f.html"
    )
    parts = chunk(item, max_tokens=window)
    assert parts
    for p in parts:
        assert approx_tokens(p.text) <= window - 2
        v = encode_document(p.text)
        assert v.indices == sorted(set(v.indices))


@pytest.mark.parametrize("body", ["", "null", "[]", '{"format_version": 57}', '{"index": {}}'])
def test_degenerate_json_documents_are_malformed(body: str) -> None:
    with pytest.raises(MalformedDocument):
        parse_crate_json(
            json.loads(body) if body else {},
            crate="x",
            version="1.0.0",
            docs_base="https://docs.rs/x/1.0.0/",
        )
