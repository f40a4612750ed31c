"""The docs.rs client against the fake docs.rs: caps, redirects, decoding, retry waits."""

from __future__ import annotations

import email.utils
import gzip
import json
import time
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import zstandard
from fake_docsrs import FakeDocsRsServer

from rustdocs_mcp.docsrs import DocsRsClient, TooLarge, _decompress, _Retryable, backoff_wait
from rustdocs_mcp.errors import CrateNotFound, NoDocumentation
from rustdocs_mcp.retry_after import retry_after_seconds


class CountingLimiter:
    def __init__(self) -> None:
        self.calls = 0

    async def acquire(self) -> float:
        self.calls += 1
        return 0.0


async def client(server: FakeDocsRsServer, **kw: Any) -> tuple[DocsRsClient, CountingLimiter]:
    limiter = CountingLimiter()
    return DocsRsClient(httpx.AsyncClient(), limiter, base_url=server.url, **kw), limiter


async def test_every_redirect_hop_waits_for_the_rate_limiter(docsrs: FakeDocsRsServer) -> None:
    c, limiter = await client(docsrs)
    release = await c.resolve("itoa", "^1")
    assert (release.crate, release.version, release.target_name) == ("itoa", "1.0.2", "itoa")
    assert len(docsrs.requests()) == 2  # the semver redirect, then the page
    assert limiter.calls == c.requests == 2


async def test_a_page_over_the_size_cap_is_skipped(docsrs: FakeDocsRsServer) -> None:
    c, _ = await client(docsrs, max_page_bytes=1000)
    assert await c.fetch_page(docsrs.url + "/itoa/1.0.1/itoa/struct.Buffer.html") is None
    big, _ = await client(docsrs)
    assert await big.fetch_page(docsrs.url + "/itoa/1.0.1/itoa/struct.Buffer.html")


async def test_unknown_crates_and_missing_docs_are_permanent_errors(
    docsrs: FakeDocsRsServer,
) -> None:
    c, _ = await client(docsrs)
    with pytest.raises(CrateNotFound):
        await c.resolve("nope-nope", "latest")
    # docs.rs sends a release that has no rustdoc output (failed build) to its /crate/ page
    docsrs.state.redirects["/itoa/latest/"] = "/crate/itoa/1.0.2"
    with pytest.raises(NoDocumentation, match="no documentation for itoa"):
        await c.resolve("itoa", "latest")


@pytest.mark.parametrize("codec", ["gzip", "zstd", "plain"])
def test_rustdoc_json_is_decoded_from_gzip_zstd_or_plain(codec: str) -> None:
    raw = json.dumps({"format_version": 57}).encode()
    data = {
        "gzip": gzip.compress(raw),
        "zstd": zstandard.ZstdCompressor().compress(raw),
        "plain": raw,
    }[codec]
    assert _decompress(data, 10_000, "u") == raw
    with pytest.raises(TooLarge):
        _decompress(data if codec != "plain" else raw * 1000, 10, "u")


@pytest.mark.parametrize(("retry_after", "attempt"), [(7.0, 1), (30.0, 3), (None, 2)])
def test_backoff_honours_retry_after_and_grows(retry_after: float | None, attempt: int) -> None:
    wait = backoff_wait(1.0, 60.0)
    exc = _Retryable("429", retry_after)
    state = SimpleNamespace(attempt_number=attempt, outcome=SimpleNamespace(exception=lambda: exc))
    delay = wait(state)  # type: ignore[arg-type]
    exp = min(60.0, 2 ** (attempt - 1))
    assert delay >= exp / 2
    assert delay >= (retry_after or 0)
    if retry_after is None:
        assert delay <= exp


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_in_seconds_milliseconds_or_as_a_date(
    headers: dict[str, str], expected: float | None
) -> None:
    assert retry_after_seconds(headers) == expected


def test_a_retry_after_date_in_the_future_is_the_time_until_it() -> None:
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    wait = retry_after_seconds({"retry-after": when})
    assert wait is not None
    assert 100 < wait <= 120
