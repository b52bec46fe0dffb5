"""Which feed entries revise an indexed article (connectors/known.py ``is_revision``) and where
the entry's own ``updated`` time comes from (connectors/feed_parse.py)."""

from __future__ import annotations

import pytest

from newsbeam.connectors.feed_parse import FeedRef, parse_feed
from newsbeam.connectors.known import is_revision
from newsbeam.transforms.model import FeedEntry

FEED = "http://news.test/feed.xml"


def _entry(updated, feed_url=FEED):
    return FeedEntry(feed_url=feed_url, feed_name=None, link="http://news.test/a", url="http://news.test/a",
                     updated=updated)  # fmt: skip


@pytest.mark.parametrize(
    ("updated", "stored", "revised"),
    [
        ("2024-01-02T10:00:00Z", [(FEED, "2024-01-01T10:00:00Z")], True),
        ("2024-01-02T10:00:00Z", [(FEED, "2024-01-02T11:00:00+02:00")], True),  # compared as instants
        ("2024-01-01T10:00:00Z", [(FEED, "2024-01-01T10:00:00Z")], False),  # unchanged
        ("2023-12-31T10:00:00Z", [(FEED, "2024-01-01T10:00:00Z")], False),  # older: no revision
        (None, [(FEED, "2024-01-01T10:00:00Z")], False),  # the entry has no time of its own
        # indexed before its time was kept: not fetched again, or every feed would be at once
        ("2024-01-02T10:00:00Z", [(FEED, None)], False),
        # another feed's article: its copy only adds URLs, so the time would never be stored
        ("2024-01-02T10:00:00Z", [("http://other.test/rss", "2024-01-01T10:00:00Z")], False),
        ("2024-01-02T10:00:00Z", [(FEED, "not a date")], False),
    ],
)
def test_is_revision(updated, stored, revised):
    assert is_revision(_entry(updated), stored) is revised


def test_the_feed_is_compared_without_its_user_info():
    """``feed.url`` is stored masked; the configured URL may carry credentials."""
    entry = _entry("2024-01-02T10:00:00Z", feed_url="http://u:secret@news.test/feed.xml")
    assert is_revision(entry, [("http://***@news.test/feed.xml", "2024-01-01T10:00:00Z")])


def test_only_an_entry_s_own_updated_element_is_its_revision_time():
    """feedparser answers ``updated_parsed`` with the published date when an entry has no
    updated element; that is no revision time."""
    body = b"""<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>
    <title>T</title>
    <item><link>http://news.test/a</link><pubDate>Mon, 01 Jan 2024 10:00:00 GMT</pubDate></item>
    <item><link>http://news.test/b</link><pubDate>Mon, 01 Jan 2024 10:00:00 GMT</pubDate>
      <atom:updated>2024-01-02T10:00:00Z</atom:updated></item>
    </channel></rss>"""
    parsed = parse_feed(body, FeedRef(FEED), FEED, {"content-type": "application/rss+xml"})
    assert [(e.link, e.published, e.updated) for e in parsed.entries] == [
        ("http://news.test/a", "2024-01-01T10:00:00Z", None),
        ("http://news.test/b", "2024-01-01T10:00:00Z", "2024-01-02T10:00:00Z"),
    ]


def test_a_feed_that_stamps_its_entries_with_the_time_it_answered_revises_nothing():
    """A feed generated on request gives every entry ``updated`` = now: each indexed article would
    be fetched again at every poll.  A time settled ``REVISION_SETTLE_S`` before the feed's
    answer is a revision; a real edit made just before the poll is fetched at the next one."""
    import dataclasses
    import datetime as dt

    from newsbeam.connectors.known import REVISION_SETTLE_S

    stored = [(FEED, "2024-01-01T10:00:00Z")]
    answered = dt.datetime(2024, 1, 2, 10, 0, tzinfo=dt.timezone.utc).timestamp()
    for seconds_before, revised in ((0, False), (-30, False), (60, False), (REVISION_SETTLE_S + 60, True)):
        when = dt.datetime.fromtimestamp(answered - seconds_before, dt.timezone.utc).isoformat()
        entry = dataclasses.replace(_entry(when), feed_answered_at=answered)
        assert is_revision(entry, stored) is revised, seconds_before
