"""Turn docs.rs rustdoc JSON into DocItems, with the urls and paths of the HTML pages.

docs.rs serves rustdoc JSON (`--output-format json`) since 2025-05-23. Format versions seen
from then on, and what changed between them (rust-lang/rust `src/rustdoc-json-types`):

- 45: the nightly of 2025-05-23 (spans count columns from 1 since 45).
- 46: `#[repr(transparent)]` always listed; 47 was never released.
- 48-52: more attribute strings switch to rustc's debug form (`#[attr = Inline(Hint)]`).
- 51: `AssocItemConstraint.args` and `qualified_path.args` may be null.
- 53: no schema change.
- 54: `Item.attrs` is structured (`"non_exhaustive"`, `{"other": "#[doc(cfg(..))]"}`, ...)
  instead of strings.
- 55: `#[macro_export]` gets its own attribute variant.
- 56: `ItemKind::Attribute` (only for std's attribute pages).
- 57: `ExternalCrate.path`.
- 58: `Item.stability`: null, or `{"feature": .., "level": "stable", "since": ..}` /
  `{"feature": .., "level": "unstable"}` (`#[stable]`/`#[unstable]`, i.e. std's items).
- 59: `Item.const_stability`, same shape (`#[rustc_const_stable]`/`#[rustc_const_unstable]`).
- 60: `default_unstable`: null, or `{"feature": ..}` in the `function`, `assoc_const` and
  `assoc_type` payloads (trait defaults under `#[rustc_default_body_unstable]`).
- 61: the stability `level` is externally tagged: `{"stable": {"since": ..}}` or `"unstable"`.

58-60 add fields and 61 reshapes one; they are filled for std's items (a docs.rs crate's own
items have nulls) and change no page, anchor or declaration rustdoc renders, so they are read
past and no DocItem depends on them. The older renames (`typedef`, `decl`, `const_`, string
ids, `Path.name`) all predate 45; ids are handled as strings either way. Any other version
raises UnsupportedFormat, and the caller falls back to the HTML pages.

Where an item is documented follows rustdoc: items sit in the module that lists them; an
item defined in a private module is shown where a `pub use` re-exports it (inlined), unless
that `use` goes through another public path; bang macros are shown at every re-export.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rustdocs_mcp.errors import MalformedDocument
from rustdocs_mcp.models import DocItem
from rustdocs_mcp.rustdoc_render import (
    attr_texts,
    render_decl,
    render_fn,
    render_impl_header,
    render_visibility,
    tagged,
)

logger = logging.getLogger(__name__)

SUPPORTED_FORMAT_VERSIONS = range(45, 62)


class UnsupportedFormat(MalformedDocument):
    """The JSON is of a format version this parser does not know; use the HTML instead."""


# index kind -> (DocItem kind, page prefix of `{prefix}.{Name}.html`)
_PAGES = {
    "struct": ("struct", "struct"),
    "enum": ("enum", "enum"),
    "union": ("union", "union"),
    "trait": ("trait", "trait"),
    "trait_alias": ("trait_alias", "traitalias"),
    "function": ("fn", "fn"),
    "macro": ("macro", "macro"),
    "constant": ("constant", "constant"),
    "static": ("static", "static"),
    "type_alias": ("type", "type"),
    "primitive": ("primitive", "primitive"),
}
_PROC_MACRO_PAGES = {
    "bang": ("macro", "macro"),
    "derive": ("derive", "derive"),
    "attr": ("attr", "attr"),
}
_MEMBER_ANCHORS = {"assoc_const": "associatedconstant", "assoc_type": "associatedtype"}
_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)
_NOT_GROUP = re.compile(r"\b(?:not|Not)\(")
_FEATURE = re.compile(r'feature\s*=\s*"([^"]+)"|name:\s*"feature",\s*value:\s*Some\("([^"]+)"\)')


@dataclass(frozen=True, slots=True)
class _Location:
    path: tuple[str, ...]  # public path, crate name first
    features: tuple[str, ...]  # cfg features of the modules and re-exports on the way


@dataclass(frozen=True, slots=True)
class _Use:
    module: tuple[str, ...]
    item: Mapping[str, Any]
    features: tuple[str, ...]


def parse_crate_json(
    doc: Mapping[str, Any], *, crate: str, version: str, docs_base: str
) -> list[DocItem]:
    """Every public item of the crate (and the members on its page) as DocItems."""
    if not isinstance(doc, Mapping):
        raise MalformedDocument("rustdoc JSON: the document is not a JSON object")
    fmt = doc.get("format_version")
    if isinstance(fmt, bool) or not isinstance(fmt, int) or fmt not in SUPPORTED_FORMAT_VERSIONS:
        raise UnsupportedFormat(
            f"rustdoc JSON format_version {fmt!r} is not supported "
            f"(supported: {SUPPORTED_FORMAT_VERSIONS.start}-{SUPPORTED_FORMAT_VERSIONS.stop - 1})"
        )
    index = doc.get("index")
    if not isinstance(index, Mapping):
        raise MalformedDocument("rustdoc JSON has no `index` object")
    if doc.get("root") is None:
        raise MalformedDocument("rustdoc JSON has no `root` id")
    root = index.get(str(doc["root"]))
    if not isinstance(root, Mapping) or "module" not in root.get("inner", {}):
        raise MalformedDocument(f"rustdoc JSON root {doc['root']!r} is not a module in `index`")
    parser = _Parser(index, crate=crate, version=version, docs_base=docs_base)
    return parser.run(root)


def features_of(attrs: Sequence[Any]) -> tuple[str, ...]:
    """Crate features an item needs, from `#[doc(cfg(..))]`/`cfg` attributes (best effort)."""
    found: list[str] = []
    for text in attr_texts(attrs):
        if text.startswith("#[cfg_attr") or not ("cfg(" in text or "CfgTrace" in text):
            continue
        for match in _FEATURE.finditer(_drop_negations(text)):
            name = match.group(1) or match.group(2)
            if name not in found:
                found.append(name)
    return tuple(found)


def _drop_negations(text: str) -> str:
    """Remove `not(...)` groups: a feature under `not` is not one the item needs."""
    while match := _NOT_GROUP.search(text):
        depth, end = 0, len(text)
        for i in range(match.end() - 1, len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                end = i + 1
                break
        text = text[: match.start()] + text[end:]
    return text


def _merge(*groups: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f for group in groups for f in group))


def _kind(item: Mapping[str, Any]) -> str:
    return tagged(item["inner"])[0]


class _Page:
    """Rustdoc's per-page id map: a repeated anchor gets `-1`, `-2`, ... appended."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def anchor(self, base: str) -> str:
        count = self._seen.get(base, 0)
        self._seen[base] = count + 1
        return base if count == 0 else f"{base}-{count}"


