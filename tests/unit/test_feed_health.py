"""The feed health document's poll hint survives the 304s between two changes of a feed."""

from __future__ import annotations

from newsbeam.connectors.feed_health import health_document
from newsbeam.transforms.model import FeedStatus


def _status(status: str, http: int, poll_after: float | None) -> FeedStatus:
    return FeedStatus("https://example.org/feed.xml", "Example", status, http, 0, poll_after=poll_after)


def test_a_304_keeps_the_hint_the_feed_gave_and_a_new_body_replaces_it():
    first = health_document(_status("ok", 200, 3600.0), 2, None)  # <ttl>60</ttl>
    assert first["schedule"] == {"hint_seconds": 3600.0}
    unchanged = health_document(_status("not_modified", 304, None), 0, first)
    assert unchanged["schedule"] == {"hint_seconds": 3600.0}
    # a header hint on the 304 counts too: the larger wins
    longer = health_document(_status("not_modified", 304, 7200.0), 0, unchanged)
    assert longer["schedule"] == {"hint_seconds": 7200.0}
    # a new body without a hint: the feed no longer asks for one
    changed = health_document(_status("ok", 200, None), 1, longer)
    assert changed["schedule"] == {"hint_seconds": None}
