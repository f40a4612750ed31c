"""Embedding providers: the local ONNX model against sentence-transformers' vectors, and the
OpenAI provider against a fake OpenAI-compatible server (httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from tenacity import AsyncRetrying, RetryCallState

from rustdocs_mcp.embed import (
    OPENAI_MAX_INPUT_TOKENS,
    OpenAIEmbedder,
    _WaitRetryAfter,
    make_embedder,
    probe_dimension,
)
from rustdocs_mcp.errors import ConfigError, EmbeddingUnavailable, PermanentError
from rustdocs_mcp.onnx_model import (
    MODEL_SHA256,
    TOKENIZER_FILE,
    OnnxEmbedder,
    _Cancelled,
    local_embedder,
    packaged_model_file,
)
from rustdocs_mcp.settings import Settings

REFERENCE = Path(__file__).parent / "fixtures" / "reference_embeddings.json"


def local_settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, embedding_provider="local", **overrides)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def local() -> OnnxEmbedder:
    embedder = make_embedder(local_settings(embedding_batch_size=4))
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


@pytest.fixture(scope="module")
def reference() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(REFERENCE.read_text(encoding="utf-8"))["items"]
    return items


def cosines(a: list[list[float]], b: list[list[float]]) -> np.ndarray:
    x, y = np.asarray(a), np.asarray(b)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    return (x * y).sum(axis=1)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- local model


def test_reference_fixture_covers_truncation_and_empty_text(
    reference: list[dict[str, Any]],
) -> None:
    lengths = [item["tokens_with_special_untruncated"] for item in reference]
    assert sum(n > 256 for n in lengths) >= 2
    assert any(item["text"].strip() == "" for item in reference)


async def test_local_vectors_match_reference_model(
    local: OnnxEmbedder, reference: list[dict[str, Any]]
) -> None:
    vectors = await local.embed([item["text"] for item in reference])
    cos = cosines(vectors, [item["vector"] for item in reference])
    worst = int(np.argmin(cos))
    assert cos.min() >= 0.99, f"cosine {cos[worst]:.4f} for {reference[worst]['text'][:60]!r}"


async def test_fused_graph_gives_the_same_vectors_as_the_packaged_graph(
    local: OnnxEmbedder, reference: list[dict[str, Any]]
) -> None:
    packaged = OnnxEmbedder(packaged_model_file(), TOKENIZER_FILE, batch_size=4)
    texts = [item["text"] for item in reference]
    fused, plain = await local.embed(texts), await packaged.embed(texts)
    assert cosines(fused, plain).min() > 0.99999


async def test_local_vectors_are_unit_length_with_model_dimension(local: OnnxEmbedder) -> None:
    vectors = await local.embed(["pub struct Bytes", "Splits the buffer into two at the index."])
    assert local.dimension == 384
    assert local.model_name == "all-MiniLM-L6-v2"
    assert local.max_tokens == 256
    assert [len(v) for v in vectors] == [384, 384]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


async def test_local_embed_keeps_input_order_across_mixed_lengths(local: OnnxEmbedder) -> None:
    texts = [
        "Arc",
        "Returns the number of bytes between the current position and the end. " * 12,
        "pub fn len(&self) -> usize",
        "",
        "Splits the bytes into two at the given index, returning both halves. " * 3,
        "semver::VersionReq::parse",
        "A reference-counted pointer type over an immutable byte slice. " * 30,
    ]
    together = await local.embed(texts)
    alone = [(await local.embed([t]))[0] for t in texts]
    assert cosines(together, alone).min() > 0.9999


async def test_local_embed_of_nothing_is_empty(local: OnnxEmbedder) -> None:
    assert await local.embed([]) == []


async def test_local_long_input_is_truncated_to_model_window(local: OnnxEmbedder) -> None:
    words = " ".join(f"word{i}" for i in range(3000))
    assert local.count_tokens(words) > 5 * local.max_tokens
    long, longer = await local.embed([words, words + " and a tail about something else"])
    # Only the first 254 tokens are seen, so what follows them changes nothing.
    assert cosines([long], [longer])[0] > 0.99999


def test_count_tokens_counts_wordpieces_without_special_tokens(
    local: OnnxEmbedder, reference: list[dict[str, Any]]
) -> None:
    assert local.count_tokens("") == 0
    assert local.count_tokens("hello world") == 2
    assert local.count_tokens("Hello World") == 2  # uncased
    for item in reference:  # untruncated counts from sentence-transformers' tokenizer
        assert local.count_tokens(item["text"]) == item["tokens_with_special_untruncated"] - 2


async def test_concurrent_embeds_keep_the_event_loop_free(local: OnnxEmbedder) -> None:
    texts = [
        f"Item number {i} of the crate documentation, with more words. " * 4 for i in range(48)
    ]
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    first, second = await asyncio.gather(local.embed(texts), local.embed(texts[::-1]))
    task.cancel()
    assert ticks >= 5
    assert cosines(first, second[::-1]).min() > 0.9999


def test_cancelled_embedding_stops_before_the_next_batch(local: OnnxEmbedder) -> None:
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(_Cancelled):
        local.embed_sync(["pub fn len(&self) -> usize"] * 10, cancelled)


def test_missing_model_path_is_a_config_error_naming_the_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not a directory.*model\.onnx and tokenizer\.json"):
        make_embedder(local_settings(embedding_model_path=tmp_path / "nowhere"))
    (tmp_path / "model.onnx").write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"lacks tokenizer\.json"):
        make_embedder(local_settings(embedding_model_path=tmp_path))


def test_unreadable_model_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"this is not an onnx graph")
    shutil.copy(TOKENIZER_FILE, tmp_path / "tokenizer.json")
    with pytest.raises(ConfigError, match="cannot load ONNX model"):
        make_embedder(local_settings(embedding_model_path=tmp_path))


def test_local_provider_rejects_other_model_names_without_a_path() -> None:
    with pytest.raises(ConfigError, match="EMBEDDING_MODEL_PATH"):
        make_embedder(local_settings(embedding_model="bge-small-en-v1.5"))


def test_corrupted_model_file_fails_the_sha256_check(tmp_path: Path) -> None:
    corrupt = tmp_path / "model.onnx"
    shutil.copy(packaged_model_file(), corrupt)
    data = bytearray(corrupt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="sha256"):
        OnnxEmbedder(corrupt, TOKENIZER_FILE, model_sha256=MODEL_SHA256)


async def test_model_directory_setting_loads_that_model(
    tmp_path: Path, reference: list[dict[str, Any]]
) -> None:
    (tmp_path / "model.onnx").symlink_to(packaged_model_file())
    shutil.copy(TOKENIZER_FILE, tmp_path / "tokenizer.json")
    (tmp_path / "sentence_bert_config.json").write_text('{"max_seq_length": 128}')
    embedder = make_embedder(
        local_settings(embedding_model_path=tmp_path, embedding_model="my-minilm")
    )
    assert (embedder.model_name, embedder.dimension, embedder.max_tokens) == ("my-minilm", 384, 128)
    short = [item for item in reference if item["tokens_with_special_untruncated"] <= 128]
    vectors = await embedder.embed([item["text"] for item in short])
    assert cosines(vectors, [item["vector"] for item in short]).min() >= 0.99


# ---------------------------------------------------------------------------- OpenAI provider

Handler = Callable[[httpx.Request], httpx.Response]


class FakeOpenAI:
    """An OpenAI-compatible /embeddings endpoint; the vector of input i encodes i."""

    def __init__(self, failures: list[httpx.Response] | None = None, dim: int = 3) -> None:
        self.requests: list[dict[str, Any]] = []
        self.failures = list(failures or [])
        self.dim = dim

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        if self.failures:
            return self.failures.pop(0)
        data = []
        for i, text in enumerate(body["input"]):
            number = float(text.rsplit(" ", 1)[-1]) if text.startswith("text ") else 0.0
            vector = [number + 1.0, 1.0] + [0.0] * (self.dim - 2)
            data.append({"object": "embedding", "index": i, "embedding": vector})
        data.reverse()  # servers may answer out of order; `index` says where each belongs
        return httpx.Response(
            200,
            json={
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            },
        )


def openai_embedder(handler: Handler, **kwargs: Any) -> OpenAIEmbedder:
    client = openai.AsyncOpenAI(
        api_key="sk-test",
        base_url="http://fake-openai.test/v1",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    kwargs.setdefault("model", "fake-embed")
    kwargs.setdefault("wait_initial", 0.001)
    kwargs.setdefault("wait_max", 0.01)
    return OpenAIEmbedder(client, **kwargs)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status, headers=headers, json={"error": {"message": message, "type": "x", "code": None}}
    )


async def test_openai_splits_5000_inputs_into_three_requests_in_order() -> None:
    fake = FakeOpenAI()
    embedder = openai_embedder(fake)
    texts = [f"text {i}" for i in range(5000)]
    vectors = await embedder.embed(texts)
    assert [len(r["input"]) for r in fake.requests] == [2048, 2048, 904]
    assert all(r["encoding_format"] == "float" for r in fake.requests)
    ratios = [v[0] / v[1] for v in vectors]
    np.testing.assert_allclose(ratios, np.arange(1, 5001), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert embedder.dimension == 3


async def test_openai_requests_stay_under_the_token_budget() -> None:
    fake = FakeOpenAI()
    embedder = openai_embedder(fake)
    texts = [f"{'x' * 6000} text {i}" for i in range(200)]  # ~2,000 tokens each
    await embedder.embed(texts)
    assert len(fake.requests) == 2
    for r in fake.requests:
        assert sum(embedder.count_tokens(t) for t in r["input"]) <= 300_000


async def test_openai_truncates_overlong_input_and_replaces_empty_text() -> None:
    fake = FakeOpenAI()
    embedder = openai_embedder(fake)
    await embedder.embed(["é" * 50_000, ""])
    sent = fake.requests[0]["input"]
    assert embedder.count_tokens(sent[0]) <= OPENAI_MAX_INPUT_TOKENS
    assert sent[0] == "é" * len(sent[0])  # cut on a character boundary
    assert sent[1] == " "


async def test_openai_retries_after_429_then_succeeds() -> None:
    fake = FakeOpenAI([error(429, "Rate limit reached", {"retry-after": "0"})])
    embedder = openai_embedder(fake)
    vectors = await embedder.embed(["text 1", "text 2"])
    assert len(fake.requests) == 2
    assert [round(v[0] / v[1]) for v in vectors] == [2, 3]


async def test_openai_gives_up_after_repeated_500_with_embedding_unavailable() -> None:
    fake = FakeOpenAI([error(500, "The server had an error")] * 10)
    embedder = openai_embedder(fake, attempts=3)
    with pytest.raises(EmbeddingUnavailable, match=r"failed 3 times.*HTTP 500"):
        await embedder.embed(["text 1"])
    assert len(fake.requests) == 3


async def test_openai_unreachable_server_is_embedding_unavailable() -> None:
    calls = 0

    def refuse(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("connection refused", request=request)

    embedder = openai_embedder(refuse, attempts=2)
    with pytest.raises(EmbeddingUnavailable, match="unreachable"):
        await embedder.embed(["text 1"])
    assert calls == 2


async def test_openai_401_is_a_permanent_config_error_with_the_server_message() -> None:
    fake = FakeOpenAI([error(401, "Incorrect API key provided: sk-test")] * 5)
    embedder = openai_embedder(fake)
    with pytest.raises(ConfigError, match="Incorrect API key provided"):
        await embedder.embed(["text 1"])
    assert len(fake.requests) == 1


async def test_openai_400_is_a_permanent_error_without_retry() -> None:
    fake = FakeOpenAI([error(400, "This model's maximum context length is 8192 tokens")] * 5)
    embedder = openai_embedder(fake)
    with pytest.raises(PermanentError, match="maximum context length") as info:
        await embedder.embed(["text 1"])
    assert not isinstance(info.value, ConfigError)
    assert len(fake.requests) == 1


def test_retry_wait_follows_retry_after_header_and_caps_it() -> None:
    wait = _WaitRetryAfter(initial=0.5, maximum=30.0)
    request = httpx.Request("POST", "http://fake-openai.test/v1/embeddings")

    def state_after(response: httpx.Response) -> RetryCallState:
        response.request = request
        exc = openai.RateLimitError("rate limited", response=response, body=None)
        state = RetryCallState(AsyncRetrying(), None, (), {})
        state.set_exception((type(exc), exc, None))
        return state

    assert wait(state_after(httpx.Response(429, headers={"retry-after": "7"}))) == 7.0
    assert wait(state_after(httpx.Response(429, headers={"retry-after-ms": "250"}))) == 0.25
    assert wait(state_after(httpx.Response(429, headers={"retry-after": "3600"}))) == 30.0
    assert 0.0 <= wait(state_after(httpx.Response(429))) <= 0.5


async def test_openai_unknown_model_dimension_is_probed() -> None:
    embedder = openai_embedder(FakeOpenAI(dim=5))
    with pytest.raises(ConfigError, match="RUSTDOCS_OPENAI_DIMENSIONS"):
        _ = embedder.dimension
    assert await probe_dimension(embedder) == 5
    assert embedder.dimension == 5


async def test_openai_configured_dimensions_are_requested_and_checked() -> None:
    fake = FakeOpenAI(dim=4)
    embedder = openai_embedder(fake, model="text-embedding-3-small", dimensions=8)
    assert embedder.dimension == 8
    with pytest.raises(ConfigError, match="returned 4-dimensional vectors, expected 8"):
        await embedder.embed(["text 1"])
    assert fake.requests[0]["dimensions"] == 8


async def test_make_embedder_builds_openai_provider_from_settings() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        embedding_provider="openai",
        openai_base_url="http://127.0.0.1:9/v1",
    )
    embedder = make_embedder(settings)
    assert isinstance(embedder, OpenAIEmbedder)
    assert (embedder.model_name, embedder.dimension, embedder.max_tokens) == (
        "text-embedding-3-small",
        1536,
        8192,
    )
    await embedder.aclose()


async def test_the_fused_graph_is_cached_and_a_broken_cache_is_rebuilt(tmp_path: Path) -> None:
    first = local_embedder(
        model_name="all-MiniLM-L6-v2", model_path=None, batch_size=8, threads=1, cache_dir=tmp_path
    )
    (cached,) = tmp_path.glob("fused-*.onnx")
    reference = (await first.embed(["a Rust doc comment"]))[0]
    second = local_embedder(
        model_name="all-MiniLM-L6-v2", model_path=None, batch_size=8, threads=1, cache_dir=tmp_path
    )
    assert np.allclose((await second.embed(["a Rust doc comment"]))[0], reference, atol=1e-5)
    cached.write_bytes(b"not an onnx model")
    third = local_embedder(
        model_name="all-MiniLM-L6-v2", model_path=None, batch_size=8, threads=1, cache_dir=tmp_path
    )
    assert np.allclose((await third.embed(["a Rust doc comment"]))[0], reference, atol=1e-5)
    assert not cached.exists()  # the unreadable cache was dropped
