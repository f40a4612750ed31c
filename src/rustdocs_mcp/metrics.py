"""Prometheus text-format metrics: in-process counters plus job figures read from Postgres."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

import asyncpg

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_JOB_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)


class Counter:
    def __init__(self, name: str, help_: str, label: str | None = None):
        self.name, self.help, self.label = name, help_, label
        self._values: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, label: str = "") -> None:
        with self._lock:
            self._values[label] += amount

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        with self._lock:
            items = sorted(self._values.items()) or [("", 0.0)]
        for label, value in items:
            tag = f'{{{self.label}="{label}"}}' if self.label and label else ""
            lines.append(f"{self.name}{tag} {value:g}")
        return lines


class Histogram:
    def __init__(self, name: str, help_: str, buckets: tuple[float, ...] = _LATENCY_BUCKETS):
        self.name, self.help, self.buckets = name, help_, buckets
        self._counts = [0] * (len(buckets) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            self._counts[bisect.bisect_left(self.buckets, value)] += 1
            self._sum += value

    def render(self) -> list[str]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        return _histogram_lines(self.name, self.help, self.buckets, counts, total)


def _histogram_lines(
    name: str, help_: str, buckets: tuple[float, ...], counts: list[int], total: float
) -> list[str]:
    lines = [f"# HELP {name} {help_}", f"# TYPE {name} histogram"]
    running = 0
    for bound, n in zip(buckets, counts, strict=False):
        running += n
        lines.append(f'{name}_bucket{{le="{bound:g}"}} {running}')
    running += counts[-1]
    lines += [
        f'{name}_bucket{{le="+Inf"}} {running}',
        f"{name}_sum {total:g}",
        f"{name}_count {running}",
    ]
    return lines


DOCSRS_REQUESTS = Counter(
    "rustdocs_docsrs_requests_total", "docs.rs requests by HTTP status", "status"
)
EMBEDDINGS = Counter("rustdocs_embeddings_total", "chunks embedded by this process")
EMBED_SECONDS = Counter("rustdocs_embedding_seconds_total", "seconds spent embedding chunks")
SEARCH_SECONDS = Histogram("rustdocs_search_seconds", "search_rust_docs latency")


async def render(pool: asyncpg.Pool) -> str:
    lines = [
        "# HELP rustdocs_jobs Jobs in crate_jobs by status and operation",
        "# TYPE rustdocs_jobs gauge",
    ]
    for r in await pool.fetch(
        "SELECT operation, status, count(*) AS n FROM crate_jobs GROUP BY 1, 2 ORDER BY 1, 2"
    ):
        lines.append(
            f'rustdocs_jobs{{operation="{r["operation"]}",status="{r["status"]}"}} {r["n"]}'
        )
    durations = [
        float(r["s"])
        for r in await pool.fetch(
            "SELECT extract(epoch FROM finished_at - started_at) AS s FROM crate_jobs"
            " WHERE status = 'complete' AND started_at IS NOT NULL"
            " AND finished_at > now() - interval '1 day'"
        )
    ]
    counts = [0] * (len(_JOB_BUCKETS) + 1)
    for d in durations:
        counts[bisect.bisect_left(_JOB_BUCKETS, d)] += 1
    lines += _histogram_lines(
        "rustdocs_job_duration_seconds",
        "Duration of jobs completed in the last day",
        _JOB_BUCKETS,
        counts,
        sum(durations),
    )
    for metric in (DOCSRS_REQUESTS, EMBEDDINGS, EMBED_SECONDS, SEARCH_SECONDS):
        lines += metric.render()
    return "\n".join(lines) + "\n"
