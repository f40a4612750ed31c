"""Every error rustdocs-mcp raises on purpose.

RustdocsError
├── PermanentError            retrying cannot help; the job fails at once
│   ├── InvalidInput          a tool or CLI argument is malformed
│   ├── CrateNotFound         docs.rs knows no such crate
│   ├── VersionNotFound       the crate exists, the version does not
│   ├── NoDocumentation       docs.rs has the release but no rustdoc output (failed build)
│   ├── MalformedDocument     a page or JSON file could not be understood
│   ├── NotIndexed            the crate or item is not in the index (yet)
│   ├── JobNotFound           no job has that id
│   ├── EmbeddingModelMismatch  the store was built with another embedding model
│   ├── StoreLocked           the embedded vector store is open in another process
│   └── ConfigError           settings are invalid
├── TransientError            may succeed later; jobs retry with backoff
│   ├── DocsRsUnavailable     docs.rs answered 429/5xx or timed out, even after retries
│   ├── StoreUnavailable      Qdrant could not be reached or failed a write
│   ├── EmbeddingUnavailable  the embedding provider failed (OpenAI 429/5xx, ...)
│   └── ServiceUnavailable    Postgres or Redis could not be reached
└── JobCancelled              the job was cancelled while it ran
"""

from __future__ import annotations


class RustdocsError(Exception):
    """Base class: the message is written for a person to act on."""


class PermanentError(RustdocsError):
    """Retrying will not help."""


class InvalidInput(PermanentError):
    pass


class CrateNotFound(PermanentError):
    pass


class VersionNotFound(PermanentError):
    pass


class NoDocumentation(PermanentError):
    pass


class MalformedDocument(PermanentError):
    pass


class NotIndexed(PermanentError):
    pass


class JobNotFound(PermanentError):
    pass


class EmbeddingModelMismatch(PermanentError):
    pass


class StoreLocked(PermanentError):
    pass


class ConfigError(PermanentError):
    pass


class TransientError(RustdocsError):
    """May succeed when tried again later."""


class DocsRsUnavailable(TransientError):
    pass


class StoreUnavailable(TransientError):
    pass


class EmbeddingUnavailable(TransientError):
    pass


class ServiceUnavailable(TransientError):
    pass


class JobCancelled(RustdocsError):
    """The job was cancelled; its partial writes are cleaned up."""
