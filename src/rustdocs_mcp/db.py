"""Postgres: create the database if missing, apply numbered migrations, open the pool."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from .errors import ServiceUnavailable

log = logging.getLogger(__name__)

Pool = asyncpg.Pool
# Anything that runs queries: a pool, a connection, or a connection acquired from a pool.
Executor = asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy

# Any constant works; it only has to be the same in every process of this app.
_MIGRATION_LOCK = (
    int.from_bytes(hashlib.sha256(b"rustdocs-mcp migrations").digest()[:8], "big") >> 1
)


def sql_dir() -> Path:
    """The numbered migration files: inside the installed wheel, or the repo's sql/."""
    packaged = Path(__file__).parent / "sql"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "sql"


def _split_dbname(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "postgres"
    admin = urlunsplit(parts._replace(path="/postgres"))
    return name, admin


async def _connect(url: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(url, timeout=10)
    except asyncpg.InvalidCatalogNameError:
        raise
    except (OSError, asyncpg.PostgresError, TimeoutError) as e:
        raise ServiceUnavailable(f"cannot connect to Postgres at {_redact(url)}: {e}") from e


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


async def ensure_database(url: str) -> None:
    """Create the database named in `url` if it does not exist."""
    try:
        conn = await _connect(url)
    except asyncpg.InvalidCatalogNameError:
        name, admin_url = _split_dbname(url)
        admin = await _connect(admin_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name.replace(chr(34), "")}"')
            log.info("created database %s", name)
        except asyncpg.DuplicateDatabaseError:
            pass  # another process won the race
        finally:
            await admin.close()
    else:
        await conn.close()


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply pending sql/NNN_*.sql files in order, under an advisory lock. Returns applied names."""
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for path in sorted(sql_dir().glob("[0-9][0-9][0-9]_*.sql")):
            if path.name in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text(encoding="utf-8"))
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.name)
            log.info("applied migration %s", path.name)
            applied.append(path.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied


async def open_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """Create the database if needed, migrate it, and return a connection pool."""
    await ensure_database(url)
    conn = await _connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    try:
        pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as e:
        raise ServiceUnavailable(f"cannot open a Postgres pool at {_redact(url)}: {e}") from e
    assert pool is not None
    return pool
