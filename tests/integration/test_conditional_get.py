"""Polite, incremental polling: a feed's ETag is stored in news-feeds and sent
back as If-None-Match; an unchanged feed answers 304 and nothing is fetched.
Validators advance only when the run wrote everything it found."""

from __future__ import annotations

import pytest

from newsbeam.config.settings import FeedSpec
from newsbeam.connectors.feed_health import feed_doc_id, health_document
from newsbeam.connectors.site_server import SiteServer
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.run import run_batch
from newsbeam.transforms.model import FeedStatus

pytestmark = pytest.mark.slow

PAGE = """<!DOCTYPE html><html><head><title>{title}</title></head><body><article><h1>{title}</h1>
<p>{body}</p></article></body></html>"""
FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Polite</title>{items}</channel></rss>"""
ITEM = "<item><title>{title}</title><link>{{{{BASE_URL}}}}/{name}.html</link></item>"


def _write_site(root, names):
    items = []
    for name in names:
        title = f"Story {name} about the harbour"
        body = " ".join(f"Sentence {i} of story {name}: the harbour board met on Monday." for i in range(30))
        (root / f"{name}.html").write_text(PAGE.format(title=title, body=body), encoding="utf-8")
        items.append(ITEM.format(title=title, name=name))
    (root / "feed.xml").write_text(FEED.format(items="".join(items)), encoding="utf-8")


def test_unchanged_feed_is_not_fetched_again(tmp_path, demo_settings, es_client):
    root = tmp_path / "site"
    root.mkdir()
    _write_site(root, ["a"])
    with SiteServer(root, etags=True) as site:
        feed = FeedSpec(url=f"{site.base_url}/feed.xml", name="Polite")
        settings = demo_settings.model_copy(update={"feeds": (feed,)})
        first = run_batch(settings, beam_options([]))
        assert first.get("news.known/new") == 1
        health = es_client.get(index=settings.elasticsearch.feeds_alias, id=feed_doc_id(feed.url))["_source"]
        assert health["http"]["etag"]

        requests_before = len(site.requests)
        second = run_batch(settings, beam_options([]))
        assert site.not_modified == ["/feed.xml"]
        assert len(site.requests) == requests_before + 1  # the feed, answered 304; no page
        assert second.get("news.feeds/not_modified") == 1
        assert second.get("news.feeds/entries") == 0
        health = es_client.get(index=settings.elasticsearch.feeds_alias, id=feed_doc_id(feed.url))["_source"]
        assert (health["status"], health["error_streak"], health["new_items"]) == ("not_modified", 0, 0)

        _write_site(root, ["a", "b"])  # the feed changes: its ETag changes
        third = run_batch(settings, beam_options([]))
        assert third.get("news.known/new") == 1
        assert third.get("news.known/known") == 1
        assert site.not_modified == ["/feed.xml"]


def test_validators_advance_only_when_the_run_wrote_everything():
    status = FeedStatus("u", "n", "ok", 200, 3, etag='"new"', last_modified="Tue, 05 Mar 2024 09:00:00 GMT")
    previous = {"http": {"etag": '"old"', "last_modified": None}, "error_streak": 2}
    complete = health_document(status, 3, previous, run_complete=True)
    assert complete["http"] == {
        "status": 200,
        "etag": '"new"',
        "last_modified": "Tue, 05 Mar 2024 09:00:00 GMT",
    }
    assert complete["error_streak"] == 0
    incomplete = health_document(status, 3, previous, run_complete=False)
    assert incomplete["http"] == {"status": 200, "etag": '"old"', "last_modified": None}
