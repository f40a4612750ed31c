-- Crates, their documents and chunks, jobs, audit log, worker heartbeats.

CREATE TABLE crates (
    name             TEXT PRIMARY KEY,
    version          TEXT,                 -- the indexed (searchable) version; NULL until first success
    requested        TEXT NOT NULL DEFAULT 'latest',
    source           TEXT,                 -- 'json' | 'html'
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'indexed', 'failed', 'removing')),
    deleted_at       TIMESTAMPTZ,          -- soft delete: hidden from list and search, data kept
    description      TEXT NOT NULL DEFAULT '',
    embedding_model  TEXT,
    doc_count        INTEGER NOT NULL DEFAULT 0,
    chunk_count      INTEGER NOT NULL DEFAULT 0,
    embedding_count  INTEGER NOT NULL DEFAULT 0,
    last_indexed_at  TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE documents (
    id          BIGSERIAL PRIMARY KEY,
    crate_name  TEXT NOT NULL REFERENCES crates (name) ON DELETE CASCADE,
    version     TEXT NOT NULL,
    url         TEXT NOT NULL,             -- docs.rs page + anchor: the item's key
    path        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    signature   TEXT NOT NULL DEFAULT '',
    docs        TEXT NOT NULL DEFAULT '',
    deprecated  TEXT,
    features    TEXT[] NOT NULL DEFAULT '{}',
    parent      TEXT,
    impl_of     TEXT,
    hash        TEXT NOT NULL,
    UNIQUE (crate_name, version, url)
);
CREATE INDEX documents_path_idx ON documents (crate_name, lower(path));

CREATE TABLE chunks (
    point_id     UUID PRIMARY KEY,
    document_id  BIGINT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    crate_name   TEXT NOT NULL,
    idx          INTEGER NOT NULL,
    hash         TEXT NOT NULL,            -- sha256 of the embedded text; reuse vectors by hash
    UNIQUE (document_id, idx)
);
CREATE INDEX chunks_crate_hash_idx ON chunks (crate_name, hash);

CREATE TABLE crate_jobs (
    id           UUID PRIMARY KEY,
    crate_name   TEXT NOT NULL,
    operation    TEXT NOT NULL CHECK (operation IN ('ingest', 'remove')),
    status       TEXT NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'failed', 'complete')),
    progress     SMALLINT NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    stage        TEXT NOT NULL DEFAULT 'queued',
    requested_version TEXT NOT NULL DEFAULT 'latest',
    version      TEXT,                     -- resolved exact version
    force        BOOLEAN NOT NULL DEFAULT false,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 3,
    pages_fetched   INTEGER NOT NULL DEFAULT 0,
    documents       INTEGER NOT NULL DEFAULT 0,
    chunks          INTEGER NOT NULL DEFAULT 0,
    embeddings      INTEGER NOT NULL DEFAULT 0,
    embeddings_reused INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    worker_id    TEXT,
    cancel_requested BOOLEAN NOT NULL DEFAULT false,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at   TIMESTAMPTZ,
    finished_at  TIMESTAMPTZ,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- At most one active job per crate and operation: concurrent adds get the same job.
CREATE UNIQUE INDEX crate_jobs_one_active ON crate_jobs (crate_name, operation)
    WHERE status IN ('queued', 'running');
CREATE INDEX crate_jobs_crate_idx ON crate_jobs (crate_name, created_at DESC);
CREATE INDEX crate_jobs_status_idx ON crate_jobs (status, created_at DESC);

CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor       TEXT NOT NULL DEFAULT 'system',
    action      TEXT NOT NULL,
    crate_name  TEXT,
    job_id      UUID,
    detail      JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX audit_log_job_idx ON audit_log (job_id);

CREATE TABLE workers (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_beat    TIMESTAMPTZ NOT NULL DEFAULT now(),
    current_job  UUID,
    jobs_done    INTEGER NOT NULL DEFAULT 0,
    jobs_failed  INTEGER NOT NULL DEFAULT 0,
    stopped_at   TIMESTAMPTZ
);
