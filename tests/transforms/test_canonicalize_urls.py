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
