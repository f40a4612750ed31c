"""Vector storage: one protocol, two implementations (Qdrant server, embedded Qdrant Edge).

One collection per embedding model (name and dimension are in the collection name), every
point tagged with its crate and version in the payload; tenants are filtered by payload.
Each point has a dense vector named "dense" and a sparse lexical vector named "lexical".
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

DENSE = "dense"
SPARSE = "lexical"

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
    payload_indexes: tuple[str, ...] = field(default=("crate", "version", "kind", "path_lc"))


class VectorStore(Protocol):
    spec: CollectionSpec

    async def ensure_collection(self) -> None:
        """Create the collection and payload indexes if missing; check the dimension if present."""

    async def upsert(self, points: Sequence[Point]) -> None: ...

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
        """Top `limit` points. hybrid = dense and sparse prefetch fused by reciprocal rank."""

    async def close(self) -> None: ...
