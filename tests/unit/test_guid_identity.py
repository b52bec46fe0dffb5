"""A feed entry's guid, scoped to its feed, identifies its article when the link changes;
a guid shared by entries with other links, or reused days apart, does not."""

from __future__ import annotations

from newsbeam.connectors.feed_parse import FeedRef, parse_feed
from newsbeam.connectors.known import same_guid
from newsbeam.transforms.model import FeedEntry, entry_key

FEED = "https://example.org/feed.xml"
RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<item><title>A</title><link>https://example.org/a</link><guid isPermaLink="false">id-a</guid></item>
<item><title>B</title><link>https://example.org/b</link><guid>same</guid></item>
<item><title>C</title><link>https://example.org/c</link><guid>same</guid></item>
<item><title>D</title><link>https://example.org/d</link><guid>d</guid></item>
<item><title>D again</title><link>https://example.org/d</link><guid>d</guid></item>
<item><title>E</title><link>https://example.org/e</link></item>
</channel></rss>"""


def test_entry_keys_come_from_guids_that_name_one_link():
    parsed = parse_feed(RSS.encode(), FeedRef(FEED), FEED, {})
    keys = {entry.link.rsplit("/", 1)[1]: entry.entry_key for entry in parsed.entries}
    assert keys["a"] == entry_key(FEED, "id-a")
    assert keys["d"] is not None  # one guid, one link (twice): an identity
    assert keys["b"] is None and keys["c"] is None  # one guid, two links: no identity
    assert keys["e"] is None  # no guid
    assert entry_key("https://other.example/feed.xml", "id-a") != keys["a"]  # scoped to the feed
    assert entry_key(FEED, "  ") is None and entry_key(FEED, "x" * 5000) is None


def _entry(published: str | None) -> FeedEntry:
    return FeedEntry(FEED, None, "https://example.org/new", "https://example.org/new", published=published,
                     entry_key=entry_key(FEED, "id-a"))  # fmt: skip


def test_same_guid_unless_the_dates_are_days_apart():
    assert same_guid(_entry("2021-03-02T10:05:00Z"), ["2021-03-02T09:00:00Z"])
    assert same_guid(_entry(None), ["2021-03-02T09:00:00Z"])  # no date to tell them apart
    assert same_guid(_entry("2021-03-02T10:05:00Z"), [None])
    assert not same_guid(_entry("2021-03-05T10:05:00Z"), ["2021-03-02T09:00:00Z"])  # a reused guid
    assert not same_guid(_entry("2021-03-02T10:05:00Z"), None)  # not stored with any article
    no_key = FeedEntry(FEED, None, "https://example.org/x", "https://example.org/x")
    assert not same_guid(no_key, ["2021-03-02T09:00:00Z"])
