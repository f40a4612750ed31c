"""Properties of the job system, checked by Hypothesis against real Postgres and Redis.

Each property draws a scenario (adds, state changes, failing crates, queries), drives the real
code, and compares what it sees with expectations computed here, from the scenario alone.
Function-scoped fixtures are shared by the examples of one test, so every example starts by
resetting what it depends on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from arq import Retry
from conftest import fast_retries, run_worker
from fake_docsrs import FakeDocsRsServer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from qdrant_client import AsyncQdrantClient
from test_ingest import ingest

from rustdocs_mcp import admin, jobs, ops, tasks
from rustdocs_mcp import ingest as ingest_module
from rustdocs_mcp.deps import Deps, docsrs_client, open_deps
from rustdocs_mcp.embed import Embedder
from rustdocs_mcp.errors import NotIndexed
from rustdocs_mcp.jobs import Job
from rustdocs_mcp.store import VectorStore, collection_spec
from rustdocs_mcp.store_qdrant import QdrantServerStore


@pytest.fixture(scope="module")
async def store(embedder: Embedder) -> AsyncIterator[VectorStore]:
    """One vector store for the whole module: a crate's vectors are computed once and reused
    by every later ingest of it (chunk ids are content-derived), which keeps examples cheap."""
    client = AsyncQdrantClient(location=":memory:")
    s = QdrantServerStore(client, collection_spec(embedder.model_name, embedder.dimension))
    await s.ensure_collection()
    yield s
    await s.close()


def examples(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


async def reset(deps: Deps, *tables: str) -> None:
    """Empty the tables (all by default; DELETE: TRUNCATE costs ~0.1 s) and the queue."""
    for table in tables or ("crates", "crate_jobs", "audit_log", "workers"):
        await deps.pool.execute(f"DELETE FROM {table}")  # crates cascades to documents, chunks
    await deps.redis.flushdb()


async def queue_members(deps: Deps) -> set[str]:
    raw = await deps.redis.zrange(deps.settings.queue_name, 0, -1)
    return {m.decode() if isinstance(m, bytes) else str(m) for m in raw}


# --------------------------------------------------------------------------- 1. persistence
FIXTURE_CRATES = ["itoa", "anyhow", "semver", "bytes"]
VERSIONS = ["latest", "1.0.1", "1.0.2", "^1", "~1.0", "=1.0.69", "*", ">=1.0, <2"]
# What happens to a newly created job before the restart, and the status it ends in.
FATES = {
    "left queued": "queued",
    "cancelled": "failed",
    "running on a live worker": "running",
    "completed": "complete",
    "failed": "failed",
}


async def _apply_fate(pool: Any, job_id: uuid.UUID, fate: str) -> None:
    if fate == "left queued":
        return
    if fate == "cancelled":
        assert (await jobs.cancel(pool, job_id)).status == "failed"
        return
    assert await jobs.claim(pool, job_id, "live") is not None
    if fate == "completed":
        assert await jobs.complete(pool, job_id) is not None
    elif fate == "failed":
        assert await jobs.fail(pool, job_id, "docs.rs does not know it") is not None


@examples(25)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(FIXTURE_CRATES),
            st.sampled_from(VERSIONS),
            st.booleans(),
            st.sampled_from(sorted(FATES)),
        ),
        max_size=10,
    )
)
async def test_every_job_keeps_its_status_across_a_restart_and_queued_ones_are_queued_again(
    deps: Deps, steps: list[tuple[str, str, bool, str]]
) -> None:
    await reset(deps)
    await deps.pool.execute("INSERT INTO workers (id, host, pid) VALUES ('live', 'h', 1)")
    expected: dict[uuid.UUID, str] = {}
    active: dict[str, uuid.UUID] = {}  # crate -> its queued or running ingest job
    async with open_deps(deps.settings, embedder=deps.embedder, store=deps.store) as first:
        for crate, version, force, fate in steps:
            res = await ops.add_crate(
                first.pool, first.redis, first.settings, crate, version, force
            )
            assert res.job_id is not None
            job_id = uuid.UUID(res.job_id)
            if crate in active:  # an active job is returned, not a second one
                assert job_id == active[crate]
                continue
            assert job_id not in expected
            await _apply_fate(first.pool, job_id, fate)
            expected[job_id] = FATES[fate]
            if FATES[fate] in ("queued", "running"):
                active[crate] = job_id
        assert await queue_members(first) == {str(j) for j in expected}  # each add enqueued
    await deps.redis.flushdb()  # Redis restarted without persistence: the queue is gone
    async with open_deps(deps.settings, embedder=deps.embedder, store=deps.store) as second:
        reconciled = await tasks.reconcile(second)
        rows = await second.pool.fetch("SELECT id, status FROM crate_jobs")
        queued_again = await queue_members(second)
    assert {r["id"]: r["status"] for r in rows} == expected
    queued = {str(j) for j, status in expected.items() if status == "queued"}
    assert queued_again == queued
    assert reconciled == {"requeued": 0, "enqueued": len(queued)}


# --------------------------------------------------------------------------- 2. statistics
WORKER_STATES = {
    "alive": "INSERT INTO workers (id, host, pid) VALUES ($1, 'h', 1)",
    "stale": "INSERT INTO workers (id, host, pid, last_beat)"
    " VALUES ($1, 'h', 1, now() - interval '1 hour')",
    "stopped": "INSERT INTO workers (id, host, pid, stopped_at) VALUES ($1, 'h', 1, now())",
}

WorkerId = str | None
Step = tuple[str, WorkerId]

# Claims and cancels are drawn twice as often, and "w1" (the usual claimer) more than "w2"
# (another worker) or None (no worker), so that long-lived interleavings come up often.
OPS = ["claim", "cancel", "complete", "fail", "retry_later", "requeue_lost", "hand_back"]
OPS += ["retry_failed", "claim", "cancel"]
steps_strategy = st.lists(
    st.tuples(st.sampled_from(OPS), st.sampled_from(["w1", "w1", "w2", None])), max_size=16
)


async def apply_step(pool: Any, job_id: uuid.UUID, op: str, worker: WorkerId) -> Job | None:
    """One state change through jobs.*; None when the guard refused it."""
    w = worker or "w1"
    calls: dict[str, Callable[[], Awaitable[Job | None]]] = {
        "claim": lambda: jobs.claim(pool, job_id, w),
        "complete": lambda: jobs.complete(pool, job_id),
        "fail": lambda: jobs.fail(pool, job_id, "boom"),
        "retry_later": lambda: jobs.retry_later(pool, job_id, "docs.rs answered 503"),
        "cancel": lambda: jobs.cancel(pool, job_id),
        "requeue_lost": lambda: jobs.requeue_lost(pool, job_id, worker),
        "hand_back": lambda: jobs.hand_back(pool, job_id, w),
        "retry_failed": lambda: jobs.retry_failed(pool, job_id),
    }
    return await calls[op]()


@examples(60)
@given(
    plan=st.lists(
        st.tuples(st.sampled_from(["ingest", "remove"]), st.booleans(), steps_strategy),
        max_size=8,
    ),
    workers=st.lists(st.sampled_from(sorted(WORKER_STATES)), max_size=4),
)
async def test_queue_stats_match_the_jobs_produced_by_the_applied_transitions(
    deps: Deps, plan: list[tuple[str, bool, list[Step]]], workers: list[str]
) -> None:
    await reset(deps)
    for i, state in enumerate(workers):
        await deps.pool.execute(WORKER_STATES[state], f"worker-{i}")
    final: dict[uuid.UUID, tuple[str, str]] = {}  # job -> (operation, status)
    finished: set[uuid.UUID] = set()
    enqueued = 0
    for i, (operation, enqueue, steps) in enumerate(plan):
        job, created = await jobs.create(deps.pool, crate_name=f"crate-{i}", operation=operation)  # type: ignore[arg-type]
        assert created
        if enqueue:
            assert await ops.enqueue_job(deps.redis, deps.settings, job)
            enqueued += 1
        last = job
        for op, worker in steps:
            moved = await apply_step(deps.pool, job.id, op, worker)
            last = moved or last
        final[job.id] = (operation, last.status)
        if last.finished_at is not None:
            finished.add(job.id)

    stats = await admin.queue_stats(deps.pool, deps.redis, deps.settings)

    statuses = Counter(status for _, status in final.values())
    assert stats.by_status == {s: statuses[s] for s in ("queued", "running", "failed", "complete")}
    by_op: dict[str, dict[str, int]] = {}
    for (operation, status), n in Counter(final.values()).items():
        by_op.setdefault(operation, {})[status] = n
    assert stats.by_operation == by_op
    assert stats.arq_queued == enqueued
    assert stats.finished_last_hour == len(finished)
    assert stats.succeeded_last_hour == statuses["complete"]
    if finished:
        assert stats.success_rate_last_hour == round(statuses["complete"] / len(finished), 3)
    else:
        assert stats.success_rate_last_hour is None
    assert (stats.mean_job_seconds is None) == (statuses["complete"] == 0)
    assert stats.workers_alive == workers.count("alive")


# --------------------------------------------------------------------------- 3. retries
@examples(200)
@given(attempt=st.integers(1, 5000), base=st.floats(1e-3, 1e4))
def test_the_retry_delay_doubles_with_each_attempt_up_to_the_cap(attempt: int, base: float) -> None:
    ceiling = min(tasks.RETRY_MAX, base * 2.0 ** min(attempt - 1, 64))
    delay = tasks.retry_delay(attempt, base)
    assert ceiling / 2 <= delay <= ceiling
    assert delay <= tasks.RETRY_MAX


def test_the_default_retry_delay_starts_at_ten_seconds_and_stops_growing_at_ten_minutes() -> None:
    assert all(5 <= tasks.retry_delay(1) <= 10 for _ in range(50))
    assert all(10 <= tasks.retry_delay(2) <= 20 for _ in range(50))
    assert all(300 <= tasks.retry_delay(40) <= 600 for _ in range(50))


async def run_once(ctx: dict[str, Any], job_id: uuid.UUID) -> tuple[str, int | None]:
    """One arq run of the job: (its result, or "" and the retry delay in ms if it asked)."""
    try:
        return await tasks.ingest_crate(ctx, str(job_id)), None
    except Retry as retry:
        return "", retry.defer_score


@examples(30)
@given(
    max_attempts=st.integers(1, 5),
    failures=st.integers(1, 6),
    base=st.floats(1e-3, 1e3),
)
async def test_transient_failures_requeue_the_job_with_backoff_until_attempts_run_out(
    deps: Deps, docsrs: FakeDocsRsServer, max_attempts: int, failures: int, base: float
) -> None:
    await reset(deps, "crate_jobs", "audit_log")
    docsrs.reset()
    docsrs.fail(r"^/itoa/", [503] * failures)  # the first `failures` attempts each get a 503
    one_try = fast_retries(docsrs_client(deps.settings, deps.http, deps.redis))
    one_try.attempts = 1  # no retries inside the docs.rs client: one 503 fails the attempt
    ctx: dict[str, Any] = {
        "deps": dataclasses.replace(deps, docsrs=one_try),
        "worker_id": "w",
        "retry_base": base,
    }
    job, _ = await jobs.create(
        deps.pool, crate_name="itoa", operation="ingest", max_attempts=max_attempts
    )
    for attempt in range(1, max_attempts + 1):
        outcome, defer_ms = await run_once(ctx, job.id)
        if defer_ms is not None:  # arq is asked to run it again later
            assert attempt <= failures
            assert attempt < max_attempts
            ceiling = min(tasks.RETRY_MAX, base * 2 ** (attempt - 1)) * 1000
            assert ceiling / 2 - 1 <= defer_ms <= ceiling + 1
            now = await jobs.get(deps.pool, job.id)
            assert (now.status, now.attempts, now.stage) == ("queued", attempt, "retrying")
            assert "503" in (now.error or "")
            continue
        done = await jobs.get(deps.pool, job.id)
        assert done.attempts == attempt
        if attempt <= failures:  # the last attempt failed too
            assert attempt == max_attempts
            assert done.status == "failed"
            assert outcome.startswith("failed: ")
            assert "503" in (done.error or "")
            assert f"gave up after {max_attempts} attempts" in (done.error or "")
        else:
            assert done.status == "complete", done.error
        break
    else:
        pytest.fail("the job was still retrying after its last attempt")
    # arq may run it once more (a duplicate delivery): a finished job is left as it is.
    outcome, _ = await run_once(ctx, job.id)
    assert outcome.startswith("not claimed")
    assert (await jobs.get(deps.pool, job.id)).status == done.status


# --------------------------------------------------------------------------- 4. lifecycle
@dataclasses.dataclass
class Model:
    """The job life cycle as specified, independent of the SQL that implements it."""

    max_attempts: int
    status: str = "queued"
    attempts: int = 0
    cancel_requested: bool = False
    worker: str | None = None

    def apply(self, op: str, worker: WorkerId) -> str | None:
        """Apply `op`; returns the audit action when the state changed, None if refused."""
        w = worker or "w1"
        running = self.status == "running"
        if op == "claim" and self.status == "queued" and not self.cancel_requested:
            self.status, self.attempts, self.worker = "running", self.attempts + 1, w
            return "job.running"
        if op == "complete" and running:
            self.status = "complete"
            return "job.complete"
        if op == "fail" and running:
            self.status = "failed"
            return "job.failed"
        retry_allowed = not self.cancel_requested and self.attempts < self.max_attempts
        if op == "retry_later" and running and retry_allowed:
            self.status, self.worker = "queued", None
            return "job.retry"
        if op == "cancel" and self.status == "queued":
            self.status, self.cancel_requested = "failed", True
            return "job.cancelled"
        if op == "cancel" and running:
            self.cancel_requested = True
            return "job.cancel_requested"
        if op == "requeue_lost" and running and self.worker == worker:
            keep = self.attempts < self.max_attempts and not self.cancel_requested
            self.status, self.worker = ("queued" if keep else "failed"), None
            return "job.worker_lost"
        if op == "hand_back" and running and self.worker == w:
            self.status = "failed" if self.cancel_requested else "queued"
            self.attempts, self.worker = max(self.attempts - 1, 0), None
            return "job.handed_back"
        if op == "retry_failed" and self.status == "failed":
            self.status, self.attempts, self.cancel_requested = "queued", 0, False
            return "job.requeued"
        return None


LEGAL = {
    ("queued", "running"),
    ("queued", "failed"),  # cancelled
    ("running", "running"),  # cancel requested
    ("running", "complete"),
    ("running", "failed"),
    ("running", "queued"),  # retry, lost worker, hand back
    ("failed", "queued"),  # operator retry
}


@examples(200)
@given(max_attempts=st.integers(1, 4), steps=steps_strategy)
# A cancel asked of a running job whose worker then dies, or shuts down: found by this test.
@example(max_attempts=3, steps=[("claim", "w1"), ("cancel", None), ("requeue_lost", "w1")])
@example(max_attempts=3, steps=[("claim", "w1"), ("cancel", None), ("hand_back", "w1")])
async def test_every_state_change_is_legal_guarded_and_audited_once(
    deps: Deps, max_attempts: int, steps: list[Step]
) -> None:
    crate = f"life-{uuid.uuid4().hex[:12]}"  # a crate of its own: no reset needed
    job, _ = await jobs.create(
        deps.pool, crate_name=crate, operation="ingest", max_attempts=max_attempts
    )
    model = Model(max_attempts)
    actions = ["job.queued"]
    before = job
    for op, worker in steps:
        action = model.apply(op, worker)
        moved = await apply_step(deps.pool, job.id, op, worker)
        after = await jobs.get(deps.pool, job.id)
        if action is not None:
            actions.append(action)
            assert (before.status, after.status) in LEGAL, (op, worker)
        else:
            assert after == before  # a refused change changes nothing, not even updated_at
        if after.status == "queued":  # a queued job can always be claimed
            assert not after.cancel_requested, (op, worker)
        if op != "cancel":  # cancel answers with the job's state either way
            assert (moved is None) == (action is None), (op, worker)
        if moved is not None:
            assert moved == after  # the guarded update returns the row as it now is
        assert (after.status, after.attempts) == (model.status, model.attempts), (op, worker)
        before = after
    audit = await deps.pool.fetch(
        "SELECT action FROM audit_log WHERE job_id = $1 ORDER BY id", job.id
    )
    assert [r["action"] for r in audit] == actions


# --------------------------------------------------------------------------- 5. isolation
HEALTHY_CRATES = {  # crate -> (latest version, an item path to look up)
    "itoa": ("1.0.2", "itoa::Buffer"),
    "semver": ("1.0.14", "semver::Version"),
    "anyhow": ("1.0.69", "anyhow::Error"),
}
BREAKAGES = {  # how docs.rs fails a crate for good -> what the job's error says
    "unknown": "does not know a crate named",
    "corrupt json": "could not be decoded",
}


def _break(docsrs: FakeDocsRsServer, crate: str, how: str) -> None:
    if how == "unknown":
        docsrs.fail(rf"^/(crate/)?{crate}/", [404] * 100)
    else:
        version = HEALTHY_CRATES[crate][0]
        docsrs.override(f"/crate/{crate}/{version}/json.gz", b"this is not rustdoc json")


@examples(5)
@given(
    broken=st.dictionaries(
        st.sampled_from(sorted(HEALTHY_CRATES)), st.sampled_from(sorted(BREAKAGES))
    ),
    forgotten=st.sets(st.sampled_from(sorted(HEALTHY_CRATES))),
)
async def test_crates_that_fail_for_good_fail_alone_and_the_others_index_and_search(
    deps: Deps, docsrs: FakeDocsRsServer, broken: dict[str, str], forgotten: set[str]
) -> None:
    # Crates indexed by earlier examples stay indexed, except the forgotten ones: their rows
    # go (their points stay behind, uncommitted). A failure must leave either state as it was.
    await reset(deps, "crate_jobs", "audit_log", "workers")
    for crate in forgotten:
        await deps.pool.execute("DELETE FROM crates WHERE name = $1", crate)
    rows = await deps.pool.fetch("SELECT name, version, doc_count, chunk_count FROM crates")
    before = {r["name"]: (r["version"], r["doc_count"], r["chunk_count"]) for r in rows}
    docsrs.reset()
    for crate, how in broken.items():
        _break(docsrs, crate, how)
    created = {}
    for crate in HEALTHY_CRATES:
        created[crate], _ = await jobs.create(
            deps.pool, crate_name=crate, operation="ingest", force=True
        )
        await ops.enqueue_job(deps.redis, deps.settings, created[crate])
    await run_worker(deps)

    rows = await deps.pool.fetch("SELECT name, version, doc_count, chunk_count FROM crates")
    after = {r["name"]: (r["version"], r["doc_count"], r["chunk_count"]) for r in rows}
    for crate, job in created.items():
        done = await jobs.get(deps.pool, job.id)
        assert done.attempts == 1  # permanent failures are not retried; others never failed
        if crate in broken:
            assert done.status == "failed"
            assert BREAKAGES[broken[crate]] in (done.error or "")
            assert after.get(crate) == before.get(crate)  # the previous index, or none
            assert await deps.store.count(crate) == (before[crate][2] if crate in before else 0)
        else:
            assert done.status == "complete", done.error
            assert after[crate][0] == HEALTHY_CRATES[crate][0]
            assert await deps.store.count(crate) == after[crate][2]
    searchable = set(after)
    assert searchable == (set(HEALTHY_CRATES) - set(broken)) | (set(broken) & set(before))
    for crate, (_, path) in HEALTHY_CRATES.items():
        hits = (await ops.search_docs(deps.pool, deps.store, deps.embedder, path)).results
        assert {h.crate for h in hits} <= searchable
        if crate in searchable:
            assert hits[0].path == path
            filtered = await ops.search_docs(
                deps.pool, deps.store, deps.embedder, "what does this crate do", crate
            )
            assert {h.crate for h in filtered.results} == {crate}
        else:
            with pytest.raises(NotIndexed):
                await ops.search_docs(deps.pool, deps.store, deps.embedder, path, crate)


# --------------------------------------------------------------------------- 6. availability
class Gate:
    """Holds an ingest at one point until released: the test searches meanwhile."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self) -> None:
        self.reached.set()
        await self.release.wait()


