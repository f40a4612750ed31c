"""VectorStore on a Qdrant server (RUSTDOCS_QDRANT_URL), shared by any number of workers.

Also runs on qdrant-client's local mode (`AsyncQdrantClient(location=":memory:")`), which the
contract tests use; that mode is brute force Python and only fit for small collections.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from .errors import EmbeddingModelMismatch, StoreUnavailable
from .store import (
    DENSE,
    RELEASE,
    RRF_K,
    SPARSE,
    UPSERT_BATCH,
    CollectionSpec,
    Hit,
    Point,
    SearchFilter,
    SearchMode,
    SparseVector,
    StoredVectors,
    batched,
    canonical_id,
    counts_by_release_key,
    prefetch_limit,
    release_keys,
    sorted_sparse,
    stored_payload,
)

log = logging.getLogger(__name__)

_ID_BATCH = 1024
_FACET_LIMIT = 1_000_000  # more distinct values than any index will hold


def build_filter(
    flt: SearchFilter | None = None,
    *,
    crate: str | None = None,
    version: str | None = None,
    keep_ids: Collection[str] = (),
) -> models.Filter | None:
    must: list[models.Condition] = []
    if crate is not None:
        must.append(_match("crate", crate))
    if version is not None:
        must.append(_match("version", version))
    if flt is not None and flt.releases is not None:
        keys = release_keys(flt.releases)
        must.append(models.FieldCondition(key=RELEASE, match=models.MatchAny(any=keys)))
    if flt is not None and flt.kinds is not None:
        must.append(models.FieldCondition(key="kind", match=models.MatchAny(any=list(flt.kinds))))
    must_not: list[models.Condition] = []
    if keep_ids:
        must_not.append(models.HasIdCondition(has_id=[canonical_id(i) for i in keep_ids]))
    if not must and not must_not:
        return None
    return models.Filter(must=must or None, must_not=must_not or None)


def _match(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


class QdrantServerStore:
    def __init__(self, client: AsyncQdrantClient, spec: CollectionSpec, *, where: str = "") -> None:
        self.client = client
        self.spec = spec
        self._where = where or "the Qdrant server"

    @classmethod
    def connect(
        cls, url: str, spec: CollectionSpec, *, api_key: str | None = None, timeout: int = 60
    ) -> QdrantServerStore:
        # check_compatibility would make a blocking HTTP request here, on the event loop
        client = AsyncQdrantClient(
            url=url, api_key=api_key, timeout=timeout, check_compatibility=False
        )
        return cls(client, spec, where=f"Qdrant at {url}")

    @asynccontextmanager
    async def _call(self, what: str) -> AsyncIterator[None]:
        """Turn connection failures and server errors into StoreUnavailable (retried later)."""
        try:
            yield
        except UnexpectedResponse as e:
            if e.status_code is not None and (e.status_code >= 500 or e.status_code == 429):
                raise StoreUnavailable(
                    f"{self._where} failed to {what}: HTTP {e.status_code} {e.reason_phrase}"
                ) from e
            raise
        except (ResponseHandlingException, httpx.TransportError, OSError, TimeoutError) as e:
            cause = e.source if isinstance(e, ResponseHandlingException) else e
            raise StoreUnavailable(
                f"{self._where} could not be reached to {what}: {cause or type(cause).__name__}; "
                "check that the server is running and RUSTDOCS_QDRANT_URL points at it"
            ) from e

    async def ensure_collection(self) -> None:
        name = self.spec.name
        async with self._call("check the collection"):
            exists = await self.client.collection_exists(name)
        if not exists:
            async with self._call("create the collection"):
                try:
                    await self.client.create_collection(
                        name,
                        vectors_config={
                            DENSE: models.VectorParams(
                                size=self.spec.dimension, distance=models.Distance.COSINE
                            )
                        },
                        sparse_vectors_config={
                            SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)
                        },
                    )
                    log.info("created Qdrant collection %s", name)
                except UnexpectedResponse as e:
                    if e.status_code != 409:  # another worker created it first
                        raise
        async with self._call("read the collection"):
            info = await self.client.get_collection(name)
        self._check_vectors(info)
        for field_name in self.spec.payload_indexes:
            if field_name in (info.payload_schema or {}):
                continue
            schema: models.PayloadSchemaType | models.KeywordIndexParams = (
                models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)
                if field_name == "crate"
                else models.PayloadSchemaType.KEYWORD
            )
            async with self._call("create a payload index"):
                with warnings.catch_warnings():  # local mode: "indexes have no effect"
                    warnings.filterwarnings("ignore", "Payload indexes have no effect")
                    await self.client.create_payload_index(name, field_name, schema, wait=True)

    def _check_vectors(self, info: models.CollectionInfo) -> None:
        vectors = info.config.params.vectors
        dense = vectors.get(DENSE) if isinstance(vectors, dict) else None
        sparse = info.config.params.sparse_vectors or {}
        if dense is None or SPARSE not in sparse:
            raise EmbeddingModelMismatch(
                f"Qdrant collection {self.spec.name} exists but has no {DENSE!r} dense and "
                f"{SPARSE!r} sparse vectors; it was not made by rustdocs-mcp. Delete it or "
                "point RUSTDOCS_QDRANT_URL at another server."
            )
        if dense.size != self.spec.dimension:
            raise EmbeddingModelMismatch(
                f"Qdrant collection {self.spec.name} holds {dense.size}-dimensional vectors but "
                f"the embedding model makes {self.spec.dimension}-dimensional ones; use the model "
                "the collection was built with, or delete the collection and index again."
            )

    async def upsert(self, points: Sequence[Point]) -> None:
        for batch in batched(points, UPSERT_BATCH):
            structs = [_point_struct(p) for p in batch]
            async with self._call("store vectors"):
                await self.client.upsert(self.spec.name, points=structs, wait=True)

    async def existing_ids(self, ids: Sequence[str]) -> set[str]:
        by_canonical = {canonical_id(i): i for i in ids}
        found: set[str] = set()
        for batch in batched(list(by_canonical), _ID_BATCH):
            async with self._call("look up point ids"):
                records = await self.client.retrieve(
                    self.spec.name, ids=list(batch), with_payload=False, with_vectors=False
                )
            found.update(by_canonical[canonical_id(r.id)] for r in records)
        return found

    async def get_vectors(self, ids: Sequence[str]) -> dict[str, StoredVectors]:
        by_canonical = {canonical_id(i): i for i in ids}
        out: dict[str, StoredVectors] = {}
        for batch in batched(list(by_canonical), _ID_BATCH):
            async with self._call("read vectors"):
                records = await self.client.retrieve(
                    self.spec.name, ids=list(batch), with_payload=False, with_vectors=True
                )
            for r in records:
                stored = _stored_vectors(r.vector)
                if stored is not None:
                    out[by_canonical[canonical_id(r.id)]] = stored
        return out

    async def delete_ids(self, ids: Sequence[str]) -> None:
        for batch in batched(ids, _ID_BATCH):
            selector = models.PointIdsList(points=[canonical_id(i) for i in batch])
            async with self._call("delete points"):
                await self.client.delete(self.spec.name, points_selector=selector, wait=True)

    async def delete_crate(
        self, crate: str, *, version: str | None = None, keep_ids: Collection[str] = ()
    ) -> None:
        flt = build_filter(crate=crate, version=version, keep_ids=keep_ids)
        assert flt is not None
        async with self._call("delete points"):
            await self.client.delete(
                self.spec.name, points_selector=models.FilterSelector(filter=flt), wait=True
            )

    async def count(self, crate: str | None = None, version: str | None = None) -> int:
        async with self._call("count points"):
            result = await self.client.count(
                self.spec.name, count_filter=build_filter(crate=crate, version=version), exact=True
            )
        return result.count

    async def _facet(self, key: str, flt: models.Filter | None) -> dict[str, int]:
        async with self._call("count points"):
            response = await self.client.facet(
                self.spec.name, key, facet_filter=flt, limit=_FACET_LIMIT, exact=True
            )
        return {str(hit.value): hit.count for hit in response.hits}

    async def counts_by_release(self) -> dict[tuple[str, str], int]:
        return counts_by_release_key(await self._facet(RELEASE, None))

    async def search(
        self,
        dense: Sequence[float] | None,
        sparse: SparseVector | None,
        *,
        flt: SearchFilter,
        limit: int,
        mode: SearchMode = "hybrid",
    ) -> list[Hit]:
        if flt.releases is not None and not flt.releases:
            return []
        if limit <= 0:
            return []
        query_filter = build_filter(flt)
        sparse_q = _sparse_query(sparse)
        kwargs: dict[str, Any]
        if mode == "hybrid" and dense is not None and sparse_q is not None:
            fetch = prefetch_limit(limit)
            kwargs = {
                "prefetch": [
                    models.Prefetch(query=list(dense), using=DENSE, limit=fetch),
                    models.Prefetch(query=sparse_q, using=SPARSE, limit=fetch),
                ],
                "query": models.RrfQuery(rrf=models.Rrf(k=RRF_K)),
            }
        elif mode in ("hybrid", "dense"):
            if dense is None:
                raise ValueError(f"a {mode} search needs a dense query vector")
            kwargs = {"query": list(dense), "using": DENSE}
        else:
            if sparse_q is None:
                return []  # no query term is in the vocabulary: nothing can match
            kwargs = {"query": sparse_q, "using": SPARSE}
        async with self._call("search"):
            response = await self.client.query_points(
                self.spec.name, query_filter=query_filter, limit=limit, with_payload=True, **kwargs
            )
        return [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in response.points]

    async def optimize(self) -> None:
        """The server optimizes in the background."""

    async def close(self) -> None:
        await self.client.close()


def _point_struct(p: Point) -> models.PointStruct:
    vector: dict[str, Any] = {DENSE: list(p.dense)}
    if p.sparse.indices:
        indices, values = sorted_sparse(p.sparse)
        vector[SPARSE] = models.SparseVector(indices=indices, values=values)
    return models.PointStruct(
        id=canonical_id(p.id), vector=vector, payload=stored_payload(p.payload)
    )


def _sparse_query(sparse: SparseVector | None) -> models.SparseVector | None:
    if sparse is None or not sparse.indices:
        return None
    indices, values = sorted_sparse(sparse)
    return models.SparseVector(indices=indices, values=values)


def _stored_vectors(vector: object) -> StoredVectors | None:
    if not isinstance(vector, dict) or DENSE not in vector:
        return None
    sparse = vector.get(SPARSE)
    return StoredVectors(
        dense=[float(x) for x in vector[DENSE]],
        sparse=(
            SparseVector(list(sparse.indices), [float(v) for v in sparse.values])
            if sparse is not None
            else SparseVector([], [])
        ),
    )
