"""Turn docs.rs rustdoc HTML pages into DocItems: the fallback when a release has no rustdoc JSON.

Every function here is pure (text in, values out). The pages may come straight from rustdoc or
wrapped by docs.rs, which moves rustdoc's `<body class="rustdoc ...">` into
`<div id="rustdoc_body_wrapper">` after its own top bar, so everything is anchored on
`#main-content` and nothing outside it is read (apart from the docs.rs crate metadata).

One page is parsed once with lxml (through parsel); the walk below uses the lxml element API
directly, which is much faster than running a CSS query per member on a multi-megabyte page.
"""

from __future__ import annotations

import html as html_lib
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import parsel
from lxml import etree  # type: ignore[import-untyped]

from .errors import MalformedDocument
from .models import DocItem

logger = logging.getLogger(__name__)

# lxml elements are untyped; everything that walks the tree takes and returns this.
_El = Any

__all__ = [
    "PageMeta",
    "is_redirect_stub",
    "parse_all_items",
    "parse_crate_description",
    "parse_item_page",
    "parse_module_items",
    "parse_page_meta",
    "redirect_target",
]


@dataclass(frozen=True)
class PageMeta:
    """Which crate release a docs.rs page belongs to, from the docs.rs top bar."""

    crate: str
    version: str


# --------------------------------------------------------------------------------------------
# Page-level helpers that do not need a full parse


_CRATE_METADATA_RE = re.compile(
    r"""<script\b[^>]*\bid\s*=\s*["']?crate-metadata\b[^>]*>(.*?)</script\s*>""",
    re.IGNORECASE | re.DOTALL,
)
_META_REFRESH_RE = re.compile(
    r"""<meta\b[^>]*\bhttp-equiv\s*=\s*["']?refresh\b[^>]*>""", re.IGNORECASE
)
_REFRESH_URL_RE = re.compile(r"""\bcontent\s*=\s*["']?\s*\d*\s*;?\s*url\s*=\s*([^"'>\s]+)""", re.I)
_MAIN_CONTENT_RE = re.compile(r"""\bid\s*=\s*["']?main-content\b""", re.IGNORECASE)


def parse_page_meta(html: str) -> PageMeta | None:
    """Crate name and exact version from docs.rs's `<script id="crate-metadata">` JSON.

    Returns None for raw rustdoc pages (no docs.rs top bar) or unreadable metadata.
    """
    match = _CRATE_METADATA_RE.search(html)
    if match is None:
        return None
    raw = match.group(1).strip()
    try:
        data = json.loads(raw)
    except ValueError:
        try:  # some templates HTML-escape the JSON
            data = json.loads(html_lib.unescape(raw))
        except ValueError:
            logger.warning("docs.rs crate-metadata is not valid JSON")
            return None
    if not isinstance(data, dict):
        return None
    name, version = data.get("name"), data.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return None
    return PageMeta(crate=name, version=version)


def is_redirect_stub(html: str) -> bool:
    """True for rustdoc's `<meta http-equiv="refresh">` "Redirection" pages.

    rustdoc writes these for old paths (`macro.foo!.html`, items re-exported from private
    modules); they carry no documentation and must not be parsed as items.
    """
    return _META_REFRESH_RE.search(html) is not None and _MAIN_CONTENT_RE.search(html) is None


def redirect_target(html: str, page_url: str) -> str | None:
    """The absolute URL a redirect stub points to, or None if `html` is not a stub."""
    if not is_redirect_stub(html):
        return None
    meta = _META_REFRESH_RE.search(html)
    if meta is None:  # pragma: no cover - is_redirect_stub checked it
        return None
    target = _REFRESH_URL_RE.search(meta.group(0))
    if target is None:
        return None
    return urljoin(page_url, html_lib.unescape(target.group(1)))


# --------------------------------------------------------------------------------------------
# Parsing and small tree helpers

# Characters lxml refuses (NUL and other C0 controls) or cannot encode (lone surrogates).
_BAD_CHARS_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def _parse(html: str) -> _El:
    """The lxml root of `html`; MalformedDocument if lxml cannot make anything of it."""
    if not isinstance(html, str):
        raise MalformedDocument(f"expected HTML text, got {type(html).__name__}")
    text = _BAD_CHARS_RE.sub("", html)
    if not text.strip():
        raise MalformedDocument("the page is empty")
    try:
        return parsel.Selector(text=text, type="html").root
    except Exception as exc:  # lxml raises a handful of unrelated types
        raise MalformedDocument(f"the page is not parseable HTML: {exc}") from exc


def _find_main(root: _El) -> _El | None:
    if root is None:
        return None
    # A plain walk stops at #main-content, which comes early in the document; an XPath
    # search for it scans the whole (possibly multi-megabyte) tree.
    fallback = None
    for el in root.iter():
        el_id = el.get("id") if isinstance(el.tag, str) else None
        if el_id == "main-content":
            return el
        if el_id == "main" and fallback is None and _tag(el) == "section":
            fallback = el  # rustdoc before 2021: <section id="main" class="content">
    return fallback


