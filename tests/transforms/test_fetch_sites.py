"""http and https of one host are one site for politeness: one request in flight, one pace, one
Retry-After hold and one budget for both; robots.txt stays per origin (RFC 9309: scheme, host and
port), read once each.  (A feed mixing http and https links hit its server twice as fast.)

No HTTPS server can be run here with a certificate the fetcher trusts, so the requests go to a
table (``_FakeWeb``) in place of ``_FetchPageFn._get``; time is ``_FakeClock``'s."""

from __future__ import annotations

from newsbeam.config.settings import FetchSettings
from newsbeam.connectors.fetch import _FetchPageFn
from newsbeam.connectors.http import FetchError, HttpResponse, OffSiteRedirect
from newsbeam.transforms.model import Failure, FeedEntry, FetchedPage

from .test_fetch_politeness import _FakeClock, _run_fn

PAGE = "<html><body><article><p>Page.</p></article></body></html>"
SETTINGS = FetchSettings(allow_private_hosts=True, retries=0, timeout=5, host_delay=2.0)


class _FakeWeb:
    """Answers ``_get`` from ``routes`` (URL -> a body, an HTTP status or a FetchError; 404 when
    absent) and records (URL, time) of each request, in order."""

    def __init__(self, clock: _FakeClock, routes: dict):
        self.clock = clock
        self.routes = routes
        self.requests: list[tuple[str, float]] = []

    def __call__(self, url, accept, deadline=None, redirects=None, prefix=None):
        self.requests.append((url, self.clock()))
        answer = self.routes.get(url, 404)
        if isinstance(answer, FetchError):
            return None, answer, 0.0
        if isinstance(answer, int):
            return (
                None,
                FetchError(f"http_{answer}", f"HTTP {answer} from {url}", status=answer, url=url),
                0.0,
            )
        headers = {"content-type": "text/html" if url.endswith(".html") else "text/plain"}
        return HttpResponse(url=url, status=200, headers=headers, content=answer.encode()), None, 0.0


def _entry(link: str) -> FeedEntry:
    return FeedEntry(feed_url="http://feeds.example/rss", feed_name="F", link=link, url=link)


def _fetch(routes: dict, links: list[str], **settings):
    clock = _FakeClock()
    fn = _FetchPageFn(SETTINGS.model_copy(update=settings), sleep=clock.sleep, clock=clock)
    web = _FakeWeb(clock, routes)
    fn._get = web
    outputs = [
        getattr(o, "value", o) for o in _run_fn(fn, ("news.example", [_entry(link) for link in links]))
    ]
    return outputs, web.requests


def _outcomes(outputs) -> list[tuple[str, str]]:
    found = []
    for value in outputs:
        if isinstance(value, FetchedPage):
            found.append(("page", value.entry.url))
        elif isinstance(value, Failure):
            found.append((value.reason, value.url))
        else:
            found.append(("deferred", value.url))
    return sorted(found)


def test_http_and_https_of_one_host_share_one_pace_and_read_robots_txt_per_origin():
    routes = {
        "http://news.example/robots.txt": "User-agent: *\nDisallow: /private/\n",
        "http://news.example/a.html": PAGE,
        "https://news.example/private/e.html": PAGE,  # https has no robots.txt: allowed there
        "https://news.example:443/b.html": PAGE,
    }
    links = [
        "http://news.example/a.html",
        "http://news.example/private/d.html",
        "https://news.example/private/e.html",
        "https://news.example:443/b.html",  # the default port spelled out: the same origin
    ]
    outputs, requests = _fetch(routes, links)
    assert _outcomes(outputs) == [
        ("page", "http://news.example/a.html"),
        ("page", "https://news.example/private/e.html"),
        ("page", "https://news.example:443/b.html"),
        ("robots_disallowed", "http://news.example/private/d.html"),
    ]
    disallowed = next(o for o in outputs if isinstance(o, Failure))
    assert "disallowed by http://news.example/robots.txt" in disallowed.error
    # one robots.txt per origin, each request host_delay after the previous one, never two at once
    assert requests == [
        ("http://news.example/robots.txt", 1000.0),
        ("http://news.example/a.html", 1002.0),
        ("https://news.example/robots.txt", 1004.0),
        ("https://news.example/private/e.html", 1006.0),
        ("https://news.example:443/b.html", 1008.0),
    ]


def test_a_retry_after_on_http_holds_the_hosts_https_pages_too():
    routes = {
        "http://news.example/a.html": FetchError("http_429", "slow down", status=429, retry_after=20.0),
        "https://news.example/b.html": PAGE,
    }
    outputs, requests = _fetch(routes, ["http://news.example/a.html", "https://news.example/b.html"])
    assert _outcomes(outputs) == [
        ("http_429", "http://news.example/a.html"),
        ("page", "https://news.example/b.html"),
    ]
    assert requests == [
        ("http://news.example/robots.txt", 1000.0),
        ("http://news.example/a.html", 1002.0),
        ("https://news.example/robots.txt", 1022.0),  # 20 s after the 429, not at once
        ("https://news.example/b.html", 1024.0),
    ]


