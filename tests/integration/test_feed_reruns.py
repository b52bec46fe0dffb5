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


REVISED_FEED = """<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Revisions</title>
<entry><title>{title}</title><link href="{{{{BASE_URL}}}}/a.html"/><id>urn:a</id>
<published>2024-01-01T10:00:00Z</published><updated>{updated}</updated></entry>
<entry><title>Other</title><link href="{{{{BASE_URL}}}}/b.html"/><id>urn:b</id>
<updated>2024-01-01T11:00:00Z</updated></entry></feed>"""


def test_an_entry_updated_in_its_feed_is_fetched_again_and_its_article_replaced(
    tmp_path, demo_settings, es_client
):
    """A correction: the same entry (same link) with a later ``updated`` time is fetched again and
    its article rewritten in place (same ``_id``); an unchanged time keeps it skipped as known."""
    root = tmp_path / "site"
    root.mkdir()
    _page(root, "a", "harbour")
    _page(root, "b", "railway")

    def feed_file(title: str, updated: str) -> None:
        (root / "feed.xml").write_text(REVISED_FEED.format(title=title, updated=updated), encoding="utf-8")

    feed_file("The harbour story", "2024-01-01T10:00:00Z")
    with SiteServer(root) as site:
        feed = FeedSpec(url=f"{site.base_url}/feed.xml", name="Revisions")
        settings = _settings(demo_settings, feed, 3600)
        articles = settings.elasticsearch.articles_alias

        def stored() -> dict[str, tuple[str, str]]:
            es_client.indices.refresh(index=articles)
            hits = es_client.search(index=articles)["hits"]["hits"]
            return {
                hit["_id"]: (hit["_source"]["title"], hit["_source"].get("entry_updated")) for hit in hits
            }

        first = run_batch(settings, beam_options([]))
        assert first.get("news.run/articles_indexed") == 2
        before = stored()

        unchanged = run_batch(settings, beam_options([]))
        assert (unchanged.get("news.known/known"), unchanged.get("news.known/revised")) == (2, 0)

        _page(root, "a", "corrected harbour")
        feed_file("The corrected harbour story", "2024-01-02T09:30:00Z")
        pages_before = site.requests.count("/a.html")
        revised = run_batch(settings, beam_options([]))
        assert (revised.get("news.known/known"), revised.get("news.known/revised")) == (1, 1)
        assert revised.get("news.known/new") == 1  # a revision is fetched, as new entries are
        assert site.requests.count("/a.html") == pages_before + 1
        after = stored()
        assert set(after) == set(before)  # rewritten in place, nothing duplicated
        assert sorted(after.values()) == [
            ("The corrected harbour story", "2024-01-02T09:30:00Z"),
            ("The railway story", "2024-01-01T11:00:00Z"),
        ]

        again = run_batch(settings, beam_options([]))  # the revision is now the stored one
        assert (again.get("news.known/known"), again.get("news.known/revised")) == (2, 0)


def test_a_revision_whose_page_names_another_canonical_url_is_rewritten_in_place(
    tmp_path, demo_settings, es_client
):
    """The corrected page now names a rel=canonical of its own site (a new slug): the article keeps
    its _id and canonical URL and gains the new one among its ``urls`` (before: a second document of
    the same article, both holding the entry's link)."""
    root = tmp_path / "site"
    root.mkdir()
    _page(root, "a", "harbour")
    _page(root, "b", "railway")

    def feed_file(title: str, updated: str) -> None:
        (root / "feed.xml").write_text(REVISED_FEED.format(title=title, updated=updated), encoding="utf-8")

    feed_file("The harbour story", "2024-01-01T10:00:00Z")
    with SiteServer(root) as site:
        settings = _settings(demo_settings, FeedSpec(url=f"{site.base_url}/feed.xml", name="Revisions"), 3600)
        articles = settings.elasticsearch.articles_alias
        run_batch(settings, beam_options([]))
        es_client.indices.refresh(index=articles)
        before = {h["_id"]: h["_source"] for h in es_client.search(index=articles)["hits"]["hits"]}

        _page(root, "a", "corrected harbour")
        html = (root / "a.html").read_text(encoding="utf-8")
        canonical = '<link rel="canonical" href="{{BASE_URL}}/harbour-story.html">'
        (root / "a.html").write_text(html.replace("<head>", "<head>" + canonical, 1), encoding="utf-8")
        feed_file("The corrected harbour story", "2024-01-02T09:30:00Z")
        revised = run_batch(settings, beam_options([]))
        assert revised.get("news.known/revised") == 1
        es_client.indices.refresh(index=articles)
        after = {h["_id"]: h["_source"] for h in es_client.search(index=articles)["hits"]["hits"]}
    assert set(after) == set(before)
    (doc_id,) = [i for i, doc in after.items() if doc["title"] == "The corrected harbour story"]
    assert after[doc_id]["canonical_url"] == before[doc_id]["canonical_url"] == f"{site.base_url}/a.html"
    assert set(after[doc_id]["urls"]) == {f"{site.base_url}/a.html", f"{site.base_url}/harbour-story.html"}


def test_a_link_to_a_media_file_fails_once_and_is_not_retried(tmp_path, demo_settings, es_client):
    """A podcast entry whose link is the episode itself: ``not_html`` is final, so the file is
    requested once (refused on its headers) and the feed's validators advance at once."""
    root = tmp_path / "site"
    root.mkdir()
    _page(root, "a", "harbour")
    (root / "episode.mp3").write_bytes(b"ID3" + bytes(300_000))  # served as application/octet-stream
    items = (
        ITEM.format(title="a", name="a")
        + "<item><title>Episode 1</title><link>{{BASE_URL}}/episode.mp3</link></item>"
    )
    (root / "feed.xml").write_text(FEED.format(items=items), encoding="utf-8")
    with SiteServer(root, etags=True) as site:
        feed = FeedSpec(url=f"{site.base_url}/feed.xml", name="Podcast")
        settings = _settings(demo_settings, feed, 0)  # a retry would be due at once
        first = run_batch(settings, beam_options([]))
        assert first.failures_by_reason == {"fetch:not_html": 1}
        assert first.get("news.run/articles_indexed") == 1

        second = run_batch(settings, beam_options([]))
        assert site.not_modified == ["/feed.xml"]  # nothing left to retry: the feed is unchanged
        assert second.get("news.fetch/failed_not_html") == 0
        assert site.requests.count("/episode.mp3") == 1

        _page(root, "b", "railway")  # the feed changes: the episode is seen again, and given up
        items += ITEM.format(title="b", name="b")
        (root / "feed.xml").write_text(FEED.format(items=items), encoding="utf-8")
        third = run_batch(settings, beam_options([]))
        assert (third.get("news.known/new"), third.get("news.known/given_up")) == (1, 1)
        assert site.requests.count("/episode.mp3") == 1
