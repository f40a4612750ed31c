"""Configuration from the environment (prefix RUSTDOCS_), validated once at start."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "rustdocs-mcp"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RUSTDOCS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    database_url: str = "postgresql://postgres@127.0.0.1:5432/rustdocs"
    redis_url: str = "redis://127.0.0.1:6379/0"
    qdrant_url: str | None = None  # unset: embedded store under data_dir
    qdrant_api_key: SecretStr | None = None
    data_dir: Path = DEFAULT_DATA_DIR

    docsrs_url: str = "https://docs.rs"
    docsrs_rate_limit: float = Field(default=1.0, gt=0, le=1000)
    docsrs_timeout: float = Field(default=30.0, gt=0)
    docsrs_max_page_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    docsrs_max_json_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
    docsrs_retries: int = Field(default=6, ge=1, le=20)
    user_agent: str = "rustdocs-mcp/0.1 (+https://github.com/rustdocs-mcp/rustdocs-mcp)"

    embedding_provider: Literal["local", "openai"] = "local"
    embedding_model: str = ""  # empty: the provider's default
    embedding_model_path: Path | None = None  # local: a directory with model.onnx + tokenizer.json
    embedding_batch_size: int = Field(default=8, ge=1, le=2048)  # measured: bench/ingest.py
    embedding_threads: int = Field(default=0, ge=0)  # 0: all cores
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    openai_dimensions: int | None = None

    queue_name: str = "rustdocs:queue"
    job_max_tries: int = Field(default=3, ge=1, le=20)
    job_timeout: int = Field(default=6 * 3600, gt=0)
    worker_concurrency: int = Field(default=2, ge=1, le=64)
    heartbeat_interval: float = Field(default=10.0, gt=0)
    heartbeat_stale_after: float = Field(default=60.0, gt=0)

    http_token: SecretStr | None = None
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("database_url")
    @classmethod
    def _pg_scheme(cls, v: str) -> str:
        if not v.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                "must start with postgresql:// (for example postgresql://postgres@127.0.0.1:5432/rustdocs)"
            )
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, v: str) -> str:
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis:// (for example redis://127.0.0.1:6379/0)")
        return v

    @field_validator("docsrs_url", "openai_base_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v.rstrip("/") if v else v

    @model_validator(mode="after")
    def _openai_needs_key(self) -> Settings:
        if (
            self.embedding_provider == "openai"
            and self.openai_api_key is None
            and not self.openai_base_url
        ):
            raise ValueError(
                "RUSTDOCS_EMBEDDING_PROVIDER=openai needs OPENAI_API_KEY "
                "(or RUSTDOCS_OPENAI_BASE_URL for a local OpenAI-compatible server)"
            )
        return self

    @property
    def embedded_store(self) -> bool:
        return not self.qdrant_url

    @property
    def resolved_embedding_model(self) -> str:
        if self.embedding_model:
            return self.embedding_model
        return (
            "all-MiniLM-L6-v2" if self.embedding_provider == "local" else "text-embedding-3-small"
        )


def load_settings() -> Settings:
    """Settings() with a one-paragraph error instead of a pydantic traceback."""
    from pydantic import ValidationError

    from .errors import ConfigError

    try:
        return Settings()
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "settings"
            name = "RUSTDOCS_" + loc.upper() if loc != "settings" else loc
            lines.append(f"  {name}: {err['msg']}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from None
