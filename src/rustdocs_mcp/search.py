"""Search over whatever is indexed: hybrid dense + lexical, results grouped per item.

Only releases that Postgres lists as indexed (and not soft-deleted or being removed) are
searchable, so points written by a running or failed job never show up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg

from .embed import Embedder
from .errors import InvalidInput, NotIndexed
from .sparse import encode_query
from .store import Hit, SearchFilter, SearchMode, VectorStore

log = logging.getLogger(__name__)

MAX_LIMIT = 50


@dataclass(frozen=True, slots=True)
class ItemHit:
    crate: str
    version: str
    path: str
    kind: str
    signature: str
    snippet: str
    url: str
    score: float


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


def group_hits(hits: list[Hit], limit: int) -> list[ItemHit]:
    """Collapse chunks of one item into one result, keeping its best-scoring chunk."""
    best: dict[str, ItemHit] = {}
    for h in hits:
        p = h.payload
        url = str(p.get("url", h.id))
        if url in best:
            continue
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
    dense = (await embedder.embed([query]))[0] if mode != "sparse" else None
    sparse = encode_query(query) if mode != "dense" else None
    flt = SearchFilter(releases=releases, kinds=[kind] if kind else None)
    hits = await store.search(dense, sparse, flt=flt, limit=limit * 4, mode=mode)
    return group_hits(hits, limit)
