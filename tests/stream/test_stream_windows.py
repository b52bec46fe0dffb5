"""Window semantics of the unbounded graph, with TestStream on the DirectRunner:
items over several windows are each indexed once, and a copy arriving two
windows after its original joins the original's cluster, the canonical flag
staying on the earliest copy."""

from __future__ import annotations

import datetime as dt

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms import window

from newsbeam.config.settings import load_settings
from newsbeam.connectors.es import setup_indices
from newsbeam.pipeline.build import _extract_and_index
from newsbeam.transforms.model import FeedEntry, FetchedPage
from tests.stream.live_site import LiveSite

pytestmark = pytest.mark.es

FEED = "http://127.0.0.1:9/feed.xml"


def _page(site: LiveSite, n: int, story: int) -> FetchedPage:
    item = {
        "n": n,
        "story": story,
        "published": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=n),
    }
    url = f"http://127.0.0.1:9/a/{n}.html"
    entry = FeedEntry(feed_url=FEED, feed_name="Live", link=url, url=url, title=f"Story {story} copy {n}")
    return FetchedPage(
        entry, url, 200, site._page(item).encode(), "text/html", "utf-8", "2026-11-29T00:00:00Z"
    )


def test_items_over_windows_are_indexed_once_and_a_late_copy_joins_its_cluster(es_settings, es_client):
    setup_indices(es_client, es_settings.index_prefix)
    settings = load_settings(
        overrides={
            "feeds": [{"url": FEED}],
            "elasticsearch": es_settings.model_dump(),
            "ner": {"enabled": False},
        }
    )
    site = LiveSite()  # only its page renderer; no server started
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements(
            [window.TimestampedValue(_page(site, 0, 0), 1), window.TimestampedValue(_page(site, 1, 1), 2)]
        )
        .advance_watermark_to(61)
        .add_elements([window.TimestampedValue(_page(site, 2, 2), 62)])
        .advance_watermark_to(121)
        .add_elements([window.TimestampedValue(_page(site, 3, 0), 122)])  # a copy of story 0
        .advance_watermark_to(181)
        .add_elements([window.TimestampedValue(_page(site, 0, 0), 182)])  # the original again
        .advance_watermark_to_infinity()
    )
    options = PipelineOptions([])
    options.view_as(StandardOptions).streaming = True
    with beam.Pipeline(options=options) as p:
        pages = p | stream | beam.WindowInto(window.FixedWindows(60))
        _extract_and_index(pages, settings, {FEED: 0}, [])
    alias = es_settings.articles_alias
    es_client.indices.refresh(index=alias)
    hits = es_client.search(index=alias, query={"match_all": {}}, size=100)["hits"]["hits"]
    docs = {hit["_source"]["url"]: hit["_source"] for hit in hits}
    assert sorted(docs) == [f"http://127.0.0.1:9/a/{n}.html" for n in range(4)]  # each once
    original, copy = docs["http://127.0.0.1:9/a/0.html"], docs["http://127.0.0.1:9/a/3.html"]
    assert copy["story"]["cluster_id"] == original["story"]["cluster_id"]
    assert original["story"]["is_canonical"] is True and copy["story"]["is_canonical"] is False
    assert original["story"]["size"] == 2
    others = {docs[f"http://127.0.0.1:9/a/{n}.html"]["story"]["cluster_id"] for n in (1, 2)}
    assert len(others) == 2 and original["story"]["cluster_id"] not in others


def test_the_unbounded_graph_polls_on_impulses_and_indexes_each_item_once(es_settings, es_client, tmp_path):
    from newsbeam.pipeline.stream import build_stream_pipeline

    setup_indices(es_client, es_settings.index_prefix)
    with LiveSite(copy_every=4) as site:
        site.add(5)
        settings = load_settings(
            overrides={
                "feeds": [{"url": site.feed_url, "name": "Live"}],
                "elasticsearch": {**es_settings.model_dump(), "dead_letter_dir": str(tmp_path / "dead")},
                "fetch": {"allow_private_hosts": True, "retries": 0, "timeout": 10, "host_delay": 0},
                "ner": {"enabled": False},
                "stream": {"poll_interval": 1},
            }
        )
        options = PipelineOptions([])
        options.view_as(StandardOptions).streaming = True
        ticks = (
            TestStream()
            .advance_watermark_to(0)
            .add_elements([window.TimestampedValue(0, 1)])
            .advance_watermark_to(61)
            .add_elements([window.TimestampedValue(1, 62)])
            .advance_watermark_to(121)
            .add_elements([window.TimestampedValue(2, 122)])
            .advance_watermark_to_infinity()
        )
        with beam.Pipeline(options=options) as p:
            build_stream_pipeline(p, settings, window_seconds=60, ticks=ticks)
    alias = es_settings.articles_alias
    es_client.indices.refresh(index=f"{alias},{es_settings.feeds_alias}")
    hits = es_client.search(index=alias, query={"match_all": {}}, size=100)["hits"]["hits"]
    urls = [hit["_source"]["url"] for hit in hits]
    assert sorted(urls) == sorted(site.url(n) for n in range(5))  # polled three times, each once
    feed = es_client.search(index=es_settings.feeds_alias, query={"match_all": {}})["hits"]["hits"]
    assert [hit["_source"]["status"] for hit in feed] == ["ok"]
