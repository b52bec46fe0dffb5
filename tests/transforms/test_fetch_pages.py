"""FetchPages on a TestPipeline against a loopback server: pages, failures and
counters, exactly."""

from __future__ import annotations

import dataclasses

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.config.settings import FetchSettings
from newsbeam.connectors.fetch import FetchPages
from newsbeam.transforms.model import Failure, FeedEntry, FetchedPage
from tests.routes import serve_routes

ARTICLE = "<html><head><title>Été</title></head><body><p>Crème brûlée.</p></body></html>".encode("latin-1")
ROUTES = {
    "/article.html": (200, {"Content-Type": "text/html; charset=ISO-8859-1"}, ARTICLE),
    "/old-article": (301, {"Location": "/article.html"}, b""),
    "/report.pdf": (200, {"Content-Type": "application/pdf"}, b"%PDF-1.4"),
    "/to-metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
}


@pytest.fixture(scope="module")
def base_url():
    with serve_routes(ROUTES) as url:
        yield url


SETTINGS = FetchSettings(allow_private_hosts=True, retries=0, timeout=5, host_delay=0)
FEED = "http://feeds.example/world.xml"


def _entry(url: str, attempts: int = 0) -> FeedEntry:
    return FeedEntry(feed_url=FEED, feed_name="World", link=url, url=url, attempts=attempts)


def _blank(value):
    if isinstance(value, Failure):
        return dataclasses.replace(value, at=None)
    return dataclasses.replace(value, fetched_at="")


def _counters(result) -> dict[str, int]:
    found = result.metrics().query(MetricsFilter().with_namespace("news.fetch"))["counters"]
    return {c.key.metric.name: c.committed for c in found}


def test_fetch_pages_outputs_and_counters(base_url):
    article, old, pdf, missing, metadata = (
        f"{base_url}/article.html",
        f"{base_url}/old-article",
        f"{base_url}/report.pdf",
        f"{base_url}/missing",
        f"{base_url}/to-metadata",
    )
    entries = [_entry(article), _entry(old), _entry(pdf), _entry(missing, attempts=2), _entry(metadata)]
    p = TestPipeline()
    fetched = p | beam.Create(entries) | "FetchPages" >> FetchPages(SETTINGS)

    def page(entry_url: str) -> FetchedPage:
        return FetchedPage(
            entry=_entry(entry_url),
            final_url=article,
            status=200,
            content=ARTICLE,
            content_type="text/html",
            encoding="ISO-8859-1",
            fetched_at="",
        )

    assert_that(
        fetched.pages | "BlankPages" >> beam.Map(_blank), equal_to([page(article), page(old)]), label="pages"
    )
    assert_that(
        fetched.failed | "BlankFailed" >> beam.Map(_blank),
        equal_to(
            [
                Failure(
                    url=pdf,
                    stage="fetch",
                    reason="not_html",
                    http_status=200,
                    error=f"{pdf} is application/pdf, not HTML",
                    feed_url=FEED,
                    attempts=1,
                ),
                Failure(
                    url=missing,
                    stage="fetch",
                    reason="http_404",
                    http_status=404,
                    error=f"HTTP 404 from {missing}",
                    feed_url=FEED,
                    attempts=3,
                ),
                Failure(
                    url=metadata,
                    stage="fetch",
                    reason="blocked_host",
                    http_status=None,
                    error="169.254.169.254 resolves to link-local 169.254.169.254",
                    feed_url=FEED,
                    attempts=1,
                ),
            ]
        ),  # fmt: skip
        label="failed",
    )
    result = p.run()
    result.wait_until_finish()
    assert _counters(result) == {
        "fetched": 2,
        "failed_not_html": 1,
        "failed_http_404": 1,
        "failed_blocked_host": 1,
    }
    bytes_dist = result.metrics().query(MetricsFilter().with_namespace("news.fetch").with_name("bytes"))
    assert [(d.committed.count, d.committed.sum) for d in bytes_dist["distributions"]] == [
        (2, 2 * len(ARTICLE))
    ]


def test_fetch_pages_refuses_loopback_without_allow_private_hosts(base_url):
    url = f"{base_url}/article.html"
    with TestPipeline() as p:
        fetched = p | beam.Create([_entry(url)]) | FetchPages(FetchSettings(retries=0))
        assert_that(fetched.pages, equal_to([]), label="pages")
        assert_that(
            fetched.failed | beam.Map(lambda f: (f.url, f.reason, f.attempts)),
            equal_to([(url, "blocked_host", 1)]),
            label="failed",
        )


def test_fetch_pages_validates_settings():
    with pytest.raises(ValueError, match="fetch_settings"):
        FetchPages(None)


def _legacy_page(title: str) -> str:
    body = "".join(
        f"<p>Paragraph {k}: the council met on Tuesday and heard residents describe how the new "
        "timetable changed their street, their costs and their plans for the summer.</p>"
        for k in range(4)
    )
    return (
        f"<html><head><title>{title}</title></head>"
        f"<body><article><h1>{title}</h1>{body}</article></body></html>"
    )


LEGACY_ROUTES = {
    # case A: latin-1 bytes, the header says utf-8
    "/declared-utf8.html": (
        200,
        {"Content-Type": "text/html; charset=utf-8"},
        _legacy_page("Café crème brûlée in Zürich").encode("latin-1"),
    ),
    # case B: windows-1252 bytes, no charset anywhere
    "/undeclared.html": (
        200,
        {"Content-Type": "text/html"},
        _legacy_page("Café crème in Zürich, señor").encode("cp1252"),
    ),
}


def test_fetched_legacy_pages_extract_their_text_not_mojibake():
    from newsbeam.config.settings import ExtractSettings
    from newsbeam.transforms.extract import ExtractArticles

    with serve_routes(LEGACY_ROUTES) as base:
        entries = [_entry(f"{base}{path}") for path in LEGACY_ROUTES]
        with TestPipeline() as p:
            fetched = p | beam.Create(entries) | "FetchPages" >> FetchPages(SETTINGS)
            out = fetched.pages | ExtractArticles(ExtractSettings(min_chars=100))
            assert_that(
                out.articles | beam.Map(lambda a: a.title),
                equal_to(["Café crème brûlée in Zürich", "Café crème in Zürich, señor"]),
            )


def test_a_pages_content_type_header_is_parsed_once(monkeypatch):
    """The header is split and searched for its type and charset once per page, not once for
    each of the three looks at its type and one at its charset."""
    from newsbeam.connectors import http
    from newsbeam.connectors.fetch import _FetchPageFn
    from newsbeam.connectors.http import HttpResponse

    calls = []
    parse = http._mime_type
    monkeypatch.setattr(http, "_mime_type", lambda value: calls.append(value) or parse(value))
    url = "http://news.example/a.html"
    response = HttpResponse(
        url=url, status=200, headers={"content-type": "text/html; charset=koi8-r"}, content=b"x"
    )
    fn = _FetchPageFn(SETTINGS)
    fn.setup()
    try:
        (page,) = fn._page(_entry(url), response)
    finally:
        fn.teardown()
    assert (page.content_type, page.encoding) == ("text/html", "koi8-r")
    assert len(calls) == 1
