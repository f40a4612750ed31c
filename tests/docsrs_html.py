"""Make raw rustdoc HTML look like what docs.rs serves.

docs.rs does not serve rustdoc's pages as they are: it replaces `<body class="rustdoc ...">`
with `<body class="rustdoc-page">`, puts its own top bar (`div.nav-container`, which carries
the crate metadata as JSON and a menu full of `ul > li > a` links) first, and moves rustdoc's
body into `<div id="rustdoc_body_wrapper" class="rustdoc ... container-rustdoc">`.

The parser tests and the fake docs.rs server both use `wrap_like_docsrs`.
"""

from __future__ import annotations

import html as html_lib
import json
import re

_BODY_OPEN_RE = re.compile(r"<body\b([^>]*)>", re.IGNORECASE)
_BODY_CLOSE_RE = re.compile(r"</body\s*>", re.IGNORECASE)
_CLASS_RE = re.compile(r"""\bclass\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)


def _nav_container(crate: str, version: str) -> str:
    metadata = json.dumps({"name": crate, "version": version, "req_version": version})
    c = html_lib.escape(crate)
    v = html_lib.escape(version)
    return (
        '<div class="nav-container"><div class="container">'
        '<div class="pure-menu pure-menu-horizontal" role="navigation" '
        'aria-label="Main navigation">'
        '<form action="/releases/search" method="GET" id="nav-search-form" '
        'class="landing-search-form-nav">'
        '<a href="/" class="pure-menu-heading pure-menu-link docsrs-logo" aria-label="Docs.rs">'
        '<span title="Docs.rs">Docs.rs</span></a>'
        '<ul class="pure-menu-list">'
        f'<script id="crate-metadata" type="application/json">{metadata}</script>'
        '<li class="pure-menu-item pure-menu-has-children">'
        f'<a href="/crate/{c}/{v}" class="pure-menu-link crate-name" title="{c}">'
        f'<span class="title">{c}-{v}</span></a>'
        '<div class="pure-menu-children package-details-menu"><ul class="pure-menu-list">'
        f'<li class="pure-menu-item"><a href="/crate/{c}/{v}" class="pure-menu-link">'
        "Crate page</a></li>"
        f'<li class="pure-menu-item"><a href="/crate/{c}/{v}/source/" class="pure-menu-link">'
        "Source</a></li>"
        f'<li class="pure-menu-item"><a href="/crate/{c}/{v}/builds" class="pure-menu-link">'
        "Builds</a></li>"
        f'<li class="pure-menu-item"><a href="/{c}/{v}/{c}/struct.NotInTheCrate.html" '
        'class="pure-menu-link">A decoy item link</a></li>'
        "</ul></div></li></ul>"
        '<div class="docsrs-search"><input id="search-input" name="query" type="text" '
        'aria-label="Find crate by search query" placeholder="Find crate"></div>'
        "</form></div></div></div>"
    )


def wrap_like_docsrs(html: str, crate: str, version: str) -> str:
    """`html` (a raw rustdoc page) as docs.rs would serve it for `crate` `version`.

    Text without a `<body>` tag is returned unchanged.
    """
    match = _BODY_OPEN_RE.search(html)
    if match is None:  # not a page docs.rs would wrap
        return html
    attrs = match.group(1)
    class_match = _CLASS_RE.search(attrs)
    classes = ""
    if class_match is not None:
        classes = next(g for g in class_match.groups() if g is not None)
        attrs = attrs[: class_match.start()] + attrs[class_match.end() :]
    wrapper_class = html_lib.escape(f"{classes} container-rustdoc".strip(), quote=True)
    opening = (
        '<body class="rustdoc-page">'
        + _nav_container(crate, version)
        + f'<div id="rustdoc_body_wrapper" class="{wrapper_class}"{attrs.rstrip()} tabindex="-1">'
    )
    wrapped = html[: match.start()] + opening + html[match.end() :]
    closes = list(_BODY_CLOSE_RE.finditer(wrapped))
    if closes:
        last = closes[-1]
        return wrapped[: last.start()] + "</div></body>" + wrapped[last.end() :]
    return wrapped + "</div>"