class GatedStore:
    """The real store, with a gate in front of the ingest's lookup of existing points."""

    def __init__(self, inner: VectorStore, gate: Gate):
        self._inner = inner
        self._gate = gate

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def existing_ids(self, ids: list[str]) -> set[str]:
        await self._gate()
        return await self._inner.existing_ids(ids)


QUERIES = [
    "format an integer into a buffer",
    "itoa::Buffer",
    "Buffer::format",
    "Integer",
    "fast integer to string conversion",
    "write a u64 as text",
]
TARGETS = {  # what gets indexed while itoa 1.0.1 is searched -> (crate, version asked, got)
    "a new itoa version": ("itoa", "1.0.2", "1.0.2"),
    "another crate": ("anyhow", "latest", "1.0.69"),
}
Answer = list[tuple[str, str, str, str]]


@examples(4)
@given(
    target=st.sampled_from(sorted(TARGETS)),
    pause_at=st.sampled_from(["fetching", "committing"]),
    queries=st.lists(st.sampled_from(QUERIES), min_size=1, max_size=3, unique=True),
    crate_filter=st.booleans(),
)
async def test_searches_answer_as_before_while_another_ingest_is_running(
    deps: Deps,
    docsrs: FakeDocsRsServer,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    pause_at: str,
    queries: list[str],
    crate_filter: bool,
) -> None:
    docsrs.reset()
    await reset(deps)  # the store keeps its points: re-indexing reuses their vectors
    assert (await ingest(deps, "itoa", "1.0.1")).status == "complete"
    crate = "itoa" if crate_filter else None

    async def answers() -> list[Answer]:
        """Per query, the items found (crate, version, path, url), best first."""
        out = []
        for q in queries:
            res = await ops.search_docs(deps.pool, deps.store, deps.embedder, q, crate)
            out.append([(h.crate, h.version, h.path, h.url) for h in res.results])
        return out

    before = await answers()
    assert all(before)
    assert {hit[:2] for answer in before for hit in answer} == {("itoa", "1.0.1")}

    gate = Gate()
    worker_deps = deps
    if pause_at == "committing":  # every new point is written; the swap has not happened
        real_commit = ingest_module.commit

        async def gated_commit(*args: Any, **kwargs: Any) -> None:
            await gate()
            await real_commit(*args, **kwargs)

        monkeypatch.setattr(ingest_module, "commit", gated_commit)
    else:  # items are arriving and being embedded
        worker_deps = dataclasses.replace(deps, store=GatedStore(deps.store, gate))  # type: ignore[arg-type]
    name, version, resolved = TARGETS[target]
    job, _ = await jobs.create(
        deps.pool, crate_name=name, operation="ingest", requested_version=version, force=True
    )
    await ops.enqueue_job(deps.redis, deps.settings, job)
    worker = asyncio.create_task(run_worker(worker_deps))
    reached = asyncio.create_task(gate.reached.wait())
    try:
        await asyncio.wait({worker, reached}, return_when=asyncio.FIRST_COMPLETED)
        assert gate.reached.is_set(), "the ingest finished without passing the pause point"
        assert (await jobs.get(deps.pool, job.id)).status == "running"
        if pause_at == "committing":  # the new release's points are in the store already
            assert (await deps.store.counts_by_release()).get((name, resolved), 0) > 0
        during = await answers()
    finally:
        gate.release.set()
        await asyncio.gather(worker, reached)
        monkeypatch.undo()
    # The same items, none of the release being written. (Not always in the same order:
    # the lexical scores use the IDF of every point in the collection, committed or not.)
    for was, now in zip(before, during, strict=True):
        assert sorted(now) == sorted(was)
        if was[0][2].lower() in {q.lower() for q in queries}:  # an exact item path query
            assert now[0] == was[0]

    done = await jobs.get(deps.pool, job.id)
    assert done.status == "complete", done.error
    after = await answers()
    if name == "itoa":  # the swap happened: the same searches now see the new version
        assert {hit[:2] for answer in after for hit in answer} == {("itoa", "1.0.2")}
    elif crate == "itoa":
        assert [sorted(a) for a in after] == [sorted(b) for b in before]
    else:
        assert {hit[:2] for answer in after for hit in answer} <= {
            ("itoa", "1.0.1"),
            ("anyhow", "1.0.69"),
        }
