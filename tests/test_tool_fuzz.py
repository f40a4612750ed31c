"""Every tool, fuzzed over MCP: a result that fits the tool's output schema, or a tool error a
person can read. Never a crash, a traceback, or a job for a name that is not a crate name.

In-process mcp.Client against the real server (build_server), real Postgres and Redis; itoa
is indexed so searches and item look-ups reach real rows.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mcp import Client
from test_ingest import ingest
from test_tools import connect

from rustdocs_mcp.deps import Deps

PARAMS = {
    "add_rust_crate": ["crate_name", "version", "force"],
    "check_rust_status": ["job_id", "crate_name"],
    "list_rust_crates": ["page", "page_size", "include_deleted", "query"],
    "remove_rust_crate": ["crate_name", "soft"],
    "restore_rust_crate": ["crate_name"],
    "cancel_rust_job": ["job_id"],
    "search_rust_docs": ["query", "crate_name", "version", "kind", "limit"],
    "get_rust_item": ["crate_name", "path"],
    "rust_queue_stats": [],
}
# crates.io's rule, written out here: ASCII letter first, then letters, digits, - and _,
# at most 64 characters; surrounding whitespace is ignored.
VALID_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.text(st.characters(exclude_categories=()), max_size=20)  # lone surrogates too
)
any_json = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=5,
)
A_JOB = "<the id of an existing job>"  # replaced by a real job id when there is one
names = st.sampled_from(["itoa", "ITOA", "serde_json", "a" * 64, "a" * 65, " itoa ", "1abc"])
versions = st.sampled_from(["latest", "1.0.2", "^1", "*", ">=1.0, <2", "1..2", "", "=1.0.1"])
plausible: dict[str, st.SearchStrategy[Any]] = {
    "crate_name": names | st.from_regex(r"[A-Za-z][\w\-. \x00]{0,70}", fullmatch=True),
    "version": versions | st.text(alphabet="0123456789.^~=<>*, -+abc\x00", max_size=12),
    "force": st.booleans(),
    "soft": st.booleans(),
    "include_deleted": st.booleans(),
    "job_id": st.uuids().map(str) | st.sampled_from([A_JOB, A_JOB, "", "not-a-uuid", "0" * 32]),
    "page": st.integers(-5, 5) | st.integers(),
    "page_size": st.integers(-5, 120) | st.integers(),
    "limit": st.integers(-5, 60) | st.integers(),
    "query": st.sampled_from(["itoa::Buffer", "Buffer::format", "format an integer", " "])
    | st.text(max_size=60)
    | st.sampled_from(["\ud800", "Buffer\udfff::format"]),
    "kind": st.sampled_from(["fn", "method", "struct", "Fn", "", "module"]),
    "path": st.sampled_from(["itoa::Buffer", "Buffer::format", "Buffer", "", "::"])
    | st.text(max_size=40),
}


@st.composite
def tool_calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    tool = draw(st.sampled_from(sorted(PARAMS)))
    args: dict[str, Any] = {}
    for param in PARAMS[tool]:
        how = draw(st.sampled_from(["plausible", "plausible", "anything", "left out"]))
        if how == "plausible":
            args[param] = draw(plausible[param])
        elif how == "anything":
            args[param] = draw(any_json)
    if draw(st.integers(0, 9)) == 0:
        args[draw(st.text(min_size=1, max_size=10))] = draw(any_json)  # an unknown argument
    return tool, args


def error_text(res: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in res.content)


async def job_count(deps: Deps) -> int:
    return int(await deps.pool.fetchval("SELECT count(*) FROM crate_jobs"))


async def check_call(
    client: Client, deps: Deps, schemas: dict[str, Any], tool: str, args: dict[str, Any]
) -> None:
    if args.get("job_id") == A_JOB:
        newest = await deps.pool.fetchval(
            "SELECT id FROM crate_jobs ORDER BY created_at DESC LIMIT 1"
        )
        args = {**args, "job_id": str(newest) if newest else A_JOB}
    jobs_before = await job_count(deps)
    res = await client.call_tool(tool, args)
    if not res.is_error:
        assert res.structured_content is not None, (tool, args)
        jsonschema.validate(res.structured_content, schemas[tool])
    else:
        text = error_text(res)
        prefix = f"Error executing tool {tool}"
        # A crash shows only the prefix: the SDK hides the exception. Ours say what to fix.
        assert text.startswith(prefix + ": "), (tool, args, text)
        assert text[len(prefix) + 2 :].strip(), (tool, args, text)
        assert "Traceback" not in text
        assert 'File "' not in text
        assert await job_count(deps) == jobs_before, (tool, args)
    name = args.get("crate_name")
    if tool in ("add_rust_crate", "remove_rust_crate") and not (
        isinstance(name, str) and VALID_NAME.fullmatch(name.strip())
    ):
        assert res.is_error, (tool, args)
    invalid = [
        r["crate_name"]
        for r in await deps.pool.fetch("SELECT DISTINCT crate_name FROM crate_jobs")
        if not VALID_NAME.fullmatch(r["crate_name"])
    ]
    assert invalid == [], (tool, args)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(calls=st.lists(tool_calls(), min_size=1, max_size=8))
# Found by this test: each reached Postgres and crashed the call (NUL in text, OFFSET overflow).
@example(calls=[("list_rust_crates", {"page": 10**19})])
@example(calls=[("list_rust_crates", {"query": "a\x00"})])
@example(calls=[("get_rust_item", {"crate_name": "itoa", "path": "Buffer\x00"})])
@example(calls=[("search_rust_docs", {"query": "x", "crate_name": "itoa", "version": "\x00"})])
# JSON can carry lone UTF-16 surrogates ("\ud800"); they crashed the call before reaching us.
@example(calls=[("search_rust_docs", {"query": "\ud800"})])
@example(calls=[("get_rust_item", {"crate_name": "itoa", "path": "itoa::\udfff"})])
@example(calls=[("list_rust_crates", {"query": "it\ud800"})])
async def test_any_arguments_get_a_valid_result_or_a_readable_tool_error(
    deps: Deps, calls: list[tuple[str, dict[str, Any]]]
) -> None:
    if not await deps.pool.fetchval("SELECT 1 FROM crates WHERE name = 'itoa'"):
        assert (await ingest(deps, "itoa")).status == "complete"
    async with connect(deps) as client:
        schemas = {t.name: t.output_schema for t in (await client.list_tools()).tools}
        assert set(schemas) == set(PARAMS)
        for tool, args in calls:
            await check_call(client, deps, schemas, tool, args)
        # The session still answers a valid call after whatever came before.
        res = await client.call_tool("list_rust_crates", {"include_deleted": True})
        assert not res.is_error, error_text(res)
        assert res.structured_content is not None
        assert [c["name"] for c in res.structured_content["crates"]] == ["itoa"]
