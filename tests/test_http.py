"""The streamable HTTP transport: bearer auth, loopback default, /healthz and /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from test_ingest import ingest

from rustdocs_mcp.deps import Deps
from rustdocs_mcp.errors import ConfigError
from rustdocs_mcp.http import http_app, is_loopback
from rustdocs_mcp.tools import build_server


@asynccontextmanager
async def serving(deps: Deps, token: str | None) -> AsyncIterator[str]:
    secret = SecretStr(token) if token else None
    settings = deps.settings.model_copy(update={"http_token": secret})
    server = build_server(settings, run_worker=False, deps_factory=lambda _: nullcontext(deps))
    app = http_app(server, settings, "127.0.0.1")
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    web = uvicorn.Server(config)
    task = asyncio.create_task(web.serve())
    for _ in range(1000):
        if web.started:
            break
        await asyncio.sleep(0.01)
    port = web.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        web.should_exit = True
        await task


async def test_requests_without_the_bearer_token_get_401(deps: Deps) -> None:
    async with serving(deps, "s3cret") as url, httpx.AsyncClient() as http:
        assert (await http.post(url + "/mcp", json={})).status_code == 401
        assert (await http.get(url + "/metrics")).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await http.get(url + "/metrics", headers=wrong)).status_code == 401
        assert (await http.get(url + "/healthz")).json() == {"status": "ok"}
        ok = await http.get(url + "/metrics", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


async def test_metrics_report_jobs_requests_embeddings_and_search(deps: Deps) -> None:
    await ingest(deps, "itoa")
    async with serving(deps, None) as url, httpx.AsyncClient() as http:
        body = (await http.get(url + "/metrics")).text
    assert 'rustdocs_jobs{operation="ingest",status="complete"} 1' in body
    assert "rustdocs_job_duration_seconds_count 1" in body
    assert 'rustdocs_docsrs_requests_total{status="200"}' in body
    assert "rustdocs_embeddings_total" in body
    assert "# TYPE rustdocs_search_seconds histogram" in body


def test_binding_a_public_address_without_a_token_refuses_to_start(deps: Deps) -> None:
    server = build_server(deps.settings, run_worker=False)
    with pytest.raises(ConfigError, match="RUSTDOCS_HTTP_TOKEN"):
        http_app(server, deps.settings.model_copy(update={"http_token": None}), "0.0.0.0")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
    ],
)
def test_loopback_addresses_are_recognised(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