def _main_or_raise(html: str, what: str) -> _El:
    main = _find_main(_parse(html))
    if main is None:
        raise MalformedDocument(f"{what}: no #main-content element, this is not a rustdoc page")
    return main


def _classes(el: _El) -> list[str]:
    value = el.get("class")
    return value.split() if value else []


def _has_class(el: _El, name: str) -> bool:
    return name in _classes(el)


def _tag(el: _El) -> str:
    tag = el.tag
    return tag.lower() if isinstance(tag, str) else ""


def _elements(el: _El) -> Iterator[_El]:
    """Child elements, skipping comments and processing instructions."""
    for child in el:
        if isinstance(child.tag, str):
            yield child


def _next_elements(el: _El) -> Iterator[_El]:
    for sib in el.itersiblings():
        if isinstance(sib.tag, str):
            yield sib


@lru_cache(maxsize=256)
def _compiled(xpath: str) -> Any:
    return etree.XPath(xpath)


def _all(el: _El, xpath: str) -> list[_El]:
    """`el.xpath(xpath)`, with the expression compiled once (compiling is much of the cost)."""
    result: list[_El] = _compiled(xpath)(el)
    return result


def _first(el: _El, xpath: str) -> _El | None:
    found = _all(el, xpath)
    return found[0] if found else None


def _xclass(name: str) -> str:
    """XPath predicate: the element has the CSS class `name`."""
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


_WS_RE = re.compile(r"\s+")
_SPACES_RE = re.compile(r"[ \t\f\v\u00a0]+")


def _squash(text: str) -> str:
    return _WS_RE.sub(" ", text).strip()


# --------------------------------------------------------------------------------------------
# Link lists: all.html and module pages

_ITEM_LINK_CLASSES = frozenset(
    {
        "mod",
        "struct",
        "enum",
        "union",
        "trait",
        "traitalias",
        "fn",
        "macro",
        "derive",
        "attr",
        "constant",
        "static",
        "type",
        "primitive",
        "keyword",
        "foreigntype",
    }
)


