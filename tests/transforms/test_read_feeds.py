"""ReadFeeds on a TestPipeline against a loopback server: entries, failures,
feed status and counters, exactly."""

from __future__ import annotations

import dataclasses

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.config.settings import FeedSpec, FetchSettings
from newsbeam.connectors.feeds import ReadFeeds
from newsbeam.connectors.http import HttpFetcher
from newsbeam.transforms.model import Failure, FeedEntry, FeedStatus, entry_key
from tests.routes import serve_routes

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Loopback Daily</title><link>/</link>
<item><title>First</title><link>/news/first.html?utm_source=rss</link><guid>g1</guid>
  <pubDate>Tue, 03 Jun 2025 09:30:00 +0200</pubDate><description>One.</description></item>
<item><title>Second</title><link>http://elsewhere.example/second</link><guid>g2</guid></item>
<item><title>No link</title><guid isPermaLink="false">g3</guid></item>
<item><title>Script</title><link>javascript:alert(1)</link></item>
</channel></rss>"""

ROUTES = {
    "/feed.xml": (200, "application/rss+xml", RSS),
    "/broken.xml": (200, "text/xml", b"<<< this is not a feed"),
    # the site's page put in the feeds file: it names its feed
    "/page.html": (
        200,
        "text/html",
        b'<html><head><link rel="alternate" type="application/rss+xml" href="feed.xml"></head>'
        b"<body><p>Just a page</p></body></html>",
    ),
}


@pytest.fixture(scope="module")
def base_url():
    routes = {path: (status, {"Content-Type": ctype}, body) for path, (status, ctype, body) in ROUTES.items()}
    with serve_routes(routes) as url:
        yield url


SETTINGS = FetchSettings(allow_private_hosts=True, retries=0, timeout=5)


def _blank(value):
    if isinstance(value, Failure):
        return dataclasses.replace(value, at=None)
    if isinstance(value, FeedStatus):
        return dataclasses.replace(value, polled_at=None)
    return value


def _counter(result, name: str) -> int:
    found = result.metrics().query(MetricsFilter().with_namespace("news.feeds").with_name(name))["counters"]
    return sum(c.committed for c in found)


def test_read_feeds_outputs_and_counters(base_url):
    feed, missing, broken, page = (
        f"{base_url}/feed.xml",
        f"{base_url}/missing.xml",
        f"{base_url}/broken.xml",
        f"{base_url}/page.html",
    )
    specs = [
        FeedSpec(url=feed),
        FeedSpec(url=missing, name="Gone"),
        FeedSpec(url=broken),
        FeedSpec(url=page, name="Not a feed"),
    ]
    p = TestPipeline()
    polled = p | beam.Create(specs) | "ReadFeeds" >> ReadFeeds(SETTINGS)
    assert_that(
        polled.entries,
        equal_to(
            [
                FeedEntry(
                    feed_url=feed,
                    feed_name="Loopback Daily",
                    link=f"{base_url}/news/first.html?utm_source=rss",
                    url=f"{base_url}/news/first.html?utm_source=rss",
                    title="First",
                    published="2025-06-03T07:30:00Z",
                    summary="One.",
                    entry_id=f"{base_url}/g1",  # feedparser resolves a permalink guid like a URI
                    entry_key=entry_key(feed, f"{base_url}/g1"),
                ),
                FeedEntry(
                    feed_url=feed,
                    feed_name="Loopback Daily",
                    link="http://elsewhere.example/second",
                    url="http://elsewhere.example/second",
                    title="Second",
                    entry_id=f"{base_url}/g2",
                    entry_key=entry_key(feed, f"{base_url}/g2"),
                ),
            ]
        ),
        label="entries",
    )
    not_parseable = "is not a parseable RSS/Atom feed"
    html_page = "is an HTML page, not an RSS/Atom feed; "
    html_page += f"the page links to the feed {feed}: put that in the feeds file"
    assert_that(
        polled.failed | "BlankFailed" >> beam.Map(_blank),
        equal_to(
            [
                Failure(
                    url="javascript:alert(1)",
                    stage="feed",
                    reason="bad_url",
                    http_status=None,
                    error=f"entry link of {base_url}/feed.xml is not an http(s) URL",
                    feed_url=f"{base_url}/feed.xml",
                ),
                Failure(
                    url=missing,
                    stage="feed",
                    reason="http_404",
                    http_status=404,
                    error=f"HTTP 404 from {missing}",
                    feed_url=missing,
                ),
                Failure(
                    url=broken,
                    stage="feed",
                    reason="malformed_feed",
                    http_status=200,
                    error=f"{broken} {not_parseable}",
                    feed_url=broken,
                ),
                Failure(
                    url=page,
                    stage="feed",
                    reason="malformed_feed",
                    http_status=200,
                    error=f"{page} {html_page}",
                    feed_url=page,
                ),
            ]
        ),  # fmt: skip
        label="failed",
    )
    assert_that(
        polled.status | "BlankStatus" >> beam.Map(_blank),
        equal_to(
            [
                FeedStatus(
                    feed_url=feed,
                    feed_name="Loopback Daily",
                    status="ok",
                    http_status=200,
                    entries=2,
                    title="Loopback Daily",
                ),
                FeedStatus(
                    feed_url=missing,
                    feed_name="Gone",
                    status="http_404",
                    http_status=404,
                    entries=0,
                    error=f"HTTP 404 from {missing}",
                ),
                FeedStatus(
                    feed_url=broken,
                    feed_name=None,
                    status="malformed_feed",
                    http_status=200,
                    entries=0,
                    error=f"{broken} {not_parseable}",
                ),
                FeedStatus(
                    feed_url=page,
                    feed_name="Not a feed",
                    status="malformed_feed",
                    http_status=200,
                    entries=0,
                    error=f"{page} {html_page}",
                ),
            ]
        ),  # fmt: skip
        label="status",
    )
    result = p.run()
    result.wait_until_finish()
    assert {
        name: _counter(result, name)
        for name in ("polled", "failed", "entries", "entries_without_link", "entries_unsafe_link")
    } == {"polled": 4, "failed": 3, "entries": 2, "entries_without_link": 1, "entries_unsafe_link": 1}


def test_read_feeds_refuses_loopback_without_allow_private_hosts(base_url):
    feed = f"{base_url}/feed.xml"
    with TestPipeline() as p:
        polled = p | beam.Create([FeedSpec(url=feed)]) | ReadFeeds(FetchSettings(retries=0))
        assert_that(polled.entries, equal_to([]), label="entries")
        assert_that(
            polled.failed | beam.Map(lambda f: (f.url, f.stage, f.reason, f.http_status)),
            equal_to([(feed, "feed", "blocked_host", None)]),
            label="failed",
        )


def test_read_feeds_validates_settings():
    with pytest.raises(ValueError, match="fetch_settings"):
        ReadFeeds({"timeout": 5})


def test_looks_like_html_spots_pages_but_not_feeds():
    from newsbeam.connectors.feeds import looks_like_html

    assert looks_like_html(b"\n  <!DOCTYPE html><html><body>" + b"<p>x</p>" * 1000)
    assert looks_like_html(b"<HTML><head></head></HTML>")
    assert not looks_like_html(b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>')
    assert not looks_like_html(b"<feed xmlns='http://www.w3.org/2005/Atom'/>")
    assert not looks_like_html(b"<html><rss version='2.0'></rss></html>")  # odd, so left to the parser


def test_a_feed_slower_to_parse_than_the_limit_is_a_timeout_failure():
    from newsbeam.connectors.feeds import _ReadFeedFn
    from newsbeam.connectors.http import HttpResponse

    items = "".join(f"<item><title>t{i}</title><link>http://x.test/{i}</link></item>" for i in range(30_000))
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>{items}</channel></rss>'
    settings = FetchSettings(feed_parse_timeout=0.05)
    fn = _ReadFeedFn(settings, {})
    fn.setup()
    try:
        response = HttpResponse(
            "http://x.test/feed.xml", 200, {"content-type": "application/rss+xml"}, body.encode()
        )
        parsed, message = fn._parse(response, FeedSpec(url="http://x.test/feed.xml"))
        assert (parsed.error, parsed.entries) == ("timeout", [])
        assert "longer than 0.05 s" in message
        # The sandbox starts afresh: a small feed parses within a generous limit.
        fn._settings = FetchSettings(feed_parse_timeout=60)
        small = f'<?xml version="1.0"?><rss version="2.0"><channel>{items[:500]}</channel></rss>'
        response = HttpResponse("http://x.test/feed.xml", 200, {}, small.encode())
        parsed, _ = fn._parse(response, FeedSpec(url="http://x.test/feed.xml"))
        assert parsed.error is None and parsed.entries
    finally:
        fn.teardown()


def test_an_empty_body_or_another_xml_document_is_a_malformed_feed_but_an_empty_feed_is_healthy():
    routes = {
        "/empty.xml": (200, {"Content-Type": "application/rss+xml"}, b""),
        "/blank.xml": (200, {"Content-Type": "application/rss+xml"}, b"  \r\n"),
        "/other.xml": (
            200,
            {"Content-Type": "application/xml"},
            b'<?xml version="1.0"?><config><a/></config>',
        ),
        "/quiet.xml": (200, {"Content-Type": "application/rss+xml"}, b"<rss version='2.0'><channel/></rss>"),
    }
    with serve_routes(routes) as base:
        specs = [FeedSpec(url=f"{base}{path}") for path in routes]
        p = TestPipeline()
        polled = p | beam.Create(specs) | ReadFeeds(SETTINGS)
        assert_that(
            polled.failed | beam.Map(lambda f: (f.url.rsplit("/", 1)[1], f.reason, f.error.split(" ", 1)[1])),
            equal_to(
                [
                    ("empty.xml", "malformed_feed", "answered an empty body, not a feed"),
                    ("blank.xml", "malformed_feed", "answered an empty body, not a feed"),
                    ("other.xml", "malformed_feed", "is not a parseable RSS/Atom feed"),
                ]
            ),
            label="failed",
        )
        assert_that(
            polled.status | beam.Map(lambda s: (s.feed_url.rsplit("/", 1)[1], s.status, s.entries)),
            equal_to(
                [
                    ("empty.xml", "malformed_feed", 0),
                    ("blank.xml", "malformed_feed", 0),
                    ("other.xml", "malformed_feed", 0),
                    ("quiet.xml", "ok", 0),
                ]
            ),
            label="status",
        )
        p.run().wait_until_finish()


def test_html_item_titles_are_stored_as_text():
    from newsbeam.connectors.feed_parse import FeedRef, parse_feed

    feed = (
        b"<rss version='2.0'><channel>"
        b"<item><title>AT&amp;amp;T &lt;i&gt;wins&lt;/i&gt; &amp;#8217;big&amp;#8217;</title>"
        b"<link>https://x.example/a</link></item>"
        b"<item><title>A &lt; B, says the &lt;b&gt;study&lt;/b&gt;</title><link>https://x.example/b</link></item>"
        b"</channel></rss>"
    )
    parsed = parse_feed(feed, FeedRef("https://x.example/feed"), "https://x.example/feed", {})
    assert [e.title for e in parsed.entries] == ["AT&T wins \u2019big\u2019", "A < B, says the study"]


def test_feeds_are_not_polled_past_the_runs_deadline_nor_recorded_as_failed():
    """--max-run-time: feeds were polled one after the other with no deadline, so six feeds
    dribbling their bodies held a 10 s run for 69 s (url_deadline 20 s each, two workers)."""
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from newsbeam.connectors.feeds import _ReadFeedFn

    asked: list[str] = []

    class Drip(BaseHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

        def do_GET(self):
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                for _ in range(1000):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    settings = SETTINGS.model_copy(update={"url_deadline": 30.0})
    fn = _ReadFeedFn(settings, {}, deadline=time.time() + 1.0)
    fn.setup()
    try:
        started = time.monotonic()
        cut = list(fn.process(FeedSpec(url=f"{base}/drip0.xml")))  # in flight at the deadline
        elapsed = time.monotonic() - started
        later = [list(fn.process(FeedSpec(url=f"{base}/drip{n}.xml"))) for n in (1, 2)]
    finally:
        fn.teardown()
        server.shutdown()
        server.server_close()
    assert elapsed < 5, elapsed  # cut at the run's end, not at url_deadline's 30 s
    assert (cut, later) == ([], [[], []])  # no failure, no status: not polled, its validators kept
    assert asked == ["/drip0.xml"]  # the later feeds were never asked


def test_read_feeds_takes_the_runs_deadline(base_url):
    import time

    feed = f"{base_url}/feed.xml"
    p = TestPipeline()
    polled = p | beam.Create([FeedSpec(url=feed)]) | ReadFeeds(SETTINGS, deadline=time.time() - 1)
    assert_that(polled.entries, equal_to([]), label="entries")
    assert_that(polled.failed, equal_to([]), label="failed")
    assert_that(polled.status, equal_to([]), label="status")
    result = p.run()
    result.wait_until_finish()
    assert (_counter(result, "not_polled"), _counter(result, "polled")) == (1, 0)


def test_a_validator_too_long_to_store_is_not_kept():
    """http.etag is a keyword with doc values: Elasticsearch refuses one over 32,766 bytes, so a
    feed answering a 40 kB ETag had its health document rejected."""
    huge = '"' + "e" * 40_000 + '"'
    routes = {
        "/feed.xml": (
            200,
            {"Content-Type": "application/rss+xml", "ETag": huge, "Last-Modified": "x" * 2000},
            RSS,
        )
    }
    with serve_routes(routes) as url, TestPipeline() as p:
        polled = p | beam.Create([FeedSpec(url=f"{url}/feed.xml")]) | ReadFeeds(SETTINGS)
        assert_that(
            polled.status | beam.Map(lambda s: (s.status, s.etag, s.last_modified)),
            equal_to([("ok", None, None)]),
        )


class _FakeClock:
    """Time that passes only when the reader sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def test_feeds_of_one_site_are_polled_host_delay_apart(base_url):
    """Thirty section feeds of one newspaper were thirty requests within a fraction of a second;
    its pages are spaced ``host_delay`` apart, and so are its feeds now.  Another site's feed
    does not wait."""
    from newsbeam.connectors.feeds import _ReadFeedFn

    clock = _FakeClock()
    fn = _ReadFeedFn(SETTINGS.model_copy(update={"host_delay": 2.5}), {}, sleep=clock.sleep, clock=clock)
    fn.setup()
    other = base_url.replace("127.0.0.1", "localhost")  # the same server, another site
    try:
        for url in (
            f"{base_url}/feed.xml",
            f"{base_url}/missing.xml",
            f"{other}/feed.xml",
            f"{base_url}/feed.xml",
        ):
            list(fn.process(FeedSpec(url=url)))
            clock.now += 1.0  # each answer takes a second
    finally:
        fn.teardown()
    # after 1 s of the first answer, the second waits 1.5 s more; the other site's feed none; the
    # fourth comes 2 s after the second's answer (the other site's poll took 1 s): 0.5 s
    assert clock.sleeps == [1.5, 0.5]