class _Parser:
    def __init__(
        self, index: Mapping[str, Any], *, crate: str, version: str, docs_base: str
    ) -> None:
        self.index = index
        self.crate = crate
        self.version = version
        self.base = docs_base if docs_base.endswith("/") else docs_base + "/"
        self.items: list[DocItem] = []
        self.urls: set[str] = set()
        self.trait_docs: dict[str, dict[str, str]] = {}

    def get(self, item_id: Any) -> Mapping[str, Any] | None:
        """A local, documented item of the index, or None (absent, other crate, hidden)."""
        item = self.index.get(str(item_id))
        if type(item) is not dict and not isinstance(item, Mapping):
            return None
        if item.get("crate_id") != 0 or (item.get("attrs") and _hidden(item)):
            return None
        return item

    # --- where items are documented ----------------------------------------------------------

    def locate(self, root: Mapping[str, Any]) -> dict[str, list[_Location]]:
        """Public locations of every reachable item, in discovery order (breadth first)."""
        self.located: dict[str, list[_Location]] = {}
        self.direct: set[str] = set()  # ids listed by a public module (not only re-exported)
        self.modules: dict[tuple[str, ...], set[str]] = {}  # public module path -> names in it
        self.queue: deque[tuple[Mapping[str, Any], tuple[str, ...], tuple[str, ...]]] = deque()
        self.uses: list[_Use] = []
        self.expanded: set[tuple[str, tuple[str, ...]]] = set()
        self.direct.add(str(root["id"]))
        self.queue.append((root, (str(root["name"]),), features_of(root.get("attrs", []))))
        while self.queue or self.uses:
            while self.queue:
                module, path, features = self.queue.popleft()
                if path in self.modules or len(path) > 64:
                    continue  # already walked (or a re-export cycle)
                self.modules[path] = set()
                self._add(str(module["id"]), _Location(path, features))
                for child in module["inner"]["module"].get("items", []):
                    self._guarded(child, self._visit, child, path, features)
            pending, self.uses = self.uses, []
            for use in pending:
                self._guarded(use.item.get("id"), self._resolve, use)
        return self.located

    def _guarded(self, item_id: Any, step: Callable[..., None], *args: Any) -> None:
        """Run one step of the walk; a malformed item is logged and skipped."""
        try:
            step(*args)
        except _ERRORS as exc:
            logger.warning("skipping malformed rustdoc JSON item %r: %r", item_id, exc)

    def _add(self, item_id: str, location: _Location) -> None:
        places = self.located.setdefault(item_id, [])
        if all(p.path != location.path for p in places):
            places.append(location)

    def _visit(self, child_id: Any, module: tuple[str, ...], features: tuple[str, ...]) -> None:
        item = self.get(child_id)
        if item is None:
            return
        kind = _kind(item)
        features = _merge(features, features_of(item.get("attrs", [])))
        if kind == "use":
            self.modules[module].add(str(item["inner"]["use"].get("name")))
            self.uses.append(_Use(module, item, features))
            return
        if kind in ("impl", "extern_crate") or not item.get("name"):
            return
        name = str(item["name"])
        self.modules[module].add(name)
        self.direct.add(str(item["id"]))
        if kind == "module":
            self.queue.append((item, (*module, name), features))
        else:
            self._add(str(item["id"]), _Location((*module, name), features))

    def _resolve(self, use: _Use) -> None:
        u = use.item["inner"]["use"]
        target = self.get(u.get("id")) if u.get("id") is not None else None
        texts = attr_texts(use.item.get("attrs", []))
        if target is None or any("no_inline" in t for t in texts):
            return
        target_id, kind = str(target["id"]), _kind(target)
        if u.get("is_glob"):
            key = (target_id, use.module)
            if kind == "module" and target_id not in self.direct and key not in self.expanded:
                self.expanded.add(key)  # items of a private module, shown where glob-imported
                for child in target["inner"]["module"].get("items", []):
                    self._guarded(child, self._visit, child, use.module, use.features)
            return
        forced = any("doc(inline)" in t for t in texts)
        path = (*use.module, str(u["name"]))
        if kind == "module":
            if forced or target_id not in self.direct:
                self.queue.append((target, path, use.features))
            return
        bang_macro = kind == "macro" or (
            kind == "proc_macro" and target["inner"]["proc_macro"].get("kind") == "bang"
        )
        if not (forced or bang_macro) and (
            target_id in self.direct or self._is_public_alias(str(u.get("source", "")), use)
        ):
            return  # shown as a `pub use` line; the item's page is elsewhere
        self._add(target_id, _Location(path, use.features))

    def _is_public_alias(self, source: str, use: _Use) -> bool:
        """Whether `source` names the item through public modules only (a re-export chain)."""
        segments = [s for s in source.split("::") if s]
        if not segments:
            return False
        root = next(iter(self.modules))
        if segments[0] == "crate":
            base, segments = root, segments[1:]
        elif segments[0] in ("self", "super"):
            base = use.module
            if segments[0] == "self":
                segments = segments[1:]
            while segments and segments[0] == "super":
                base, segments = base[:-1], segments[1:]
        else:
            base = use.module if segments[0] in self.modules.get(use.module, ()) else root
        if not segments:
            return False
        for segment in segments[:-1]:
            base = (*base, segment)
            if base not in self.modules:
                return False
        target = (*base, segments[-1])
        return target != (*use.module, use.item["inner"]["use"].get("name")) and (
            segments[-1] in self.modules.get(base, ())
        )

    # --- DocItems ----------------------------------------------------------------------------

    def run(self, root: Mapping[str, Any]) -> list[DocItem]:
        located = self.locate(root)
        self.owners = self._impl_owners(located)
        for item_id, places in located.items():
            item = self.get(item_id)
            if item is None:
                continue
            for place in places:
                try:
                    self._emit_page(item, place)
                except _ERRORS as exc:
                    logger.warning("skipping rustdoc JSON item %s at %s: %r", item_id, place, exc)
        return self.items

    def _impl_owners(self, located: Mapping[str, list[_Location]]) -> dict[str, str]:
        """Which type's page an impl's members are filed under: the `for` type if it is
        local, else the first type whose impls list it (`impl From<Bytes> for Vec<u8>`)."""
        owners: dict[str, str] = {}
        for type_id in located:
            item = self.get(type_id)
            if item is None:
                continue
            _, inner = tagged(item["inner"])
            for impl_id in inner.get("impls", []) if isinstance(inner, Mapping) else []:
                impl = self.get(impl_id)
                if impl is None or not _is_documented_impl(impl):
                    continue
                try:
                    if str(impl_id) not in owners or _self_type_id(impl) == type_id:
                        owners[str(impl_id)] = type_id
                except _ERRORS as exc:
                    logger.warning("skipping impl %r of %s: %r", impl_id, type_id, exc)
        return owners

    def _emit(self, item: Mapping[str, Any], kind: str, path: str, url: str, **extra: Any) -> None:
        if url in self.urls:
            logger.debug("duplicate url %s for %s; keeping the first", url, path)
            return
        self.urls.add(url)
        self.items.append(
            DocItem(
                crate=self.crate,
                version=self.version,
                path=path,
                kind=kind,
                signature=extra.pop("signature", None)
                or render_decl(item, self.get, path.rsplit("::", 1)[-1]),
                docs=strip_hidden_lines(extra.pop("docs", None) or item.get("docs") or ""),
                url=url,
                deprecated=_deprecation(item.get("deprecation")),
                **extra,
            )
        )

    def _emit_page(self, item: Mapping[str, Any], place: _Location) -> None:
        kind, inner = tagged(item["inner"])
        features = _merge(place.features, features_of(item.get("attrs", [])))
        path, dirs = "::".join(place.path), "/".join(place.path[:-1])
        if kind == "module":
            url = self.base + "/".join(place.path) + "/index.html"
            self._emit(item, "module", path, url, features=features)
            return
        if kind == "proc_macro":
            page = _PROC_MACRO_PAGES.get(inner.get("kind"))
        else:
            page = _PAGES.get(kind)
        if page is None:
            logger.warning("skipping %s %s: no page for item kind %r", item.get("id"), path, kind)
            return
        doc_kind, prefix = page
        url = f"{self.base}{dirs}/{prefix}.{place.path[-1]}.html"
        self._emit(item, doc_kind, path, url, features=features)
        if kind == "trait":
            self._emit_trait_items(item, path, url, features)
        elif kind in ("struct", "enum", "union", "primitive"):
            self._emit_members(item, inner, path, url, features)

    def _member(
        self,
        parent: str,
        url: str,
        member: Mapping[str, Any],
        kind: str,
        anchor: str,
        features: Sequence[str],
        **extra: Any,
    ) -> None:
        try:
            if member["inner"].get("function") is not None:
                vis = render_visibility(member.get("visibility", "default"))
                extra["signature"] = render_fn(member["name"], member["inner"]["function"], vis)
            self._emit(
                member,
                kind,
                f"{parent}::{member['name']}",
                f"{url}#{anchor}",
                parent=parent,
                features=_merge(features, features_of(member.get("attrs", []))),
                **extra,
            )
        except _ERRORS as exc:
            logger.warning("skipping member %s of %s: %r", member.get("name"), parent, exc)

    def _emit_trait_items(
        self, trait: Mapping[str, Any], path: str, url: str, features: Sequence[str]
    ) -> None:
        for member in self._children(trait["inner"]["trait"].get("items", [])):
            kind, inner = tagged(member["inner"])
            if kind == "function":
                kind = "method" if inner.get("has_body") else "tymethod"
                anchor = f"{kind}.{member['name']}"
            elif kind in _MEMBER_ANCHORS:
                anchor = f"{_MEMBER_ANCHORS[kind]}.{member['name']}"
            else:
                continue
            self._member(path, url, member, kind, anchor, features)

    def _emit_members(
        self,
        item: Mapping[str, Any],
        inner: Mapping[str, Any],
        path: str,
        url: str,
        features: Sequence[str],
    ) -> None:
        page = _Page()
        self._emit_fields(item, inner, path, url, features, page)
        impls = [i for i in self._children(inner.get("impls", [])) if _is_documented_impl(i)]
        # Rustdoc renders inherent impls, then trait impls, each in the order of `impls`;
        # the anchors of trait-impl members count the trait's provided methods too.
        inherent = [i for i in impls if i["inner"]["impl"].get("trait") is None]
        traits = [i for i in impls if i["inner"]["impl"].get("trait") is not None]
        for impl in inherent + traits:
            owned = self.owners.get(str(impl["id"])) == str(item["id"])
            try:
                self._emit_impl(impl, path, url, features, page, owned=owned)
            except _ERRORS as exc:
                logger.warning("skipping impl %s on %s: %r", impl.get("id"), path, exc)

    def _emit_fields(
        self,
        item: Mapping[str, Any],
        inner: Mapping[str, Any],
        path: str,
        url: str,
        features: Sequence[str],
        page: _Page,
    ) -> None:
        kind = _kind(item)
        if kind == "enum":
            for variant in self._children(inner.get("variants", [])):
                name = variant["name"]
                self._member(
                    path, url, variant, "variant", page.anchor(f"variant.{name}"), features
                )
                vkind, fields = tagged(variant["inner"]["variant"]["kind"])
                if vkind == "struct":
                    for field in self._children(fields.get("fields", [])):
                        anchor = page.anchor(f"variant.{name}.field.{field['name']}")
                        self._member(f"{path}::{name}", url, field, "field", anchor, features)
            return
        if kind == "struct":
            skind, fields = tagged(inner["kind"])
            ids = fields if skind == "tuple" else (fields or {}).get("fields", [])
        else:
            ids = inner.get("fields", [])
        for field in self._children(ids or []):
            anchor = page.anchor(f"structfield.{field['name']}")
            self._member(path, url, field, "field", anchor, features)

    def _emit_impl(
        self,
        impl: Mapping[str, Any],
        path: str,
        url: str,
        features: Sequence[str],
        page: _Page,
        *,
        owned: bool,
    ) -> None:
        """Members of one impl block; anchors are taken even when another page owns them."""
        data = impl["inner"]["impl"]
        header = render_impl_header(data) if data.get("trait") is not None else None
        trait_docs = self._trait_docs(data.get("trait"))
        features = _merge(features, features_of(impl.get("attrs", [])))
        names = set()
        for member in self._children(data.get("items", [])):
            kind = _kind(member)
            names.add(member["name"])
            if kind == "function":
                kind, anchor = "method", page.anchor(f"method.{member['name']}")
            elif kind in _MEMBER_ANCHORS:
                anchor = page.anchor(f"{_MEMBER_ANCHORS[kind]}.{member['name']}")
            else:
                continue
            if not owned:
                continue
            docs = member.get("docs") or trait_docs.get(member["name"], "")
            self._member(path, url, member, kind, anchor, features, impl_of=header, docs=docs)
        for name in data.get("provided_trait_methods", []):
            if name not in names:
                page.anchor(f"method.{name}")  # shown on the page, not an item of ours

    def _trait_docs(self, trait: Mapping[str, Any] | None) -> dict[str, str]:
        """Docs of a local trait's items by name: the fallback for undocumented impl items."""
        item = self.get(trait.get("id")) if trait is not None else None
        if item is None or "trait" not in item["inner"]:
            return {}
        key = str(item["id"])
        if key not in self.trait_docs:
            members = self._children(item["inner"]["trait"].get("items", []))
            self.trait_docs[key] = {m["name"]: m.get("docs") or "" for m in members}
        return self.trait_docs[key]

    def _children(self, ids: Any) -> list[Mapping[str, Any]]:
        """The local items of a list of ids (members need a name, impls have none)."""
        if not isinstance(ids, list):
            raise TypeError(f"expected a list of ids, got {str(ids)[:40]!r}")
        items = (self.get(i) for i in ids if i is not None)
        return [i for i in items if i is not None and (i.get("name") or "impl" in i["inner"])]