def _page_url(url: str) -> str:
    """`url` without its fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


def _collect_links(anchors: Iterable[_El], page_url: str) -> list[str]:
    base = _page_url(page_url)
    seen: set[str] = set()
    urls: list[str] = []
    for a in anchors:
        href = (a.get("href") or "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:")):
            continue
        url = _page_url(urljoin(base, href))
        path = urlsplit(url).path
        name = path.rsplit("/", 1)[-1]
        if not (name.endswith(".html") or path.endswith("/")):
            continue
        if "!" in name:  # macro.foo!.html: always a redirect stub
            continue
        if url not in seen:
            seen.add(url)
            urls.append(url)
    return urls


def _link_list_guard(what: str, page_url: str, exc: Exception) -> MalformedDocument:
    logger.warning("unexpected failure reading the %s at %s", what, page_url, exc_info=True)
    return MalformedDocument(f"could not read the {what} at {page_url}: {exc!r}")


def parse_all_items(html: str, page_url: str) -> list[str]:
    """Absolute URLs of every item page listed on a crate's all.html, in page order.

    Raises MalformedDocument when the page has no #main-content.
    """
    try:
        return _parse_all_items(html, page_url)
    except MalformedDocument:
        raise
    except Exception as exc:  # a safety net: callers rely on one error type
        raise _link_list_guard("item list", page_url, exc) from exc


def _parse_all_items(html: str, page_url: str) -> list[str]:
    main = _main_or_raise(html, "all.html")
    # Modern rustdoc: ul.all-items; older builds: ul.docblock / plain lists under h3 headings.
    anchors = _all(main, ".//ul[" + _xclass("all-items") + "]//li//a[@href]")
    if not anchors:
        anchors = _all(main, ".//ul//li//a[@href]")
    return _collect_links(anchors, page_url)


def _item_table_anchors(main: _El) -> Iterator[_El]:
    tables = _all(main, ".//*[" + _xclass("item-table") + "]")
    for table in tables:
        if _has_class(table, "reexports"):
            continue
        for a in table.iter("a"):
            if not a.get("href") or not (set(_classes(a)) & _ITEM_LINK_CLASSES):
                continue
            if _inside_description_or_reexport(a, table):
                continue
            yield a
    # rustdoc before 2021: <table><tr class="module-item"><td><a class="struct" ...>
    for a in _all(main, ".//tr[" + _xclass("module-item") + "]/td[1]//a[@href]"):
        yield a


def _inside_description_or_reexport(a: _El, stop: _El) -> bool:
    for anc in a.iterancestors():
        if anc is stop:
            return False
        tag = _tag(anc)
        if tag in ("dd", "code") or (anc.get("id") or "").startswith("reexport."):
            return True
        if set(_classes(anc)) & {"desc", "docblock-short", "import-item"}:
            return True
    return False


def parse_module_items(html: str, page_url: str) -> list[str]:
    """Absolute URLs of the items a module page lists (sub-modules included, re-exports not).

    Raises MalformedDocument when the page has no #main-content.
    """
    try:
        main = _main_or_raise(html, "module page")
        return _collect_links(_item_table_anchors(main), page_url)
    except MalformedDocument:
        raise
    except Exception as exc:  # a safety net: callers rely on one error type
        raise _link_list_guard("module page", page_url, exc) from exc


# --------------------------------------------------------------------------------------------
# Item pages

_PAGE_PREFIX_KINDS: dict[str, str] = {
    "struct": "struct",
    "enum": "enum",
    "union": "union",
    "trait": "trait",
    "traitalias": "trait_alias",
    "fn": "fn",
    "macro": "macro",
    "derive": "derive",
    "attr": "attr",
    "constant": "constant",
    "static": "static",
    "type": "type",
    "foreigntype": "type",
    "primitive": "primitive",
    "keyword": "keyword",
}

_HEADING_KINDS: dict[str, str] = {
    "crate": "module",
    "module": "module",
    "struct": "struct",
    "enum": "enum",
    "union": "union",
    "trait": "trait",
    "trait alias": "trait_alias",
    "function": "fn",
    "macro": "macro",
    "derive macro": "derive",
    "attribute macro": "attr",
    "constant": "constant",
    "static": "static",
    "type alias": "type",
    "type definition": "type",
    "foreign type": "type",
    "primitive type": "primitive",
    "keyword": "keyword",
}

_MEMBER_PREFIX_KINDS: dict[str, str] = {
    "method": "method",
    "tymethod": "tymethod",
    "associatedconstant": "assoc_const",
    "associatedtype": "assoc_type",
    "variant": "variant",
    "structfield": "field",
}

# Pages whose members are not their own: a type alias page shows the aliased type's variants
# and fields (those belong to the aliased type's page, and rustdoc JSON has none for the alias).
_MEMBERLESS_KINDS = frozenset(
    {"module", "macro", "derive", "attr", "fn", "constant", "static", "keyword", "type"}
)

_MEMBER_XPATH = (
    ".//*[@id and ("
    + " or ".join(f"starts-with(@id, '{prefix}.')" for prefix in _MEMBER_PREFIX_KINDS)
    + ")]"
)

# Which h2 section a member sits under decides what it is.
_INHERENT_SECTIONS = frozenset({"implementations", "implementations-list"})
_TRAIT_IMPL_SECTIONS = frozenset({"trait-implementations", "trait-implementations-list"})
_PLAIN_SECTIONS = frozenset(
    {
        "fields",
        "variants",
        "required-methods",
        "provided-methods",
        "required-associated-types",
        "provided-associated-types",
        "required-associated-consts",
        "provided-associated-consts",
    }
)
# Skipped: "synthetic-implementations" (auto traits), "blanket-implementations",
# "foreign-impls", "implementors", "deref-methods-*", "aliased-type" and anything unknown.

_LIST_SECTIONS: dict[str, str] = {
    "implementations-list": "implementations",
    "trait-implementations-list": "trait-implementations",
    "synthetic-implementations-list": "synthetic-implementations",
    "blanket-implementations-list": "blanket-implementations",
    "implementors-list": "implementors",
    "synthetic-implementors-list": "implementors",
}

_FEATURE_RE = re.compile(r"(non-)?crate features?\s+((?:[\w.+-]+(?:,\s*|\s+and\s+|\s+or\s+)?)+)")
_FEATURE_SPLIT_RE = re.compile(r",\s*|\s+and\s+|\s+or\s+")


@dataclass(slots=True)
class _Info:
    deprecated: str | None = None
    features: tuple[str, ...] = ()


def parse_item_page(html: str, *, crate: str, version: str, url: str) -> list[DocItem]:
    """The page's main item first, then one DocItem per documented member.

    Raises MalformedDocument (and nothing else) when the page is not a rustdoc item page.
    Members that cannot be understood are skipped with a warning.
    """
    try:
        return _parse_item_page(html, crate=crate, version=version, url=url)
    except MalformedDocument:
        raise
    except Exception as exc:  # a safety net: callers rely on one error type
        logger.warning("unexpected failure parsing %s", url, exc_info=True)
        raise MalformedDocument(f"could not parse {url}: {type(exc).__name__}: {exc}") from exc


def _parse_item_page(html: str, *, crate: str, version: str, url: str) -> list[DocItem]:
    main = _main_or_raise(html, url)
    page_url = _page_url(url)
    kind = _kind_from_url(page_url) or _kind_from_heading(main)
    if kind is None:
        raise MalformedDocument(f"{url}: cannot tell which kind of item this page documents")
    path = _path_from_heading(main) or _path_from_url(page_url, crate)
    if not path:
        raise MalformedDocument(f"{url}: no item path in the page heading or the URL")

    docblock = _main_docblock(main)
    info = _read_infos(_elements_with_class(_elements(main), "item-info"))
    if docblock is not None:  # older rustdoc put the item-info inside the top docblock
        nested = _read_infos(_all(docblock, "./*[" + _xclass("item-info") + "]"))
        info = _merge_info(info, nested)
    if kind == "module":
        name = path.rsplit("::", 1)[-1]
        signature = f"pub mod {name}" if "::" in path else f"crate {name}"
    else:
        signature = _main_signature(main)

    items = [
        DocItem(
            crate=crate,
            version=version,
            path=path,
            kind=kind,
            signature=signature,
            docs=_to_markdown(docblock) if docblock is not None else "",
            url=page_url,
            deprecated=info.deprecated,
            features=info.features,
        )
    ]
    if kind in _MEMBERLESS_KINDS:
        return items

    members = _MemberParser(
        main=main, crate=crate, version=version, page_url=page_url, owner=path, decl=signature
    )
    for el in _all(main, _MEMBER_XPATH):
        try:
            member = members.parse(el)
        except Exception:
            logger.warning(
                "skipping member %r of %s: could not parse it", el.get("id"), url, exc_info=True
            )
            continue
        if member is not None:
            items.append(member)
    return items


def _kind_from_url(url: str) -> str | None:
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    if name in ("", "index.html"):
        return "module"
    prefix, dot, _ = name.partition(".")
    return _PAGE_PREFIX_KINDS.get(prefix) if dot else None


def _heading(main: _El) -> _El | None:
    h1 = _first(main, "./div[" + _xclass("main-heading") + "]/h1 | ./h1")
    return h1 if h1 is not None else _first(main, ".//h1")


_HEADING_SKIP_CLASSES = frozenset({"out-of-band", "sub-heading", "since", "src", "srclink"})


def _heading_text(h1: _El) -> str:
    """The h1 text without the copy-path button, "Source" links and version badges."""
    parts: list[str] = []

    def walk(el: _El) -> None:
        if el.text:
            parts.append(el.text)
        for child in el:
            if isinstance(child.tag, str) and not (
                _tag(child) in ("button", "script", "img")
                or set(_classes(child)) & _HEADING_SKIP_CLASSES
            ):
                walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(h1)
    return _squash("".join(parts))


def _kind_from_heading(main: _El) -> str | None:
    h1 = _heading(main)
    if h1 is None:
        return None
    words = _heading_text(h1).split()
    for n in (2, 1):
        kind = _HEADING_KINDS.get(" ".join(words[:n]).lower())
        if kind:
            return kind
    return None


_PATH_RE = re.compile(r"^[^\s:]+(?:::[^\s:]+)*$")


def _path_from_heading(main: _El) -> str:
    h1 = _heading(main)
    if h1 is None:
        return ""
    # Modern rustdoc: "Struct <span>Bytes</span>"; older: <span class="in-band">Struct a::B</span>
    # or "Struct <a>a</a>::<a>B</a>" straight in the h1. The last word is the (path) name.
    span = _first(h1, "./span[not(" + _xclass("out-of-band") + ")]")
    text = _heading_text(span) if span is not None else _heading_text(h1)
    words = text.split()
    if not words:
        return ""
    name = words[-1]
    if not _PATH_RE.match(name):
        return ""
    if "::" in name:
        return name
    heading_box = h1.getparent()
    crumbs = None
    if heading_box is not None:
        crumbs = _first(heading_box, "./*[" + _xclass("rustdoc-breadcrumbs") + "]")
    if crumbs is not None:
        parents = [_squash(a.text_content()) for a in crumbs.iter("a")]
        parents = [p for p in parents if p]
        if parents:
            return "::".join([*parents, name])
    return name


def _path_from_url(url: str, crate: str) -> str:
    """`crate::module::Name` from `/crate/1.0.0/[target/]crate_dir/module/kind.Name.html`."""
    segments = [s for s in urlsplit(url).path.split("/") if s]
    lib = crate.replace("-", "_")
    # The crate directory is the first `lib` segment after the crate name and version (and
    # the optional target triple); later `lib` segments are modules of the same name.
    try:
        start = segments.index(lib, 2) if len(segments) > 2 else segments.index(lib)
    except ValueError:
        try:
            start = segments.index(lib)
        except ValueError:
            return ""
    rest = segments[start:]
    last = rest[-1]
    if last == "index.html":
        return "::".join(rest[:-1])
    if not last.endswith(".html"):
        return "::".join(rest)
    parts = last.split(".")
    if len(parts) != 3 or not parts[1]:
        return ""
    return "::".join([*rest[:-1], parts[1]])


def _elements_with_class(elements: Iterable[_El], name: str) -> list[_El]:
    return [el for el in elements if _has_class(el, name)]


def _main_docblock(main: _El) -> _El | None:
    for xpath in (
        "./details[" + _xclass("top-doc") + "]/*[" + _xclass("docblock") + "]",
        "./*[" + _xclass("docblock") + " and not(" + _xclass("item-decl") + ")"
        " and not(" + _xclass("type-decl") + ")]",
        "./details[" + _xclass("top-doc") + "]//*[" + _xclass("docblock") + "]",
    ):
        found = _first(main, xpath)
        if found is not None:
            return found
    return None


def _main_signature(main: _El) -> str:
    for xpath in (
        "./pre[" + _xclass("item-decl") + "]",
        "./*[" + _xclass("item-decl") + "]//pre",
        "./*[" + _xclass("type-decl") + "]//pre",
        "./pre[" + _xclass("rust") + "]",
        "./*[" + _xclass("example-wrap") + "]/pre[" + _xclass("rust") + "]",
    ):
        found = _first(main, xpath)
        if found is not None:
            return _code_text(found)
    return ""


# --------------------------------------------------------------------------------------------
# Members


def _top_level(el: _El, main: _El) -> _El:
    """The ancestor of `el` (or `el` itself) that is a direct child of #main-content."""
    node = el
    for anc in el.iterancestors():
        if anc is main:
            return node
        node = anc
    return node


