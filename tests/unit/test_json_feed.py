"""A JSON Feed (jsonfeed.org) gives entries like an RSS feed; other JSON is malformed_feed."""

from __future__ import annotations

import json

from newsbeam.connectors.feed_parse import FeedRef, parse_feed
from newsbeam.transforms.model import entry_key

URL = "https://example.org/feed.json"


def _parse(document) -> object:
    body = json.dumps(document).encode()
    return parse_feed(body, FeedRef(URL), URL, {"Content-Type": "application/feed+json"})


def test_a_json_feed_gives_its_items():
    parsed = _parse(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "Example JSON",
            "items": [
                {"id": "a1", "url": "/news/a", "title": "A", "summary": "One.",
                 "date_published": "2026-11-29T10:00:00+02:00",
                 "authors": [{"name": "Jane Doe"}, {"url": "https://x.example"}, "junk"]},
                {"id": 7, "external_url": "https://other.example/b", "title": "B",
                 "date_modified": "2026-11-29T11:00:00Z", "author": {"name": "Ann Roe"}},
                {"id": "c", "url": "javascript:alert(1)"},
                {"id": "d", "title": "no link"},
                "not an item",
            ],
        }
    )  # fmt: skip
    assert (parsed.error, parsed.title, parsed.without_link, parsed.unsafe_link) == (
        None,
        "Example JSON",
        1,
        1,
    )
    first, second = parsed.entries
    assert (first.link, first.title, first.published, first.summary, first.updated) == (
        "https://example.org/news/a", "A", "2026-11-29T08:00:00Z", "One.", None,
    )  # fmt: skip
    assert first.entry_key == entry_key(URL, "a1")
    assert (first.authors, second.authors) == (("Jane Doe",), ("Ann Roe",))  # 1.1 authors, 1.0 author
    assert (second.link, second.updated, second.entry_key) == (
        "https://other.example/b", "2026-11-29T11:00:00Z", entry_key(URL, "7"),
    )  # fmt: skip


def test_an_empty_json_feed_is_healthy_and_other_json_is_not_a_feed():
    empty = _parse({"version": "https://jsonfeed.org/version/1", "title": "Quiet", "items": []})
    assert (empty.error, empty.entries) == (None, [])
    assert _parse({"data": [1, 2]}).error == "malformed_feed"
    assert _parse([1, 2]).error == "malformed_feed"
