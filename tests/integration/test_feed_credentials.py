"""A feed URL's credentials (``user:password@``) are used to poll it and never stored: not in
``news-feeds``, ``news-failures``, the articles' ``feed.url``, the run's summary, nor what
``newsbeam status`` shows; an article reached by a relative link (which inherits them) is fetched
with them and stored without them; the stored ETag still reaches the next poll."""

from __future__ import annotations

import json

import pytest

from newsbeam.config.settings import FeedSpec
from newsbeam.connectors.site_server import SiteServer
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.report import summary_document
from newsbeam.pipeline.run import run_batch
from newsbeam.pipeline.status import collect_status

pytestmark = pytest.mark.slow

SECRET = "Feed-Pass-7731"
PAGE = """<!DOCTYPE html><html><head><title>{title}</title></head><body><article><h1>{title}</h1>
<p>{body}</p></article></body></html>"""
FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Members</title>
<item><title>Harbour story</title><link>{{BASE_URL}}/a.html</link></item>
<item><title>Ferry story</title><link>/b.html</link></item></channel></rss>"""


def _stored(client, settings) -> str:
    es = settings.elasticsearch
    aliases = [es.articles_alias, es.failures_alias, es.feeds_alias]
    client.indices.refresh(index=",".join(aliases))
    hits = client.search(index=",".join(aliases), query={"match_all": {}}, size=100)["hits"]["hits"]
    assert hits
    return json.dumps([h["_source"] for h in hits])


def test_feed_credentials_are_never_stored_or_shown(tmp_path, demo_settings, es_client):
    root = tmp_path / "site"
    root.mkdir()
    with SiteServer(root, etags=True) as site:
        url = site.base_url.replace("://", f"://reader:{SECRET}@") + "/feed.xml"
        feed = FeedSpec(url=url, name=None)
        settings = demo_settings.model_copy(update={"feeds": (feed,)})

        failed = run_batch(settings, beam_options([]))  # no feed yet: a 404, the feed's failure
        assert failed.failures_by_reason == {"feed:http_404": 1}
        stored = _stored(es_client, settings)
        assert SECRET not in stored and "reader:" not in stored
        assert "://***@" in stored  # the URL is still recognisable

        body = " ".join(f"Sentence {i}: the harbour board met on Monday." for i in range(30))
        (root / "a.html").write_text(PAGE.format(title="Harbour story", body=body), encoding="utf-8")
        ferry = " ".join(f"Line {i}: the ferry to the island sailed late on Tuesday." for i in range(30))
        (root / "b.html").write_text(PAGE.format(title="Ferry story", body=ferry), encoding="utf-8")
        (root / "feed.xml").write_text(FEED, encoding="utf-8")
        done = run_batch(settings, beam_options([]))
        assert done.get("news.known/new") == 2  # the relative link inherits the feed's credentials
        assert "/b.html" in site.requests
        summary = json.dumps(summary_document(done, settings, "run"))
        assert SECRET not in summary and "://***@" in summary
        stored = _stored(es_client, settings)
        assert SECRET not in stored
        assert json.loads(stored)  # articles, feeds and failures documents alike

        status = json.dumps(collect_status(es_client, settings))
        assert SECRET not in status and "://***@" in status

        again = run_batch(settings, beam_options([]))  # the stored ETag is found by the feed's id
        assert site.not_modified == ["/feed.xml"]
        assert again.get("news.feeds/not_modified") == 1
