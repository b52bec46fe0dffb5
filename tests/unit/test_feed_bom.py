"""A feed body's byte order mark decides its encoding over the Content-Type charset."""

from __future__ import annotations

import pytest

from newsbeam.connectors.feed_parse import FeedRef, parse_feed

URL = "https://example.org/feed.xml"
RSS = """<?xml version="1.0" encoding="{declared}"?><rss version="2.0"><channel><title>T</title>
<item><title>Café 中文 — Zürich</title><link>https://example.org/a</link></item></channel></rss>"""


@pytest.mark.parametrize(
    ("encoding", "bom", "header"),
    [
        ("utf-16-le", b"\xff\xfe", "text/xml; charset=utf-8"),
        ("utf-16-be", b"\xfe\xff", "application/rss+xml; charset=iso-8859-1"),
        ("utf-8", b"\xef\xbb\xbf", "application/rss+xml; charset=iso-8859-1"),
        ("utf-32-le", b"\xff\xfe\x00\x00", "text/xml"),
    ],
)
def test_the_byte_order_mark_wins_over_the_declared_charset(encoding, bom, header):
    declared = "utf-16" if encoding.startswith("utf-16") else encoding[:6]
    body = bom + RSS.format(declared=declared).encode(encoding)
    parsed = parse_feed(body, FeedRef(URL), URL, {"Content-Type": header, "Content-Length": str(len(body))})
    assert parsed.error is None
    assert [entry.title for entry in parsed.entries] == ["Café 中文 — Zürich"]


def test_a_body_without_a_mark_keeps_the_header_charset():
    body = RSS.format(declared="iso-8859-1").replace("中文 — ", "").encode("iso-8859-1")
    parsed = parse_feed(body, FeedRef(URL), URL, {"Content-Type": "text/xml; charset=iso-8859-1"})
    assert [entry.title for entry in parsed.entries] == ["Café Zürich"]
