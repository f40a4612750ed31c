"""Split one DocItem into chunks that fit the embedding model's window.

Each chunk carries the item path, kind and signature as a header, so a chunk read alone still
says what it documents. Code blocks stay whole where they fit; text is packed paragraph by
paragraph. Chunk ids are stable: the same crate, version, item, position and text give the
same id, so a re-run upserts instead of duplicating, and changed text gets a new id.

The dense model reads `embedding_text(chunk)`: the chunk without its code blocks and link
targets, which dilute a small model's sense of what the prose says (code stays in the
chunk's text and in its lexical vector).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterator

from .models import Chunk, DocItem

NAMESPACE = uuid.UUID("6f1c2d7e-93a4-4b7e-9f1e-5d0c8a2b7c11")
TokenCounter = Callable[[str], int]

# Bump when embedding_text or the lexical terms (sparse.terms) change: chunk hashes, and so
# point ids, change with it, so a re-index embeds again instead of reusing old vectors.
RECIPE = "2"

_FENCE = re.compile(r"^(```|~~~)")
_LINK_DEF = re.compile(r"^ {0,3}\[[^\]\n]+\]:[ \t]*\S+.*$", re.M)
_INLINE_LINK = re.compile(r"\[([^\]\n]+)\]\([^)\s]*(?:\s+\"[^\"]*\")?\)")
_REF_LINK = re.compile(r"\[([^\]\n]+)\]\[[^\]\n]*\]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def approx_tokens(text: str) -> int:
    """A cheap upper-ish estimate for WordPiece tokens, used when no tokenizer is given."""
    return len(re.findall(r"\w+|[^\w\s]", text)) + len(text) // 40


def chunk_id(item: DocItem, index: int, digest: str) -> str:
    key = "\x1f".join((item.crate, item.version, item.url, str(index), digest))
    return str(uuid.uuid5(NAMESPACE, key))


def header(item: DocItem, count: TokenCounter, budget: int) -> str:
    head = f"{item.path} ({item.kind})"
    sig = " ".join(item.signature.split())
    if sig:
        if count(sig) > budget:
            sig = _truncate_words(sig, budget, count) + " …"
        head += "\n" + sig
    return head


def blocks(docs: str) -> list[str]:
    """Paragraphs and fenced code blocks, in order; a code block is one block."""
    out: list[str] = []
    cur: list[str] = []
    in_code = False
    for line in docs.splitlines():
        if _FENCE.match(line.strip()):
            if not in_code and cur:
                out.append("\n".join(cur).strip())
                cur = []
            cur.append(line)
            if in_code:
                out.append("\n".join(cur).strip())
                cur = []
            in_code = not in_code
            continue
        if not in_code and not line.strip():
            if cur:
                out.append("\n".join(cur).strip())
                cur = []
            continue
        cur.append(line)
    if cur:
        out.append("\n".join(cur).strip())
    return [b for b in out if b]


def _longest_fitting(n: int, fits: Callable[[int], bool]) -> int:
    """The largest k in 0..n with fits(k), for a monotone `fits` (binary search)."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _truncate_words(text: str, budget: int, count: TokenCounter) -> str:
    """The longest start of `text` made of whole words that fits; a first word too long to
    fit on its own (a URL, a hex blob) is cut by characters."""
    ends = [m.end() for m in re.finditer(r"\S+", text)]
    if not ends:
        return ""
    n = _longest_fitting(len(ends), lambda k: count(text[: ends[k - 1]] if k else "") <= budget)
    if n:
        return text[: ends[n - 1]]  # a prefix of `text`, its own spacing kept
    start = len(text) - len(text.lstrip())
    cut = _longest_fitting(ends[0] - start, lambda k: count(text[: start + k]) <= budget)
    return text[: start + max(1, cut)]


def _split_oversized(block: str, budget: int, count: TokenCounter) -> Iterator[str]:
    """Pieces of a block too big for one chunk: code by lines, prose by sentences then words."""
    is_code = bool(_FENCE.match(block))
    if is_code:
        lines = block.splitlines()
        fence = lines[0]
        body = [ln for ln in lines[1:] if not _FENCE.match(ln.strip())]
        units = body
        wrap: Callable[[list[str]], str] = lambda ls: "\n".join([fence, *ls, "```"])  # noqa: E731
        inner_budget = budget - count(fence + "\n```") - 1
    else:
        units = _SENTENCE.split(block)
        wrap = " ".join
        inner_budget = budget
    cur: list[str] = []
    for unit in units:
        if count(unit) > inner_budget:
            if cur:
                yield wrap(cur)
                cur = []
            rest = unit
            while rest:
                piece = _truncate_words(rest, inner_budget, count)
                yield wrap([piece])
                rest = rest[len(piece) :].strip() if len(piece) < len(rest) else ""
            continue
        if cur and count(wrap([*cur, unit])) > budget:
            yield wrap(cur)
            cur = []
        cur.append(unit)
    if cur:
        yield wrap(cur)


def chunk(
    item: DocItem, *, max_tokens: int = 256, count: TokenCounter = approx_tokens
) -> list[Chunk]:
    """Chunks of one item. `max_tokens` is the model window including its 2 special tokens."""
    window = max_tokens - 2
    head = header(item, count, window // 3)
    budget = max(16, window - count(head) - 1)
    bodies: list[str] = []
    cur: list[str] = []
    cur_tokens = 0
    for block in blocks(item.docs):
        n = count(block)
        if n > budget:
            if cur:
                bodies.append("\n\n".join(cur))
                cur, cur_tokens = [], 0
            bodies.extend(_split_oversized(block, budget, count))
            continue
        if cur and cur_tokens + n + 1 > budget:
            bodies.append("\n\n".join(cur))
            cur, cur_tokens = [], 0
        cur.append(block)
        cur_tokens += n + 1
    if cur:
        bodies.append("\n\n".join(cur))
    if not bodies:
        bodies = [""]
    out: list[Chunk] = []
    for i, body in enumerate(bodies):
        text = f"{head}\n{body}" if body else head
        digest = hashlib.sha256(f"{RECIPE}\x1f{text}".encode()).hexdigest()
        out.append(
            Chunk(
                id=chunk_id(item, i, digest),
                crate=item.crate,
                version=item.version,
                path=item.path,
                kind=item.kind,
                url=item.url,
                index=i,
                text=text,
                body=body,
                hash=digest,
                signature=item.signature,
            )
        )
    return out


def embedding_text(c: Chunk) -> str:
    """What the dense model embeds: the chunk's prose, without code blocks and link targets."""
    kept: list[str] = []
    in_code = False
    for line in c.text.splitlines():
        if _FENCE.match(line.strip()):
            in_code = not in_code
            continue
        if not in_code:
            kept.append(line)
    text = _LINK_DEF.sub("", "\n".join(kept))
    text = _INLINE_LINK.sub(r"\1", text)
    text = _REF_LINK.sub(r"\1", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
