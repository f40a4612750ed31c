"""rustdoc HTML -> DocItems (rustdocs_mcp.parse), against real rustdoc pages in the fixtures.

Every item-page test runs on the raw rustdoc page and on the same page wrapped the way docs.rs
serves it (see docsrs_html.wrap_like_docsrs), and both must give the same items.
"""

from __future__ import annotations

import logging
import random
import re
from collections import Counter
from pathlib import Path

import pytest
from docsrs_html import wrap_like_docsrs

from rustdocs_mcp import parse
from rustdocs_mcp.errors import MalformedDocument
from rustdocs_mcp.models import ITEM_KINDS, DocItem
from rustdocs_mcp.parse import (
    PageMeta,
    is_redirect_stub,
    parse_all_items,
    parse_crate_description,
    parse_item_page,
    parse_module_items,
    parse_page_meta,
    redirect_target,
)

RUSTDOC = Path(__file__).parent / "fixtures" / "docsrs" / "rustdoc"
DOCSRS = "https://docs.rs"

CRATES = {"itoa": "1.0.1", "anyhow": "1.0.69", "semver": "1.0.14", "bytes": "1.2.1"}


def read(rel: str) -> str:
    return (RUSTDOC / rel).read_text(encoding="utf-8")


def url_of(rel: str) -> str:
    return f"{DOCSRS}/{rel}"


def crate_of(rel: str) -> tuple[str, str]:
    crate, version = rel.split("/")[:2]
    return crate, version


def parse_page(rel: str, *, wrapped: bool = False) -> list[DocItem]:
    crate, version = crate_of(rel)
    html = read(rel)
    if wrapped:
        html = wrap_like_docsrs(html, crate, version)
    return parse_item_page(html, crate=crate, version=version, url=url_of(rel))


def by_anchor(items: list[DocItem]) -> dict[str, DocItem]:
    return {item.url.partition("#")[2]: item for item in items[1:]}


ALL_FIXTURE_PAGES = sorted(str(p.relative_to(RUSTDOC)) for p in RUSTDOC.rglob("*.html"))
STUB_PAGES = [rel for rel in ALL_FIXTURE_PAGES if is_redirect_stub(read(rel))]
ITEM_PAGES = [
    rel for rel in ALL_FIXTURE_PAGES if rel not in STUB_PAGES and not rel.endswith("/all.html")
]


# --------------------------------------------------------------------------------------------
# all.html, module pages, redirect stubs, docs.rs metadata

ALL_HTML_CASES = [
    # crate, number of item pages, first page, pages that must be listed
    ("itoa", 2, "struct.Buffer.html", ["trait.Integer.html"]),
    (
        "anyhow",
        9,
        "struct.Chain.html",
        ["macro.anyhow.html", "macro.format_err.html", "fn.Ok.html", "type.Result.html"],
    ),
    ("semver", 7, "struct.BuildMetadata.html", ["enum.Op.html", "struct.VersionReq.html"]),
    (
        "bytes",
        11,
        "struct.Bytes.html",
        ["buf/trait.Buf.html", "buf/trait.BufMut.html", "buf/struct.UninitSlice.html"],
    ),
]


@pytest.mark.parametrize(("crate", "count", "first", "expected"), ALL_HTML_CASES)
@pytest.mark.parametrize("wrapped", [False, True], ids=["raw", "docsrs"])
def test_all_html_lists_every_item_page_once_as_absolute_urls_in_page_order(
    crate: str, count: int, first: str, expected: list[str], wrapped: bool
) -> None:
    version = CRATES[crate]
    rel = f"{crate}/{version}/{crate}/all.html"
    html = read(rel)
    if wrapped:
        html = wrap_like_docsrs(html, crate, version)
    base = f"{DOCSRS}/{crate}/{version}/{crate}/"

    urls = parse_all_items(html, url_of(rel))

    assert len(urls) == count
    assert len(set(urls)) == len(urls)
    assert urls[0] == base + first
    for page in expected:
        assert base + page in urls
    assert all(url.startswith(base) and "#" not in url for url in urls)


@pytest.mark.parametrize("crate", sorted(CRATES))
def test_pages_listed_in_all_html_are_real_item_pages_not_redirect_stubs(crate: str) -> None:
    version = CRATES[crate]
    rel = f"{crate}/{version}/{crate}/all.html"
    for url in parse_all_items(read(rel), url_of(rel)):
        page = url.removeprefix(DOCSRS + "/")
        assert (RUSTDOC / page).is_file(), page
        assert "!" not in page
        assert not is_redirect_stub(read(page)), page


MODULE_CASES = [
    ("itoa/1.0.1/itoa/index.html", ["struct.Buffer.html", "trait.Integer.html"]),
    (
        "bytes/1.2.1/bytes/index.html",
        ["buf/index.html", "struct.Bytes.html", "struct.BytesMut.html"],
    ),
    (
        "bytes/1.2.1/bytes/buf/index.html",
        [
            "struct.Chain.html",
            "struct.IntoIter.html",
            "struct.Limit.html",
            "struct.Reader.html",
            "struct.Take.html",
            "struct.UninitSlice.html",
            "struct.Writer.html",
            "trait.Buf.html",
            "trait.BufMut.html",
        ],
    ),
    (
        "anyhow/1.0.69/anyhow/index.html",
        [
            "macro.anyhow.html",
            "macro.bail.html",
            "macro.ensure.html",
            "macro.format_err.html",
            "struct.Chain.html",
            "struct.Error.html",
            "trait.Context.html",
            "fn.Ok.html",
            "type.Result.html",
        ],
    ),
]


