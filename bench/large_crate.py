"""Large-crate benchmark: index a 2,000+ page crate on the HTML path, report time and memory.

    .venv/bin/python bench/large_crate.py [--html-root DIR] [--mirror PATH] [--data DIR]

No crate of the shared docs.rs corpus is that big, so this serves the standard library's
real rustdoc HTML (std, ~2,500 pages, from the local nightly toolchain's rust-docs: the same
rustdoc docs.rs builds the corpus with) through the shared docs.rs imitation
(`../shared/docsrs-mirror/docsrs_mirror.py`, loaded from `--mirror`). The data dir it serves
is laid out like the mirror's own corpus (index.json, rustdoc/<crate>/<version>/ -> the
toolchain's html dir) and lives in a temporary directory, not in the repository.

The ingest runs in its own process through `ingest.run_case` (real Postgres and Redis,
embedded vector store, local model). Peak RSS is reported for the worker process itself
(its high-water mark) and, sampled every 0.1 s, for its children (the embedded store's
out-of-process vector index build) and for both together. Exits 1 when the worker's own
peak is over `--max-rss-mb` (600).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import ingest

REPO = Path(__file__).resolve().parent.parent
MIRROR = REPO.parent / "shared" / "docsrs-mirror" / "docsrs_mirror.py"
TRIPLE = "x86_64-unknown-linux-gnu"


def toolchain_html_roots() -> list[Path]:
    """Every installed toolchain's `share/doc/rust/html` (rust-docs), nightly first."""
    home = Path(os.environ.get("RUSTUP_HOME", Path.home() / ".rustup")) / "toolchains"
    roots = sorted(home.glob("*/share/doc/rust/html"))
    return sorted(roots, key=lambda p: not p.parts[-5].startswith("nightly-"))


def default_html_root() -> Path | None:
    roots = toolchain_html_roots()
    return roots[0] if roots else None


def rustdoc_version(index_html: str) -> str:
    """'1.97.0' from `data-rustdoc-version="1.97.0-nightly (e50aa6fba 2026-05-19)"`."""
    m = re.search(r'data-rustdoc-version="(\d+\.\d+\.\d+)', index_html)
    if m is None:
        raise SystemExit("no data-rustdoc-version in the crate's index.html: not rustdoc output")
    return m.group(1)


def prepare(html_roots: list[Path], crate: str, data: Path) -> dict[str, int]:
    """Lay `<html root>/<crate>` out as a docs.rs-imitation corpus under `data`, one version
    per html root (the rustdoc version it was built with).

    Returns {version: HTML pages}. Each version dir is a symlink to its html root (the
    mirror resolves paths inside it); index.json is rewritten every time.
    """
    versions: dict[str, dict[str, Any]] = {}
    pages: dict[str, int] = {}
    for html_root in html_roots:
        root_page = html_root / crate / "index.html"
        if not root_page.is_file():
            raise SystemExit(f"{root_page} not found (is the rust-docs component installed?)")
        version = rustdoc_version(root_page.read_text(encoding="utf-8", errors="replace"))
        pages[version] = sum(1 for _ in (html_root / crate).rglob("*.html"))
        vdir = data / "rustdoc" / crate / version
        vdir.parent.mkdir(parents=True, exist_ok=True)
        if vdir.is_symlink() or vdir.exists():
            vdir.unlink()
        vdir.symlink_to(html_root.resolve(), target_is_directory=True)
        versions[version] = {
            "name": crate,
            "version": version,
            "target_name": crate,
            "default_target": TRIPLE,
            "doc_targets": [TRIPLE],
            "rustdoc_status": True,
            "description": f"The Rust {crate} library (rust-docs of a local toolchain)",
            "stats": {"html_files": pages[version]},
        }
    index = {"crates": {crate: {"versions": versions}}}
    (data / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    return pages


def load_mirror(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("docsrs_mirror", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load the docs.rs imitation from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--html-root", type=Path, default=default_html_root())
    ap.add_argument("--crate", default="std")
    ap.add_argument("--mirror", type=Path, default=MIRROR, help="path of docsrs_mirror.py")
    ap.add_argument(
        "--data",
        type=Path,
        default=Path(tempfile.gettempdir()) / "rustdocs-bench-large-crate",
        help="where the imitation's data dir is prepared",
    )
    ap.add_argument("--pg", default=ingest.PG)
    ap.add_argument("--redis", default=ingest.REDIS)
    ap.add_argument("--rate", type=float, default=1000.0, help="docs.rs requests per second")
    ap.add_argument("--model-cache", default=ingest.MODEL_CACHE)
    ap.add_argument("--progress", type=float, default=30.0, help="log progress every N s")
    ap.add_argument("--max-rss-mb", type=float, default=600.0)
    args = ap.parse_args()
    if args.html_root is None:
        raise SystemExit("no toolchain docs found: pass --html-root")

    ((version, pages),) = prepare([args.html_root], args.crate, args.data).items()
    mirror = load_mirror(args.mirror)
    server = mirror.MirrorServer(str(args.data), port=0).start()
    print(
        f"{args.crate} {version}: {pages} HTML pages under {args.html_root / args.crate},"
        f" served by {args.mirror.name} at {server.url} from {args.data}",
        file=sys.stderr,
        flush=True,
    )
    try:
        row: dict[str, Any] | None = ingest.run_case(
            f"{args.crate}:html",
            docsrs=server.url,
            pg=args.pg,
            redis=args.redis,
            rate=args.rate,
            model_cache=args.model_cache,
            progress_every=args.progress,
            stderr=sys.stderr,
        )
        stats = server.stats()
    finally:
        server.stop()
    if row is None:
        raise SystemExit(1)
    row["html_files"] = pages
    row["mirror_requests"] = stats["requests"]
    row["by_status"] = stats["by_status"]
    print(json.dumps(row), file=sys.stderr)
    cols = ["crate", "path", "version", "html_files", "pages", "items", "chunks", "embedded"]
    cols += ["wall_s", "chunks_per_s", "peak_rss_mb", "peak_children_rss_mb", "peak_tree_rss_mb"]
    ingest.print_table([row], cols)
    print(f"(docs.rs rate limit {args.rate}/s, {os.cpu_count()} cores)")
    if row["peak_tree_rss_mb"] > args.max_rss_mb:
        print(
            f"note: with its children (the vector index build) the worker peaked at"
            f" {row['peak_tree_rss_mb']} MB",
            file=sys.stderr,
        )
    if row["peak_rss_mb"] > args.max_rss_mb:
        print(f"worker peak RSS over {args.max_rss_mb:.0f} MB", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
