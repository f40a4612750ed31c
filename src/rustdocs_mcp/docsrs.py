"""docs.rs client: resolve a release, download rustdoc JSON, fetch HTML pages.

Every HTTP request (redirect hops and retries included) waits for the shared rate limiter.
Retries live here, in one tenacity policy: timeouts, connection errors, 429 and 5xx, with
exponential backoff and jitter, honouring Retry-After. 404 and other 4xx are answers.
"""

from __future__ import annotations

import asyncio
import codecs
import io
import logging
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urljoin, urlsplit

import httpx
import orjson
import zstandard
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from . import metrics
from .errors import (
    CrateNotFound,
    DocsRsUnavailable,
    MalformedDocument,
    NoDocumentation,
    VersionNotFound,
)
from .parse import parse_page_meta
from .retry_after import retry_after_seconds

log = logging.getLogger(__name__)

MAX_REDIRECTS = 8


class Limiter(Protocol):
    async def acquire(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Release:
    crate: str
    version: str
    target_name: str
    root_url: str  # docs root of the exact version: {base}/{crate}/{version}/{target}/
    root_html: str

    @property
    def docs_base(self) -> str:
        """{base}/{crate}/{version}/ : item urls are docs_base + target/...; stable per version."""
        return self.root_url.rsplit(f"{self.target_name}/", 1)[0]


@dataclass(frozen=True, slots=True)
class Response:
    url: str
    status: int
    body: bytes


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class TooLarge(Exception):
    pass


def backoff_wait(initial: float, maximum: float) -> Callable[[RetryCallState], float]:
    """Full-jitter exponential backoff; a server's Retry-After wins when it is longer."""

    def wait(state: RetryCallState) -> float:
        exp = min(maximum, initial * 2 ** (state.attempt_number - 1))
        delay = random.uniform(exp / 2, exp)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            delay = max(delay, min(exc.retry_after, maximum * 4))
        return delay

    return wait


class DocsRsClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        limiter: Limiter,
        *,
        base_url: str = "https://docs.rs",
        max_page_bytes: int = 8 * 1024 * 1024,
        max_json_bytes: int = 512 * 1024 * 1024,
        attempts: int = 6,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
    ):
        self.http = http
        self.limiter = limiter
        self.base_url = base_url.rstrip("/")
        self.max_page_bytes = max_page_bytes
        self.max_json_bytes = max_json_bytes
        self.attempts = attempts
        self._wait = backoff_wait(backoff_initial, backoff_max)
        self.requests = 0  # every request sent, retries and redirect hops included
        self.on_request: Callable[[], None] | None = None

    # ------------------------------------------------------------------ transport
    async def _send_once(self, url: str, cap: int) -> Response:
        await self.limiter.acquire()
        self.requests += 1
        if self.on_request:
            self.on_request()
        try:
            async with self.http.stream("GET", url) as r:
                metrics.DOCSRS_REQUESTS.inc(label=str(r.status_code))
                if r.status_code == 429 or r.status_code >= 500:
                    raise _Retryable(
                        f"docs.rs answered {r.status_code} for {url}",
                        retry_after_seconds(r.headers),
                    )
                if r.status_code in (301, 302, 303, 307, 308):
                    return Response(urljoin(url, r.headers.get("location", "")), r.status_code, b"")
                if r.status_code != 200:
                    return Response(url, r.status_code, b"")
                declared = r.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > cap:
                    raise TooLarge(f"{url} is {int(declared)} bytes, over the {cap}-byte cap")
                buf = io.BytesIO()
                async for part in r.aiter_raw():
                    buf.write(part)
                    if buf.tell() > cap:
                        raise TooLarge(f"{url} is over the {cap}-byte cap")
                body = buf.getvalue()
                if r.headers.get("content-encoding", "").lower() == "gzip":
                    body = _bounded_gunzip(body, cap, url)
                return Response(url, 200, body)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as e:
            raise _Retryable(f"{type(e).__name__} fetching {url}: {e}") from e

    async def _send(self, url: str, cap: int) -> Response:
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(_Retryable),
                stop=stop_after_attempt(self.attempts),
                wait=self._wait,
                reraise=True,
                before_sleep=lambda s: log.warning(
                    "retrying docs.rs (%s), attempt %d",
                    s.outcome.exception() if s.outcome else "",
                    s.attempt_number,
                ),
            ):
                with attempt:
                    return await self._send_once(url, cap)
        except _Retryable as e:
            raise DocsRsUnavailable(f"{e} (gave up after {self.attempts} attempts)") from e
        raise AssertionError("unreachable")

    async def get(self, url: str, *, cap: int | None = None) -> Response:
        """GET following redirects by hand, so every hop is rate limited."""
        limit = cap or self.max_page_bytes
        for _ in range(MAX_REDIRECTS):
            resp = await self._send(url, limit)
            if resp.status in (301, 302, 303, 307, 308):
                url = resp.url
                continue
            return resp
        raise DocsRsUnavailable(f"too many redirects from {url}")

    # ------------------------------------------------------------------ docs.rs API
    async def resolve(self, crate: str, req: str = "latest") -> Release:
        """Exact version and docs root for `crate` at `req` (latest, 1.2.3, ^1, ~1.2, ...)."""
        url = f"{self.base_url}/{quote(crate)}/{quote(req, safe='^~=<>*.,')}/"
        resp = await self.get(url)
        if resp.status == 404:
            if req != "latest":
                probe = await self.get(f"{self.base_url}/crate/{quote(crate)}/latest")
                if probe.status == 200:
                    raise VersionNotFound(f"docs.rs has no release of {crate} matching {req!r}")
            raise CrateNotFound(f"docs.rs does not know a crate named {crate!r}")
        if resp.status != 200:
            raise DocsRsUnavailable(f"docs.rs answered {resp.status} for {url}")
        path = urlsplit(resp.url).path.strip("/").split("/")
        if path and path[0] == "crate":
            raise NoDocumentation(
                f"docs.rs has no documentation for {crate} {req}"
                " (its docs build failed or is pending)"
            )
        html = resp.body.decode("utf-8", errors="replace")
        meta = parse_page_meta(html)
        if meta is None or len(path) < 3:
            raise MalformedDocument(f"{resp.url} does not look like a docs.rs rustdoc page")
        target = path[2]
        root = f"{self.base_url}/{meta.crate}/{meta.version}/{target}/"
        return Release(meta.crate, meta.version, target, root, html)

    async def fetch_json(self, release: Release) -> dict[str, Any] | None:
        """The release's rustdoc JSON, or None if docs.rs has none (404) or it is too big."""
        url = f"{self.base_url}/crate/{release.crate}/{release.version}/json.gz"
        try:
            resp = await self.get(url, cap=self.max_json_bytes)
        except TooLarge as e:
            log.warning("rustdoc JSON skipped: %s; falling back to HTML", e)
            return None
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise DocsRsUnavailable(f"docs.rs answered {resp.status} for {url}")

        def decode(body: bytes) -> Any:
            return orjson.loads(_decompress(body, self.max_json_bytes, url))

        try:
            doc = await asyncio.to_thread(decode, resp.body)  # tens of MB: off the event loop
        except TooLarge as e:
            log.warning("rustdoc JSON skipped: %s; falling back to HTML", e)
            return None
        except (orjson.JSONDecodeError, zlib.error, zstandard.ZstdError, OSError, EOFError) as e:
            raise MalformedDocument(f"rustdoc JSON at {url} could not be decoded: {e}") from e
        if not isinstance(doc, dict):
            raise MalformedDocument(f"rustdoc JSON at {url} is not an object")
        return doc

    async def fetch_page(self, url: str) -> str | None:
        """An HTML page's text; None (with a warning) when missing or over the size cap."""
        try:
            resp = await self.get(url)
        except TooLarge as e:
            log.warning("page skipped: %s", e)
            return None
        if resp.status != 200:
            log.warning("page skipped: docs.rs answered %d for %s", resp.status, url)
            return None
        return decode_page(resp.body)


def decode_page(body: bytes) -> str:
    """Page bytes as text: UTF-8 (what docs.rs serves) unless a byte-order mark says UTF-16."""
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return body.decode("utf-16", errors="replace")
    return body.decode("utf-8-sig", errors="replace")


def _bounded_gunzip(data: bytes, cap: int, url: str) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data, cap + 1)
    if len(out) > cap or d.unconsumed_tail:
        raise TooLarge(f"{url} decompresses to over {cap} bytes")
    return out


def _decompress(data: bytes, cap: int, url: str) -> bytes:
    if data[:2] == b"\x1f\x8b":
        return _bounded_gunzip(data, cap, url)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data))
        buf = io.BytesIO()
        while part := reader.read(1 << 20):
            buf.write(part)
            if buf.tell() > cap:
                raise TooLarge(f"{url} decompresses to over {cap} bytes")
        return buf.getvalue()
    if len(data) > cap:
        raise TooLarge(f"{url} is over {cap} bytes")
    return data
