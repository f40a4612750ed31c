"""Search over whatever is indexed: hybrid dense + lexical, results grouped per item.

Only releases that Postgres lists as indexed (and not soft-deleted or being removed) are
searchable, so points written by a running or failed job never show up.
"""

from __future__ import annotations

import logging
import re

import asyncpg

from .embed import Embedder
from .errors import InvalidInput, NotIndexed
from .schemas import SearchHit as ItemHit
from .sparse import encode_query
from .store import Hit, SearchFilter, SearchMode, VectorStore

log = logging.getLogger(__name__)

MAX_LIMIT = 50


async def live_releases(
    pool: asyncpg.Pool, crate: str | None = None, version: str | None = None
) -> list[tuple[str, str]]:
    rows = await pool.fetch(
        "SELECT name, version FROM crates WHERE status = 'indexed' AND deleted_at IS NULL"
        " AND version IS NOT NULL AND ($1::text IS NULL OR name = $1)"
        " AND ($2::text IS NULL OR version = $2)",
        crate,
        version,
    )
    return [(r["name"], r["version"]) for r in rows]


_PATHLIKE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*!?$")
# Items a person means by a bare name first: definitions before members.
_KIND_RANK = {
    "struct": 0,
    "enum": 0,
    "trait": 0,
    "fn": 0,
    "macro": 0,
    "union": 0,
    "type": 1,
    "module": 1,
    "constant": 1,
    "static": 1,
    "derive": 1,
    "attr": 1,
    "trait_alias": 1,
    "method": 2,
    "tymethod": 2,
    "assoc_type": 3,
    "assoc_const": 3,
    "variant": 3,
    "field": 4,
}


def path_query(query: str) -> str | None:
    """The lower-case path when the query names an item (`tokio::spawn`, `Mutex::lock`)."""
    q = query.strip().rstrip("!").removesuffix("()")
    return q.lower() if _PATHLIKE.match(q) else None


async def exact_matches(
    pool: asyncpg.Pool,
    path: str,
    releases: list[tuple[str, str]],
    kind: str | None,
    limit: int,
) -> list[ItemHit]:
    """Items whose path is `path` or ends with `::path`, best first."""
    # Candidates come from the reversed-path index alone (equality and prefix on one index),
    # then are joined to the live releases: joining first makes the planner scan every live
    # crate's documents, which took a second with 200 crates indexed (bench/search_mcp.py).
    # The suffix test is a byte-wise range on the reversed path (what text_pattern_ops indexes),
    # not a LIKE: a range keeps using the index in a generic plan and needs no escaping.
    rsuffix = ("::" + path)[::-1]
    rows = await pool.fetch(
        """
        WITH hits AS MATERIALIZED (
            SELECT id, crate_name, version FROM documents
            WHERE reverse(lower(path)) = reverse($1)
               OR (reverse(lower(path)) ~>=~ $5 AND reverse(lower(path)) ~<~ $6)
        )
        SELECT d.crate_name, d.version, d.path, d.kind, d.signature, d.docs, d.url, d.impl_of
        FROM hits h
        JOIN unnest($2::text[], $3::text[]) AS r(crate, version)
          ON h.crate_name = r.crate AND h.version = r.version
        JOIN documents d ON d.id = h.id
        WHERE $4::text IS NULL OR d.kind = $4
        ORDER BY lower(d.path) = $1 DESC, d.impl_of IS NOT NULL, length(d.path)
        LIMIT 200
        """,
        path,
        [c for c, _ in releases],
        [v for _, v in releases],
        kind,
        rsuffix,
        rsuffix + "\U0010ffff",  # past every reversed path starting with rsuffix
    )
    ranked = sorted(
        rows,
        key=lambda r: (
            r["path"].lower() != path,
            r["impl_of"] is not None,  # definitions before trait-impl members
            _KIND_RANK.get(r["kind"], 5),
            r["path"].count("::"),
            len(r["path"]),
        ),
    )
    # One row per item: the same path twice, or one item under a re-exported path (same
    # kind, name, signature and docs), keeps its first row in that order.
    unique: list[asyncpg.Record] = []
    keys: set[tuple[str, ...]] = set()
    for r in ranked:
        at = (r["crate_name"], r["path"])
        name = _short_name(r["path"], r["kind"])
        same = (r["crate_name"], r["version"], r["kind"], name, r["signature"], r["docs"])
        if at in keys or same in keys:
            continue
        keys.update((at, same))
        unique.append(r)
    return [
        ItemHit(
            crate=r["crate_name"],
            version=r["version"],
            path=r["path"],
            kind=r["kind"],
            signature=r["signature"],
            snippet=_snippet(r["docs"].split("\n\n", 1)[0]),
            url=r["url"],
            score=1.0,
        )
        for r in unique[:limit]
    ]