_FENCE = re.compile(r"^\s*(```+|~~~+)\s*([^`]*)$")
_RUST_FENCE_WORDS = frozenset(
    [
        "rust",
        "ignore",
        "no_run",
        "should_panic",
        "compile_fail",
        "edition2015",
        "edition2018",
        "edition2021",
        "edition2024",
        "standalone_crate",
        "test_harness",
    ]
)


def _is_rust_fence(info: str) -> bool:
    words = [w for w in re.split(r"[,\s]+", info.strip()) if w]
    return all(w in _RUST_FENCE_WORDS or w.startswith("E0") for w in words)


def strip_hidden_lines(docs: str) -> str:
    """Drop doctest lines rustdoc hides (`# use x;`) from Rust code blocks, as its HTML does;
    `##` at the start of a line stands for a literal `#`."""
    if "#" not in docs or ("`" not in docs and "~" not in docs):
        return docs
    out: list[str] = []
    fence: str | None = None
    rust = False
    for line in docs.split("\n"):
        m = _FENCE.match(line)
        if fence is None and m:
            fence, rust = m.group(1), _is_rust_fence(m.group(2))
        elif (
            fence is not None
            and line.strip().startswith(fence[:3])
            and not line.strip()[3:].strip("`~")
        ):
            fence = None
        elif fence is not None and rust:
            stripped = line.lstrip()
            if stripped == "#" or stripped.startswith("# "):
                continue
            if stripped.startswith("##"):
                line = line.replace("##", "#", 1)
        out.append(line)
    return "\n".join(out)


def _hidden(item: Mapping[str, Any]) -> bool:
    """`#[doc(hidden)]` (rustdoc leaves these out unless asked to document hidden items)."""
    attrs = item.get("attrs") or ()
    return any("doc(hidden)" in a for a in attr_texts(attrs))


def _is_documented_impl(impl: Mapping[str, Any]) -> bool:
    data = impl["inner"].get("impl")
    return bool(
        isinstance(data, Mapping)
        and not data.get("is_synthetic")
        and data.get("blanket_impl") is None
        and not data.get("is_negative")
    )


def _self_type_id(impl: Mapping[str, Any]) -> str | None:
    """The id of the type an impl is for, looking through references (`impl X for &Bytes`)."""
    ty = impl["inner"]["impl"]["for"]
    while True:
        kind, v = tagged(ty)
        if kind == "resolved_path":
            return str(v.get("id"))
        if kind not in ("borrowed_ref", "raw_pointer"):
            return None
        ty = v["type"]


def _deprecation(dep: Mapping[str, Any] | None) -> str | None:
    if not dep:
        return None
    since, note = dep.get("since"), dep.get("note")
    if since and note:
        return f"since {since}: {note}"
    return f"since {since}" if since else (note or "deprecated")
