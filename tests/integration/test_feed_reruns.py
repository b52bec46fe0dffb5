"""Re-runs over a polite feed (ETag, 304): nothing seen is lost between runs.

An entry that failed (a 404 fixed since) is retried by a later run only if
that run sees it in its feed again; a feed answering 304 shows nothing, so a
feed with an entry still to retry must not store the validators that make it
answer 304."""

from __future__ import annotations

import pytest

from newsbeam.config.settings import FeedSpec
from newsbeam.connectors.feed_health import feed_doc_id
from newsbeam.connectors.site_server import SiteServer
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.run import run_batch

pytestmark = pytest.mark.slow

PAGE = """<!DOCTYPE html><html><head><title>{title}</title></head><body><article><h1>{title}</h1>
<p>{body}</p></article></body></html>"""
FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Polite</title>{items}</channel></rss>"""
ITEM = "<item><title>{title}</title><link>{{{{BASE_URL}}}}/{name}.html</link></item>"


def _page(root, name: str, topic: str) -> None:
    title = f"The {topic} story"
    body = " ".join(
        f"Sentence {i} about the {topic}: the council met on Monday to discuss it." for i in range(30)
    )
    (root / f"{name}.html").write_text(PAGE.format(title=title, body=body), encoding="utf-8")


def _feed(root, names) -> None:
    items = "".join(ITEM.format(title=name, name=name) for name in names)
    (root / "feed.xml").write_text(FEED.format(items=items), encoding="utf-8")


def _settings(settings, feed, retry_after: float):
    fetch = settings.fetch.model_copy(update={"failure_retry_after": retry_after})
    return settings.model_copy(update={"feeds": (feed,), "fetch": fetch})


def test_an_entry_that_failed_is_retried_though_the_feed_did_not_change(tmp_path, demo_settings, es_client):
    root = tmp_path / "site"
    root.mkdir()
    _page(root, "a", "harbour")
    _feed(root, ["a", "b"])  # b.html is missing: 404
    with SiteServer(root, etags=True) as site:
        feed = FeedSpec(url=f"{site.base_url}/feed.xml", name="Polite")
        articles = demo_settings.elasticsearch.articles_alias

        first = run_batch(_settings(demo_settings, feed, 3600), beam_options([]))
        assert first.failures_by_reason == {"fetch:http_404": 1}

        _page(root, "b", "railway")  # fixed; the feed itself is unchanged
        waiting = run_batch(_settings(demo_settings, feed, 3600), beam_options([]))
        assert waiting.get("news.known/retry_later") == 1  # not due yet: seen, left for later

        retried = run_batch(_settings(demo_settings, feed, 0), beam_options([]))
        assert site.not_modified == []  # the feed was read whole every time: b was still to retry
        assert retried.get("news.known/new") == 1
        assert retried.get("news.run/articles_indexed") == 1
        es_client.indices.refresh(index=articles)
        titles = {hit["_source"]["title"] for hit in es_client.search(index=articles)["hits"]["hits"]}
        assert titles == {"The harbour story", "The railway story"}

        # Nothing left to retry: the validators advance and the next poll is a 304.
        health = es_client.get(index=demo_settings.elasticsearch.feeds_alias, id=feed_doc_id(feed.url))
        assert health["_source"]["http"]["etag"]
        quiet = run_batch(_settings(demo_settings, feed, 0), beam_options([]))
        assert site.not_modified == ["/feed.xml"]
        assert quiet.get("news.feeds/not_modified") == 1


def test_a_feed_that_moved_for_good_is_shown_with_its_new_url(tmp_path, demo_settings, es_client):
    """A 301/308 to the feed is followed every run (the feeds file is the operator's), and its
    health and ``newsbeam status`` name the new URL so the operator can update the file."""
    import json

    from newsbeam.pipeline.status import collect_status, print_status

    root = tmp_path / "site"
    root.mkdir()
    _page(root, "a", "harbour")
    _feed(root, ["a"])
    (root / "_redirects.json").write_text(json.dumps({"/old/feed.xml": "/feed.xml"}), encoding="utf-8")
    with SiteServer(root, etags=True) as site:
        feed = FeedSpec(url=f"{site.base_url}/old/feed.xml", name="Moved")
        settings = _settings(demo_settings, feed, 3600)
        summary = run_batch(settings, beam_options([]))
        assert summary.get("news.run/articles_indexed") == 1
        assert summary.get("news.feeds/moved") == 1
        health = es_client.get(index=settings.elasticsearch.feeds_alias, id=feed_doc_id(feed.url))["_source"]
        assert health["status"] == "ok"
        assert health["http"]["moved_to"] == f"{site.base_url}/feed.xml"

        again = run_batch(settings, beam_options([]))  # the 304 comes through the redirect
        assert site.not_modified == ["/feed.xml"]
        assert again.get("news.feeds/moved") == 1
        health = es_client.get(index=settings.elasticsearch.feeds_alias, id=feed_doc_id(feed.url))["_source"]
        assert (health["status"], health["http"]["moved_to"]) == ("not_modified", f"{site.base_url}/feed.xml")

        status = collect_status(es_client, settings)
        assert [f["moved_to"] for f in status["feeds"]] == [f"{site.base_url}/feed.xml"]
        from io import StringIO

        from rich.console import Console

        out = StringIO()
        print_status(status, None, Console(file=out, width=300), "test")
        assert f"not_modified (moved to {site.base_url}/feed.xml)" in out.getvalue()
