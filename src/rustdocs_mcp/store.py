"""Vector storage: one protocol, two implementations (Qdrant server, embedded Qdrant Edge).

One collection per embedding model (name and dimension are in the collection name), every
point tagged with its crate and version in the payload; tenants are filtered by payload.
Each point has a dense vector named "dense" and a sparse lexical vector named "lexical"; the
sparse values are term weights (frequencies), Qdrant multiplies them by IDF at query time.

`open_store` picks the implementation: `store_qdrant.QdrantServerStore` when
RUSTDOCS_QDRANT_URL is set, else the embedded `store_edge.EdgeStore` (one process only).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

if TYPE_CHECKING:
    from .settings import Settings

DENSE = "dense"
SPARSE = "lexical"
# Payload key the stores add to every point: "crate@version" (neither part can contain "@").
# Release filters and counts_by_release use its keyword index: one condition instead of an
# OR of (crate AND version) pairs, which costs a lot in Qdrant once there are dozens of pairs.
RELEASE = "release"
COLLECTION_PREFIX = "rustdocs"

# Both stores fuse hybrid results the same way: reciprocal rank fusion with constant RRF_K
# (score = sum of 1 / (rank + RRF_K - 1) over the dense and sparse rankings), each
# ranking prefetched at PREFETCH_FACTOR times the requested limit.
RRF_K = 10  # measured on tests/eval: k=10 beats Qdrant's default 2 (bench/search_eval.py)
PREFETCH_FACTOR = 4
MIN_PREFETCH = 20
UPSERT_BATCH = 256

SearchMode = Literal["hybrid", "dense", "sparse"]


@dataclass(frozen=True, slots=True)
class SparseVector:
    indices: list[int]
    values: list[float]


@dataclass(frozen=True, slots=True)
class Point:
    id: str  # a UUID string
    dense: list[float]
    sparse: SparseVector
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Hit:
    id: str
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Which points a search may return.

    `releases`: allowed (crate, version) pairs; None means every point. An empty list
    means nothing is searchable (the search returns no hits without querying).
    `kinds`: allowed item kinds; None means all.
    """

    releases: Sequence[tuple[str, str]] | None = None
    kinds: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class StoredVectors:
    dense: list[float]
    sparse: SparseVector


@dataclass(slots=True)
class CollectionSpec:
    name: str
    dimension: int
    payload_indexes: tuple[str, ...] = field(
        default=("crate", "version", "kind", "path_lc", RELEASE)
    )


class VectorStore(Protocol):
    spec: CollectionSpec

    async def ensure_collection(self) -> None:
        """Create the collection and payload indexes if missing; check the dimension if present."""

    async def upsert(self, points: Sequence[Point]) -> None:
        """Insert or replace points; durable when it returns. Payloads gain RELEASE."""

    async def existing_ids(self, ids: Sequence[str]) -> set[str]: ...

    async def get_vectors(self, ids: Sequence[str]) -> dict[str, StoredVectors]: ...

    async def delete_ids(self, ids: Sequence[str]) -> None: ...

    async def delete_crate(
        self, crate: str, *, version: str | None = None, keep_ids: Collection[str] = ()
    ) -> None:
        """Delete the crate's points (one version if given), except those in keep_ids."""

    async def count(self, crate: str | None = None, version: str | None = None) -> int: ...

    async def counts_by_release(self) -> dict[tuple[str, str], int]:
        """Number of points per (crate, version) in the whole collection."""

    async def search(
        self,
        dense: Sequence[float] | None,
        sparse: SparseVector | None,
        *,
        flt: SearchFilter,
        limit: int,
        mode: SearchMode = "hybrid",
    ) -> list[Hit]:
        """Top `limit` points, best first.

        hybrid: dense and sparse rankings fused by reciprocal rank (scores are RRF scores);
        without sparse terms (None or no indices) it ranks by dense alone. dense needs
        `dense`; sparse with no terms finds nothing.
        """

    async def optimize(self) -> None:
        """Bring indexes up to date after a large write (builds HNSW); a no-op on a server."""

    async def close(self) -> None: ...


def collection_spec(model_name: str, dimension: int) -> CollectionSpec:
    """The collection for one embedding model: `rustdocs__all-minilm-l6-v2__384`.

    Model name and dimension are both in the name, so switching models (or asking an
    OpenAI model for another dimension) starts a new collection and never mixes vectors.
    When the slug loses information (slashes, dots, overlong names) a short hash of the
    exact name is appended, so two different models never share a collection.
    """
    if dimension <= 0:
        raise ValueError(f"embedding dimension must be positive, got {dimension}")
    lowered = model_name.strip().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", lowered).strip("-")
    if not slug:
        raise ValueError(f"embedding model name {model_name!r} has no usable characters")
    if slug != lowered or len(slug) > 64:
        digest = hashlib.sha256(model_name.strip().encode()).hexdigest()[:8]
        slug = f"{slug[:64].rstrip('-')}-{digest}"
    return CollectionSpec(name=f"{COLLECTION_PREFIX}__{slug}__{dimension}", dimension=dimension)


async def open_store(settings: Settings, spec: CollectionSpec) -> VectorStore:
    """The configured store, with its collection created or checked (ensure_collection done).

    RUSTDOCS_QDRANT_URL set: a Qdrant server; unset: the embedded store under data_dir,
    which this process then holds exclusively until close().
    """
    store: VectorStore
    if settings.qdrant_url:
        from .store_qdrant import QdrantServerStore

        api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        store = QdrantServerStore.connect(settings.qdrant_url, spec, api_key=api_key)
    else:
        from .store_edge import EdgeStore

        store = EdgeStore(settings.data_dir / "qdrant-edge" / spec.name, spec)
    try:
        await store.ensure_collection()
    except BaseException:
        await store.close()
        raise
    return store


# Helpers shared by the implementations.

T = TypeVar("T")


def batched(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def canonical_id(point_id: object) -> str:
    """Qdrant's spelling of a UUID point id (lower case, hyphenated)."""
    return str(point_id if isinstance(point_id, uuid.UUID) else uuid.UUID(str(point_id)))


def sorted_sparse(vector: SparseVector) -> tuple[list[int], list[float]]:
    """Indices ascending (as Qdrant stores them), so vectors read back compare equal."""
    if len(vector.indices) != len(vector.values):
        raise ValueError("sparse vector has different numbers of indices and values")
    pairs = sorted(zip(vector.indices, vector.values, strict=True))
    return [i for i, _ in pairs], [float(v) for _, v in pairs]


def release_key(crate: str, version: str) -> str:
    return f"{crate}@{version}"


def split_release(key: str) -> tuple[str, str]:
    crate, _, version = key.partition("@")
    return crate, version


def counts_by_release_key(counts: dict[str, int]) -> dict[tuple[str, str], int]:
    """A facet over RELEASE as (crate, version) → points, leaving out values with no points
    left (a facet can report a value whose points were all deleted, with count 0)."""
    return {split_release(key): n for key, n in counts.items() if n > 0}


def release_keys(releases: Sequence[tuple[str, str]]) -> list[str]:
    """The RELEASE values of (crate, version) pairs, without duplicates."""
    return list(dict.fromkeys(release_key(c, v) for c, v in releases))


def stored_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as stored: the caller's, plus RELEASE when crate and version are set."""
    crate, version = payload.get("crate"), payload.get("version")
    if isinstance(crate, str) and isinstance(version, str):
        return {**payload, RELEASE: release_key(crate, version)}
    return dict(payload)


def prefetch_limit(limit: int) -> int:
    return max(limit * PREFETCH_FACTOR, MIN_PREFETCH)