# Crate and module overviews mention everything; they win too many specific questions.
MODULE_WEIGHT = 0.5


_MEMBER_KINDS = frozenset(["method", "tymethod", "assoc_type", "assoc_const", "variant", "field"])


def _short_name(path: str, kind: str) -> str:
    """What stays the same when an item is re-exported elsewhere: its name, and for a member
    also its type's name (`Value::get`, so `Bytes::clone` and `BytesMut::clone` differ)."""
    return "::".join(path.split("::")[-2 if kind in _MEMBER_KINDS else -1 :])


def _alias_key(p: dict[str, object]) -> tuple[str, ...]:
    """Equal for one item documented under two paths: a re-export (`serde_json::to_string`
    and `serde_json::ser::to_string`) has its own docs.rs page with the same text."""
    path, text = str(p.get("path", "")), str(p.get("text", ""))
    return (
        str(p.get("crate", "")),
        str(p.get("version", "")),
        str(p.get("kind", "")),
        _short_name(path, str(p.get("kind", ""))),
        text.split("\n", 1)[-1],  # all but the header line, which names the path
    )


def group_hits(hits: list[Hit], limit: int) -> list[ItemHit]:
    """Collapse chunks of one item, and the same item under a re-exported path, into one
    result, keeping the best-scoring chunk."""
    best: dict[str, ItemHit] = {}
    aliases: set[tuple[str, ...]] = set()
    weighted = [
        Hit(
            h.id, h.score * (MODULE_WEIGHT if h.payload.get("kind") == "module" else 1.0), h.payload
        )
        for h in hits
    ]
    for h in sorted(weighted, key=lambda h: -h.score):
        p = h.payload
        url = str(p.get("url", h.id))
        if url in best:
            continue
        alias = _alias_key(p)
        if alias in aliases:
            continue
        aliases.add(alias)
        best[url] = ItemHit(
            crate=str(p.get("crate", "")),
            version=str(p.get("version", "")),
            path=str(p.get("path", "")),
            kind=str(p.get("kind", "")),
            signature=str(p.get("signature", "")),
            snippet=_snippet(str(p.get("text", ""))),
            url=url,
            score=round(h.score, 4),
        )
        if len(best) >= limit:
            break
    return list(best.values())


def _snippet(text: str, limit: int = 400) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


async def search(
    pool: asyncpg.Pool,
    store: VectorStore,
    embedder: Embedder,
    query: str,
    *,
    crate: str | None = None,
    version: str | None = None,
    kind: str | None = None,
    limit: int = 10,
    mode: SearchMode = "hybrid",
) -> list[ItemHit]:
    query = query.strip()
    if not query:
        raise InvalidInput("the search query is empty")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    releases = await live_releases(pool, crate, version)
    if not releases:
        if crate:
            what = f"{crate} {version}" if version else crate
            raise NotIndexed(f"{what} is not indexed; add it with add_rust_crate first")
        return []
    exact: list[ItemHit] = []
    named = path_query(query) if mode == "hybrid" else None
    if named:
        exact = await exact_matches(pool, named, releases, kind, limit)
    dense = (await embedder.embed([query]))[0] if mode != "sparse" else None
    sparse = encode_query(query) if mode != "dense" else None
    flt = SearchFilter(releases=releases, kinds=[kind] if kind else None)
    hits = await store.search(dense, sparse, flt=flt, limit=limit * 4, mode=mode)
    ranked = group_hits(hits, limit * 2)
    seen = {h.url for h in exact}
    rest = [h for h in ranked if h.url not in seen and not any(_restates(h, e) for e in exact)]
    return (exact + rest)[:limit]


def _restates(hit: ItemHit, exact: ItemHit) -> bool:
    """Whether a ranked hit is an exact match under another path (a re-export): same kind,
    name and signature, and its text holds the start of the exact match's docs."""
    if (hit.crate, hit.version, hit.kind, hit.signature) != (
        exact.crate,
        exact.version,
        exact.kind,
        exact.signature,
    ) or _short_name(hit.path, hit.kind) != _short_name(exact.path, exact.kind):
        return False
    lead = exact.snippet.removesuffix(" …")[:120]
    return bool(lead) and lead in hit.snippet