def test_http_and_https_of_one_host_share_one_budget():
    routes = {"http://news.example/a.html": PAGE, "https://news.example/b.html": PAGE}
    # 5 s: robots.txt, 2 s, a.html, 2 s, https's robots.txt; b.html's pause would pass the budget
    outputs, requests = _fetch(
        routes, ["http://news.example/a.html", "https://news.example/b.html"], host_budget=5.0
    )
    assert _outcomes(outputs) == [
        ("deferred", "https://news.example/b.html"),
        ("page", "http://news.example/a.html"),
    ]
    assert [url for url, _at in requests] == [
        "http://news.example/robots.txt",
        "http://news.example/a.html",
        "https://news.example/robots.txt",
    ]


def test_a_redirect_from_http_to_https_of_the_host_stays_on_the_site_behind_that_origins_robots_txt():
    """Not another site: the redirected page is the site's next request, host_delay later, after
    the https origin's robots.txt (which keeps it out here)."""
    moved = OffSiteRedirect("moved", url="https://news.example/a.html", status=301, redirects=1)
    routes = {
        "http://news.example/a.html": moved,
        "https://news.example/robots.txt": "User-agent: *\nDisallow: /b.html\n",
        "https://news.example/a.html": PAGE,
        "http://news.example/c.html": PAGE,
    }
    outputs, requests = _fetch(routes, ["http://news.example/a.html", "http://news.example/c.html"])
    pages = [o for o in outputs if isinstance(o, FetchedPage)]
    assert sorted((p.entry.url, p.final_url) for p in pages) == [
        ("http://news.example/a.html", "https://news.example/a.html"),
        ("http://news.example/c.html", "http://news.example/c.html"),
    ]
    assert requests == [
        ("http://news.example/robots.txt", 1000.0),
        ("http://news.example/a.html", 1002.0),
        ("https://news.example/robots.txt", 1004.0),
        ("https://news.example/a.html", 1006.0),  # the chain goes on before the site's other pages
        ("http://news.example/c.html", 1008.0),
    ]


def _fetch_held(routes: dict, links: list[str], holds: dict[str, float], **settings):
    from newsbeam.connectors.budget import WavePlan

    clock = _FakeClock()
    fn = _FetchPageFn(
        SETTINGS.model_copy(update=settings), sleep=clock.sleep, clock=clock, plan=WavePlan(site_holds=holds)
    )
    web = _FakeWeb(clock, routes)
    fn._get = web
    outputs = [
        getattr(o, "value", o) for o in _run_fn(fn, ("news.example", [_entry(link) for link in links]))
    ]
    return outputs, web.requests


def test_a_retry_after_from_an_earlier_run_holds_the_site_in_this_one():
    """The hold of a page's 429/503 with Retry-After lasted only its run: the next run, minutes
    later, went back at once.  An earlier run's hold (``WavePlan.site_holds``, read from the
    failure documents) now delays the site's first request, or leaves its pages for a later run
    when it ends past the site's budget."""
    import time

    routes = {"https://news.example/a.html": PAGE}
    links = ["https://news.example/a.html"]
    outputs, requests = _fetch_held(routes, links, {"news.example": time.time() + 1000.0}, host_budget=300.0)
    assert _outcomes(outputs) == [("deferred", "https://news.example/a.html")]
    assert requests == []
    outputs, requests = _fetch_held(routes, links, {"news.example": time.time() + 20.0}, host_budget=300.0)
    assert _outcomes(outputs) == [("page", "https://news.example/a.html")]
    assert requests[0][0] == "https://news.example/robots.txt" and 1019.0 < requests[0][1] <= 1020.0
    # a hold of another site, or one that has passed, changes nothing
    for holds in ({"other.example": time.time() + 1000.0}, {"news.example": time.time() - 1.0}):
        outputs, requests = _fetch_held(routes, links, holds)
        assert _outcomes(outputs) == [("page", "https://news.example/a.html")]
        assert requests[0] == ("https://news.example/robots.txt", 1000.0)


def test_a_pages_retry_after_is_kept_on_its_failure():
    routes = {"https://news.example/a.html": FetchError("http_503", "busy", status=503, retry_after=7200.0)}
    outputs, _requests = _fetch(routes, ["https://news.example/a.html"])
    failure = next(o for o in outputs if isinstance(o, Failure))
    assert failure.retry_after == 7200.0 and failure.to_document()["retry_after"] == 7200.0
    routes = {"https://news.example/a.html": FetchError("http_500", "boom", status=500, retry_after=60.0)}
    outputs, _requests = _fetch(routes, ["https://news.example/a.html"])
    failure = next(o for o in outputs if isinstance(o, Failure))
    assert failure.retry_after is None and "retry_after" not in failure.to_document()


def test_a_retry_after_met_behind_an_off_site_redirect_names_the_site_that_answered():
    """A feed proxy's link redirects to the publisher, which answers 429 with Retry-After: the
    failure names the publisher as the held site, not the proxy (later runs held the proxy, every
    feed behind it, and went back to the publisher at once)."""
    moved = OffSiteRedirect("moved", url="https://publisher.example/a.html", status=302, redirects=1)
    routes = {
        "https://news.example/a.html": moved,
        "https://publisher.example/a.html": FetchError(
            "http_429", "slow down", status=429, retry_after=600.0
        ),
    }
    outputs, _requests = _fetch(routes, ["https://news.example/a.html"])
    failure = next(o for o in outputs if isinstance(o, Failure))
    assert (failure.url, failure.retry_after) == ("https://news.example/a.html", 600.0)
    assert failure.retry_after_site == "publisher.example"
    assert failure.to_document()["retry_after_site"] == "publisher.example"
