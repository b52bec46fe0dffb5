"""A feed's failure document counts attempts run after run and goes away
when the feed answers again; an entry whose link is not http(s) is recorded."""

from __future__ import annotations

import pytest

from newsbeam.config.settings import FeedSpec
from newsbeam.connectors.site_server import SiteServer
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.run import run_batch
from newsbeam.transforms.model import failure_id

pytestmark = pytest.mark.slow

FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Recovering</title>
<item><title>Bad link</title><link>javascript:alert(1)</link></item>
</channel></rss>"""


def _failures(client, alias):
    client.indices.refresh(index=alias)
    hits = client.search(index=alias, query={"match_all": {}}, size=100)["hits"]["hits"]
    return {h["_id"]: h["_source"] for h in hits}


def test_feed_failure_attempts_grow_and_clear_on_recovery(tmp_path, demo_settings, es_client):
    root = tmp_path / "site"
    root.mkdir()
    with SiteServer(root) as site:
        feed = FeedSpec(url=f"{site.base_url}/feed.xml", name="Recovering")
        settings = demo_settings.model_copy(update={"feeds": (feed,)})
        alias = settings.elasticsearch.failures_alias
        fid = failure_id("feed", feed.url)

        for attempt in (1, 2):
            summary = run_batch(settings, beam_options([]))
            assert summary.failures_by_reason == {"feed:http_404": 1}
            doc = _failures(es_client, alias)[fid]
            assert (doc["stage"], doc["reason"], doc["attempts"], doc["http"]["status"]) == (
                "feed", "http_404", attempt, 404,
            )  # fmt: skip

        (root / "feed.xml").write_text(FEED, encoding="utf-8")
        summary = run_batch(settings, beam_options([]))
        failures = _failures(es_client, alias)
        assert fid not in failures
        bad = failures[failure_id("feed", "javascript:alert(1)")]
        assert (bad["reason"], bad["feed"]["url"]) == ("bad_url", feed.url)
        assert summary.failures_by_reason == {"feed:bad_url": 1}