def _section_of(top: _El, sections: dict[_El, str | None]) -> str | None:
    """The id of the h2 section a direct child of #main-content belongs to."""
    if top in sections:
        return sections[top]
    section: str | None = None
    top_id = top.get("id") or ""
    if top_id in _LIST_SECTIONS:
        section = _LIST_SECTIONS[top_id]
    else:
        for prev in top.itersiblings(preceding=True):
            if _tag(prev) == "h2":
                section = prev.get("id") or _squash(prev.text_content()).lower()
                break
    sections[top] = section
    return section


_SKIP_LIST_IDS = frozenset(
    {
        "synthetic-implementations-list",
        "blanket-implementations-list",
        "implementors-list",
        "synthetic-implementors-list",
    }
)


def _member_context(
    el: _El, main: _El, sections: dict[_El, str | None], *, in_impl_items: bool
) -> str | None:
    """ "inherent", "trait-impl", "plain" or None (skip) for a member (or impl-items) element."""
    node = el
    while node is not None and node is not main:
        node_id = node.get("id") or ""
        if node_id.startswith("deref-methods") or node_id in _SKIP_LIST_IDS:
            return None
        node = node.getparent()
    section = _section_of(_top_level(el, main), sections)
    if section is None or section.startswith("deref-methods"):
        return None
    if section in _INHERENT_SECTIONS:
        return "inherent" if in_impl_items else None
    if section in _TRAIT_IMPL_SECTIONS:
        return "trait-impl" if in_impl_items else None
    if section in _PLAIN_SECTIONS and not in_impl_items:
        return "plain"
    return None


