"""FetchPages is polite: robots.txt is obeyed per site (RFC 9309) and a
site's pages are fetched one at a time, host_delay (or Crawl-delay) apart."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.config.settings import FetchSettings
from newsbeam.connectors.fetch import FetchPages, _FetchPageFn, robots_verdict
from newsbeam.connectors.http import FetchError
from newsbeam.connectors.site_server import SiteServer
from newsbeam.transforms.model import FeedEntry

PAGE = "<html><body><article><p>Page {name}.</p></article></body></html>"


def _site(tmp_path, robots: str | None):
    root = tmp_path / "site"
    (root / "private").mkdir(parents=True)
    for name in ("a", "b", "c", "private/d"):
        (root / f"{name}.html").write_text(PAGE.format(name=name), encoding="utf-8")
    if robots is not None:
        (root / "robots.txt").write_text(robots, encoding="utf-8")
    return root


def _entries(base):
    return [
        FeedEntry(feed_url=f"{base}/feed.xml", feed_name="F", link=f"{base}/{n}.html", url=f"{base}/{n}.html")
        for n in ("a", "b", "c", "private/d")
    ]


SETTINGS = FetchSettings(allow_private_hosts=True, retries=0, timeout=5, host_delay=0)


def test_robots_disallowed_pages_are_recorded_not_fetched(tmp_path):
    root = _site(tmp_path, "User-agent: *\nDisallow: /private/\n")
    with SiteServer(root) as site:
        with TestPipeline() as p:
            out = p | beam.Create(_entries(site.base_url)) | FetchPages(SETTINGS)
            assert_that(
                out.pages | beam.Map(lambda page: page.entry.url.rsplit("/", 1)[1]),
                equal_to(["a.html", "b.html", "c.html"]),
                label="pages",
            )
            assert_that(
                out.failed | beam.Map(lambda f: (f.url.rsplit("/", 1)[1], f.reason)),
                equal_to([("d.html", "robots_disallowed")]),
                label="failed",
            )
        assert "/private/d.html" not in site.requests
        assert site.requests.count("/robots.txt") == 1


def test_pages_of_one_site_are_spaced_by_the_crawl_delay(tmp_path):
    root = _site(tmp_path, "User-agent: newsbeam\nCrawl-delay: 7\n")
    with SiteServer(root) as site:
        sleeps: list[float] = []
        fn = _FetchPageFn(SETTINGS.model_copy(update={"host_delay": 2.0}), sleep=sleeps.append)
        fn.setup()
        try:
            outputs = list(fn.process((site.base_url, _entries(site.base_url))))
        finally:
            fn.teardown()
        assert len(outputs) == 4
        assert sleeps == [7.0, 7.0, 7.0]  # between four requests, the larger of the two delays


def test_a_missing_robots_txt_allows_everything(tmp_path):
    root = _site(tmp_path, None)
    with SiteServer(root) as site:
        fn = _FetchPageFn(SETTINGS)
        fn.setup()
        try:
            outputs = list(fn.process((site.base_url, _entries(site.base_url))))
        finally:
            fn.teardown()
        assert len(outputs) == 4
        assert not any(hasattr(o, "tag") for o in outputs)


@pytest.mark.parametrize(
    ("error", "verdict"),
    [
        (None, "allow"),
        (FetchError("http_404", "x", status=404), "allow"),
        (FetchError("http_403", "x", status=403), "allow"),
        (FetchError("too_large", "x", status=200), "allow"),
        (FetchError("http_503", "x", status=503), "disallow"),
        (FetchError("timeout", "x"), "disallow"),
        (FetchError("connection_error", "x"), "disallow"),
        (FetchError("blocked_host", "x"), "refused"),
    ],
)
def test_robots_verdict_follows_rfc_9309(error, verdict):
    assert robots_verdict(error) == verdict
