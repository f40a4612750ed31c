"""Lexical (sparse) vectors that understand Rust identifiers and paths.

`HashMap::entry` → hashmap, hash, map, entry, hashmap::entry; `read_to_string` → read_to_string,
read, to, string. Words are stemmed (Snowball English), so `advanced` finds `advance` and
`bytes` finds `byte`; whole identifiers and path pairs are kept as written. Values are
BM25-saturated term frequencies; Qdrant applies IDF
(the collection's sparse vector uses the IDF modifier), so together they score like BM25.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections import Counter
from functools import lru_cache

import snowballstemmer  # type: ignore[import-untyped]

from .store import SparseVector

K1 = 1.2
B = 0.75
AVG_TERMS = 120.0  # typical terms per chunk; only shapes length normalisation

_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*!?|\d+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "this",
        "those",
        "was",
        "were",
        "will",
        "with",
    ]
)


_STEMMER = snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """The stem of a plain word; identifiers with `_` and digits are kept as they are."""
    return str(_STEMMER.stemWord(word)) if word.isalpha() else word


def _ident_terms(ident: str) -> list[str]:
    low = ident.lower()
    out = [_stem(low)]
    parts: list[str] = []
    for piece in ident.split("_"):
        if not piece:
            continue
        if piece.islower() or piece.isdigit():
            parts.append(piece)
            continue
        sub = _CAMEL.findall(piece)
        parts.extend(s.lower() for s in (sub or [piece]))
    if len(parts) > 1 or (parts and parts[0] != low):
        out.extend(_stem(p) for p in parts)
    return out


def terms(text: str) -> list[str]:
    """Terms of a text, with Rust paths and identifiers split the way people search them."""
    out: list[str] = []
    for m in _PATH.finditer(text):
        token = m.group(0).rstrip("!")
        segments = token.split("::")
        if len(segments) == 1:
            seg = segments[0]
            if seg.lower() in _STOP:
                continue
            out.extend(_ident_terms(seg))
            continue
        for seg in segments:
            out.extend(_ident_terms(seg))
        for a, b in itertools.pairwise(segments):
            out.append(f"{a.lower()}::{b.lower()}")
    return out


def term_index(term: str) -> int:
    return zlib.crc32(term.encode("utf-8")) & 0x7FFFFFFF


def encode_document(text: str) -> SparseVector:
    counts = Counter(term_index(t) for t in terms(text))
    if not counts:
        return SparseVector([], [])
    length = sum(counts.values())
    norm = K1 * (1 - B + B * length / AVG_TERMS)
    idx = sorted(counts)
    return SparseVector(idx, [round(counts[i] * (K1 + 1) / (counts[i] + norm), 4) for i in idx])


def encode_query(text: str) -> SparseVector:
    counts = Counter(term_index(t) for t in terms(text))
    idx = sorted(counts)
    return SparseVector(idx, [1.0 for _ in idx])
