"""A small imitation of docs.rs for the test suite, serving tests/fixtures/docsrs.

URL rules follow docs.rs: /{name}/{req}/ redirects to /{name}/{exact|latest}/{target}/,
/latest/ pages are served with 200, semver requests redirect to the exact version,
/crate/{name}/{version}/json.gz serves rustdoc JSON, unknown crates and pages are 404.
Rustdoc pages are wrapped the way docs.rs wraps them (see docsrs_html.wrap_like_docsrs).

Faults for tests: `fail(path_regex, [statuses...])` answers the next matching requests with
those statuses (429/503 carry Retry-After; a None in the list lets that request through, so
faults can come in bursts), `override(path, body)` serves a given body (a malformed page),
`no_json` hides a crate's JSON (404). Every request is logged with its arrival time (before
any injected latency), for rate checks.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from docsrs_html import wrap_like_docsrs

FIXTURES = Path(__file__).parent / "fixtures" / "docsrs"


def _vkey(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", v)[:3])


def _matches(req: str, version: str) -> bool:
    """Enough of cargo's requirement syntax for tests: =, ^ (default), ~ and *."""
    if req in ("*", "latest", "newest"):
        return True
    m = re.fullmatch(r"([\^~=]?)(\d+)(?:\.(\d+))?(?:\.(\d+))?", req)
    if not m:
        return False
    op, parts = m.group(1), [int(x) for x in m.group(2, 3, 4) if x is not None]
    v = _vkey(version)
    if op == "=":
        return v[: len(parts)] == tuple(parts)
    lo = tuple(parts + [0] * (3 - len(parts)))
    if op == "~":
        hi = (parts[0] + 1, 0, 0) if len(parts) == 1 else (parts[0], parts[1] + 1, 0)
    elif parts[0] > 0 or len(parts) == 1:
        hi = (parts[0] + 1, 0, 0)
    elif len(parts) == 2 or parts[1] > 0:
        hi = (0, parts[1] + 1, 0)
    else:
        hi = (0, 0, parts[2] + 1)
    return lo <= v < hi


@dataclass
class Request:
    at: float
    path: str
    status: int


@dataclass
class State:
    index: dict[str, dict[str, dict[str, object]]]
    log: list[Request] = field(default_factory=list)
    faults: list[tuple[re.Pattern[str], list[int | None]]] = field(default_factory=list)
    overrides: dict[str, bytes] = field(default_factory=dict)
    no_json: set[str] = field(default_factory=set)
    redirects: dict[str, str] = field(default_factory=dict)
    retry_after: int = 0
    latency: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeDocsRsServer
    _arrived = 0.0  # when the request being answered came in

    def log_message(self, fmt: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._arrived = time.monotonic()
        st = self.server.state
        path = unquote(urlsplit(self.path).path)
        if st.latency:
            time.sleep(st.latency)
        status = None
        with st.lock:
            for rx, statuses in st.faults:
                if statuses and rx.search(path):
                    status = statuses.pop(0)  # None: this one goes through
                    break
        if status is not None:
            headers = {"Retry-After": str(st.retry_after)} if status in (429, 503) else {}
            return self._send(path, status, b"<h1>error</h1>", "text/html", headers)
        if path in st.redirects:
            return self._send(path, 302, b"", "text/plain", {"Location": st.redirects[path]})
        if path in st.overrides:
            return self._send(path, 200, st.overrides[path], "text/html; charset=utf-8")
        try:
            status, body, ctype, headers = self._route(path)
        except _Redirect as r:
            return self._send(path, 302, b"", "text/plain", {"Location": r.location})
        return self._send(path, status, body, ctype, headers)

    def _send(
        self, path: str, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        st = self.server.state
        with st.lock:
            st.log.append(Request(self._arrived, path, status))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    # ------------------------------------------------------------------ routing
    def _lookup(self, name: str, req: str) -> tuple[str, str, str] | None:
        idx = self.server.state.index
        canon = next((n for n in idx if n.replace("-", "_") == name.replace("-", "_")), None)
        if canon is None:
            return None
        versions = sorted(idx[canon], key=_vkey)
        cands = [req] if req in versions else [v for v in versions if _matches(req, v)]
        if not cands:
            return None
        version = cands[-1]
        target = str(idx[canon][version]["target_name"])
        return canon, version, target

    def _route(self, path: str) -> tuple[int, bytes, str, dict[str, str]]:
        parts = path.strip("/").split("/")
        not_found = (404, b"<h1>The requested crate does not exist</h1>", "text/html", {})
        if parts[0] == "crate" and len(parts) >= 3:
            found = self._lookup(parts[1], parts[2])
            if found is None:
                return not_found
            name, version, _ = found
            if len(parts) == 3:
                body = f'<h1 id="crate-title">{name} {version}</h1>'.encode()
                return 200, body, "text/html", {}
            if parts[3].startswith("json"):
                files = sorted((FIXTURES / "rustdoc-json" / name / version).glob("*.json.gz"))
                if name in self.server.state.no_json or not files:
                    return not_found
                return 200, files[-1].read_bytes(), "application/gzip", {}
            return not_found
        if len(parts) < 2 or not parts[0]:
            return not_found
        name, req, rest = parts[0], parts[1] or "latest", parts[2:]
        found = self._lookup(name, req)
        if found is None:
            return not_found
        canon, version, target = found
        shown = "latest" if req == "latest" else version
        if not rest:
            raise _Redirect(f"/{canon}/{shown}/{target}/")
        if req not in ("latest", version) or canon != name:
            raise _Redirect(
                "/" + "/".join([canon, shown, *rest]) + ("/" if path.endswith("/") else "")
            )
        inner = "/".join(rest)
        if path.endswith("/"):
            inner += "/index.html" if inner else "index.html"
        f = FIXTURES / "rustdoc" / canon / version / inner
        if not f.resolve().is_relative_to((FIXTURES / "rustdoc").resolve()) or not f.is_file():
            return not_found
        html = f.read_text(encoding="utf-8")
        return 200, wrap_like_docsrs(html, canon, version).encode(), "text/html; charset=utf-8", {}


class _Redirect(Exception):
    def __init__(self, location: str):
        self.location = location


class FakeDocsRsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        index = json.loads((FIXTURES / "index.json").read_text())["crates"]
        self.state = State(index={n: c["versions"] for n, c in index.items()})
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeDocsRsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client dropping its keep-alive connection (a worker process stopping, a response
        # closed unread after a 503) is not an error of the server.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def reset(self) -> None:
        with self.state.lock:
            self.state.log.clear()
            self.state.faults.clear()
            self.state.overrides.clear()
            self.state.no_json.clear()
            self.state.redirects.clear()
            self.state.retry_after = 0
            self.state.latency = 0.0

    def fail(self, path_regex: str, statuses: Sequence[int | None]) -> None:
        with self.state.lock:
            self.state.faults.append((re.compile(path_regex), list(statuses)))

    def override(self, path: str, body: bytes) -> None:
        self.state.overrides[path] = body

    def requests(self, path_regex: str = "") -> list[Request]:
        with self.state.lock:
            return [r for r in self.state.log if re.search(path_regex, r.path)]

    def peak_per_second(self, path_regex: str = "") -> int:
        """Most requests that arrived within any closed one-second window."""
        times = sorted(r.at for r in self.requests(path_regex))
        best, j = 0, 0
        for i, t in enumerate(times):
            while t - times[j] > 1.0:
                j += 1
            best = max(best, i - j + 1)
        return best
