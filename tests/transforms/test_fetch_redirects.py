"""A page that redirects to another site is fetched under that site's rules: its
robots.txt is read first and obeyed, its delay is kept, and the article keeps
the link the feed gave among its URLs (an aggregator's or a shortener's link
on site A, answered with a 301 to the publisher on site B)."""

from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.config.settings import ExtractSettings, FetchSettings
from newsbeam.connectors.fetch import FetchPages, _FetchPageFn
from newsbeam.connectors.site_server import SiteServer
from newsbeam.transforms.extract import ExtractArticles
from newsbeam.transforms.model import FeedEntry, FetchedPage
from newsbeam.transforms.urls import normalize_url

from .test_fetch_politeness import _FakeClock, _run_fn

ARTICLE = (
    "<html><head><title>Story {name}</title></head><body><article><h1>Story {name}</h1>"
    + "".join(
        f"<p>On day {day} the harbour council met again to discuss dredging the old channel {{name}}.</p>"
        for day in range(6)
    )
    + "</article></body></html>"
)
SETTINGS = FetchSettings(allow_private_hosts=True, retries=0, timeout=5, host_delay=0)


def _publisher(tmp_path, robots: str):
    """Site B: the publisher, whose robots.txt keeps crawlers out of /private/."""
    root = tmp_path / "publisher"
    (root / "private").mkdir(parents=True)
    for name in ("a", "b", "private/d"):
        (root / f"{name}.html").write_text(ARTICLE.format(name=name), encoding="utf-8")
    (root / "robots.txt").write_text(robots, encoding="utf-8")
    return root


def _aggregator(tmp_path, publisher_url: str):
    """Site A: short links /go/<name> answered with a 301 to the publisher."""
    root = tmp_path / "aggregator"
    root.mkdir()
    targets = {"/go/a": "/a.html", "/go/b": "/b.html", "/go/d": "/private/d.html"}
    redirects = {path: publisher_url + target for path, target in targets.items()}
    (root / "_redirects.json").write_text(json.dumps(redirects), encoding="utf-8")
    return root


def _entries(base: str, names):
    return [
        FeedEntry(feed_url=f"{base}/feed.xml", feed_name="F", link=f"{base}/go/{n}", url=f"{base}/go/{n}")
        for n in names
    ]


def test_a_redirect_to_another_site_obeys_that_sites_robots_txt(tmp_path):
    publisher_root = _publisher(tmp_path, "User-agent: *\nDisallow: /private/\n")
    with SiteServer(publisher_root) as publisher:
        with SiteServer(_aggregator(tmp_path, publisher.base_url)) as aggregator:
            a, b = aggregator.base_url, publisher.base_url
            with TestPipeline() as p:
                fetched = p | beam.Create(_entries(a, ["a", "d"])) | FetchPages(SETTINGS)
                assert_that(
                    fetched.pages | beam.Map(lambda page: (page.entry.url, page.final_url)),
                    equal_to([(f"{a}/go/a", f"{b}/a.html")]),
                    label="pages",
                )
                assert_that(
                    fetched.failed | beam.Map(lambda f: (f.url, f.reason, f.error)),
                    equal_to(
                        [
                            (
                                f"{a}/go/d",
                                "robots_disallowed",
                                f"{b}/private/d.html is disallowed by {b}/robots.txt"
                                f" (redirected from {a}/go/d)",
                            )
                        ]
                    ),
                    label="failed",
                )
                articles = fetched.pages | ExtractArticles(ExtractSettings(min_chars=100))
                assert_that(
                    articles.articles | beam.Map(lambda article: (article.url, article.urls)),
                    equal_to([(f"{b}/a.html", tuple(sorted({normalize_url(f"{a}/go/a"), f"{b}/a.html"})))]),
                    label="articles",
                )
        # B's robots.txt is its first request, once; its disallowed page is never requested
        assert publisher.requests[0] == "/robots.txt"
        assert publisher.requests.count("/robots.txt") == 1
        assert sorted(publisher.requests) == ["/a.html", "/robots.txt"]
        assert sorted(aggregator.requests) == ["/go/a", "/go/d", "/robots.txt"]


def test_pages_redirected_to_another_site_keep_that_sites_crawl_delay(tmp_path):
    publisher_root = _publisher(tmp_path, "User-agent: newsbeam\nCrawl-delay: 7\n")
    publisher = SiteServer(publisher_root).start()
    aggregator = SiteServer(_aggregator(tmp_path, publisher.base_url)).start()
    try:
        clock = _FakeClock()
        fn = _FetchPageFn(SETTINGS, sleep=clock.sleep, clock=clock)
        outputs = _run_fn(fn, (aggregator.base_url, _entries(aggregator.base_url, ["a", "b"])))
        pages = [o for o in outputs if isinstance(o, FetchedPage)]
        assert sorted(page.final_url for page in pages) == [
            f"{publisher.base_url}/a.html",
            f"{publisher.base_url}/b.html",
        ]
        # the aggregator has no delay; the publisher's two pages each wait its 7 s
        # after its previous request (robots.txt, then the first page)
        assert sum(clock.sleeps) == 14.0
        assert publisher.requests == ["/robots.txt", "/a.html", "/b.html"]
    finally:
        aggregator.stop()
        publisher.stop()


def test_a_redirect_between_sites_that_never_ends_is_too_many_redirects(tmp_path):
    root_a, root_b = tmp_path / "a", tmp_path / "b"
    root_a.mkdir()
    root_b.mkdir()
    with SiteServer(root_b) as b, SiteServer(root_a) as a:
        a.redirects["/loop"] = f"{b.base_url}/loop"
        b.redirects["/loop"] = f"{a.base_url}/loop"
        entry = FeedEntry(feed_url=f"{a.base_url}/feed.xml", feed_name="F", link=f"{a.base_url}/loop",
                          url=f"{a.base_url}/loop")  # fmt: skip
        fn = _FetchPageFn(SETTINGS.model_copy(update={"max_redirects": 3}))
        outputs = _run_fn(fn, (a.base_url, [entry]))
        assert [(o.url, o.reason) for o in outputs if hasattr(o, "reason")] == [
            (entry.url, "too_many_redirects")
        ]
        # the first request and three redirects, each site's robots.txt once
        assert a.requests == ["/robots.txt", "/loop", "/loop"] and b.requests == [
            "/robots.txt",
            "/loop",
            "/loop",
        ]
