"""The site's page in the feeds file instead of its feed: the failure names the feed it links to."""

from __future__ import annotations

from newsbeam.connectors.feed_parse import advertised_feeds

PAGE = b"""<!DOCTYPE html><html><head><title>X</title>
<link rel="stylesheet" href="/a.css">
<link rel="alternate" type="application/rss+xml" title="All" href="/feed/">
<LINK TYPE='application/atom+xml' REL='alternate' HREF='https://example.org/atom.xml'>
<link rel=alternate type=application/rss+xml href=javascript:alert(1)>
<link rel="alternate" hreflang="de" href="/de/">
<link rel="alternate" type="application/rss+xml" href="/feed/">
</head><body></body></html>"""


def test_the_feeds_a_page_advertises_resolved_and_vetted():
    assert advertised_feeds(PAGE, "https://example.org/news/") == [
        "https://example.org/feed/",
        "https://example.org/atom.xml",
    ]  # the stylesheet, the javascript: link, the other language and the repeat left out
    assert advertised_feeds(b"<html><body>no links</body></html>", "https://example.org/") == []
    many = b"".join(b'<link rel="alternate" type="application/rss+xml" href="/f%d">' % i for i in range(9))
    assert len(advertised_feeds(many, "https://example.org/")) == 3
