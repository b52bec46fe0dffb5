"""A feed that answered 410 Gone is not requested by the next runs until its re-probe, nor a
feed whose failed poll asked to wait with Retry-After before that time; the run names them,
and a feeds file where every feed is gone still exits as "every feed failed"."""

from __future__ import annotations

import pytest

from newsbeam.config.settings import FeedSpec
from newsbeam.connectors.feed_health import feed_doc_id
from newsbeam.pipeline.lifecycle import all_feeds_failed
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.run import run_batch
from tests.routes import serve_routes

pytestmark = pytest.mark.slow

EMPTY = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title></channel></rss>'
ROUTES = {
    "/gone.xml": (410, {}, b"gone"),
    "/busy.xml": (429, {"Retry-After": "3600"}, b"slow down"),
    "/broken.xml": (500, {}, b"oops"),  # no Retry-After: polled every run, as before
    "/quiet.xml": (200, {"Content-Type": "application/rss+xml"}, EMPTY),
}


@pytest.fixture
def server():
    requests: list[str] = []
    with serve_routes(ROUTES, requests) as base:
        yield base, requests


def test_gone_and_retry_after_feeds_are_held_until_due(server, demo_settings, es_client):
    base, requests = server
    feeds = tuple(FeedSpec(url=f"{base}{path}") for path in ROUTES)
    settings = demo_settings.model_copy(update={"feeds": feeds})
    settings = settings.model_copy(update={"fetch": settings.fetch.model_copy(update={"retries": 0})})
    alias = settings.elasticsearch.feeds_alias

    first = run_batch(settings, beam_options([]))
    assert sorted(requests) == sorted(ROUTES)
    assert (first.get("news.feeds/polled"), first.get("news.feeds/held"), first.held) == (4, 0, ())

    requests.clear()
    second = run_batch(settings, beam_options([]))
    assert sorted(requests) == ["/broken.xml", "/quiet.xml"]
    assert {(h.feed_url, h.reason) for h in second.held} == {
        (f"{base}/gone.xml", "gone"),
        (f"{base}/busy.xml", "retry_after"),
    }
    assert (second.get("news.feeds/polled"), second.get("news.feeds/held")) == (2, 2)
    gone = es_client.get(index=alias, id=feed_doc_id(f"{base}/gone.xml"))["_source"]
    assert (gone["status"], gone["error_streak"]) == ("http_410", 1)  # the record stays as it was

    # once the re-probe is due (the last poll 7 hours ago), the gone feed is requested again
    for path in ("/gone.xml", "/busy.xml"):
        es_client.update(
            index=alias,
            id=feed_doc_id(f"{base}{path}"),
            doc={"@timestamp": "2020-01-01T00:00:00Z"},
            refresh=True,
        )
    requests.clear()
    third = run_batch(settings, beam_options([]))
    assert sorted(requests) == sorted(ROUTES)
    assert third.held == ()


def test_a_feeds_file_of_gone_feeds_still_fails(server, demo_settings):
    base, requests = server
    settings = demo_settings.model_copy(update={"feeds": (FeedSpec(url=f"{base}/gone.xml"),)})
    assert all_feeds_failed(run_batch(settings, beam_options([]))) == "every feed failed (1 of 1)"
    requests.clear()
    second = run_batch(settings, beam_options([]))
    assert requests == []
    assert all_feeds_failed(second) == "every feed failed (1 of 1)"


def _article(title: str) -> bytes:
    text = " ".join(
        f"Sentence {n} of the article about {title} with enough words to count." for n in range(30)
    )
    head = f"<html><head><title>{title}</title></head>"
    return f"{head}<body><article><h1>{title}</h1><p>{text}</p></article></body></html>".encode()


def test_a_pages_retry_after_holds_its_site_in_later_runs_capped(demo_settings, es_client, capsys):
    """A page that answered 429 with Retry-After held its site for the rest of that run only: the
    next run (cron, minutes later) requested the site's pages at once.  The hold is kept with the
    page's failure, honoured by later runs until it passes (capped at stream.max_hint, as a feed's
    Retry-After: this server asks for 31 years) and shown by newsbeam status."""
    import time

    from newsbeam.pipeline.cli import main

    items = "".join(
        f"<item><title>Story {name}</title><link>{{base}}/{name}.html</link></item>" for name in ("a", "b")
    )
    feed = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Busy</title>{items}</channel></rss>'
    routes = {
        "/a.html": (429, {"Retry-After": "1000000000"}, b"slow down"),
        "/b.html": (200, {"Content-Type": "text/html"}, _article("Story b")),
    }
    requests: list[str] = []
    with serve_routes(routes, requests) as base:
        routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, feed.format(base=base).encode())
        settings = demo_settings.model_copy(update={"feeds": (FeedSpec(url=f"{base}/feed.xml"),)})
        settings = settings.model_copy(update={"fetch": settings.fetch.model_copy(update={"retries": 0})})
        first = run_batch(settings, beam_options([]))
        assert "/a.html" in requests and "/b.html" not in requests, requests  # held within the run
        assert first.failures_by_reason == {"fetch:http_429": 1}

        requests.clear()
        asked = time.time()
        second = run_batch(settings, beam_options([]))
        assert not [path for path in requests if path.endswith(".html")], requests
        assert second.get("news.budget/deferred") == 1  # b.html: left for a later run, not failed

        es = settings.elasticsearch
        assert main(["status", "--es-url", es.url, "--index-prefix", es.index_prefix]) == 0
        shown = " ".join(capsys.readouterr().out.split())
        site = base.split("//", 1)[1]
        assert f"site {site} held until" in shown and "HTTP 429 with Retry-After" in shown, shown
        assert main(["status", "--json", "--es-url", es.url, "--index-prefix", es.index_prefix]) == 0
        import json
        from datetime import datetime

        (hold,) = json.loads(capsys.readouterr().out)["site_holds"]
        until = datetime.fromisoformat(hold["until"].replace("Z", "+00:00")).timestamp()
        assert until <= asked + settings.stream.max_hint + 5, hold  # capped, not 31 years