@pytest.mark.parametrize(("rel", "pages"), MODULE_CASES)
@pytest.mark.parametrize("wrapped", [False, True], ids=["raw", "docsrs"])
def test_module_page_lists_its_items_and_submodules_but_not_reexports(
    rel: str, pages: list[str], wrapped: bool
) -> None:
    html = read(rel)
    if wrapped:
        html = wrap_like_docsrs(html, *crate_of(rel))
    base = url_of(rel).removesuffix("index.html")

    assert parse_module_items(html, url_of(rel)) == [base + page for page in pages]


def test_module_items_from_older_ul_item_tables_are_found() -> None:
    html = (
        '<html><body class="rustdoc mod"><section id="main-content" class="content">'
        '<h1 class="fqn"><span class="in-band">Crate <a class="mod" href="#">foo</a></span></h1>'
        '<h2 id="reexports">Re-exports</h2><ul class="item-table reexports">'
        '<li><div class="item-name" id="reexport.Bar"><code>pub use inner::'
        '<a class="struct" href="inner/struct.Bar.html">Bar</a>;</code></div></li></ul>'
        '<h2 id="structs">Structs</h2><ul class="item-table">'
        '<li><div class="item-name"><a class="struct" href="struct.Baz.html">Baz</a></div>'
        '<div class="desc docblock-short">See <a href="struct.Qux.html">Qux</a>.</div></li>'
        '<li><div class="item-name"><a class="mod" href="inner/index.html">inner</a></div></li>'
        "</ul></section></body></html>"
    )
    assert parse_module_items(html, "https://docs.rs/foo/1.0.0/foo/index.html") == [
        "https://docs.rs/foo/1.0.0/foo/struct.Baz.html",
        "https://docs.rs/foo/1.0.0/foo/inner/index.html",
    ]


@pytest.mark.parametrize("rel", STUB_PAGES)
def test_redirect_stubs_are_recognised_and_point_at_the_canonical_page(rel: str) -> None:
    html = read(rel)
    assert is_redirect_stub(html)
    target = redirect_target(html, url_of(rel))
    assert target is not None
    assert (RUSTDOC / target.removeprefix(DOCSRS + "/")).is_file()


def test_the_fixtures_contain_the_known_redirect_stubs() -> None:
    assert "anyhow/1.0.69/anyhow/macro.anyhow!.html" in STUB_PAGES
    assert "bytes/1.2.1/bytes/buf/buf_impl/trait.Buf.html" in STUB_PAGES
    assert redirect_target(
        read("bytes/1.2.1/bytes/buf/buf_impl/trait.Buf.html"),
        url_of("bytes/1.2.1/bytes/buf/buf_impl/trait.Buf.html"),
    ) == url_of("bytes/1.2.1/bytes/buf/trait.Buf.html")


@pytest.mark.parametrize("rel", ITEM_PAGES)
def test_real_rustdoc_pages_are_not_redirect_stubs(rel: str) -> None:
    html = read(rel)
    assert not is_redirect_stub(html)
    assert not is_redirect_stub(wrap_like_docsrs(html, *crate_of(rel)))
    assert redirect_target(html, url_of(rel)) is None


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (
            wrap_like_docsrs(read("bytes/1.2.1/bytes/struct.Bytes.html"), "bytes", "1.2.1"),
            PageMeta("bytes", "1.2.1"),
        ),
        (
            wrap_like_docsrs(read("semver/1.0.14/semver/index.html"), "semver", "1.0.14"),
            PageMeta("semver", "1.0.14"),
        ),
        (read("bytes/1.2.1/bytes/struct.Bytes.html"), None),
        ('<script id="crate-metadata" type="application/json">{"name": "x"</script>', None),
        ('<script id="crate-metadata" type="application/json">["x", "1.0.0"]</script>', None),
        ('<script id="crate-metadata" type="application/json">{"name": "x"}</script>', None),
        ("", None),
    ],
    ids=[
        "wrapped-bytes",
        "wrapped-semver",
        "raw-rustdoc",
        "broken-json",
        "not-object",
        "no-ver",
        "empty",
    ],
)
def test_page_meta_comes_from_the_docsrs_top_bar_or_is_none(
    html: str, expected: PageMeta | None
) -> None:
    assert parse_page_meta(html) == expected


# --------------------------------------------------------------------------------------------
# Every item page: invariants, and raw and docs.rs-wrapped pages agree


@pytest.mark.parametrize("rel", ITEM_PAGES)
def test_item_page_parses_identically_raw_and_wrapped_by_docsrs(rel: str) -> None:
    raw = parse_page(rel)
    wrapped = parse_page(rel, wrapped=True)
    assert raw == wrapped


@pytest.mark.parametrize("rel", ITEM_PAGES)
def test_item_page_yields_its_main_item_first_then_uniquely_anchored_members(rel: str) -> None:
    crate, version = crate_of(rel)
    items = parse_page(rel)
    main, members = items[0], items[1:]

    assert main.url == url_of(rel)
    assert main.parent is None
    assert main.impl_of is None
    assert main.path.split("::")[0] == crate.replace("-", "_")
    assert len({item.url for item in items}) == len(items)
    for item in items:
        assert item.crate == crate
        assert item.version == version
        assert item.kind in ITEM_KINDS
        assert "§" not in item.docs
        assert "Read more" not in item.docs
        assert "ⓘ" not in item.signature
        assert item.signature == item.signature.strip()
    for member in members:
        assert member.url.startswith(main.url + "#")
        assert member.parent is not None
        assert member.path == f"{member.parent}::{member.name}"
        assert member.parent.startswith(main.path)
        assert member.signature


