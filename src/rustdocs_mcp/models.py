"""Data passed between the pipeline stages, and the shapes tools return."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

# Markdown images (linked or not), HTML entities and tags: what badge lines are made of.
_DECORATION = re.compile(r"\[?!\[[^\]]*\](?:\([^)]*\)|\[[^\]]*\])?\]?(?:\([^)]*\))?|&\w+;|<[^>]+>")
_LINK = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\[[^\]]*\])")  # [text](url), [text][ref]
_LINK_DEF = re.compile(r"^\[[^\]]+\]:\s*\S+")

# Item kinds, named as rustdoc names its page prefixes (struct.Foo.html, fn.bar.html, ...).
ItemKind = Literal[
    "module",
    "struct",
    "enum",
    "union",
    "trait",
    "trait_alias",
    "fn",
    "method",
    "tymethod",
    "macro",
    "derive",
    "attr",
    "constant",
    "static",
    "type",
    "variant",
    "field",
    "assoc_const",
    "assoc_type",
    "primitive",
    "keyword",
]

ITEM_KINDS: tuple[str, ...] = ItemKind.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class DocItem:
    """One documented Rust item, whatever source (rustdoc JSON or HTML) it came from.

    `path` is the full Rust path (`tokio::sync::Mutex::lock`); `url` is the docs.rs page with
    the item's anchor and is unique within a crate version, so it is the item's key.
    """

    crate: str
    version: str
    path: str
    kind: str
    signature: str
    docs: str
    url: str
    deprecated: str | None = None
    features: tuple[str, ...] = ()
    parent: str | None = None  # path of the type or trait a method/field/variant belongs to
    impl_of: str | None = None  # "impl Clone for Bytes" for trait-impl members

    @property
    def name(self) -> str:
        return self.path.rsplit("::", 1)[-1]

    @property
    def summary(self) -> str:
        """First prose paragraph of the docs, on one line (badges, headings, code skipped)."""
        for para in self.docs.strip().split("\n\n"):
            text = para.strip()
            if text.startswith(("#", "```", "~~~")) or _LINK_DEF.match(text):
                continue
            if not re.search(r"\w", _DECORATION.sub("", text)):
                continue  # only images, badge links, entities or tags
            return " ".join(_LINK.sub(r"\1", text).split())
        return ""


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of one item's documentation, sized for the embedding model.

    `text` is what gets embedded (it carries the item path and signature as context);
    `body` is the docs part alone, used as the snippet shown to people.
    """

    id: str  # uuid5, stable for the same crate/version/item/index/content
    crate: str
    version: str
    path: str
    kind: str
    url: str
    index: int
    text: str
    body: str
    hash: str  # sha256 hex of `text`
    signature: str = ""


@dataclass(slots=True)
class CrateDocs:
    """What a fetch of one crate release yields, before chunking."""

    crate: str
    version: str
    source: Literal["json", "html"]
    description: str = ""
    items: list[DocItem] = field(default_factory=list)
