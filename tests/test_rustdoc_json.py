"""rustdoc JSON becomes DocItems with the paths, urls and anchors of rustdoc's HTML pages."""

from __future__ import annotations

import copy
import functools
import gzip
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from rustdocs_mcp.errors import MalformedDocument
from rustdocs_mcp.models import ITEM_KINDS, DocItem
from rustdocs_mcp.rustdoc_json import (
    SUPPORTED_FORMAT_VERSIONS,
    UnsupportedFormat,
    features_of,
    parse_crate_json,
    strip_hidden_lines,
)
from rustdocs_mcp.rustdoc_render import render_fn, render_impl_header, render_type

FIXTURES = Path(__file__).parent / "fixtures" / "docsrs"
VERSIONS = {"itoa": "1.0.1", "anyhow": "1.0.69", "semver": "1.0.14", "bytes": "1.2.1"}
CRATES = sorted(VERSIONS)


def base(crate: str) -> str:
    return f"https://docs.rs/{crate}/{VERSIONS[crate]}/"


@functools.cache
def raw(crate: str) -> str:
    (path,) = (FIXTURES / "rustdoc-json" / crate / VERSIONS[crate]).glob("*.json.gz")
    return gzip.decompress(path.read_bytes()).decode()


def load(crate: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(raw(crate))
    return doc


def parse(crate: str, doc: dict[str, Any] | None = None) -> list[DocItem]:
    return parse_crate_json(
        load(crate) if doc is None else doc,
        crate=crate,
        version=VERSIONS[crate],
        docs_base=base(crate),
    )


@functools.cache
def parsed(crate: str) -> tuple[DocItem, ...]:
    return tuple(parse(crate))


def by_url(crate: str) -> dict[str, DocItem]:
    return {item.url: item for item in parsed(crate)}


def html_file(url: str) -> Path:
    return FIXTURES / "rustdoc" / url.removeprefix("https://docs.rs/").split("#")[0]


def is_redirect(path: Path) -> bool:
    return 'http-equiv="refresh"' in path.read_text()


# --- expected items --------------------------------------------------------------------------

EXPECTED = [
    # crate, url after docs_base, path, kind, a piece of the signature
    ("itoa", "itoa/index.html", "itoa", "module", "crate itoa"),
    ("itoa", "itoa/struct.Buffer.html", "itoa::Buffer", "struct", "pub struct Buffer {"),
    (
        "itoa",
        "itoa/struct.Buffer.html#method.format",
        "itoa::Buffer::format",
        "method",
        "pub fn format<I: Integer>(&mut self, i: I) -> &str",
    ),
    ("itoa", "itoa/trait.Integer.html", "itoa::Integer", "trait", "pub trait Integer: Sealed"),
    ("anyhow", "anyhow/struct.Error.html", "anyhow::Error", "struct", "pub struct Error {"),
    (
        "anyhow",
        "anyhow/struct.Error.html#method.context",
        "anyhow::Error::context",
        "method",
        "pub fn context<C>(self, context: C) -> Self\nwhere\n    C: Display + Send + Sync",
    ),
    (
        "anyhow",
        "anyhow/trait.Context.html#tymethod.with_context",
        "anyhow::Context::with_context",
        "tymethod",
        "fn with_context<C, F>(self, f: F) -> Result<T, Error>",
    ),
    (
        "anyhow",
        "anyhow/type.Result.html",
        "anyhow::Result",
        "type",
        "pub type Result<T, E = Error> = Result<T, E>;",
    ),
    ("anyhow", "anyhow/fn.Ok.html", "anyhow::Ok", "fn", "pub fn Ok<T>(t: T) -> Result<T>"),
    ("anyhow", "anyhow/macro.anyhow.html", "anyhow::anyhow", "macro", "macro_rules! anyhow {"),
    (
        "anyhow",
        "anyhow/macro.format_err.html",
        "anyhow::format_err",
        "macro",
        "macro_rules! format_err {\n    ($msg:literal $(,)?) => { ... };",
    ),
    ("anyhow", "anyhow/struct.Chain.html", "anyhow::Chain", "struct", "pub struct Chain<'a>"),
    (
        "anyhow",
        "anyhow/struct.Error.html#method.root_cause",
        "anyhow::Error::root_cause",
        "method",
        "pub fn root_cause(&self) -> &(dyn StdError + 'static)",
    ),
    ("semver", "semver/enum.Op.html", "semver::Op", "enum", "#[non_exhaustive]\npub enum Op {"),
    ("semver", "semver/enum.Op.html#variant.Exact", "semver::Op::Exact", "variant", "Exact"),
    (
        "semver",
        "semver/struct.Version.html#structfield.major",
        "semver::Version::major",
        "field",
        "pub major: u64",
    ),
    (
        "semver",
        "semver/struct.Version.html#method.new",
        "semver::Version::new",
        "method",
        "pub const fn new(major: u64, minor: u64, patch: u64) -> Self",
    ),
    (
        "semver",
        "semver/struct.Version.html#method.parse",
        "semver::Version::parse",
        "method",
        "pub fn parse(text: &str) -> Result<Self, Error>",
    ),
    (
        "semver",
        "semver/struct.VersionReq.html#associatedconstant.STAR",
        "semver::VersionReq::STAR",
        "assoc_const",
        "pub const STAR: Self",
    ),
    ("semver", "semver/struct.Error.html", "semver::Error", "struct", "pub struct Error {"),
    (
        "semver",
        "semver/struct.Comparator.html",
        "semver::Comparator",
        "struct",
        "pub struct Comparator {\n    pub op: Op,\n    pub major: u64,\n    pub minor:",
    ),
    ("bytes", "bytes/buf/index.html", "bytes::buf", "module", "pub mod buf"),
    (
        "bytes",
        "bytes/struct.Bytes.html",
        "bytes::Bytes",
        "struct",
        "pub struct Bytes { /* private fields */ }",
    ),
    (
        "bytes",
        "bytes/struct.Bytes.html#method.slice",
        "bytes::Bytes::slice",
        "method",
        "pub fn slice(&self, range: impl RangeBounds<usize>) -> Bytes",
    ),
    ("bytes", "bytes/buf/trait.Buf.html", "bytes::buf::Buf", "trait", "pub trait Buf {"),
    ("bytes", "bytes/buf/trait.BufMut.html", "bytes::buf::BufMut", "trait", "pub unsafe trait"),
    (
        "bytes",
        "bytes/buf/trait.Buf.html#tymethod.remaining",
        "bytes::buf::Buf::remaining",
        "tymethod",
        "fn remaining(&self) -> usize",
    ),
    (
        "bytes",
        "bytes/buf/trait.Buf.html#method.chain",
        "bytes::buf::Buf::chain",
        "method",
        "fn chain<U: Buf>(self, next: U) -> Chain<Self, U>\nwhere\n    Self: Sized,",
    ),
    (
        "bytes",
        "bytes/buf/struct.Chain.html",
        "bytes::buf::Chain",
        "struct",
        "pub struct Chain<T, U>",
    ),
    (
        "bytes",
        "bytes/buf/struct.UninitSlice.html",
        "bytes::buf::UninitSlice",
        "struct",
        "pub struct UninitSlice(/* private fields */);",
    ),
]


@pytest.mark.parametrize(("crate", "rel_url", "path", "kind", "signature"), EXPECTED)
def test_expected_item_has_exact_path_kind_url_and_signature(
    crate: str, rel_url: str, path: str, kind: str, signature: str
) -> None:
    item = by_url(crate).get(base(crate) + rel_url)
    assert item is not None, f"no item at {rel_url}"
    assert (item.path, item.kind, item.crate, item.version) == (path, kind, crate, VERSIONS[crate])
    assert signature in item.signature


TRAIT_IMPL_MEMBERS = [
    # crate, url after docs_base, impl_of (the path is the page's type + the member name)
    ("bytes", "bytes/struct.Bytes.html#method.from", "impl From<&'static [u8]> for Bytes"),
    ("bytes", "bytes/struct.Bytes.html#method.from-1", "impl From<&'static str> for Bytes"),
    ("bytes", "bytes/struct.Bytes.html#method.from-5", "impl From<Bytes> for Vec<u8>"),
    ("bytes", "bytes/struct.Bytes.html#method.fmt-1", "impl LowerHex for Bytes"),
    ("bytes", "bytes/struct.Bytes.html#method.into_iter-1", "impl<'a> IntoIterator for &'a Bytes"),
    (
        "bytes",
        "bytes/buf/struct.Chain.html#method.remaining",
        "impl<T, U> Buf for Chain<T, U> where T: Buf, U: Buf",
    ),
    ("anyhow", "anyhow/struct.Error.html#method.fmt-1", "impl Debug for Error"),
    ("anyhow", "anyhow/struct.Error.html#associatedtype.Target", "impl Deref for Error"),
    ("semver", "semver/struct.Version.html#method.fmt", "impl Display for Version"),
    ("semver", "semver/struct.Version.html#associatedtype.Err", "impl FromStr for Version"),
    ("itoa", "itoa/struct.Buffer.html#method.clone", "impl Clone for Buffer"),
]


@pytest.mark.parametrize(("crate", "rel_url", "impl_of"), TRAIT_IMPL_MEMBERS)
def test_trait_impl_member_names_its_impl_and_numbered_anchor(
    crate: str, rel_url: str, impl_of: str
) -> None:
    item = by_url(crate)[base(crate) + rel_url]
    page = by_url(crate)[item.url.split("#")[0]]
    member = rel_url.split("#")[1].split(".")[1].split("-")[0]
    assert (item.path, item.parent, item.impl_of) == (f"{page.path}::{member}", page.path, impl_of)


def test_inherent_members_have_a_parent_and_no_impl_header() -> None:
    item = by_url("bytes")[base("bytes") + "bytes/struct.Bytes.html#method.slice"]
    assert (item.parent, item.impl_of) == ("bytes::Bytes", None)


def test_undocumented_impl_of_a_local_trait_borrows_the_trait_docs() -> None:
    remaining = by_url("bytes")[base("bytes") + "bytes/buf/struct.Chain.html#method.remaining"]
    trait_doc = by_url("bytes")[base("bytes") + "bytes/buf/trait.Buf.html#tymethod.remaining"]
    assert remaining.docs
    assert remaining.docs == trait_doc.docs


@pytest.mark.parametrize(
    ("crate", "path"),
    [
        ("itoa", "itoa::Buffer"),
        ("anyhow", "anyhow::anyhow"),
        ("semver", "semver::Version::new"),
        ("bytes", "bytes::Bytes::slice"),
    ],
)
def test_docs_are_the_markdown_with_code_blocks(crate: str, path: str) -> None:
    (item,) = [i for i in parsed(crate) if i.path == path]
    assert "```" in item.docs
    assert item.summary
    assert "\n" not in item.summary


@pytest.mark.parametrize(
    ("crate", "public", "private"),
    [
        ("bytes", "bytes::buf::Buf", "bytes::buf::buf_impl::Buf"),
        ("bytes", "bytes::Bytes", "bytes::bytes::Bytes"),
        ("bytes", "bytes::buf::Chain", "bytes::buf::chain::Chain"),
        ("semver", "semver::Error", "semver::parse::Error"),
    ],
)
def test_reexported_items_are_under_their_public_path(
    crate: str, public: str, private: str
) -> None:
    paths = {i.path for i in parsed(crate)}
    assert public in paths
    assert not any(p == private or p.startswith(private + "::") for p in paths)


def test_reexport_of_a_public_reexport_is_not_a_second_page() -> None:
    # `pub use crate::buf::Buf;` at the root is a `pub use` line, not `bytes/trait.Buf.html`
    paths = {i.path for i in parsed("bytes")}
    assert "bytes::Buf" not in paths
    assert "bytes::BufMut" not in paths


def test_unreachable_and_hidden_items_are_left_out() -> None:
    paths = {i.path for i in parsed("anyhow")}
    assert not any(
        p.startswith(("anyhow::kind", "anyhow::__private", "anyhow::context")) for p in paths
    )


@pytest.mark.parametrize("crate", CRATES)
def test_urls_are_unique(crate: str) -> None:
    urls = [i.url for i in parsed(crate)]
    assert len(urls) == len(set(urls))


@pytest.mark.parametrize("crate", CRATES)
def test_items_belong_to_the_crate_and_use_known_kinds(crate: str) -> None:
    for item in parsed(crate):
        assert item.path == crate or item.path.startswith(f"{crate}::")
        assert item.url.startswith(base(crate) + crate + "/")
        assert item.kind in ITEM_KINDS


@pytest.mark.parametrize("crate", CRATES)
def test_blanket_and_auto_trait_impls_are_left_out(crate: str) -> None:
    blanket_only = ("type_id", "try_into", "try_from", "into", "clone_into", "clone_to_uninit")
    for item in parsed(crate):
        assert item.name not in blanket_only, item.path
        assert not re.search(r" for [A-Z]\b", item.impl_of or ""), item.impl_of  # `for T`


def test_impl_of_a_foreign_type_is_filed_under_the_local_type_once() -> None:
    # `impl FromIterator<Comparator> for VersionReq` is on both pages; the item is VersionReq's
    items = [i for i in parsed("semver") if i.path.endswith("::from_iter")]
    assert [i.path for i in items] == ["semver::VersionReq::from_iter"]


@pytest.mark.parametrize(
    ("crate", "path", "features"),
    [
        ("anyhow", "anyhow::Error::new", ("std",)),
        ("anyhow", "anyhow::Chain", ("std",)),
        ("anyhow", "anyhow::Error::msg", ()),
        ("bytes", "bytes::buf::Reader", ("std",)),  # from the cfg on the `pub use`
        ("bytes", "bytes::buf::Reader::get_ref", ("std",)),
        ("bytes", "bytes::buf::Buf::reader", ("std",)),
        ("semver", "semver::VersionReq::STAR", ()),  # `cfg(not(no_const_vec_new))`
    ],
)
def test_features_come_from_cfg_attributes(
    crate: str, path: str, features: tuple[str, ...]
) -> None:
    (item,) = [i for i in parsed(crate) if i.path == path]
    assert item.features == features


# --- cross-check with the HTML rustdoc rendered ----------------------------------------------


@pytest.mark.parametrize("crate", CRATES)
def test_every_page_url_is_a_real_page_of_the_html_tree(crate: str) -> None:
    pages = {i.url for i in parsed(crate) if "#" not in i.url}
    for url in pages:
        assert html_file(url).is_file(), url
        assert not is_redirect(html_file(url)), f"{url} is only a redirect"
    tree = FIXTURES / "rustdoc" / crate / VERSIONS[crate]
    real = {
        f"https://docs.rs/{f.relative_to(FIXTURES / 'rustdoc')}"
        for f in tree.rglob("*.html")
        if f.name != "all.html" and not is_redirect(f)
    }
    assert pages == real


@pytest.mark.parametrize("crate", CRATES)
def test_every_member_anchor_exists_on_its_page_under_its_impl(crate: str) -> None:
    for item in parsed(crate):
        if "#" not in item.url:
            continue
        text = html_file(item.url).read_text()
        anchor = item.url.split("#", 1)[1]
        at = text.find(f'id="{anchor}"')
        assert at >= 0, item.url
        if item.impl_of:
            trait = impl_trait_name(item.impl_of)
            impl_ids = re.findall(r'id="(impl-[^"]*)"', text[:at])
            assert impl_ids, item.url
            assert impl_ids[-1].startswith(f"impl-{trait}"), (item.url, impl_ids[-1])


def impl_trait_name(header: str) -> str:
    """`Buf` from `impl<T: Buf> Buf for Take<T>`."""
    rest, depth = header.removeprefix("unsafe ").removeprefix("impl"), 0
    for i, char in enumerate(rest):
        depth += {"<": 1, ">": -1}.get(char, 0)
        if depth == 0:
            rest = rest[i + 1 :] if char == ">" else rest[i:]
            break
    return rest.split()[0].split("<")[0]


def inherent_method_anchors(page: Path) -> set[str]:
    text = page.read_text()
    start = text.find('id="implementations-list"')
    if start < 0:
        return set()
    ends = [
        text.find(marker, start) for marker in ('id="deref-methods', 'id="trait-implementations"')
    ]
    end = min((i for i in ends if i > 0), default=len(text))
    return set(re.findall(r'id="(method\.[A-Za-z0-9_-]+)"', text[start:end]))


@pytest.mark.parametrize(
    "rel_page",
    [
        "bytes/1.2.1/bytes/struct.Bytes.html",
        "bytes/1.2.1/bytes/struct.BytesMut.html",
        "bytes/1.2.1/bytes/buf/struct.Chain.html",
        "anyhow/1.0.69/anyhow/struct.Error.html",
        "semver/1.0.14/semver/struct.Version.html",
        "itoa/1.0.1/itoa/struct.Buffer.html",
    ],
)
def test_every_inherent_method_anchor_of_the_html_has_an_item(rel_page: str) -> None:
    crate = rel_page.split("/")[0]
    anchors = inherent_method_anchors(FIXTURES / "rustdoc" / rel_page)
    assert anchors
    for anchor in anchors:
        assert f"https://docs.rs/{rel_page}#{anchor}" in by_url(crate), anchor


# --- format versions and malformed documents -------------------------------------------------


def test_supported_versions_run_from_the_first_docsrs_nightly_to_61() -> None:
    assert list(SUPPORTED_FORMAT_VERSIONS) == list(range(45, 62))
    assert issubclass(UnsupportedFormat, MalformedDocument)


@pytest.mark.parametrize("format_version", [999, 62, 44, 30, None, "57", True])
def test_unknown_or_missing_format_version_is_unsupported(format_version: Any) -> None:
    doc = load("itoa")
    if format_version is None:
        del doc["format_version"]
    else:
        doc["format_version"] = format_version
    with pytest.raises(UnsupportedFormat, match="format_version"):
        parse("itoa", doc)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("index"), "no `index`"),
        (lambda d: d.update(index=[]), "no `index`"),
        (lambda d: d.pop("root"), "no `root`"),
        (lambda d: d.update(root=123456), "not a module"),
    ],
)
def test_document_without_index_or_root_is_malformed(change: Any, message: str) -> None:
    doc = load("itoa")
    change(doc)
    with pytest.raises(MalformedDocument, match=message) as caught:
        parse("itoa", doc)
    assert not isinstance(caught.value, UnsupportedFormat)