# Per-page item counts by kind (the JSON fixtures give the same members).
COUNT_CASES = [
    ("itoa/1.0.1/itoa/index.html", {"module": 1}),
    ("itoa/1.0.1/itoa/struct.Buffer.html", {"struct": 1, "method": 4}),
    ("itoa/1.0.1/itoa/trait.Integer.html", {"trait": 1}),
    ("anyhow/1.0.69/anyhow/macro.anyhow.html", {"macro": 1}),
    ("anyhow/1.0.69/anyhow/fn.Ok.html", {"fn": 1}),
    ("anyhow/1.0.69/anyhow/type.Result.html", {"type": 1}),
    ("anyhow/1.0.69/anyhow/trait.Context.html", {"trait": 1, "tymethod": 2}),
    ("anyhow/1.0.69/anyhow/struct.Error.html", {"struct": 1, "method": 20, "assoc_type": 1}),
    ("anyhow/1.0.69/anyhow/struct.Chain.html", {"struct": 1, "method": 7, "assoc_type": 1}),
    ("semver/1.0.14/semver/enum.Op.html", {"enum": 1, "variant": 8, "method": 4}),
    (
        "semver/1.0.14/semver/struct.Version.html",
        {"struct": 1, "field": 5, "method": 10, "assoc_type": 1},
    ),
    (
        "semver/1.0.14/semver/struct.Comparator.html",
        {"struct": 1, "field": 5, "method": 9, "assoc_type": 1},
    ),
    ("bytes/1.2.1/bytes/buf/trait.Buf.html", {"trait": 1, "tymethod": 3, "method": 33}),
    ("bytes/1.2.1/bytes/buf/index.html", {"module": 1}),
    ("bytes/1.2.1/bytes/struct.Bytes.html", {"struct": 1, "method": 63, "assoc_type": 5}),
    ("bytes/1.2.1/bytes/struct.BytesMut.html", {"struct": 1, "method": 80, "assoc_type": 5}),
]


@pytest.mark.parametrize(("rel", "counts"), COUNT_CASES)
def test_item_page_yields_the_expected_number_of_items_of_each_kind(
    rel: str, counts: dict[str, int]
) -> None:
    assert Counter(item.kind for item in parse_page(rel)) == counts


# --------------------------------------------------------------------------------------------
# bytes::Bytes: a struct with inherent methods, trait impls, auto and blanket impls

BYTES = "bytes/1.2.1/bytes/struct.Bytes.html"


@pytest.mark.parametrize("wrapped", [False, True], ids=["raw", "docsrs"])
def test_struct_page_main_item_has_path_kind_signature_and_markdown_docs(wrapped: bool) -> None:
    main = parse_page(BYTES, wrapped=wrapped)[0]

    assert main.path == "bytes::Bytes"
    assert main.kind == "struct"
    assert main.url == url_of(BYTES)
    assert main.signature == "pub struct Bytes { /* private fields */ }"
    assert main.summary == "A cheaply cloneable and sliceable chunk of contiguous memory."
    assert "# Memory layout" in main.docs
    assert "- Instances can be sliced to refer to a subset of the the original buffer." in (
        main.docs
    )
    assert "`Bytes` is an efficient container" in main.docs
    # The ASCII diagram is a ```text block, kept character for character.
    assert "```text\n   Arc ptrs                   ┌─────────┐\n" in main.docs


def test_inherent_method_has_anchor_url_signature_and_fenced_rust_example() -> None:
    slice_ = by_anchor(parse_page(BYTES))["method.slice"]

    assert slice_.path == "bytes::Bytes::slice"
    assert slice_.kind == "method"
    assert slice_.url == url_of(BYTES) + "#method.slice"
    assert slice_.parent == "bytes::Bytes"
    assert slice_.impl_of is None
    # The fixture's rustdoc renders the return type as `Bytes` (source: `-> Bytes`).
    assert slice_.signature == "pub fn slice(&self, range: impl RangeBounds<usize>) -> Bytes"
    assert slice_.docs.startswith("Returns a slice of self for the provided range.")
    assert (
        "```rust\n"
        "use bytes::Bytes;\n"
        "\n"
        'let a = Bytes::from(&b"hello world"[..]);\n'
        "let b = a.slice(2..5);\n"
        "\n"
        'assert_eq!(&b[..], b"llo");\n'
        "```"
    ) in slice_.docs
    assert "# Panics" in slice_.docs
    assert "`begin <= end`" in slice_.docs


@pytest.mark.parametrize(
    ("anchor", "path", "kind", "impl_of", "signature"),
    [
        ("method.clone", "bytes::Bytes::clone", "method", "impl Clone for Bytes", None),
        ("method.remaining", "bytes::Bytes::remaining", "method", "impl Buf for Bytes", None),
        (
            "method.from-1",
            "bytes::Bytes::from",
            "method",
            "impl From<&'static str> for Bytes",
            None,
        ),
        (
            "associatedtype.Target",
            "bytes::Bytes::Target",
            "assoc_type",
            "impl Deref for Bytes",
            "type Target = [u8]",
        ),
        (
            "associatedtype.Item-1",
            "bytes::Bytes::Item",
            "assoc_type",
            "impl<'a> IntoIterator for &'a Bytes",
            None,
        ),
        (
            "method.as_ref",
            "bytes::Bytes::as_ref",
            "method",
            "impl AsRef<[u8]> for Bytes",
            "fn as_ref(&self) -> &[u8]",
        ),
    ],
)
def test_trait_impl_members_carry_the_impl_header_they_come_from(
    anchor: str, path: str, kind: str, impl_of: str, signature: str | None
) -> None:
    member = by_anchor(parse_page(BYTES))[anchor]
    assert member.path == path
    assert member.kind == kind
    assert member.impl_of == impl_of
    assert member.parent == "bytes::Bytes"
    if signature is not None:
        assert member.signature == signature