def test_read_feeds_polls_one_site_s_feeds_one_after_the_other(base_url):
    """In the pipeline, one site's feeds go to one worker, polled host_delay apart."""
    import time

    asked: list[float] = []
    settings = SETTINGS.model_copy(update={"host_delay": 0.3})
    real_get = HttpFetcher.get

    def get(self, url, *args, **kwargs):
        asked.append(time.monotonic())
        return real_get(self, url, *args, **kwargs)

    paths = ("feed.xml", "missing.xml", "broken.xml", "page.html")
    specs = [FeedSpec(url=f"{base_url}/{path}") for path in paths]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(HttpFetcher, "get", get)
        with TestPipeline() as p:
            polled = p | beam.Create(specs) | ReadFeeds(settings)
            assert_that(polled.status | beam.Map(lambda s: s.feed_url), equal_to([s.url for s in specs]))
    asked.sort()
    assert len(asked) == 4
    assert min(b - a for a, b in zip(asked, asked[1:])) >= 0.3


def test_a_feed_whose_items_all_lack_a_link_is_no_links_not_ok():
    """After a redesign the feed still parses but its items lost <link> (a guid that is no
    permalink is all they keep): "ok" with no entries hid that nothing could be fetched."""
    items = "".join(
        f"<item><title>Story {n}</title><guid isPermaLink='false'>id-{n}</guid></item>" for n in range(3)
    )
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Linkless</title>{items}</channel></rss>'
    one = items + "<item><title>Linked</title><link>/a.html</link></item>"
    partly = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Partly</title>{one}</channel></rss>'
    routes = {
        "/linkless.xml": (200, {"Content-Type": "application/rss+xml"}, body.encode()),
        "/partly.xml": (200, {"Content-Type": "application/rss+xml"}, partly.encode()),
    }
    with serve_routes(routes) as base:
        linkless, partial = f"{base}/linkless.xml", f"{base}/partly.xml"
        with TestPipeline() as p:
            polled = p | beam.Create([FeedSpec(url=linkless), FeedSpec(url=partial)]) | ReadFeeds(SETTINGS)
            assert_that(
                polled.status | beam.Map(lambda s: (s.feed_url, s.status, s.entries, s.error)),
                equal_to([
                    (linkless, "no_links", 0, f"none of the 3 items of {linkless} has a link to an article"),
                    (partial, "ok", 1, None),
                ]),
                label="status",
            )  # fmt: skip
            assert_that(
                polled.failed | beam.Map(lambda f: (f.url, f.stage, f.reason)),
                equal_to([(linkless, "feed", "no_links")]),
                label="failed",
            )


