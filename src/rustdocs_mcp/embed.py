"""Text embeddings: one protocol, two providers.

- local (default): all-MiniLM-L6-v2 on ONNX Runtime, offline (see onnx_model.py).
- openai: the OpenAI embeddings API or any OpenAI-compatible server (Ollama, vLLM, TEI)
  through `openai.AsyncOpenAI(base_url=...)`.

Every vector is L2-normalized, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base, wait_random_exponential

from .errors import ConfigError, EmbeddingUnavailable, PermanentError
from .onnx_model import local_embedder
from .retry_after import retry_after_seconds

if TYPE_CHECKING:
    from .settings import Settings

logger = logging.getLogger(__name__)

OPENAI_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
OPENAI_MAX_INPUTS = 2048  # inputs in one request
OPENAI_MAX_INPUT_TOKENS = 8192  # tokens in one input
OPENAI_MAX_REQUEST_TOKENS = 300_000  # tokens in one request, all inputs together
# No tokenizer offline: assume 1 token per 3 UTF-8 bytes, more than OpenAI's tokenizers
# produce for English prose or code (about 4 bytes a token).
BYTES_PER_TOKEN = 3


class Embedder(Protocol):
    @property
    def model_name(self) -> str:
        """Model name, part of the vector collection's name."""

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """The model's window in tokens, special tokens included; longer input is truncated."""

    def count_tokens(self, text: str) -> int:
        """Tokens in `text`, special tokens not counted (fast, synchronous)."""

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One L2-normalized vector per text, in the order given."""

    async def aclose(self) -> None: ...


def make_embedder(settings: Settings) -> Embedder:
    if settings.embedding_provider == "local":
        return local_embedder(
            model_name=settings.resolved_embedding_model,
            model_path=settings.embedding_model_path,
            batch_size=settings.embedding_batch_size,
            threads=settings.embedding_threads,
            cache_dir=settings.data_dir / "models",
        )
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    client = openai.AsyncOpenAI(
        base_url=settings.openai_base_url,
        api_key=key or "no-key",  # local OpenAI-compatible servers take any key
        max_retries=0,  # retries happen in OpenAIEmbedder, with backoff
        timeout=60.0,
    )
    return OpenAIEmbedder(
        client,
        model=settings.resolved_embedding_model,
        dimensions=settings.openai_dimensions,
    )


async def probe_dimension(embedder: Embedder) -> int:
    """The vector size, found by embedding a probe text (for models of unknown size).

    An OpenAI-compatible embedder remembers it, so `dimension` answers from then on."""
    (vector,) = await embedder.embed(["dimension probe"])
    if isinstance(embedder, OpenAIEmbedder) and embedder._dimension is None:
        embedder._dimension = len(vector)
    return len(vector)


def approx_tokens(text: str) -> int:
    return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)


def _truncate(text: str, max_tokens: int) -> str:
    data = text.encode("utf-8")
    limit = max_tokens * BYTES_PER_TOKEN
    if len(data) <= limit:
        return text or " "  # the API rejects empty strings
    return data[:limit].decode("utf-8", errors="ignore")


def request_batches(texts: Sequence[str]) -> list[list[int]]:
    """Split indices into requests within the API's input-count and token limits."""
    batches: list[list[int]] = []
    current: list[int] = []
    tokens = 0
    for i, text in enumerate(texts):
        n = approx_tokens(text)
        if current and (
            len(current) >= OPENAI_MAX_INPUTS or tokens + n > OPENAI_MAX_REQUEST_TOKENS
        ):
            batches.append(current)
            current, tokens = [], 0
        current.append(i)
        tokens += n
    if current:
        batches.append(current)
    return batches


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