def test_trait_impl_member_docs_drop_the_read_more_link() -> None:
    remaining = by_anchor(parse_page(BYTES))["method.remaining"]
    assert remaining.docs == (
        "Returns the number of bytes between the current position and the end of the buffer."
    )


@pytest.mark.parametrize(
    "anchor",
    [
        "method.type_id",  # blanket impl<T> Any for T
        "method.borrow_mut",  # blanket impl<T> BorrowMut<T> for T
        "method.try_into",  # blanket impl<T, U> TryInto<U> for T
        "method.to_owned",  # blanket impl<T> ToOwned for T
        "method.is_ascii",  # "Methods from Deref<Target = [u8]>": [u8]'s, not Bytes's
        "method.get_u8",  # Buf's provided method, not overridden by `impl Buf for Bytes`
        "method.clone_from",  # Clone's provided method
    ],
)
def test_blanket_auto_deref_and_inherited_default_members_are_skipped(anchor: str) -> None:
    items = parse_page(BYTES)
    assert anchor not in by_anchor(items)
    assert not any(item.impl_of and item.impl_of.startswith("impl<T") for item in items)
    assert not any(
        item.impl_of and re.search(r"\b(Send|Sync|Unpin|UnwindSafe)\b", item.impl_of)
        for item in items
    )


# --------------------------------------------------------------------------------------------
# Traits, enums, structs with fields, macros, modules

BUF = "bytes/1.2.1/bytes/buf/trait.Buf.html"


def test_trait_page_gives_required_methods_as_tymethod_and_provided_as_method() -> None:
    items = parse_page(BUF)
    main, members = items[0], by_anchor(items)

    assert main.path == "bytes::buf::Buf"
    assert main.kind == "trait"
    assert main.signature.startswith("pub trait Buf {\n    // Required methods\n")
    assert "    fn chunk(&self) -> &[u8];\n" in main.signature
    assert "Show 36 methods" not in main.signature

    chunk = members["tymethod.chunk"]
    assert chunk.kind == "tymethod"
    assert chunk.path == "bytes::buf::Buf::chunk"
    assert chunk.url == url_of(BUF) + "#tymethod.chunk"
    assert chunk.signature == "fn chunk(&self) -> &[u8]"
    assert chunk.parent == "bytes::buf::Buf"

    get_u8 = members["method.get_u8"]
    assert get_u8.kind == "method"
    assert get_u8.signature == "fn get_u8(&mut self) -> u8"
    assert "```rust" in get_u8.docs
    assert [m.name for m in items if m.kind == "tymethod"] == ["remaining", "chunk", "advance"]


def test_trait_page_skips_impls_on_foreign_types_and_implementors() -> None:
    items = parse_page(BUF)
    # "Implementations on Foreign Types" repeat remaining/chunk/advance as method.remaining-1 ...
    assert not any(re.search(r"-\d+$", item.url) for item in items)
    assert all(item.impl_of is None for item in items)


OP = "semver/1.0.14/semver/enum.Op.html"


def test_enum_page_gives_each_variant_in_order() -> None:
    items = parse_page(OP)
    main = items[0]
    variants = [item for item in items if item.kind == "variant"]

    assert main.path == "semver::Op"
    assert main.kind == "enum"
    assert main.signature.startswith("#[non_exhaustive]\npub enum Op {\n    Exact,\n")
    assert [v.path for v in variants] == [
        f"semver::Op::{name}"
        for name in [
            "Exact",
            "Greater",
            "GreaterEq",
            "Less",
            "LessEq",
            "Tilde",
            "Caret",
            "Wildcard",
        ]
    ]
    exact = variants[0]
    assert exact.url == url_of(OP) + "#variant.Exact"
    assert exact.signature == "Exact"
    assert exact.parent == "semver::Op"


VERSION = "semver/1.0.14/semver/struct.Version.html"


def test_struct_page_gives_public_fields_with_their_types() -> None:
    items = parse_page(VERSION)
    fields = [item for item in items if item.kind == "field"]

    assert [(f.path, f.signature) for f in fields] == [
        ("semver::Version::major", "major: u64"),
        ("semver::Version::minor", "minor: u64"),
        ("semver::Version::patch", "patch: u64"),
        ("semver::Version::pre", "pre: Prerelease"),
        ("semver::Version::build", "build: BuildMetadata"),
    ]
    assert fields[0].url == url_of(VERSION) + "#structfield.major"
    assert items[0].signature.splitlines()[1] == "    pub major: u64,"


def test_struct_field_docs_are_the_docblock_after_the_field() -> None:
    fields = by_anchor(parse_page("semver/1.0.14/semver/struct.Comparator.html"))
    assert fields["structfield.patch"].docs == "Patch is only allowed if minor is Some."
    assert fields["structfield.pre"].docs == (
        "Non-empty pre-release is only allowed if patch is Some."
    )
    assert fields["structfield.major"].docs == ""


