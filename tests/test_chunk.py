"""Chunking one DocItem into model-sized pieces (pure function, table-driven)."""

from __future__ import annotations

import dataclasses

import pytest

from rustdocs_mcp.chunk import approx_tokens, blocks, chunk, embedding_text
from rustdocs_mcp.models import DocItem


def item(docs: str, signature: str = "pub fn lock(&self) -> MutexGuard<'_, T>") -> DocItem:
    return DocItem(
        crate="tokio",
        version="1.0.0",
        path="tokio::sync::Mutex::lock",
        kind="method",
        signature=signature,
        docs=docs,
        url="https://docs.rs/tokio/1.0.0/tokio/sync/struct.Mutex.html#method.lock",
    )


CODE = "```rust\nlet m = Mutex::new(1);\nlet g = m.lock().await;\n```"


@pytest.mark.parametrize(
    ("docs", "expected"),
    [
        ("", []),
        ("One paragraph.", ["One paragraph."]),
        ("First.\n\nSecond.", ["First.", "Second."]),
        (f"Intro.\n\n{CODE}\n\nAfter.", ["Intro.", CODE, "After."]),
        ("```rust\nfn a() {}\n\nfn b() {}\n```", ["```rust\nfn a() {}\n\nfn b() {}\n```"]),
        ("Text\n```\ncode\n```", ["Text", "```\ncode\n```"]),
    ],
)
def test_blocks_keep_code_fences_whole_even_across_blank_lines(
    docs: str, expected: list[str]
) -> None:
    assert blocks(docs) == expected


def test_an_item_without_docs_still_gets_one_chunk_with_its_signature() -> None:
    (only,) = chunk(item(""))
    assert only.text == "tokio::sync::Mutex::lock (method)\npub fn lock(&self) -> MutexGuard<'_, T>"
    assert only.body == ""
    assert only.index == 0


@pytest.mark.parametrize("max_tokens", [64, 128, 256, 512])
def test_every_chunk_fits_the_model_window(max_tokens: int) -> None:
    docs = "\n\n".join(f"Paragraph {i} " + "word " * (i * 7 % 90) for i in range(40))
    docs += (
        "\n\n"
        + CODE
        + "\n\n"
        + "```rust\n"
        + "\n".join(f"let x{i} = {i};" for i in range(200))
        + "\n```"
    )
    parts = chunk(item(docs), max_tokens=max_tokens)
    assert len(parts) > 1
    for c in parts:
        assert approx_tokens(c.text) <= max_tokens - 2
        assert c.text.startswith("tokio::sync::Mutex::lock (method)\n")


def test_chunks_cover_all_the_docs_in_order() -> None:
    paras = [f"Paragraph number {i} about locking." for i in range(60)]
    parts = chunk(item("\n\n".join(paras)), max_tokens=64)
    joined = "\n\n".join(c.body for c in parts)
    assert [p for p in paras if p in joined] == paras
    assert [c.index for c in parts] == list(range(len(parts)))


@pytest.mark.parametrize(
    "docs",
    [
        pytest.param("See " + "0123456789abcdef" * 200 + " for the key.", id="hex-blob"),
        pytest.param("https://example.com/" + "a/" * 900, id="long-url"),
        pytest.param(
            "```rust\n" + "\n".join(f"    let  x{i}  =   {i};" * 30 for i in range(4)) + "\n```",
            id="long-indented-code-lines",
        ),
    ],
)
def test_text_without_break_points_is_cut_to_fit_and_nothing_is_lost(docs: str) -> None:
    parts = chunk(item(docs), max_tokens=64)
    assert all(approx_tokens(c.text) <= 62 for c in parts)

    def content(text: str) -> str:
        return "".join(text.replace("```rust", "").replace("```", "").split())

    assert "".join(content(c.body) for c in parts) == content(docs)


def test_a_code_block_that_fits_stays_whole() -> None:
    parts = chunk(item("Intro text.\n\n" + CODE), max_tokens=256)
    assert any(CODE in c.body for c in parts)


def test_an_oversized_code_block_is_split_by_lines_into_valid_fences() -> None:
    code = "```rust\n" + "\n".join(f"let value_{i} = compute({i});" for i in range(120)) + "\n```"
    parts = chunk(item(code), max_tokens=128)
    assert len(parts) > 2
    for c in parts:
        assert c.body.startswith("```rust\n")
        assert c.body.endswith("```")
    lines = [ln for c in parts for ln in c.body.splitlines() if ln.startswith("let ")]
    assert lines == [f"let value_{i} = compute({i});" for i in range(120)]


def test_ids_are_stable_and_change_with_content_or_version() -> None:
    a = chunk(item("Same docs."))
    b = chunk(item("Same docs."))
    c = chunk(item("Other docs."))
    moved = chunk(dataclasses.replace(item("Same docs."), version="1.0.1"))
    assert [x.id for x in a] == [x.id for x in b]
    assert a[0].id != c[0].id
    assert a[0].hash == b[0].hash != c[0].hash
    assert moved[0].id != a[0].id
    assert moved[0].hash == a[0].hash  # same text: its vector can be reused


def test_a_huge_signature_is_truncated_in_the_header() -> None:
    sig = "pub fn f(" + ", ".join(f"a{i}: u8" for i in range(400)) + ")"
    (first, *_) = chunk(item("Docs.", signature=sig), max_tokens=128)
    assert first.text.split("\n")[1].endswith(" …")
    assert approx_tokens(first.text) <= 126


@pytest.mark.parametrize(
    ("docs", "expected"),
    [
        ("First paragraph.\n\nSecond.", "First paragraph."),
        (
            "[![github]](https://github.com/x/y)&ensp;[![docs-rs]](https://docs.rs/y)\n\n"
            "<br>\n\nThis crate parses things.",
            "This crate parses things.",
        ),
        ("# Overview\n\nReal text\nover two lines.", "Real text over two lines."),
        ("```rust\nlet x = 1;\n```\n\nAfter code.", "After code."),
        ("[github]: https://github.com/x/y\n\nProse.", "Prose."),
        ("Uses [`Error`][Error] and [docs](https://x.y).", "Uses `Error` and docs."),
        ("![logo](logo.png)", ""),
        ("", ""),
    ],
)
def test_summaries_skip_badges_headings_and_code(docs: str, expected: str) -> None:
    assert item(docs).summary == expected


@pytest.mark.parametrize(
    ("docs", "kept", "dropped"),
    [
        (
            f"Locks this mutex.\n\n{CODE}\n\nWaits if held.",
            ["Locks this mutex.", "Waits if held."],
            ["let g"],
        ),
        (
            "Returns a [`MutexGuard`](struct.MutexGuard.html) for the [lock][l].\n\n"
            "[l]: https://example.com/lock",
            ["Returns a `MutexGuard` for the lock."],
            ["struct.MutexGuard.html", "example.com", "[l]"],
        ),
        ("See the [`Mutex`] type.", ["See the [`Mutex`] type."], []),
    ],
)
def test_the_embedded_text_is_the_prose_without_code_or_link_targets(
    docs: str, kept: list[str], dropped: list[str]
) -> None:
    (only,) = chunk(item(docs))
    text = embedding_text(only)
    assert text.startswith("tokio::sync::Mutex::lock (method)\npub fn lock(&self)")
    for part in kept:
        assert part in text
    for part in dropped:
        assert part not in text
        assert part in only.text  # the stored chunk keeps everything