@dataclass(slots=True)
class _Impl:
    """What the members of one impl block share."""

    header: str | None  # "impl Clone for Bytes"
    features: tuple[str, ...]
    src: tuple[str, int, int] | None


class _MemberParser:
    """Turns the member elements of one item page into DocItems, caching per-section data."""

    def __init__(
        self, *, main: _El, crate: str, version: str, page_url: str, owner: str, decl: str
    ) -> None:
        self.main = main
        self.crate = crate
        self.version = version
        self.page_url = page_url
        self.owner = owner
        self.decl = decl
        # Keyed by element: holding the lxml proxy keeps it (and its hash) stable.
        self.sections: dict[_El, str | None] = {}
        self.impls: dict[_El, tuple[str | None, _Impl | None]] = {}
        self.seen: set[str] = {page_url}

    def parse(self, el: _El) -> DocItem | None:
        anchor = (el.get("id") or "").strip()
        prefix, _, rest = anchor.partition(".")
        kind = _MEMBER_PREFIX_KINDS.get(prefix)
        url = f"{self.page_url}#{anchor}"
        if kind is None or not rest or url in self.seen:
            return None
        parent = self.owner
        if prefix == "variant":
            variant, _, tail = rest.partition(".")
            if tail:  # variant.Foo.field.x (a field of a struct variant) or variant.Foo.fields
                field_prefix, _, field_name = tail.partition(".")
                if field_prefix != "field" or not field_name:
                    return None
                kind, parent, rest = "field", f"{parent}::{_strip_dup_suffix(variant)}", field_name
        name = _strip_dup_suffix(rest)
        if not name:
            return None
        context, impl = self.locate(el)
        if context is None:
            return None
        if context == "trait-impl" and impl is not None and _is_inherited_default(el, impl):
            return None

        signature = _member_signature(el)
        docblock, infos = _member_docblock(el)
        own = [c for c in _elements(el) if _has_class(c, "item-info")]
        info = _read_infos([*infos, *own])
        if impl is not None and not info.features and impl.features:
            info = _Info(info.deprecated, impl.features)
        docs = _to_markdown(docblock) if docblock is not None else ""

        # rustdoc lists only visible fields, but with --document-private-items it lists all:
        # keep a field when it is documented, a tuple field, or `pub` in the declaration.
        if (
            kind == "field"
            and prefix == "structfield"
            and not docs
            and not name.isdigit()
            and not re.search(rf"\bpub(?:\([^)]*\))?\s+{re.escape(name)}\s*:", self.decl)
        ):
            return None

        self.seen.add(url)
        return DocItem(
            crate=self.crate,
            version=self.version,
            path=f"{parent}::{name}",
            kind=kind,
            signature=signature,
            docs=docs,
            url=url,
            deprecated=info.deprecated,
            features=info.features,
            parent=parent,
            impl_of=impl.header if impl is not None and context == "trait-impl" else None,
        )

    def locate(self, el: _El) -> tuple[str | None, _Impl | None]:
        """The member's context and, for impl members, its impl block (cached per block)."""
        impl_items = None
        for anc in el.iterancestors():
            if anc is self.main:
                break
            if _has_class(anc, "impl-items"):
                impl_items = anc
                break
        if impl_items is None:
            context = _member_context(el, self.main, self.sections, in_impl_items=False)
            return context, None
        cached = self.impls.get(impl_items)
        if cached is None:
            cached = self.impls[impl_items] = self.read_impl(impl_items)
        return cached

    def read_impl(self, impl_items: _El) -> tuple[str | None, _Impl | None]:
        context = _member_context(impl_items, self.main, self.sections, in_impl_items=True)
        if context is None:
            return None, None
        header = next(
            (p for p in impl_items.itersiblings(preceding=True) if isinstance(p.tag, str)), None
        )
        if header is None:
            return context, _Impl(None, (), None)
        return context, _Impl(
            header=_squash(_code_text(_impl_header_code(header))) or None,
            features=_read_infos(_all(header, ".//*[" + _xclass("item-info") + "]")).features,
            src=_src_location(header),
        )