@pytest.mark.parametrize("wrapped", [False, True], ids=["raw", "docsrs"])
def test_macro_page_gives_the_macro_rules_signature_and_no_members(wrapped: bool) -> None:
    items = parse_page("anyhow/1.0.69/anyhow/macro.anyhow.html", wrapped=wrapped)
    assert len(items) == 1
    (macro,) = items
    assert macro.path == "anyhow::anyhow"
    assert macro.kind == "macro"
    assert macro.signature == (
        "macro_rules! anyhow {\n"
        "    ($msg:literal $(,)?) => { ... };\n"
        "    ($err:expr $(,)?) => { ... };\n"
        "    ($fmt:expr, $($arg:tt)*) => { ... };\n"
        "}"
    )
    assert macro.docs.startswith("Construct an ad-hoc error from a string")


def test_function_and_type_alias_pages_give_only_their_item() -> None:
    (ok,) = parse_page("anyhow/1.0.69/anyhow/fn.Ok.html")
    assert (ok.path, ok.kind) == ("anyhow::Ok", "fn")
    assert ok.signature == "pub fn Ok<T>(t: T) -> Result<T>"
    # The "Aliased Type" variants (Ok, Err) belong to core::result::Result, not to the alias.
    (result,) = parse_page("anyhow/1.0.69/anyhow/type.Result.html")
    assert (result.path, result.kind) == ("anyhow::Result", "type")
    assert result.signature == "pub type Result<T, E = Error> = Result<T, E>;"


@pytest.mark.parametrize(
    ("rel", "path", "signature", "docs_start"),
    [
        (
            "itoa/1.0.1/itoa/index.html",
            "itoa",
            "crate itoa",
            "This crate provides a fast conversion of integer primitives to decimal strings.",
        ),
        (
            "bytes/1.2.1/bytes/buf/index.html",
            "bytes::buf",
            "pub mod buf",
            "Utilities for working with buffers.",
        ),
        (
            "anyhow/1.0.69/anyhow/index.html",
            "anyhow",
            "crate anyhow",
            "This library provides `anyhow::Error`, a trait object based error type",
        ),
    ],
)
def test_module_page_gives_one_module_item_with_the_module_docs(
    rel: str, path: str, signature: str, docs_start: str
) -> None:
    items = parse_page(rel)
    assert len(items) == 1
    (module,) = items
    assert module.path == path
    assert module.kind == "module"
    assert module.signature == signature
    assert module.docs.startswith(docs_start)
    assert module.url == url_of(rel)


def test_module_docs_keep_code_examples_and_drop_badge_images() -> None:
    (module,) = parse_page("itoa/1.0.1/itoa/index.html")
    assert "img.shields.io" not in module.docs
    assert "```rust\nfn main() {\n    let mut buffer = itoa::Buffer::new();\n" in module.docs


@pytest.mark.parametrize(
    ("rel", "description"),
    [
        (
            "itoa/1.0.1/itoa/index.html",
            "This crate provides a fast conversion of integer primitives to decimal strings. "
            "The implementation comes straight from libcore but avoids the performance penalty "
            "of going through `core::fmt::Formatter`.",
        ),
        (
            "anyhow/1.0.69/anyhow/index.html",
            "This library provides `anyhow::Error`, a trait object based error type for easy "
            "idiomatic error handling in Rust applications.",
        ),
        (
            "semver/1.0.14/semver/index.html",
            "A parser and evaluator for Cargo’s flavor of Semantic Versioning.",
        ),
        ("bytes/1.2.1/bytes/index.html", "Provides abstractions for working with bytes."),
    ],
)
@pytest.mark.parametrize("wrapped", [False, True], ids=["raw", "docsrs"])
def test_crate_description_is_the_first_non_empty_paragraph_of_the_root_docs(
    rel: str, description: str, wrapped: bool
) -> None:
    html = read(rel)
    if wrapped:
        html = wrap_like_docsrs(html, *crate_of(rel))
    assert parse_crate_description(html) == description


@pytest.mark.parametrize("html", ["", "<html><body>nothing</body></html>", "\x00\xff"])
def test_crate_description_of_a_page_without_docs_is_empty(html: str) -> None:
    assert parse_crate_description(html) == ""


# --------------------------------------------------------------------------------------------
# item-info: features and deprecation


@pytest.mark.parametrize(
    ("rel", "anchor", "features"),
    [
        ("anyhow/1.0.69/anyhow/struct.Chain.html", None, ("std",)),
        ("anyhow/1.0.69/anyhow/struct.Error.html", None, ()),
        ("anyhow/1.0.69/anyhow/struct.Error.html", "method.new", ("std",)),
        ("anyhow/1.0.69/anyhow/struct.Error.html", "method.msg", ()),
        # A trait impl available only with a feature passes it on to its members.
        ("anyhow/1.0.69/anyhow/struct.Error.html", "method.deref", ("std",)),
        ("anyhow/1.0.69/anyhow/struct.Error.html", "method.fmt", ()),
        # "Available on non-no_const_vec_new only" is a cfg, not a crate feature.
        ("semver/1.0.14/semver/struct.VersionReq.html", "associatedconstant.STAR", ()),
    ],
)
def test_portability_notes_become_features(
    rel: str, anchor: str | None, features: tuple[str, ...]
) -> None:
    items = parse_page(rel)
    item = items[0] if anchor is None else by_anchor(items)[anchor]
    assert item.features == features
    assert "Available on" not in item.docs


def synthetic_page(main_content: str, body_class: str = "rustdoc struct") -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>x</title></head>'
        f'<body class="{body_class}"><main><div class="width-limiter">'
        f'<section id="main-content" class="content">{main_content}</section>'
        "</div></main></body></html>"
    )


