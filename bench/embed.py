"""Local embedding throughput on realistic Rust-doc chunks.

Chunks are made from the docs in tests/fixtures/docsrs/rustdoc-json (item path, a
signature line, then one to six paragraphs), so their lengths are mixed the way real
ones are. Compares batching strategies, the fused and the packaged ONNX graph, batch
sizes and thread counts.

Each configuration runs in a fresh process (so its peak RSS is its own), the
configurations take turns `--repeat` times, and the best run is kept: other work on
the machine only ever slows a run down. CPU-seconds per chunk are shown too, as they
are less disturbed by other processes than wall time.

    python bench/embed.py [--chunks 1000] [--repeat 3] [--threads 1,2] [--batch-sizes 8,32,64]
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import random
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rustdocs_mcp.onnx_model import TOKENIZER_FILE, OnnxEmbedder, packaged_model_file

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "docsrs" / "rustdoc-json"


def make_chunks(n: int, seed: int = 7) -> list[str]:
    items: list[tuple[str, list[str]]] = []
    for f in sorted(FIXTURES.glob("*/*/*.json.gz")):
        krate = json.loads(gzip.decompress(f.read_bytes()))
        for item in krate["index"].values():
            docs = item.get("docs")
            if docs and item.get("name"):
                paras = [p.strip() for p in docs.split("\n\n") if p.strip()]
                items.append((f"{f.parent.parent.name}::{item['name']}", paras))
    rng = random.Random(seed)
    chunks = []
    while len(chunks) < n:
        path, paras = rng.choice(items)
        start = rng.randrange(len(paras))
        body = "\n\n".join(paras[start : start + rng.choice((1, 1, 2, 3, 6))])
        chunks.append(f"{path}\npub fn {path.rsplit('::', 1)[-1]}(&self) -> Result<()>\n\n{body}")
    return chunks


def fixed_padding(embedder: OnnxEmbedder, texts: list[str]) -> None:
    """The naive way: input order, every batch padded to the full model window."""
    tok = embedder._tokenizer
    width = embedder.max_tokens
    for start in range(0, len(texts), embedder.batch_size):
        encs = tok.encode_batch(texts[start : start + embedder.batch_size])
        ids = np.zeros((len(encs), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, e in enumerate(encs):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        embedder._session.run(None, feed)


@dataclass(frozen=True)
class Config:
    batching: str  # "pad256", "input-order", "sorted"
    fused: bool = True
    threads: int = 2
    batch_size: int = 32

    def label(self) -> str:
        batching = {
            "pad256": "input order, pad to 256",
            "input-order": "input order, pad to batch's longest",
            "sorted": "length-sorted, pad to batch's longest",
        }[self.batching]
        graph = "fused" if self.fused else "packaged"
        return f"{self.threads:>7} {self.batch_size:>5}  {graph:<8} {batching:<37}"


def run(config: Config, chunks: int) -> tuple[float, float, float]:
    """(chunks per wall second, CPU seconds per chunk, peak RSS MiB), in a fresh process."""
    texts = make_chunks(chunks)
    emb = OnnxEmbedder(
        packaged_model_file(),
        TOKENIZER_FILE,
        batch_size=config.batch_size,
        threads=config.threads,
        fuse_bert_heads=12 if config.fused else None,
    )
    emb.embed_array(texts[:64])  # warm up
    cpu, wall = time.process_time(), time.perf_counter()
    if config.batching == "pad256":
        fixed_padding(emb, texts)
    else:
        emb.embed_array(texts, sort_by_length=config.batching == "sorted")
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return len(texts) / wall, cpu / len(texts), peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--chunks", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch-sizes", default="8,32,64")
    args = ap.parse_args()

    texts = make_chunks(args.chunks)
    emb = OnnxEmbedder(packaged_model_file(), TOKENIZER_FILE)
    counts = [emb.count_tokens(t) + 2 for t in texts]
    del emb
    print(
        f"{len(texts)} chunks; tokens/chunk incl. special: median {statistics.median(counts):.0f}, "
        f"mean {statistics.mean(counts):.0f}, max {max(counts)}; "
        f"{sum(c > 256 for c in counts)} truncated to 256; {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    configs = [Config("pad256"), Config("input-order"), Config("sorted")]
    configs.append(Config("sorted", fused=False))
    for threads in (int(x) for x in args.threads.split(",")):
        for size in (int(x) for x in args.batch_sizes.split(",")):
            if Config("sorted", threads=threads, batch_size=size) not in configs:
                configs.append(Config("sorted", threads=threads, batch_size=size))

    results: dict[Config, list[tuple[float, float, float]]] = {c: [] for c in configs}
    spawn = multiprocessing.get_context("spawn")
    for _ in range(args.repeat):
        for config in configs:
            with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
                results[config].append(pool.submit(run, config, args.chunks).result())
    print(
        f"{'threads':>7} {'batch':>5}  {'graph':<8} {'batching':<37} "
        f"{'chunks/s':>8} {'cpu ms/chunk':>12} {'peak RSS':>9}"
    )
    for config, runs in results.items():
        rate = max(r[0] for r in runs)
        cpu_ms = min(r[1] for r in runs) * 1000
        rss = max(r[2] for r in runs)
        print(f"{config.label()} {rate:>8.1f} {cpu_ms:>12.1f} {rss:>6.0f} MiB")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
