"""Identity across runs: an article reached through two links (both with
rel=canonical to one URL) is one document whose ``urls`` keeps both, whose
``feed.url`` and ``first_seen`` stay those of the first sighting, and that is
not fetched again by later runs through either link."""

from __future__ import annotations

import pytest

from newsbeam.config.settings import FeedSpec
from newsbeam.connectors.site_server import SiteServer
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.run import run_batch
from newsbeam.transforms.model import doc_id_for_url

pytestmark = pytest.mark.slow

BODY = " ".join(
    f"Paragraph {i}: the regional assembly approved the water plan after a long debate on tariffs and"
    " reservoirs, officials said on Tuesday."
    for i in range(8)
)
PAGE = """<!DOCTYPE html><html><head><title>Water plan approved</title>
<link rel="canonical" href="{{{{BASE_URL}}}}/art.html">
<meta property="article:published_time" content="2021-03-02T10:00:00Z"></head>
<body><article><h1>Water plan approved</h1><p>{body}</p></article></body></html>"""
FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title><link>{{{{BASE_URL}}}}/</link>
<item><title>Water plan approved</title><link>{{{{BASE_URL}}}}/{link}.html</link>
<pubDate>Tue, 02 Mar 2021 10:05:00 GMT</pubDate></item></channel></rss>"""


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    for name in ("a1", "a2", "art"):
        (root / f"{name}.html").write_text(PAGE.format(body=BODY), encoding="utf-8")
    (root / "feed-a.xml").write_text(FEED.format(name="A", link="a1"), encoding="utf-8")
    (root / "feed-b.xml").write_text(FEED.format(name="B", link="a2"), encoding="utf-8")
    with SiteServer(root) as server:
        yield server


def test_two_links_to_one_article_stay_one_document(site, demo_settings, es_client):
    feed_a = FeedSpec(url=f"{site.base_url}/feed-a.xml", name="A")
    feed_b = FeedSpec(url=f"{site.base_url}/feed-b.xml", name="B")
    alias = demo_settings.elasticsearch.articles_alias
    doc_id = doc_id_for_url(f"{site.base_url}/art.html")

    first = run_batch(demo_settings.model_copy(update={"feeds": (feed_a,)}), beam_options([]))
    assert first.get("news.known/new") == 1
    es_client.indices.refresh(index=alias)
    before = es_client.get(index=alias, id=doc_id)["_source"]

    both = demo_settings.model_copy(update={"feeds": (feed_a, feed_b)})
    second = run_batch(both, beam_options([]))
    assert second.get("news.known/new") == 1  # the second link is new once
    # No refresh here: a run makes its writes searchable before it returns.
    third = run_batch(both, beam_options([]))
    assert third.get("news.known/new") == 0  # ... and known ever after
    assert third.get("news.known/known") == 2

    es_client.indices.refresh(index=alias)
    assert es_client.count(index=alias)["count"] == 1
    doc = es_client.get(index=alias, id=doc_id)["_source"]
    assert set(doc["urls"]) == {f"{site.base_url}/{n}.html" for n in ("a1", "a2", "art")}
    assert doc["feed"]["url"] == feed_a.url
    assert doc["source"]["name"] == "A"  # the outlet that published it first
    assert doc["first_seen"] == before["first_seen"]
    assert doc["story"] == before["story"]