def _retry_after(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait, if it did."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    return retry_after_seconds(exc.response.headers)


class _WaitRetryAfter(wait_base):
    """The server's Retry-After when it sent one (capped), else exponential backoff with jitter."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._backoff = wait_random_exponential(multiplier=initial, max=maximum)
        self._maximum = maximum

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        after = _retry_after(exc)
        if after is not None:
            return min(after, self._maximum)
        return float(self._backoff(retry_state))


def _log_retry(retry_state: RetryCallState) -> None:
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
    logger.warning(
        "embedding request failed (attempt %d): %s; retrying in %.1fs",
        retry_state.attempt_number,
        exc,
        wait,
    )


class OpenAIEmbedder:
    """The OpenAI embeddings API, or an OpenAI-compatible server."""

    max_tokens = OPENAI_MAX_INPUT_TOKENS

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        model: str = "text-embedding-3-small",
        dimensions: int | None = None,
        attempts: int = 6,
        wait_initial: float = 1.0,
        wait_max: float = 60.0,
    ) -> None:
        self._client = client
        self.model_name = model
        self._request_dimensions = dimensions  # sent as `dimensions` when set
        self._dimension = dimensions or OPENAI_DIMENSIONS.get(model)
        self._attempts = attempts
        self._wait = _WaitRetryAfter(wait_initial, wait_max)

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            raise ConfigError(
                f"the vector size of embedding model {self.model_name!r} is unknown: set "
                "RUSTDOCS_OPENAI_DIMENSIONS, or call probe_dimension() before using it"
            )
        return self._dimension

    def count_tokens(self, text: str) -> int:
        return approx_tokens(text)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        inputs = [_truncate(t, self.max_tokens) for t in texts]
        out: list[list[float]] = [[] for _ in inputs]
        for batch in request_batches(inputs):
            vectors = await self._request([inputs[i] for i in batch])
            for i, vector in zip(batch, vectors, strict=True):
                out[i] = vector
        return out

    async def aclose(self) -> None:
        await self._client.close()

    async def _request(self, inputs: list[str]) -> list[list[float]]:
        extra: dict[str, Any] = {}
        if self._request_dimensions:
            extra["dimensions"] = self._request_dimensions
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._attempts),
                wait=self._wait,
                retry=retry_if_exception(_retryable),
                before_sleep=_log_retry,
                reraise=True,
            ):
                with attempt:
                    response = await self._client.embeddings.create(
                        input=inputs, model=self.model_name, encoding_format="float", **extra
                    )
        except openai.APIStatusError as e:
            if _retryable(e):
                raise EmbeddingUnavailable(
                    f"embedding provider {self._client.base_url} failed {self._attempts} times, "
                    f"last with HTTP {e.status_code}: {e.message}"
                ) from e
            if e.status_code in (401, 403, 404):
                raise ConfigError(
                    f"embedding provider {self._client.base_url} refused model "
                    f"{self.model_name!r} (HTTP {e.status_code}): {e.message}; check "
                    "OPENAI_API_KEY, RUSTDOCS_OPENAI_BASE_URL and RUSTDOCS_EMBEDDING_MODEL"
                ) from e
            raise PermanentError(
                f"embedding provider {self._client.base_url} rejected the request "
                f"(HTTP {e.status_code}): {e.message}"
            ) from e
        except openai.APIConnectionError as e:
            raise EmbeddingUnavailable(
                f"embedding provider {self._client.base_url} unreachable after "
                f"{self._attempts} attempts: {e}"
            ) from e
        except openai.OpenAIError as e:  # e.g. a response that is not an embeddings list
            raise EmbeddingUnavailable(f"embedding provider {self._client.base_url}: {e}") from e

        data = sorted(response.data, key=lambda d: d.index)
        if len(data) != len(inputs):
            raise EmbeddingUnavailable(
                f"embedding provider returned {len(data)} vectors for {len(inputs)} inputs"
            )
        matrix = np.asarray([d.embedding for d in data], dtype=np.float32)
        if self._dimension is None:
            self._dimension = matrix.shape[1]
        elif matrix.shape[1] != self._dimension:
            raise ConfigError(
                f"embedding model {self.model_name!r} returned {matrix.shape[1]}-dimensional "
                f"vectors, expected {self._dimension}; check RUSTDOCS_OPENAI_DIMENSIONS"
            )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return (matrix / np.maximum(norms, 1e-12)).tolist()  # type: ignore[no-any-return]