def test_a_document_that_is_not_an_object_is_malformed() -> None:
    with pytest.raises(MalformedDocument):
        parse_crate_json([], crate="x", version="1", docs_base="https://docs.rs/x/1/")  # type: ignore[arg-type]


def _old_attr(attr: Any) -> str | None:
    """A v54+ structured attribute as the string format versions up to 53 used."""
    if isinstance(attr, str):
        return f"#[{attr}]\n"  # v45 still had the trailing newline some attrs carried
    ((kind, value),) = attr.items()
    if kind == "other":
        return None if value.startswith(("#[attr = CfgTrace", "#[attr = CfgAttrTrace")) else value
    if kind == "must_use":
        return f'#[must_use = "{value["reason"]}"]' if value["reason"] else "#[must_use]"
    if kind == "repr":
        return f"#[repr({value['kind']})]"
    return f"#[{kind}]"


def _downgrade(node: Any) -> Any:
    """Rewrite a format-57 document into the shape of format 45 (see rustdoc_json's docstring)."""
    if isinstance(node, list):
        return [_downgrade(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _downgrade(v) for k, v in node.items()}
    if "attrs" in out and "inner" in out:  # an item: attrs were strings before 54
        out["attrs"] = [a for a in map(_old_attr, node["attrs"]) if a is not None]
    if set(out) >= {"name", "args", "binding"} and out["args"] is None:  # constraint args, < 51
        out["args"] = {"angle_bracketed": {"args": [], "constraints": []}}
    if set(out) == {"name", "html_root_url", "path"}:  # ExternalCrate.path is new in 57
        del out["path"]
    return out


@pytest.mark.parametrize("crate", CRATES)
def test_format_45_document_with_string_attrs_parses_like_57(crate: str) -> None:
    old = _downgrade(load(crate))
    old["format_version"] = 45
    assert isinstance(old["index"][str(old["root"])]["attrs"][0], str)
    new_items, old_items = parsed(crate), parse(crate, old)
    assert [(i.url, i.path, i.kind, i.signature, i.docs) for i in old_items] == [
        (i.url, i.path, i.kind, i.signature, i.docs) for i in new_items
    ]
    # features given by `#[doc(cfg(..))]` survive; those only in `CfgTrace` (new) do not
    new_features = {i.url: i.features for i in new_items}
    assert all(set(i.features) <= set(new_features[i.url]) for i in old_items)
    if crate == "anyhow":
        assert {i.path: i.features for i in old_items}["anyhow::Chain"] == ("std",)


def _stability(feature: str, since: str | None, version: int) -> dict[str, Any]:
    """A `Stability` record as format `version` writes it."""
    if since is None:  # the same in 58-60 (internally tagged) and 61 (externally tagged)
        return {"feature": feature, "level": "unstable"}
    if version < 61:  # `level` flattened into the record
        return {"feature": feature, "level": "stable", "since": since}
    return {"feature": feature, "level": {"stable": {"since": since}}}


def _upgrade(doc: dict[str, Any], version: int) -> dict[str, Any]:
    """Rewrite a format-57 document into the shape of format 58-61 (see rustdoc_json).

    Items of other crates (core's traits and their methods) get the records std gives them;
    a third of the crate's own items get an `#[unstable]` record too, as if the crate were
    std (a docs.rs crate's own items have null records).
    """
    out = copy.deepcopy(doc)
    out["format_version"] = version
    for n, item in enumerate(out["index"].values()):
        ((kind, inner),) = item["inner"].items()
        inner_item = item.pop("inner")  # keep `inner` last, as rustdoc writes it
        stability = None
        if item["crate_id"] != 0:
            stability = _stability("rust1", "1.0.0", version)
        elif n % 3 == 0:
            stability = _stability("local_experiment", None, version)
        item["stability"] = stability
        if version >= 59:
            const_fn = kind == "function" and inner["header"]["is_const"]
            const = _stability("const_experiment", None, version) if const_fn else None
            item["const_stability"] = const
        if version >= 60 and kind in ("function", "assoc_const", "assoc_type"):
            provided = kind == "function" and inner["has_body"] and item["crate_id"] != 0
            inner["default_unstable"] = {"feature": "default_experiment"} if provided else None
        item["inner"] = inner_item
    return out


@pytest.mark.parametrize("crate", CRATES)
@pytest.mark.parametrize("format_version", [58, 59, 60, 61])
def test_format_58_to_61_document_with_stability_fields_parses_like_57(
    format_version: int, crate: str
) -> None:
    new = _upgrade(load(crate), format_version)
    items = list(new["index"].values())
    assert all("stability" in i for i in items)
    assert all(("const_stability" in i) == (format_version >= 59) for i in items)
    functions = [i["inner"]["function"] for i in items if "function" in i["inner"]]
    assert all(("default_unstable" in f) == (format_version >= 60) for f in functions)
    levels = [i["stability"]["level"] for i in items if i["stability"]]
    stable = {"stable": {"since": "1.0.0"}} if format_version == 61 else "stable"
    assert stable in levels
    assert "unstable" in levels
    old_items, new_items = parsed(crate), parse(crate, new)
    assert [(i.url, i.path, i.kind, i.signature, i.docs) for i in new_items] == [
        (i.url, i.path, i.kind, i.signature, i.docs) for i in old_items
    ]
    assert new_items == list(old_items)  # features, deprecation, parents, impl headers too


@pytest.mark.parametrize("format_version", list(SUPPORTED_FORMAT_VERSIONS))
def test_every_supported_version_is_accepted(format_version: int) -> None:
    doc = load("itoa")
    doc["format_version"] = format_version
    assert [i.url for i in parse("itoa", doc)] == [i.url for i in parsed("itoa")]


def test_a_weird_item_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    doc = load("semver")
    (op,) = [v for v in doc["index"].values() if v["name"] == "Op"]
    op["inner"]["enum"]["generics"] = "not generics"
    (new,) = [
        v
        for v in doc["index"].values()
        if v["name"] == "new" and len(v["inner"].get("function", {}).get("sig", {})["inputs"]) == 3
    ]
    new["inner"]["function"]["sig"] = None
    with caplog.at_level(logging.WARNING, logger="rustdocs_mcp.rustdoc_json"):
        items = parse("semver", doc)
    paths = {i.path for i in items}
    assert not {"semver::Op", "semver::Op::Exact", "semver::Version::new"} & paths
    assert {"semver::Version", "semver::Version::parse"} <= paths
    assert "skipping" in caplog.text


# --- re-export rules on small hand-made documents ---------------------------------------------


def _item(id_: int, name: str | None, kind: str, inner: Any, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"id": id_, "crate_id": 0, "name": name, "visibility": "public"}
    item |= {"docs": None, "attrs": [], "deprecation": None, "inner": {kind: inner}}
    return item | extra


def _module(id_: int, name: str, items: list[int], *, is_crate: bool = False) -> dict[str, Any]:
    return _item(id_, name, "module", {"is_crate": is_crate, "items": items, "is_stripped": False})


def _use(id_: int, source: str, name: str, target: int, *, glob: bool = False) -> dict[str, Any]:
    return _item(id_, None, "use", {"source": source, "name": name, "id": target, "is_glob": glob})


def _unit_struct(id_: int, name: str, **extra: Any) -> dict[str, Any]:
    generics: dict[str, list[Any]] = {"params": [], "where_predicates": []}
    return _item(id_, name, "struct", {"kind": "unit", "generics": generics, "impls": []}, **extra)


def _mini(*items: dict[str, Any]) -> list[DocItem]:
    doc = {"root": 0, "format_version": 57, "index": {str(i["id"]): i for i in items}}
    return parse_crate_json(
        doc, crate="mini", version="0.1.0", docs_base="https://docs.rs/mini/0.1.0"
    )


def test_glob_reexport_of_a_private_module_documents_its_items_there() -> None:
    items = _mini(
        _module(0, "mini", [1]),
        _use(1, "self::inner::*", "inner", 2, glob=True),
        _module(2, "inner", [3]),
        _unit_struct(3, "Thing"),
    )
    assert {i.path: i.url for i in items}["mini::Thing"] == (
        "https://docs.rs/mini/0.1.0/mini/struct.Thing.html"
    )


def test_reexported_private_module_gets_a_page_under_the_new_name() -> None:
    items = _mini(
        _module(0, "mini", [1]),
        _use(1, "self::private", "public", 2),
        _module(2, "private", [3]),
        _unit_struct(3, "Thing", deprecation={"since": "0.1.0", "note": "use Other"}),
    )
    found = {i.path: i for i in items}
    assert found["mini::public"].url.endswith("/mini/public/index.html")
    thing = found["mini::public::Thing"]
    assert thing.url.endswith("/mini/public/struct.Thing.html")
    assert (thing.signature, thing.deprecated) == ("pub struct Thing;", "since 0.1.0: use Other")


def test_reexport_of_a_public_item_is_not_a_page_unless_inlined() -> None:
    inline = {"attrs": [{"other": "#[doc(inline)]"}]}
    items = _mini(
        _module(0, "mini", [1, 2, 3]),
        _module(1, "a", [4]),
        _use(2, "crate::a::Thing", "Thing", 4),
        _use(3, "crate::a::Thing", "Alias", 4) | inline,
        _unit_struct(4, "Thing"),
    )
    assert sorted(i.url.removeprefix("https://docs.rs/mini/0.1.0/") for i in items) == [
        "mini/a/index.html",
        "mini/a/struct.Thing.html",
        "mini/index.html",
        "mini/struct.Alias.html",
    ]


def test_hidden_items_are_left_out() -> None:
    hidden = {"attrs": ["#[doc(hidden)]"]}
    items = _mini(
        _module(0, "mini", [1, 2]), _unit_struct(1, "Shown"), _unit_struct(2, "Gone", **hidden)
    )
    assert [i.path for i in items] == ["mini", "mini::Shown"]


# --- type renderer -----------------------------------------------------------------------------

U8, T, SELF = {"primitive": "u8"}, {"generic": "T"}, {"generic": "Self"}
RUST_FN = {"is_const": False, "is_unsafe": False, "is_async": False, "abi": "Rust"}
LIFETIME_A = {"name": "'a", "kind": {"lifetime": {"outlives": []}}}


def _path(path: str, *args: Any, constraints: Any = ()) -> dict[str, Any]:
    generic_args = {"angle_bracketed": {"args": list(args), "constraints": list(constraints)}}
    return {"path": path, "id": 1, "args": generic_args if args or constraints else None}


def resolved(path: str, *args: Any, constraints: Any = ()) -> dict[str, Any]:
    return {"resolved_path": _path(path, *args, constraints=constraints)}


def ty_arg(ty: Any) -> dict[str, Any]:
    return {"type": ty}


def ref(ty: Any, lifetime: str | None = None, *, mutable: bool = False) -> dict[str, Any]:
    return {"borrowed_ref": {"lifetime": lifetime, "is_mutable": mutable, "type": ty}}


def bound(path: str, modifier: str = "none") -> dict[str, Any]:
    return {"trait_bound": {"trait": _path(path), "generic_params": [], "modifier": modifier}}


def dyn(*traits: Any, lifetime: str | None = None, hrtb: Any = ()) -> dict[str, Any]:
    poly = [{"trait": t, "generic_params": list(hrtb)} for t in traits]
    return {"dyn_trait": {"traits": poly, "lifetime": lifetime}}


def qpath(name: str, self_type: Any, trait: Any, args: Any = None) -> dict[str, Any]:
    return {"qualified_path": {"name": name, "args": args, "self_type": self_type, "trait": trait}}


def constraint(name: str, *, eq: Any = None, bounds: Any = ()) -> dict[str, Any]:
    binding = {"equality": {"type": eq}} if eq is not None else {"constraint": list(bounds)}
    return {"name": name, "args": None, "binding": binding}


FN_U8_TO_U8 = {
    "path": "Fn",
    "id": 2,
    "args": {"parenthesized": {"inputs": [ref(U8, "'a")], "output": U8}},
}
C_FN_POINTER = {
    "function_pointer": {
        "sig": {
            "inputs": [["_", U8], ["len", {"primitive": "usize"}]],
            "output": None,
            "is_c_variadic": True,
        },
        "generic_params": [],
        "header": RUST_FN | {"is_unsafe": True, "abi": {"C": {"unwind": False}}},
    }
}
CONST_ARG = {"const": {"expr": "{ N + 1 }", "value": None, "is_literal": False}}
EMPTY_ARGS: dict[str, Any] = {"angle_bracketed": {"args": [], "constraints": []}}
USE_BOUND = {"use": [{"lifetime": "'a"}, {"param": "T"}]}

TYPES = [
    ({"primitive": "str"}, "str"),
    (T, "T"),
    (resolved("core::result::Result", ty_arg(U8), ty_arg({"generic": "E"})), "Result<u8, E>"),
    (resolved("Iterator", constraints=[constraint("Item", eq=U8)]), "Iterator<Item = u8>"),
    (
        resolved("IntoIterator", constraints=[constraint("IntoIter", bounds=[bound("Clone")])]),
        "IntoIterator<IntoIter: Clone>",
    ),
    (ref({"slice": U8}, "'a", mutable=True), "&'a mut [u8]"),
    (ref(dyn(_path("Error"), _path("Send"), lifetime="'static")), "&(dyn Error + Send + 'static)"),
    (dyn(FN_U8_TO_U8, hrtb=[LIFETIME_A]), "dyn for<'a> Fn(&'a u8) -> u8"),
    ({"tuple": []}, "()"),
    ({"tuple": [U8]}, "(u8,)"),
    ({"tuple": [U8, T]}, "(u8, T)"),
    ({"array": {"type": U8, "len": "N"}}, "[u8; N]"),
    ({"raw_pointer": {"is_mutable": False, "type": U8}}, "*const u8"),
    ({"raw_pointer": {"is_mutable": True, "type": T}}, "*mut T"),
    ({"impl_trait": [bound("Fn"), {"outlives": "'a"}]}, "impl Fn + 'a"),
    ({"impl_trait": [bound("Sized", "maybe"), USE_BOUND]}, "impl ?Sized + use<'a, T>"),
    ("infer", "_"),
    ({"pat": {"type": U8, "__pat_unstable_do_not_use": "1.."}}, "u8 is 1.."),
    (C_FN_POINTER, 'unsafe extern "C" fn(u8, len: usize, ...)'),
    (qpath("Item", SELF, _path("Iterator")), "Self::Item"),
    (qpath("Output", T, _path("Add", ty_arg(U8))), "<T as Add<u8>>::Output"),
    (qpath("Assoc", T, None, EMPTY_ARGS), "T::Assoc"),
    (qpath("Value", T, _path("")), "T::Value"),  # trait implied by a bound: path is empty
    (resolved("Array", CONST_ARG, "infer", {"lifetime": "'_"}), "Array<{ N + 1 }, _, '_>"),
]


@pytest.mark.parametrize(("ty", "expected"), TYPES)
def test_type_renders_as_rust_source(ty: Any, expected: str) -> None:
    assert render_type(ty) == expected


def _fn(inputs: list[Any], *, params: Any = (), where: Any = (), **header: Any) -> Any:
    generics = {"params": list(params), "where_predicates": list(where)}
    sig = {"inputs": inputs, "output": header.pop("output", None), "is_c_variadic": False}
    return {"sig": sig, "generics": generics, "header": RUST_FN | header, "has_body": True}


def type_param(name: str, *bounds: Any, synthetic: bool = False) -> dict[str, Any]:
    kind = {"bounds": list(bounds), "default": None, "is_synthetic": synthetic}
    return {"name": name, "kind": {"type": kind}}


T_CLONE = type_param("T", bound("Clone"))
IMPL_READ = type_param("impl Read", bound("Read"), synthetic=True)
PIN_SELF = resolved("Pin", ty_arg(ref(SELF, mutable=True)))
T_COPY = {"bound_predicate": {"type": T, "bounds": [bound("Copy")], "generic_params": []}}
A_OUTLIVES_B = {"lifetime_predicate": {"lifetime": "'a", "outlives": ["'b"]}}

FUNCTIONS = [
    (_fn([["self", ref(SELF)]], output=U8), "pub ", "pub fn f(&self) -> u8"),
    (_fn([["self", ref(SELF, "'a", mutable=True)]]), "", "fn f(&'a mut self)"),
    (_fn([["self", SELF]]), "", "fn f(self)"),
    (_fn([["self", PIN_SELF], ["cx", T]]), "", "fn f(self: Pin<&mut Self>, cx: T)"),
    (_fn([["r", {"impl_trait": [bound("Read")]}]], params=[IMPL_READ]), "", "fn f(r: impl Read)"),
    (
        _fn([["x", T]], params=[LIFETIME_A, T_CLONE], is_const=True, is_unsafe=True),
        "pub(crate) ",
        "pub(crate) const unsafe fn f<'a, T: Clone>(x: T)",
    ),
    (_fn([], is_async=True, abi={"Other": '"vectorcall"'}), "", 'async extern "vectorcall" fn f()'),
    (_fn([], abi={"C": {"unwind": True}}), "", 'extern "C-unwind" fn f()'),
    (_fn([], where=[T_COPY, A_OUTLIVES_B]), "", "fn f()\nwhere\n    T: Copy,\n    'a: 'b,"),
]


@pytest.mark.parametrize(("func", "vis", "expected"), FUNCTIONS)
def test_function_signature_renders_header_receiver_and_generics(
    func: Any, vis: str, expected: str
) -> None:
    assert render_fn("f", func, vis) == expected


def test_impl_header_shows_generics_trait_and_self_type() -> None:
    impl = {
        "is_unsafe": True,
        "is_negative": False,
        "trait": _path("Send"),
        "generics": {"params": [T_CLONE], "where_predicates": []},
        "for": resolved("Take", ty_arg(T)),
    }
    assert render_impl_header(impl) == "unsafe impl<T: Clone> Send for Take<T>"


CFG_TRACE = '#[attr = CfgTrace([NameValue { name: "feature", value: Some("io"), span: x }])]'
NOT_TRACE = '#[attr = CfgTrace([Not(NameValue { name: "feature", value: Some("x") })])]'
ANY_CFG = '#[doc(cfg(any(feature = "a", feature = "b")))]'


@pytest.mark.parametrize(
    ("attrs", "features"),
    [
        (['#[doc(cfg(feature = "std"))]\n'], ("std",)),
        ([{"other": '#[doc(cfg(all(feature = "a", not(feature = "b"))))]'}], ("a",)),
        ([{"other": CFG_TRACE}], ("io",)),
        ([{"other": NOT_TRACE}], ()),
        ([{"other": ANY_CFG}, "non_exhaustive"], ("a", "b")),
        ([{"must_use": {"reason": None}}, {"other": '#[doc(alias = "feature")]'}], ()),
    ],
)
def test_features_are_read_from_both_attribute_formats(
    attrs: list[Any], features: tuple[str, ...]
) -> None:
    assert features_of(attrs) == features


def test_parsing_does_not_modify_the_document() -> None:
    doc = load("anyhow")
    before = copy.deepcopy(doc)
    parse("anyhow", doc)
    assert doc == before


def test_a_crate_with_forty_thousand_items_parses_every_one() -> None:
    items: list[dict[str, Any]] = []
    n = 10_000
    for k in range(n):
        struct_id, impl_id = 10 * k + 10, 10 * k + 11
        methods = [
            _item(10 * k + 12 + j, f"m{j}", "function", _fn([["self", ref(SELF)]], output=U8))
            for j in range(3)
        ]
        impl = {
            "is_unsafe": False,
            "generics": {"params": [], "where_predicates": []},
            "provided_trait_methods": [],
            "trait": None,
            "for": resolved(f"S{k}"),
            "items": [m["id"] for m in methods],
            "is_negative": False,
            "is_synthetic": False,
            "blanket_impl": None,
        }
        items.append(_unit_struct(struct_id, f"S{k}"))
        items[-1]["inner"]["struct"]["impls"] = [impl_id]
        items.append(_item(impl_id, None, "impl", impl))
        items.extend(methods)
    root = _module(0, "mini", [10 * k + 10 for k in range(n)], is_crate=True)
    parsed_items = _mini(root, *items)
    assert len(parsed_items) == 1 + 4 * n
    assert len({i.url for i in parsed_items}) == len(parsed_items)


def test_malformed_items_anywhere_are_skipped_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    doc = load("bytes")
    index = doc["index"]
    root = index[str(doc["root"])]
    root["inner"]["module"]["items"] += [9001, 9002, 9003]
    index["9001"] = {"id": 9001, "crate_id": 0, "name": "Broken", "inner": ["not", "tagged"]}
    index["9002"] = {"id": 9002, "crate_id": 0, "name": None, "inner": {"use": {"id": 1}}}
    index["9003"] = {"id": 9003, "crate_id": 0, "name": "NoInner"}
    (bytes_struct,) = [v for v in index.values() if v["name"] == "Bytes" and "struct" in v["inner"]]
    first_impl = index[str(bytes_struct["inner"]["struct"]["impls"][0])]
    first_impl["inner"]["impl"]["for"] = 42
    first_impl["inner"]["impl"]["items"] = "not a list"
    with caplog.at_level(logging.WARNING, logger="rustdocs_mcp.rustdoc_json"):
        items = parse("bytes", doc)
    paths = {i.path for i in items}
    assert {"bytes::Bytes", "bytes::buf::Buf", "bytes::BytesMut::freeze"} <= paths
    assert "skipping" in caplog.text


@pytest.mark.parametrize(
    ("docs", "expected"),
    [
        ("```\n# use x;\nlet a = 1;\n```", "```\nlet a = 1;\n```"),
        ("```rust,no_run\n#\n# fn main() {\nrun();\n# }\n```", "```rust,no_run\nrun();\n```"),
        ("```\n## literal hash\n```", "```\n# literal hash\n```"),
        ("```text\n# kept\n```", "```text\n# kept\n```"),
        ("# Examples\n\nplain text", "# Examples\n\nplain text"),
        ("```\n#[derive(Debug)]\nstruct S;\n```", "```\n#[derive(Debug)]\nstruct S;\n```"),
    ],
)
def test_hidden_doctest_lines_are_dropped_as_rustdoc_html_does(docs: str, expected: str) -> None:
    assert strip_hidden_lines(docs) == expected