def test_a_feed_larger_than_the_page_limit_is_read_up_to_its_own_limit():
    """A feed was held to fetch.max_bytes, the limit for an article page (5 MB): a podcast's or a
    full-text feed of tens of MB failed as too_large at every poll.  A feed has its own limit,
    fetch.feed_max_bytes (default the larger of max_bytes and 40 MB), named when it is passed."""
    notes = "In this episode we talk about the week's news with our guests. " * 20
    items = "".join(
        f"<item><title>Episode {n}</title><link>/ep/{n}.html</link><description>{notes}</description></item>"
        for n in range(20)
    )
    body = (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Pod</title>{items}</channel></rss>'.encode()
    )
    assert len(body) > 20_000
    routes = {"/pod.xml": (200, {"Content-Type": "application/rss+xml"}, body)}
    small_pages = SETTINGS.model_copy(update={"max_bytes": 5_000})  # well under the feed's size
    capped = small_pages.model_copy(update={"feed_max_bytes": 10_000})
    with serve_routes(routes) as base:
        feed = f"{base}/pod.xml"
        with TestPipeline() as p:
            polled = p | beam.Create([FeedSpec(url=feed)]) | ReadFeeds(small_pages)
            assert_that(
                polled.status | beam.Map(lambda s: (s.status, s.entries)), equal_to([("ok", 20)]), label="ok"
            )
        with TestPipeline() as p:
            polled = p | beam.Create([FeedSpec(url=feed)]) | ReadFeeds(capped)
            assert_that(
                polled.failed
                | beam.Map(lambda f: (f.reason, "limit 10000, fetch.feed_max_bytes" in f.error)),
                equal_to([("too_large", True)]),
                label="too_large",
            )
