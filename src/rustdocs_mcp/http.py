"""Streamable HTTP transport: bearer-token auth, loopback by default, /healthz."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import socket

import uvicorn
from mcp.server import MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from . import metrics
from .errors import ConfigError
from .settings import Settings
from .tools import App, running_app

log = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/healthz"})


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback
                for info in socket.getaddrinfo(host, None)
            )
        except OSError:
            return False


class BearerAuth:
    """Rejects requests without `Authorization: Bearer <token>` with 401."""

    def __init__(self, app: ASGIApp, token: str):
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") not in PUBLIC_PATHS:
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                resp = JSONResponse(
                    {"error": "missing or wrong bearer token"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await resp(scope, receive, send)
                return
        await self.app(scope, receive, send)


def http_app(server: MCPServer[App], settings: Settings, host: str) -> ASGIApp:
    token = settings.http_token.get_secret_value() if settings.http_token else None
    if not token and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve HTTP on {host} without a token: set RUSTDOCS_HTTP_TOKEN,"
            " or bind 127.0.0.1"
        )

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def prometheus(_: Request) -> Response:
        app = running_app(server)
        if app is None:
            return PlainTextResponse("starting\n", status_code=503)
        body = await metrics.render(app.deps.pool)
        return PlainTextResponse(body, media_type="text/plain; version=0.0.4")

    starlette = server.streamable_http_app(host=host)
    starlette.add_route("/healthz", healthz, methods=["GET"])
    starlette.add_route("/metrics", prometheus, methods=["GET"])
    return BearerAuth(starlette, token) if token else starlette


async def serve_http(server: MCPServer[App], settings: Settings, *, host: str, port: int) -> None:
    app = http_app(server, settings, host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    log.info("serving MCP over streamable HTTP on http://%s:%d/mcp", host, port)
    await uvicorn.Server(config).serve()
