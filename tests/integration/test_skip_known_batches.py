"""SkipKnown asks Elasticsearch in batches of ``lookup_batch_size``: one
query per alias for a bundle of up to that many entries (BatchElements'
adaptive sizing started at one entry and made about nine per bundle, on the
path to the first page request)."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.config.settings import FetchSettings
from newsbeam.connectors import es as es_module
from newsbeam.connectors.es import setup_indices
from newsbeam.connectors.known import SkipKnown
from newsbeam.transforms.model import FeedEntry


def test_one_query_per_alias_for_a_bundle_of_entries(es_settings, es_client, monkeypatch):
    setup_indices(es_client, es_settings.index_prefix)
    es_client.index(
        index=es_settings.articles_alias,
        id="known",
        document={"url": "http://site.example/3", "urls": ["http://site.example/3"]},
        refresh=True,
    )
    searched: list[str] = []
    real_connect = es_module.connect

    def connect(*args, **kwargs):
        client = real_connect(*args, **kwargs)
        real_search = client.search

        def search(*a, **kw):
            searched.append(kw.get("index"))
            return real_search(*a, **kw)

        client.search = search
        return client

    monkeypatch.setattr(es_module, "connect", connect)
    urls = [f"http://site.example/{i}" for i in range(150)]
    entries = [FeedEntry(feed_url="http://site.example/feed", feed_name="S", link=u, url=u) for u in urls]
    with TestPipeline() as p:
        new = p | beam.Create(entries) | SkipKnown(es_settings, FetchSettings())
        assert_that(new | beam.Map(lambda e: e.url), equal_to([u for u in urls if u != urls[3]]))
    assert len(searched) <= 2 * 2  # articles and failures, at most one bundle split by the runner
    assert searched.count(es_settings.articles_alias) <= 2