DEPRECATED_PAGE = synthetic_page(
    '<div class="main-heading"><div class="rustdoc-breadcrumbs"><a href="index.html">demo</a>'
    '</div><h1>Struct <span class="struct">Old</span> <button id="copy-path">Copy item path'
    "</button></h1></div>"
    '<pre class="rust item-decl"><code>pub struct Old;</code></pre>'
    '<span class="item-info"><div class="stab deprecated"><span class="emoji">👎</span>'
    "<span>Deprecated since 0.2.0: <p>use <code>New</code> instead</p></span></div>"
    '<div class="stab portability">Available on <strong>crate features <code>std</code> and '
    "<code>alloc</code></strong> only.</div></span>"
    '<details class="toggle top-doc" open><summary class="hideme"><span>Expand description'
    '</span></summary><div class="docblock"><p>An old thing.</p></div></details>'
    '<h2 id="implementations" class="section-header">Implementations</h2>'
    '<div id="implementations-list"><details class="toggle implementors-toggle" open><summary>'
    '<section id="impl-Old" class="impl"><h3 class="code-header">impl Old</h3></section>'
    '</summary><div class="impl-items"><details class="toggle method-toggle" open><summary>'
    '<section id="method.frob" class="method"><h4 class="code-header">pub fn '
    '<a href="#method.frob" class="fn">frob</a>(&amp;self)</h4></section>'
    '<span class="item-info"><div class="stab deprecated"><span class="emoji">👎</span>'
    "<span>Deprecated: frobbing is over</span></div></span></summary>"
    '<div class="docblock"><p>Frobs.</p></div></details>'
    '<section id="method.plain" class="method"><h4 class="code-header">pub fn plain()</h4>'
    "</section></div></details></div>"
)


@pytest.mark.parametrize("wrapped", [False, True], ids=["raw", "docsrs"])
def test_deprecation_notes_are_captured_and_kept_out_of_the_docs(wrapped: bool) -> None:
    html = wrap_like_docsrs(DEPRECATED_PAGE, "demo", "0.3.0") if wrapped else DEPRECATED_PAGE
    items = parse_item_page(
        html, crate="demo", version="0.3.0", url="https://docs.rs/demo/0.3.0/demo/struct.Old.html"
    )
    main, frob, plain = items

    assert main.path == "demo::Old"
    assert main.deprecated == "Deprecated since 0.2.0: use New instead"
    assert main.features == ("std", "alloc")
    assert main.docs == "An old thing."
    assert frob.path == "demo::Old::frob"
    assert frob.signature == "pub fn frob(&self)"
    assert frob.deprecated == "Deprecated: frobbing is over"
    assert frob.docs == "Frobs."
    assert plain.deprecated is None
    assert plain.docs == ""


def test_older_rustdoc_layout_with_in_band_heading_and_item_decl_div_is_understood() -> None:
    html = synthetic_page(
        '<h1 class="fqn"><span class="in-band">Struct <a class="mod" href="index.html">demo</a>'
        '::<wbr><a class="struct" href="#">Thing</a></span><span class="out-of-band">'
        '<a class="srclink" href="../src/demo/lib.rs.html#1-3">source</a></span></h1>'
        '<div class="docblock item-decl"><pre class="rust struct"><code>pub struct Thing {\n'
        "    pub size: usize,\n}</code></pre></div>"
        '<details class="rustdoc-toggle top-doc" open><summary class="hideme">'
        '<span>Expand description</span></summary><div class="docblock"><p>A thing.</p>'
        "</div></details>"
        '<h2 id="fields" class="fields small-section-header">Fields</h2>'
        '<span id="structfield.size" class="structfield small-section-header">'
        '<a href="#structfield.size" class="anchor field"></a><code>size: usize</code></span>'
        '<div class="docblock"><p>How big.</p></div>'
        '<h2 id="implementations" class="small-section-header">Implementations</h2>'
        '<div id="implementations-list"><details class="rustdoc-toggle implementors-toggle" open>'
        '<summary><div id="impl-Thing" class="impl has-srclink"><h3 class="code-header in-band">'
        'impl Thing</h3></div></summary><div class="impl-items">'
        '<details class="rustdoc-toggle method-toggle" open><summary>'
        '<div id="method.grow" class="method has-srclink"><h4 class="code-header">'
        "pub fn grow(&amp;mut self)</h4></div></summary>"
        '<div class="docblock"><p>Grows.</p></div></details></div></details></div>'
    )
    items = parse_item_page(
        html, crate="demo", version="1.0.0", url="https://docs.rs/demo/1.0.0/demo/struct.Thing.html"
    )
    assert [(i.path, i.kind, i.signature, i.docs) for i in items] == [
        ("demo::Thing", "struct", "pub struct Thing {\n    pub size: usize,\n}", "A thing."),
        ("demo::Thing::size", "field", "size: usize", "How big."),
        ("demo::Thing::grow", "method", "pub fn grow(&mut self)", "Grows."),
    ]