_DUP_SUFFIX_RE = re.compile(r"-\d+$")


def _strip_dup_suffix(name: str) -> str:
    """`from-1` -> `from`: rustdoc numbers repeated anchors; Rust names never contain '-'."""
    return _DUP_SUFFIX_RE.sub("", name)


def _near(el: _El, test: Any, depth: int = 2) -> _El | None:
    """The first element among `el`'s children (then grandchildren...) passing `test`.

    Member headers are small and shallow; a Python walk over a few children is several
    times cheaper than an XPath descendant search, which matters on pages with 1000s of them.
    """
    level = [el]
    for _ in range(depth):
        nxt: list[_El] = []
        for node in level:
            for child in _elements(node):
                if test(child):
                    return child
                nxt.append(child)
        level = nxt
    return None


def _is_src_link(el: _El) -> bool:
    return _tag(el) == "a" and bool(el.get("href")) and bool({"src", "srclink"} & set(_classes(el)))


def _member_signature(el: _El) -> str:
    header = _near(el, lambda c: _has_class(c, "code-header"))
    if header is None:
        header = _first(el, ".//*[" + _xclass("code-header") + "]")
    if header is None:
        header = _first(el, ".//code")
    if header is None:
        header = el
    return _code_text(header)


def _member_docblock(el: _El) -> tuple[_El | None, list[_El]]:
    """The docblock following a member header, and the item-info blocks in between."""
    infos: list[_El] = []

    def scan(start: _El) -> _El | None:
        for sib in _next_elements(start):
            if _has_class(sib, "item-info"):
                infos.append(sib)
            elif _has_class(sib, "docblock"):
                return sib
            else:
                return None
        return None

    doc = scan(el)
    parent = el.getparent()
    if doc is None and parent is not None and _tag(parent) == "summary":
        doc = scan(parent)
    return doc, infos


_SRC_RE = re.compile(r"^(?P<file>[^#]*)(?:#(?P<start>\d+)(?:-(?P<end>\d+))?)?$")


def _src_location(el: _El) -> tuple[str, int, int] | None:
    """(file, first line, last line) of the first "Source" link in `el`."""
    link = _near(el, _is_src_link, depth=3)
    if link is None:
        return None
    match = _SRC_RE.match(link.get("href") or "")
    if match is None or not match.group("file"):
        return None
    if match.group("start") is None:
        return match.group("file"), 0, 0
    start = int(match.group("start"))
    end = int(match.group("end") or start)
    return match.group("file"), start, end


def _is_inherited_default(member: _El, impl: _Impl) -> bool:
    """True for a provided trait method the impl does not override.

    rustdoc lists those under every trait impl (all of Iterator's adapters under each
    iterator); their "Source" link points into the trait's definition instead of the impl.
    They are skipped: the docs belong to the trait, and rustdoc JSON does not list them either.
    """
    impl_src = impl.src
    member_src = _src_location(member)
    if impl_src is None or member_src is None:
        return False
    impl_file, impl_start, impl_end = impl_src
    file, start, end = member_src
    if file != impl_file:
        return True
    if impl_start and start:
        return not (impl_start <= start and end <= impl_end)
    return False


def _impl_header_code(header: _El) -> _El:
    for xpath in (".//*[" + _xclass("code-header") + "]", ".//code"):
        found = _first(header, xpath)
        if found is not None:
            return found
    return header


