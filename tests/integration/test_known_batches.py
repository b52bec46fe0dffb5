"""SkipKnown asks the server in full batches of ``elasticsearch.lookup_batch_size``
URLs: on the embedded server each query is a pass over the index, so the
number of queries per wave matters as the index grows."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.config.settings import FetchSettings
from newsbeam.connectors import known
from newsbeam.connectors.es import setup_indices
from newsbeam.connectors.known import SkipKnown
from newsbeam.transforms.model import FeedEntry

pytestmark = [pytest.mark.es, pytest.mark.es_client]


def test_entries_are_looked_up_in_full_batches(es_client, es_settings, index_prefix, record_calls):
    setup_indices(es_client, index_prefix)
    es_client.index(
        index=es_settings.articles_alias,
        id="k",
        document={"url": "http://example.com/7", "urls": ["http://example.com/7"]},
        refresh=True,
    )
    searches = record_calls(
        known._LookupFn, "_search_terms", lambda self, index, field, values, source: (index, len(values))
    )
    articles = record_calls(known._LookupFn, "_search_articles", lambda self, urls, keys: len(urls))
    settings = es_settings.model_copy(update={"lookup_batch_size": 10})
    urls = [f"http://example.com/{i}" for i in range(25)]
    entries = [FeedEntry(feed_url="http://example.com/feed", feed_name="F", link=u, url=u) for u in urls]
    with TestPipeline() as p:
        new = p | beam.Create(entries) | SkipKnown(settings, FetchSettings()) | beam.Map(lambda e: e.url)
        assert_that(new, equal_to([u for u in urls if u != "http://example.com/7"]))
    # 25 URLs in batches of 10: three queries to the articles and three to the failures, each URL
    # with its https twin (a site that moved to https links its articles anew)
    assert sorted(articles) == [10, 20, 20]  # URLs and guids in one query
    assert sorted(size for index, size in searches if index == es_settings.failures_alias) == [10, 20, 20]


def test_an_article_known_under_the_other_scheme_is_not_fetched_again(es_client, es_settings, index_prefix):
    """A site that moves to https changes every link of its feed: its articles are those already
    indexed under http (and back), not new ones to fetch and index a second time."""
    setup_indices(es_client, index_prefix)
    for doc_id, url in (("a", "http://example.com/old-story"), ("b", "https://example.com/secure-story")):
        es_client.index(index=es_settings.articles_alias, id=doc_id, document={"url": url, "urls": [url]})
    es_client.indices.refresh(index=es_settings.articles_alias)
    urls = [
        "https://example.com/old-story",
        "http://example.com/secure-story",
        "https://example.com/new-story",
    ]
    entries = [FeedEntry(feed_url="https://example.com/feed", feed_name="F", link=u, url=u) for u in urls]
    with TestPipeline() as p:
        new = p | beam.Create(entries) | SkipKnown(es_settings, FetchSettings()) | beam.Map(lambda e: e.url)
        assert_that(new, equal_to(["https://example.com/new-story"]))