def test_struct_variant_fields_are_fields_of_the_variant() -> None:
    html = synthetic_page(
        '<div class="main-heading"><div class="rustdoc-breadcrumbs"><a href="index.html">demo</a>'
        '</div><h1>Enum <span class="enum">Shape</span></h1></div>'
        '<pre class="rust item-decl"><code>pub enum Shape {\n    Rect { w: u32 },\n}</code></pre>'
        '<h2 id="variants" class="variants section-header">Variants</h2><div class="variants">'
        '<section id="variant.Rect" class="variant"><h3 class="code-header">Rect</h3></section>'
        '<div class="docblock"><p>A rectangle.</p></div>'
        '<div class="sub-variant" id="variant.Rect.fields"><h4>Fields</h4>'
        '<div class="sub-variant-field"><span id="variant.Rect.field.w" class="section-header">'
        '<a href="#variant.Rect.field.w" class="anchor field">§</a><code>w: u32</code></span>'
        '<div class="docblock"><p>Width.</p></div></div></div></div>',
        body_class="rustdoc enum",
    )
    items = parse_item_page(
        html, crate="demo", version="1.0.0", url="https://docs.rs/demo/1.0.0/demo/enum.Shape.html"
    )
    assert [(i.path, i.kind, i.signature, i.docs, i.parent) for i in items[1:]] == [
        ("demo::Shape::Rect", "variant", "Rect", "A rectangle.", "demo::Shape"),
        ("demo::Shape::Rect::w", "field", "w: u32", "Width.", "demo::Shape::Rect"),
    ]
    assert items[2].url.endswith("#variant.Rect.field.w")


def test_a_page_without_a_usable_heading_takes_its_path_from_the_url() -> None:
    html = synthetic_page(
        '<pre class="rust item-decl"><code>pub fn helper()</code></pre>'
        '<details class="toggle top-doc" open><div class="docblock"><p>Helps.</p></div></details>',
        body_class="rustdoc fn",
    )
    (item,) = parse_item_page(
        html,
        crate="demo-crate",
        version="1.0.0",
        url="https://docs.rs/demo-crate/1.0.0/x86_64-pc-windows-msvc/demo_crate/util/fn.helper.html",
    )
    assert (item.path, item.kind, item.signature, item.docs) == (
        "demo_crate::util::helper",
        "fn",
        "pub fn helper()",
        "Helps.",
    )


# --------------------------------------------------------------------------------------------
# Docblock -> Markdown

MARKDOWN_PAGE = synthetic_page(
    '<div class="main-heading"><div class="rustdoc-breadcrumbs"><a href="index.html">demo</a>'
    '</div><h1>Function <span class="fn">go</span></h1></div>'
    '<pre class="rust item-decl"><code>pub fn go()</code></pre>'
    '<details class="toggle top-doc" open><summary class="hideme"><span>Expand description'
    '</span></summary><div class="docblock">'
    '<p>Runs <em>fast</em>, see <a href="struct.Thing.html"><code>Thing</code></a>.\n'
    "Second line.</p>"
    '<h2 id="steps"><a class="doc-anchor" href="#steps">§</a>Steps</h2>'
    "<ol><li>First</li><li>Second<ul><li>nested</li></ul></li></ol>"
    '<h3 id="table"><a class="doc-anchor" href="#table">§</a>Table</h3>'
    "<table><thead><tr><th>A</th><th>B</th></tr></thead>"
    "<tbody><tr><td><code>1</code></td><td>one</td></tr></tbody></table>"
    "<blockquote><p>Quoted.</p></blockquote>"
    '<div class="example-wrap ignore"><a href="#" class="tooltip" title="not tested">ⓘ</a>'
    '<pre class="rust rust-example-rendered ignore"><code><span class="kw">fn </span>main() {\n'
    '    <span class="kw">if </span>a &lt; b {\n\n        go();\n    }\n}</code></pre></div>'
    '<div class="example-wrap"><pre class="language-toml"><code>[dependencies]\n'
    'demo = "1"</code></pre></div>'
    "<p>Use <code>a`b</code> carefully.</p>"
    "</div></details>",
    body_class="rustdoc fn",
)


def test_docblocks_become_markdown_with_exact_code_blocks() -> None:
    (item,) = parse_item_page(
        MARKDOWN_PAGE,
        crate="demo",
        version="1.0.0",
        url="https://docs.rs/demo/1.0.0/demo/fn.go.html",
    )
    assert item.docs == (
        "Runs *fast*, see `Thing`. Second line.\n"
        "\n"
        "# Steps\n"
        "\n"
        "1. First\n"
        "2. Second\n"
        "   - nested\n"
        "\n"
        "## Table\n"
        "\n"
        "| A | B |\n"
        "|---|---|\n"
        "| `1` | one |\n"
        "\n"
        "> Quoted.\n"
        "\n"
        "```rust\n"
        "fn main() {\n"
        "    if a < b {\n"
        "\n"
        "        go();\n"
        "    }\n"
        "}\n"
        "```\n"
        "\n"
        "```toml\n"
        "[dependencies]\n"
        'demo = "1"\n'
        "```\n"
        "\n"
        "Use `` a`b `` carefully."
    )


# --------------------------------------------------------------------------------------------
# Malformed input


def random_text(seed: int, size: int) -> str:
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(size)).decode("utf-8", errors="replace")


MALFORMED_CASES = [
    ("empty", ""),
    ("whitespace", "   \n\t "),
    ("no-main-content", "<html><body>nothing</body></html>"),
    ("truncated-3000", read(BYTES)[:3000]),
    ("truncated-head-only", read(BYTES)[: read(BYTES).index("<body")]),
    ("random-bytes", random_text(1, 4096)),
    ("random-bytes-with-markup", "<section id='main-content'>" + random_text(2, 4096)),
    ("nul-and-surrogates", "<section id='main-content'><h1>\x00\ud800</h1>\x07</section>"),
    ("not-html", '{"name": "bytes"}'),
    ("all-html", read("bytes/1.2.1/bytes/all.html")),
    ("redirect-stub", read("anyhow/1.0.69/anyhow/macro.anyhow!.html")),
]