def _read_infos(elements: Iterable[_El]) -> _Info:
    deprecated: str | None = None
    features: list[str] = []
    for info in elements:
        for stab in _all(info, ".//*[" + _xclass("stab") + "]"):
            classes = _classes(stab)
            if "deprecated" in classes and deprecated is None:
                text = _stab_text(stab)
                deprecated = text or "Deprecated"
            elif "portability" in classes:
                for feature in _features(_stab_text(stab)):
                    if feature not in features:
                        features.append(feature)
    return _Info(deprecated, tuple(features))


def _merge_info(a: _Info, b: _Info) -> _Info:
    return _Info(a.deprecated or b.deprecated, a.features or b.features)


def _stab_text(stab: _El) -> str:
    parts: list[str] = []

    def walk(el: _El) -> None:
        if el.text:
            parts.append(el.text)
        for child in el:
            if isinstance(child.tag, str) and not _has_class(child, "emoji"):
                walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(stab)
    return _squash("".join(parts))


def _features(text: str) -> list[str]:
    """("std", "alloc") from "Available on crate features std and alloc only."."""
    found: list[str] = []
    for match in _FEATURE_RE.finditer(text):
        if match.group(1):  # "non-crate feature x": the item needs x *off*
            continue
        for name in _FEATURE_SPLIT_RE.split(match.group(2)):
            name = name.strip().strip(".")
            if name and name != "only" and name not in found:
                found.append(name)
    return found


# --------------------------------------------------------------------------------------------
# Code text (signatures)

# Inline noise inside code headers: notable-trait tooltips, "Source" links, anchors.
_CODE_SKIP_CLASSES = frozenset(
    {"tooltip", "notable-traits", "src", "srclink", "anchor", "rightside", "since", "item-info"}
)


def _code_text(el: _El) -> str:
    """Text of a declaration, whitespace-normalised but with its line structure kept."""
    parts: list[str] = []

    def walk(node: _El) -> None:
        if node.text:
            parts.append(node.text)
        for child in node:
            if isinstance(child.tag, str):
                tag = _tag(child)
                classes = set(_classes(child))
                skip = (
                    tag in ("button", "script", "style")
                    or bool(classes & _CODE_SKIP_CLASSES)
                    or (tag == "summary" and "hideme" in classes)
                )
                if skip and "tooltip" in classes and parts:
                    parts[-1] = parts[-1].rstrip(" ")  # the space rustdoc puts before "ⓘ"
                if not skip:
                    if tag == "br":
                        parts.append("\n")
                    elif "where" in classes and tag == "div":
                        parts.append("\n")
                        walk(child)
                    elif "code-attribute" in classes:
                        walk(child)
                        parts.append("\n")
                    else:
                        walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(el)
    return _normalise_code("".join(parts))


def _normalise_code(text: str) -> str:
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        stripped = raw.rstrip()
        body = stripped.lstrip(" \t\u00a0")
        indent = stripped[: len(stripped) - len(body)].replace("\u00a0", " ").replace("\t", "    ")
        line = indent + _SPACES_RE.sub(" ", body)
        if not line.strip():
            if lines and lines[-1] != "":
                lines.append("")
            continue
        lines.append(line)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Docblock -> Markdown-ish text

_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "aside",
        "header",
        "footer",
        "nav",
        "main",
        "figure",
        "figcaption",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "li",
        "pre",
        "blockquote",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "dl",
        "dt",
        "dd",
        "hr",
        "details",
        "summary",
    }
)
_SKIP_TAGS = frozenset({"script", "style", "button", "img", "svg", "input", "template", "noscript"})
_SKIP_CLASSES = frozenset(
    {"item-info", "doc-anchor", "anchor", "tooltip", "test-arrow", "button-holder", "hideme"}
)
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")


