"""An entry whose link changed between two runs (a new slug) while its guid stayed is the
article already indexed: one document, not two.  A guid the feed gives to several entries
with other links, or one reused for an article published days apart, is no identity."""

from __future__ import annotations

import pytest

from newsbeam.config.settings import FeedSpec
from newsbeam.connectors.site_server import SiteServer
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.run import run_batch

pytestmark = pytest.mark.slow

PAGE = """<!DOCTYPE html><html><head><title>{title}</title></head>
<body><article><h1>{title}</h1><p>{body}</p></article></body></html>"""
ITEM = """<item><title>{title}</title><link>{{{{BASE_URL}}}}/{link}.html</link>
<guid isPermaLink="false">{guid}</guid><pubDate>{date}</pubDate></item>"""
FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Slugs</title>{items}</channel></rss>"""
DAY1 = "Tue, 02 Mar 2021 10:05:00 GMT"
DAY4 = "Fri, 05 Mar 2021 10:05:00 GMT"
TOPICS = {"old-slug": "harbour", "new-slug": "harbour", "digest-1": "budget", "digest-2": "school",
          "one": "railway", "two": "airport"}  # fmt: skip


def _page(root, name: str, topic: str) -> None:
    body = " ".join(
        f"Sentence {i}: the {topic} committee met on Monday to discuss the plan." for i in range(30)
    )
    (root / f"{name}.html").write_text(PAGE.format(title=f"The {topic} plan", body=body), encoding="utf-8")


def _feed(root, *items) -> None:
    xml = "".join(
        ITEM.format(title=f"The {TOPICS[link]} plan", link=link, guid=guid, date=date)
        for link, guid, date in items
    )
    (root / "feed.xml").write_text(FEED.format(items=xml), encoding="utf-8")


def _articles(client, alias) -> list[str]:
    client.indices.refresh(index=alias)
    hits = client.search(index=alias, query={"match_all": {}}, size=50)["hits"]["hits"]
    return sorted(hit["_source"]["url"].rsplit("/", 1)[1] for hit in hits)


def test_a_new_link_with_the_same_guid_is_the_same_article(tmp_path, demo_settings, es_client):
    root = tmp_path / "site"
    root.mkdir()
    for name, topic in TOPICS.items():
        _page(root, name, topic)
    _feed(root, ("old-slug", "tag:x,2021:1", DAY1), ("digest-1", "daily", DAY1), ("one", "same", DAY1),
          ("two", "same", DAY1))  # fmt: skip
    with SiteServer(root) as site:
        settings = demo_settings.model_copy(update={"feeds": (FeedSpec(url=f"{site.base_url}/feed.xml"),)})
        alias = settings.elasticsearch.articles_alias
        first = run_batch(settings, beam_options([]))
        assert first.get("news.known/new") == 4  # "same" names two links: each is its own article
        assert _articles(es_client, alias) == ["digest-1.html", "old-slug.html", "one.html", "two.html"]

        # the slug changes, the guid stays; a digest reuses its guid three days later
        _feed(root, ("new-slug", "tag:x,2021:1", DAY1), ("digest-2", "daily", DAY4),
              ("one", "same", DAY1), ("two", "same", DAY1))  # fmt: skip
        second = run_batch(settings, beam_options([]))
        assert second.get("news.known/known_by_guid") == 1
        assert second.get("news.known/new") == 1  # the digest of another day
        assert _articles(es_client, alias) == [
            "digest-1.html", "digest-2.html", "old-slug.html", "one.html", "two.html",
        ]  # fmt: skip
