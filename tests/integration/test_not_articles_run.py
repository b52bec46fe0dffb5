"""A run over a feed that links to pages that are no articles: a section front, an error page
that asks not to be indexed, a login wall and a consent wall, all served with 200, end as
``not_article`` failure documents; the one real article is indexed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from newsbeam.config.settings import FeedSpec
from newsbeam.connectors.site_server import SiteServer
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.run import run_batch

pytestmark = pytest.mark.slow

PAGES = Path(__file__).resolve().parent.parent / "fixtures" / "not_articles"
HEADLINE = "Council approves plan to turn bus depots into homes"
# (file, the entry's title): each entry announces an article, as a publisher's feed does
ITEMS = [
    ("article.html", HEADLINE),
    ("section_front.html", "Chipmaker shares slide after export rules tighten"),
    ("error_page_noindex.html", "Rail strike called off after overnight talks"),
    ("login_wall.html", "Scientists map the deepest cave system in Europe"),
    ("consent_wall.html", HEADLINE + " after two-year dispute"),
]
FRONT_TITLE = "Ledger: news from the valley"  # an entry that links the site's front page itself


def _feed() -> str:
    items = (
        "".join(
            f"<item><title>{title}</title><link>{{{{BASE_URL}}}}/news/{name}</link>"
            f"<pubDate>Sat, 28 Nov 2026 09:00:00 GMT</pubDate></item>"
            for name, title in ITEMS
        )
        + f"<item><title>{FRONT_TITLE}</title><link>{{{{BASE_URL}}}}/</link></item>"
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Ledger</title>{items}</channel></rss>'


def _docs(client, alias):
    client.indices.refresh(index=alias)
    hits = client.search(index=alias, query={"match_all": {}}, size=100)["hits"]["hits"]
    return [h["_source"] for h in hits]


def test_pages_that_are_no_articles_become_not_article_failures(tmp_path, demo_settings, es_client):
    root = tmp_path / "site"
    (root / "news").mkdir(parents=True)
    for name, _ in ITEMS:
        shutil.copy(PAGES / name, root / "news" / name)
    shutil.copy(PAGES / "section_front.html", root / "index.html")
    (root / "feed.xml").write_text(_feed(), encoding="utf-8")
    with SiteServer(root) as site:
        feed = FeedSpec(url=f"{site.base_url}/feed.xml", name="Ledger")
        settings = demo_settings.model_copy(update={"feeds": (feed,)})
        summary = run_batch(settings, beam_options([]))

        articles = _docs(es_client, settings.elasticsearch.articles_alias)
        assert [a["url"] for a in articles] == [f"{site.base_url}/news/article.html"]
        assert summary.failures_by_reason == {"extract:not_article": 5}
        failures = {f["url"]: f for f in _docs(es_client, settings.elasticsearch.failures_alias)}
        for name, _ in ITEMS[1:]:
            url = f"{site.base_url}/news/{name}"
            doc = failures[url]
            assert (doc["stage"], doc["reason"], doc["http"]["status"]) == ("extract", "not_article", 200)
            assert url in doc["error"]
        assert "login form" in failures[f"{site.base_url}/news/login_wall.html"]["error"]
        assert "feed announced" in failures[f"{site.base_url}/news/consent_wall.html"]["error"]

        # The next run (its retries due at once) fetches the section front, the error page, the
        # login and consent walls again, which may give way to the article (a page published after
        # its feed entry); not the link to the front page itself, which stays one (it was fetched
        # five times over about 31 h for the same verdict).
        assert failures[f"{site.base_url}/"]["final"] is True
        assert not any(failures[f"{site.base_url}/news/{name}"].get("final") for name, _ in ITEMS[1:])
        fetch = settings.fetch.model_copy(update={"failure_retry_after": 0})
        assert "/" in site.requests  # the first run fetched it
        site.requests.clear()
        again = run_batch(settings.model_copy(update={"fetch": fetch}), beam_options([]))
        fetched = {path.rsplit("/", 1)[-1] for path in site.requests if path.startswith("/news/")}
        assert fetched == {name for name, _ in ITEMS[1:]}, site.requests
        assert "/" not in site.requests
        assert again.get("news.known/given_up") == 1