class _Markdown:
    def __init__(self, heading_offset: int) -> None:
        self.heading_offset = heading_offset

    def skip(self, el: _El) -> bool:
        tag = _tag(el)
        if tag in _SKIP_TAGS:
            return True
        if set(_classes(el)) & _SKIP_CLASSES:
            return True
        # "Read more" links rustdoc appends to trait-method summaries.
        return tag == "a" and _squash(el.text_content()) == "Read more"

    def blocks(self, el: _El) -> list[str]:
        """Render the children of `el`; inline runs become paragraphs."""
        out: list[str] = []
        run: list[str] = []

        def flush() -> None:
            text = _clean_inline("".join(run))
            if text:
                out.append(text)
            run.clear()

        if el.text:
            run.append(_WS_RE.sub(" ", el.text))
        for child in el:
            if isinstance(child.tag, str) and not self.skip(child):
                if _tag(child) in _BLOCK_TAGS:
                    flush()
                    out.extend(self.block(child))
                else:
                    run.append(self.inline(child))
            if child.tail:
                run.append(_WS_RE.sub(" ", child.tail))
        flush()
        return out

    def block(self, el: _El) -> list[str]:
        tag = _tag(el)
        if tag in _HEADINGS:
            text = _clean_inline(self.inline_children(el)).replace("\n", " ")
            if not text:
                return []
            level = min(6, max(1, int(tag[1]) - self.heading_offset))
            return ["#" * level + " " + text]
        if tag == "pre":
            return [_fence(el)]
        if tag in ("ul", "ol"):
            return self.list_block(el, ordered=tag == "ol")
        if tag == "blockquote":
            inner = "\n\n".join(self.blocks(el))
            return ["\n".join("> " + line if line else ">" for line in inner.split("\n"))]
        if tag == "table":
            return self.table(el)
        if tag == "hr":
            return ["---"]
        if tag == "summary":
            text = _clean_inline(self.inline_children(el))
            return [text] if text else []
        return self.blocks(el)

    def list_block(self, el: _El, *, ordered: bool) -> list[str]:
        lines: list[str] = []
        number = 1
        try:
            number = int(el.get("start") or 1)
        except ValueError:
            number = 1
        for li in _elements(el):
            if self.skip(li):
                continue
            marker = f"{number}. " if ordered else "- "
            number += 1
            content = "\n".join(self.blocks(li)) if _tag(li) == "li" else "\n".join(self.block(li))
            if not content:
                continue
            pad = " " * len(marker)
            first, *rest = content.split("\n")
            lines.append(marker + first)
            lines.extend(pad + line if line else "" for line in rest)
        return ["\n".join(lines)] if lines else []

    def table(self, el: _El) -> list[str]:
        rows: list[str] = []
        for tr in el.iter("tr"):
            cells = [
                _clean_inline(self.inline_children(cell)).replace("\n", " ").replace("|", "\\|")
                for cell in _elements(tr)
                if _tag(cell) in ("td", "th")
            ]
            if not cells:
                continue
            rows.append("| " + " | ".join(cells) + " |")
            if len(rows) == 1:
                rows.append("|" + "---|" * len(cells))
        return ["\n".join(rows)] if rows else []

    def inline(self, el: _El) -> str:
        tag = _tag(el)
        if tag == "br":
            return "\n"
        if tag == "code":
            return _code_span(el.text_content())
        inner = self.inline_children(el)
        if tag in ("em", "i") and inner.strip():
            return f"*{inner.strip()}*"
        if tag in ("strong", "b") and inner.strip():
            return f"**{inner.strip()}**"
        if tag in _BLOCK_TAGS:  # a block inside inline content: keep it on its own line
            return "\n" + inner + "\n"
        return inner

    def inline_children(self, el: _El) -> str:
        parts: list[str] = []
        if el.text:
            parts.append(_WS_RE.sub(" ", el.text))
        for child in el:
            if isinstance(child.tag, str) and not self.skip(child):
                parts.append(self.inline(child))
            if child.tail:
                parts.append(_WS_RE.sub(" ", child.tail))
        return "".join(parts)


def _clean_inline(text: str) -> str:
    lines = [_SPACES_RE.sub(" ", line).strip() for line in text.split("\n")]
    return "\n".join(line for line in lines if line)


def _code_span(text: str) -> str:
    text = _WS_RE.sub(" ", text)
    if not text.strip():
        return ""
    if "`" in text:
        return f"`` {text} ``"
    return f"`{text}`"


def _fence(pre: _El) -> str:
    classes = _classes(pre)
    lang = ""
    for cls in classes:
        if cls.startswith("language-"):
            lang = cls[len("language-") :]
            break
    else:
        parent = pre.getparent()
        in_example = parent is not None and _has_class(parent, "example-wrap")
        if "rust" in classes or "rust-example-rendered" in classes or in_example:
            lang = "rust"
    code = pre.text_content().replace("\r\n", "\n")
    # Drop blank lines at the ends only; indentation and inner blank lines are the code's own.
    code = code.strip("\n")
    lines = code.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    code = "\n".join(line.rstrip() for line in lines)
    fence = "```"
    while fence in code:
        fence += "`"
    return f"{fence}{lang}\n{code}\n{fence}"


def _to_markdown(docblock: _El) -> str:
    levels = [int(_tag(h)[1]) for h in docblock.iter(*_HEADINGS)]
    offset = min(levels) - 1 if levels else 0
    blocks = _Markdown(offset).blocks(docblock)
    return "\n\n".join(b for b in blocks if b.strip()).strip()


# --------------------------------------------------------------------------------------------
# Crate description


def parse_crate_description(html: str) -> str:
    """First non-empty paragraph of a crate root page's top docblock, on one line ("" if none)."""
    try:
        main = _find_main(_parse(html))
    except MalformedDocument:
        return ""
    if main is None:
        return ""
    docblock = _main_docblock(main)
    if docblock is None:
        return ""
    renderer = _Markdown(0)
    for p in docblock.iter("p"):
        text = _squash(_clean_inline(renderer.inline_children(p)))
        if text:
            return text
    return ""
