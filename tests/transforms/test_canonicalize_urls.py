import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.transforms.model import FeedEntry
from newsbeam.transforms.urls import CanonicalizeUrls


def entry(feed, link):
    return FeedEntry(feed_url=feed, feed_name=None, link=link, url=link)


def test_normalizes_and_keeps_one_entry_per_url_from_the_first_feed():
    entries = [
        entry("https://b.example/feed", "https://news.example/story?utm_source=b"),
        entry("https://a.example/feed", "https://NEWS.example/story#comments"),
        entry("https://c.example/feed", "https://news.example/other"),
        entry("https://c.example/feed", "javascript:void(0)"),
    ]
    order = {"https://a.example/feed": 1, "https://b.example/feed": 0, "https://c.example/feed": 2}
    expected = [
        ("https://b.example/feed", "https://news.example/story"),
        ("https://c.example/feed", "https://news.example/other"),
    ]
    for permutation in (entries, list(reversed(entries))):
        p = TestPipeline()
        out = p | beam.Create(permutation) | CanonicalizeUrls(order) | beam.Map(lambda e: (e.feed_url, e.url))
        assert_that(out, equal_to(expected))
        result = p.run()
        result.wait_until_finish()
        invalid = result.metrics().query(MetricsFilter().with_name("invalid_link"))["counters"]
        assert sum(c.committed for c in invalid) == 1


def test_of_one_link_twice_in_a_feed_the_latest_revision_is_kept_whatever_the_order():
    """A live blog's feed lists its link twice (an item per update): the entry kept carries the
    latest ``updated`` time, so a revision is seen (connectors/known.py) whatever the arrival
    order; an entry without one comes last."""
    import dataclasses

    feed, link = "https://a.example/feed", "https://news.example/live"
    entries = [
        dataclasses.replace(entry(feed, link), title="older", updated="2024-01-01T10:00:00Z"),
        dataclasses.replace(entry(feed, link), title="latest", updated="2024-01-01T12:00:00+00:00"),
        dataclasses.replace(entry(feed, link), title="no time"),
        dataclasses.replace(entry(feed, link), title="middle", updated="2024-01-01T13:00:00+02:00"),
    ]
    for permutation in (entries, list(reversed(entries))):
        with TestPipeline() as p:
            out = p | beam.Create(permutation) | CanonicalizeUrls({feed: 0}) | beam.Map(lambda e: e.title)
            assert_that(out, equal_to(["latest"]))
