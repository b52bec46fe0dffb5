"""FetchPages is polite: robots.txt is obeyed per site (RFC 9309) and a
site's pages are fetched one at a time, host_delay (or Crawl-delay) apart."""

from __future__ import annotations

import dataclasses
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.config.settings import FetchSettings
from newsbeam.connectors.fetch import FetchPages, _FetchPageFn, robots_verdict
from newsbeam.connectors.http import FetchError
from newsbeam.connectors.site_server import SiteServer
from newsbeam.transforms.model import Failure, FeedEntry, FetchedPage

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


class _FakeClock:
    """Time that passes only when the fetcher sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def _run_fn(fn, *groups):
    """process() each (site, entries) group, then finish_bundle(), as Beam does."""
    fn.setup()
    try:
        fn.start_bundle()
        outputs = [o for group in groups for o in fn.process(group)]
        for output in fn.finish_bundle():
            value = getattr(output, "value", output)  # TaggedOutput(tag, WindowedValue) or WindowedValue
            outputs.append(getattr(value, "value", value))
        return outputs
    finally:
        fn.teardown()


def test_pages_of_one_site_are_spaced_by_the_crawl_delay(tmp_path):
    root = _site(tmp_path, "User-agent: newsbeam\nCrawl-delay: 7\n")
    with SiteServer(root) as site:
        clock = _FakeClock()
        fn = _FetchPageFn(SETTINGS.model_copy(update={"host_delay": 2.0}), sleep=clock.sleep, clock=clock)
        outputs = _run_fn(fn, (site.base_url, _entries(site.base_url)))
        assert len(outputs) == 4
        # robots.txt then four pages: each request the larger of the two delays after the previous one
        assert clock.sleeps == [7.0, 7.0, 7.0, 7.0]


def test_the_first_request_waits_host_delay_after_the_feed_on_the_same_site(tmp_path):
    root = _site(tmp_path, None)
    with SiteServer(root) as site:
        clock = _FakeClock()
        fn = _FetchPageFn(SETTINGS.model_copy(update={"host_delay": 3.0}), sleep=clock.sleep, clock=clock)
        answered = time.time()
        entries = [dataclasses.replace(e, feed_answered_at=answered) for e in _entries(site.base_url)]
        assert len(_run_fn(fn, (site.base_url, entries))) == 4
        # robots.txt waits for what is left of host_delay after the feed's answer, then 3 s each
        assert 2.5 < clock.sleeps[0] <= 3.0 and clock.sleeps[1:] == [3.0] * 4
    with SiteServer(root) as other:  # a feed on another site does not delay this one
        clock = _FakeClock()
        fn = _FetchPageFn(SETTINGS.model_copy(update={"host_delay": 3.0}), sleep=clock.sleep, clock=clock)
        entries = [dataclasses.replace(e, feed_url="http://feeds.example/rss", feed_answered_at=answered)
                   for e in _entries(other.base_url)]  # fmt: skip
        assert len(_run_fn(fn, (other.base_url, entries))) == 4
        assert clock.sleeps == [3.0] * 4


def test_a_missing_robots_txt_allows_everything(tmp_path):
    root = _site(tmp_path, None)
    with SiteServer(root) as site:
        outputs = _run_fn(_FetchPageFn(SETTINGS), (site.base_url, _entries(site.base_url)))
        assert len(outputs) == 4
        assert not any(hasattr(o, "tag") for o in outputs)


@pytest.mark.parametrize(
    ("error", "verdict"),
    [
        (None, "allow"),
        (FetchError("http_404", "x", status=404), "allow"),
        (FetchError("http_304", "x", status=304), "allow"),  # a 304 to a plain request: unavailable
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


class _TimedServers:
    """One loopback HTTP server per host name 127.0.0.<n>, all recording
    (host, path, start time) of every request, in order."""

    def __init__(self, hosts: int):
        self.requests: list[tuple[str, str, float]] = []
        self._lock = threading.Lock()
        self._servers = []
        for n in range(2, 2 + hosts):
            server = ThreadingHTTPServer((f"127.0.0.{n}", 0), self._handler())
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._servers.append(server)

    def _handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def do_GET(self):
                host = f"{self.server.server_address[0]}:{self.server.server_address[1]}"
                with outer._lock:
                    outer.requests.append((host, self.path, time.monotonic()))
                body = PAGE.format(name=self.path).encode() if self.path != "/robots.txt" else b""
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def by_host(self) -> dict[str, list[float]]:
        """Host → the start times of its requests, in order."""
        times: dict[str, list[float]] = {}
        for host, _path, at in self.requests:
            times.setdefault(host, []).append(at)
        return times

    @property
    def bases(self) -> list[str]:
        return [f"http://{s.server_address[0]}:{s.server_address[1]}" for s in self._servers]

    def close(self):
        for server in self._servers:
            server.shutdown()
            server.server_close()


def test_sites_are_fetched_at_once_each_spaced_by_host_delay():
    delay = 0.3
    servers = _TimedServers(hosts=4)
    try:
        entries = [
            FeedEntry(feed_url=f"{b}/feed.xml", feed_name="F", link=f"{b}/{n}.html", url=f"{b}/{n}.html")
            for b in servers.bases
            for n in ("a", "b", "c")
        ]
        with TestPipeline() as p:
            out = p | beam.Create(entries) | FetchPages(SETTINGS.model_copy(update={"host_delay": delay}))
            assert_that(out.pages | beam.combiners.Count.Globally(), equal_to([12]))
    finally:
        servers.close()
    by_host = servers.by_host()
    assert len(by_host) == 4 and all(len(times) == 4 for times in by_host.values())  # robots.txt + 3 pages
    for times in by_host.values():
        gaps = [later - earlier for earlier, later in zip(times, times[1:])]
        assert min(gaps) >= delay, gaps  # each host's requests stay host_delay apart
    # ... while the hosts are served at once: between a host's first and last
    # request, the other hosts get theirs (one host after another would not).
    order = [host for host, _path, _at in servers.requests]
    for host in by_host:
        first, last = order.index(host), len(order) - 1 - order[::-1].index(host)
        assert set(order[first:last]) == set(by_host), order


class _BusySite(ThreadingHTTPServer):
    """A site whose ``/a.html`` answers 429 with ``Retry-After: <retry_after>``; its other pages
    answer 200 and it has no robots.txt.  Records every path asked for."""

    daemon_threads = True

    def __init__(self, retry_after: str):
        outer = self
        self.requests: list[str] = []
        self.retry_after = retry_after

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def do_GET(self):
                outer.requests.append(self.path)
                if self.path == "/a.html":
                    status, body, extra = 429, b"slow down", {"Retry-After": outer.retry_after}
                elif self.path == "/robots.txt":
                    status, body, extra = 404, b"", {}
                else:
                    status, body, extra = 200, PAGE.format(name=self.path).encode(), {}
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


def _outcomes(outputs) -> list[tuple[str, str]]:
    """(what, page name) of each output: a fetched page, a failure or an entry deferred."""
    found = []
    for output in outputs:
        value = getattr(output, "value", output)  # a TaggedOutput from process()
        value = getattr(value, "value", value)
        if isinstance(value, FetchedPage):
            found.append(("page", value.entry.url))
        elif isinstance(value, Failure):
            found.append(("failed", value.url))
        else:
            found.append(("deferred", value.url))
    return sorted((what, url.rsplit("/", 1)[1]) for what, url in found)


def test_a_retry_after_within_the_budget_holds_the_whole_site_that_long():
    with _BusySite("20") as site:
        clock = _FakeClock()
        fn = _FetchPageFn(SETTINGS.model_copy(update={"host_delay": 2.0}), sleep=clock.sleep, clock=clock)
        outputs = _run_fn(fn, (site.base_url, _entries(site.base_url)))
    assert _outcomes(outputs) == [
        ("failed", "a.html"),
        ("page", "b.html"),
        ("page", "c.html"),
        ("page", "d.html"),
    ]
    # robots.txt, a.html (429), then 20 s before b.html instead of 2
    assert clock.sleeps == [2.0, 20.0, 2.0, 2.0]


def test_a_retry_after_past_the_budget_leaves_the_sites_other_entries_for_the_next_run():
    with _BusySite("3600") as site:
        fn = _FetchPageFn(SETTINGS.model_copy(update={"host_delay": 0.0, "host_budget": 300}))
        outputs = _run_fn(fn, (site.base_url, _entries(site.base_url)))
    assert _outcomes(outputs) == [
        ("deferred", "b.html"), ("deferred", "c.html"), ("deferred", "d.html"), ("failed", "a.html")
    ]  # fmt: skip
    assert site.requests == ["/robots.txt", "/a.html"]  # no page more to a site that asked for an hour


def _long_robots(limit: int) -> str:
    """A robots.txt longer than ``limit`` bytes: ``/private/`` disallowed at its head, a line
    cut at the limit right after ``Disallow: /`` (everything, if obeyed cut), ``/b.html`` past it."""
    head = "User-agent: *\nDisallow: /private/\n"
    cut = "Disallow: /"
    padding = limit - len(head) - len(cut)
    lines = ["#" * 99 + "\n"] * (padding // 100 - 1)
    lines.append("#" * (padding - 100 * len(lines) - 1) + "\n")
    text = head + "".join(lines) + cut + "never-requested\nDisallow: /b.html\n"
    assert text.index("never-requested") == limit
    return text


def test_a_robots_txt_larger_than_max_bytes_is_obeyed_on_its_first_whole_lines(tmp_path, caplog):
    """RFC 9309 2.5: a crawler parses a robots.txt up to a limit of at least 500 KiB; one
    longer than fetch.max_bytes (too_large) was taken for absent, everything allowed."""
    from newsbeam.connectors.fetch import ROBOTS_PARSE_LIMIT

    assert ROBOTS_PARSE_LIMIT >= 500 * 1024
    root = _site(tmp_path, _long_robots(ROBOTS_PARSE_LIMIT))
    settings = SETTINGS.model_copy(update={"max_bytes": 100_000})  # less than the robots.txt
    fn = _FetchPageFn(settings)
    fn.setup()
    outputs = []
    try:
        with SiteServer(root) as site, caplog.at_level("WARNING", logger="newsbeam.connectors.fetch"):
            for _bundle in range(2):  # robots.txt is read again by each bundle, said to be cut once
                fn.start_bundle()
                outputs += list(fn.process((site.base_url, _entries(site.base_url))))
                outputs += [getattr(o, "value", o) for o in fn.finish_bundle()]
    finally:
        fn.teardown()
    outputs = [getattr(o, "value", o) for o in outputs]
    failures = sorted((o.url.rsplit("/", 1)[1], o.reason) for o in outputs if isinstance(o, Failure))
    pages = sorted(o.entry.url.rsplit("/", 1)[1] for o in outputs if isinstance(o, FetchedPage))
    # /private/ is kept out; the cut line does not disallow all; /b.html's rule was past the limit
    assert failures == [("d.html", "robots_disallowed")] * 2
    assert pages == ["a.html", "a.html", "b.html", "b.html", "c.html", "c.html"]
    assert site.requests.count("/robots.txt") == 2
    warnings = [r.getMessage() for r in caplog.records if "robots.txt is larger" in r.getMessage()]
    assert len(warnings) == 1 and site.base_url in warnings[0], warnings  # said once per site


def test_robots_prefix_ends_at_the_last_line_break():
    from newsbeam.connectors.fetch import robots_prefix

    assert robots_prefix(b"User-agent: *\nDisallow: /a\nDisallow: /") == b"User-agent: *\nDisallow: /a\n"
    assert robots_prefix(b"User-agent: *\r\nDisallow: /a\rDisallow: /") == b"User-agent: *\r\nDisallow: /a\r"
    assert robots_prefix(b"Disallow: /") == b""