@pytest.mark.parametrize(("case", "html"), MALFORMED_CASES, ids=[c for c, _ in MALFORMED_CASES])
def test_malformed_pages_raise_malformed_document_or_give_a_valid_list(
    case: str, html: str
) -> None:
    try:
        items = parse_item_page(
            html, crate="bytes", version="1.2.1", url=url_of(BYTES.replace("Bytes", "Odd"))
        )
    except MalformedDocument as exc:
        message = str(exc)
        assert message, "MalformedDocument needs a message a person can act on"
        return
    assert isinstance(items, list)
    assert all(isinstance(item, DocItem) for item in items)


@pytest.mark.parametrize(
    "html",
    ["", "<html><body>nothing</body></html>", read("anyhow/1.0.69/anyhow/macro.anyhow!.html")],
    ids=["empty", "no-main-content", "redirect-stub"],
)
def test_pages_without_main_content_raise_malformed_document_with_a_clear_message(
    html: str,
) -> None:
    with pytest.raises(MalformedDocument, match=r"empty|main-content"):
        parse_item_page(html, crate="bytes", version="1.2.1", url=url_of(BYTES))
    with pytest.raises(MalformedDocument):
        parse_all_items(html, url_of("bytes/1.2.1/bytes/all.html"))
    with pytest.raises(MalformedDocument):
        parse_module_items(html, url_of("bytes/1.2.1/bytes/index.html"))


def test_a_page_of_unknown_kind_raises_malformed_document() -> None:
    with pytest.raises(MalformedDocument, match="kind"):
        parse_item_page(
            read("bytes/1.2.1/bytes/all.html"),
            crate="bytes",
            version="1.2.1",
            url=url_of("bytes/1.2.1/bytes/all.html"),
        )


@pytest.mark.parametrize("cut", [5_000, 20_000, 60_000, 150_000, 300_000, 420_000])
def test_truncated_pages_give_the_members_before_the_cut(cut: int) -> None:
    html = read(BYTES)[:cut]
    try:
        items = parse_item_page(html, crate="bytes", version="1.2.1", url=url_of(BYTES))
    except MalformedDocument:
        return
    assert items[0].path == "bytes::Bytes"
    full = {item.url: item for item in parse_page(BYTES)}
    for item in items[1:]:
        assert item.url in full
        assert item.path == full[item.url].path


@pytest.mark.parametrize("seed", range(20))
def test_random_garbage_never_raises_anything_but_malformed_document(seed: int) -> None:
    rng = random.Random(seed)
    page = read(BYTES)
    # Splice random bytes into a real page at random places.
    pieces = []
    pos = 0
    for _ in range(8):
        nxt = rng.randrange(pos, len(page))
        pieces.append(page[pos:nxt])
        pieces.append(random_text(seed * 100 + len(pieces), rng.randrange(1, 400)))
        pos = nxt
    pieces.append(page[pos : pos + rng.randrange(0, len(page) - pos + 1)])
    html = "".join(pieces)
    try:
        items = parse_item_page(html, crate="bytes", version="1.2.1", url=url_of(BYTES))
    except MalformedDocument:
        return
    assert all(isinstance(item, DocItem) for item in items)


def test_a_member_that_cannot_be_parsed_is_skipped_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    original = parse._member_signature

    def flaky(el: object) -> str:
        if getattr(el, "get", lambda _: None)("id") == "method.slice":
            raise AttributeError("simulated breakage")
        return original(el)

    monkeypatch.setattr(parse, "_member_signature", flaky)
    with caplog.at_level(logging.WARNING, logger="rustdocs_mcp.parse"):
        items = parse_page(BYTES)

    anchors = by_anchor(items)
    assert "method.slice" not in anchors
    assert "method.slice_ref" in anchors
    assert any("method.slice" in record.getMessage() for record in caplog.records)


def test_unexpected_internal_errors_surface_as_malformed_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(_main: object) -> None:
        raise IndexError("simulated")

    monkeypatch.setattr(parse, "_main_docblock", broken)
    with pytest.raises(MalformedDocument, match="IndexError"):
        parse_page(BYTES)


# --------------------------------------------------------------------------------------------
# Size


def test_a_three_megabyte_page_parses_every_member() -> None:
    rel = "bytes/1.2.1/bytes/struct.BytesMut.html"
    page = read(rel)
    start = page.index('<div id="trait-implementations-list">')
    end = page.index('<h2 id="synthetic-implementations"')
    block = page[start:end]
    # Repeat the trait implementations with fresh anchors, so every copy is a new set of
    # members to parse: a worst case for a page of this size.
    copies = -(-(3_100_000 - len(page.encode())) // len(block.encode()))
    big = (
        page[:end]
        + "".join(
            block.replace('id="method.', f'id="method.copy{n}_').replace(
                'id="associatedtype.', f'id="associatedtype.copy{n}_'
            )
            for n in range(copies)
        )
        + page[end:]
    )
    assert len(big.encode()) > 3_000_000

    items = parse_item_page(big, crate="bytes", version="1.2.1", url=url_of(rel))
    assert len(items) > 5 * len(parse_page(rel))
    assert len({i.url for i in items}) == len(items)


def test_module_urls_with_a_trailing_slash_are_module_pages() -> None:
    (module,) = parse_item_page(
        read("bytes/1.2.1/bytes/buf/index.html"),
        crate="bytes",
        version="1.2.1",
        url="https://docs.rs/bytes/1.2.1/bytes/buf/#some-fragment",
    )
    assert module.kind == "module"
    assert module.path == "bytes::buf"
    assert module.url == "https://docs.rs/bytes/1.2.1/bytes/buf/"
