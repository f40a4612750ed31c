"""Pydantic shapes of tool inputs and results: clients get JSON schemas and structured output."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from .errors import InvalidInput
from .jobs import Job

CRATE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_SEMVER = r"\d+(?:\.(?:\d+|\*))?(?:\.(?:\d+|\*))?(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?"
VERSION_REQ = re.compile(
    rf"^(?:latest|\*|(?:(?:\^|~|=|>=|<=|>|<)?\s*{_SEMVER})(?:\s*,\s*(?:\^|~|=|>=|<=|>|<)?\s*{_SEMVER})*)$"
)


def check_crate_name(name: str) -> str:
    name = name.strip() if isinstance(name, str) else name
    if not isinstance(name, str) or not name:
        raise InvalidInput("crate_name is empty; give a crates.io crate name such as 'serde'")
    if len(name) > 64:
        raise InvalidInput(f"crate_name is {len(name)} characters; crates.io names have at most 64")
    if not CRATE_NAME.match(name):
        raise InvalidInput(
            f"{name!r} is not a valid crate name: crates.io names use ASCII letters, digits,"
            " '-' and '_', and start with a letter"
        )
    return name


def check_version(version: str) -> str:
    v = (version or "latest").strip()
    if len(v) > 100 or not VERSION_REQ.match(v):
        raise InvalidInput(
            f"{version!r} is not a version: use 'latest', an exact version like '1.0.188',"
            " or a requirement like '^1.2' or '~0.4'"
        )
    return v


class AddResult(BaseModel):
    status_code: int = Field(
        description="202: accepted and queued (or already running); 200: already indexed"
    )
    job_id: str | None
    crate_name: str
    version: str
    status: str
    message: str


class JobCounts(BaseModel):
    pages_fetched: int
    documents: int
    chunks: int
    embeddings: int
    embeddings_reused: int


class JobStatus(BaseModel):
    job_id: str
    crate_name: str
    operation: str
    status: str = Field(description="queued, running, failed or complete")
    progress: int = Field(ge=0, le=100)
    stage: str
    requested_version: str
    version: str | None
    counts: JobCounts
    attempts: int
    max_attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    eta_seconds: float | None
    error: str | None

    @classmethod
    def of(cls, job: Job) -> JobStatus:
        eta = None
        if job.status == "running" and job.started_at and 0 < job.progress < 100:
            elapsed = (datetime.now(UTC) - job.started_at).total_seconds()
            eta = round(elapsed / job.progress * (100 - job.progress), 1)
        return cls(
            job_id=str(job.id),
            crate_name=job.crate_name,
            operation=job.operation,
            status=job.status,
            progress=job.progress,
            stage=job.stage,
            requested_version=job.requested_version,
            version=job.version,
            counts=JobCounts(
                pages_fetched=job.pages_fetched,
                documents=job.documents,
                chunks=job.chunks,
                embeddings=job.embeddings,
                embeddings_reused=job.embeddings_reused,
            ),
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            eta_seconds=eta,
            error=job.error,
        )


class StatusResult(BaseModel):
    jobs: list[JobStatus]


class CrateInfo(BaseModel):
    name: str
    version: str | None
    status: str
    description: str
    source: str | None
    document_count: int
    chunk_count: int
    embedding_count: int
    embedding_model: str | None
    last_updated: datetime
    last_indexed_at: datetime | None
    deleted: bool
    active_job: JobStatus | None = None


class CrateList(BaseModel):
    crates: list[CrateInfo]
    total: int
    page: int
    page_size: int
    pages: int


class RemoveResult(BaseModel):
    status_code: int
    job_id: str | None
    crate_name: str
    status: str
    message: str


class SearchHit(BaseModel):
    crate: str
    version: str
    path: str
    kind: str
    signature: str
    snippet: str
    url: str
    score: float


class SearchResult(BaseModel):
    query: str
    results: list[SearchHit]


class ItemDoc(BaseModel):
    crate: str
    version: str
    path: str
    kind: str
    signature: str
    docs: str
    url: str
    deprecated: str | None
    features: list[str]
    parent: str | None
    impl_of: str | None
    other_matches: list[str] = Field(
        default_factory=list, description="urls of other items with the same path"
    )
