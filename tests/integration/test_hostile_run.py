"""A run against hostile loopback servers ends within its budgets, indexes
every normal article, indexes no hostile page, and writes as it goes.

The hostile host serves a 5,000-entry feed whose pages answer slowly, an
endless chain of slow redirects, a body dribbled one byte at a time, and a
4.5 MB HTML page served as a feed; a second host serves a normal feed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from newsbeam.config.settings import FeedSpec
from newsbeam.connectors.site_server import SiteServer
from newsbeam.pipeline.build import build_pipeline
from newsbeam.pipeline.options import beam_options
from newsbeam.pipeline.run import run_batch
from newsbeam.transforms.model import doc_id_for_url

pytestmark = pytest.mark.slow

TOPICS = ["harbour dredging", "orchard frost", "library renovation", "tram timetable"]


def _article(n: int, topic: str) -> str:
    paragraphs = "".join(
        f"<p>Paragraph {k} of the report on the {topic}: the council met on day {n + k} and heard "
        f"residents describe how the {topic} changed their street, their costs and their plans.</p>"
        for k in range(5)
    )
    return (
        f"<html><head><title>Report {n}: {topic}</title></head><body>"
        f"<article><h1>Report {n}: {topic}</h1>{paragraphs}</article></body></html>"
    )


def _rss(title: str, links: list[str]) -> str:
    items = "".join(
        f"<item><title>{title} {i}</title><link>{link}</link>"
        f"<pubDate>Mon, 01 Jun 2026 {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d} GMT</pubDate></item>"
        for i, link in enumerate(links)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{items}</channel></rss>'


class _Hostile(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def _send(self, status: int, body: bytes, ctype: str = "text/html", **headers) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        server: _HostileServer = self.server  # type: ignore[assignment]
        server.requests.append(self.path)
        path = urlsplit(self.path).path
        base = server.base_url
        if path == "/big.xml":
            self._send(200, server.big_feed, "application/rss+xml", ETag='"big-1"')
        elif path == "/mixed.xml":
            self._send(
                200, _rss("Mixed", [f"{base}/redirect/0", f"{base}/drip"]).encode(), "application/rss+xml"
            )
        elif path == "/html-feed.xml":
            self._send(200, server.html_page)
        elif path.startswith("/p/"):
            time.sleep(0.2)
            self._send(404, b"gone")
        elif path.startswith("/redirect/"):
            time.sleep(0.3)
            self._send(302, b"", Location=f"/redirect/{int(path.rsplit('/', 1)[1]) + 1}")
        elif path == "/drip":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(100000):
                    self.wfile.write(b"<")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
            self.close_connection = True
        else:
            self._send(404, b"not found")


class _HostileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Hostile)
        self.requests: list[str] = []
        links = [f"{self.base_url}/p/{n}" for n in range(5000)]
        self.big_feed = _rss("Big", links).encode()
        filler = "<div><p>" + "word " * 200 + "</p></div>\n"
        self.html_page = ("<!DOCTYPE html><html><body>" + filler * 4400 + "</body></html>").encode()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextlib.contextmanager
def hostile_sites(root: Path):
    """The normal site (its articles under ``root``) and the hostile server, both on loopback;
    bench/hostile.py runs the shipped CLI against the same two."""
    root.mkdir(parents=True, exist_ok=True)
    for n, topic in enumerate(TOPICS):
        (root / f"a{n}.html").write_text(_article(n, topic), encoding="utf-8")
    links = [f"{{{{BASE_URL}}}}/a{n}.html" for n in range(len(TOPICS))]
    (root / "feed.xml").write_text(_rss("Normal", links), encoding="utf-8")
    hostile = _HostileServer()
    threading.Thread(target=hostile.serve_forever, daemon=True).start()
    try:
        with SiteServer(root) as normal:
            yield normal, hostile
    finally:
        hostile.shutdown()
        hostile.server_close()


def hostile_feeds(normal, hostile) -> tuple[FeedSpec, ...]:
    return (
        FeedSpec(url=f"{normal.base_url}/feed.xml", name="Normal"),
        FeedSpec(url=f"{hostile.base_url}/big.xml", name="Big"),
        FeedSpec(url=f"{hostile.base_url}/mixed.xml", name="Mixed"),
        FeedSpec(url=f"{hostile.base_url}/html-feed.xml", name="HTML"),
    )


@pytest.fixture
def servers(tmp_path):
    with hostile_sites(tmp_path / "news") as both:
        yield both


def _settings(demo_settings, normal, hostile, **run):
    feeds = hostile_feeds(normal, hostile)
    fetch = demo_settings.fetch.model_copy(
        update={
            "url_deadline": 2.0,  # normal pages need far less, even on a loaded machine
            "timeout": 2.0,
            "host_budget": 3.0,
            "max_entries_per_feed": 20,
            "feed_parse_timeout": 10,
            "respect_robots": False,
        }
    )
    return demo_settings.model_copy(
        update={
            "feeds": feeds,
            "fetch": fetch,
            "ner": demo_settings.ner.model_copy(update={"enabled": False}),
            "run": demo_settings.run.model_copy(update=run),
        }
    )


def _ids(client, alias) -> set[str]:
    client.indices.refresh(index=alias)
    return {h["_id"] for h in client.search(index=alias, query={"match_all": {}}, size=1000)["hits"]["hits"]}


def test_hostile_run_ends_within_budget_and_indexes_every_normal_article(servers, demo_settings, es_client):
    normal, hostile = servers
    settings = _settings(demo_settings, normal, hostile, wave_size=6, max_run_time=120)
    alias = settings.elasticsearch.articles_alias
    indexed_before_wave: list[int] = []

    def builder(p, settings, validators, plan):
        indexed_before_wave.append(len(_ids(es_client, alias)))
        return build_pipeline(p, settings, validators, plan)

    started = time.monotonic()
    summary = run_batch(settings, beam_options([]), builder=builder)
    elapsed = time.monotonic() - started

    want = {doc_id_for_url(f"{normal.base_url}/a{n}.html") for n in range(len(TOPICS))}
    failures_index = settings.elasticsearch.failures_alias
    es_client.indices.refresh(index=failures_index)
    recorded = es_client.search(index=failures_index, query={"match_all": {}}, size=100)["hits"]["hits"]
    diagnosis = (summary, [(h["_source"]["url"], h["_source"]["reason"]) for h in recorded])
    assert _ids(es_client, alias) == want, diagnosis  # every normal article, no hostile page
    # Writes flow: the first wave's articles were indexed before the second wave began.
    assert len(indexed_before_wave) >= 2
    assert indexed_before_wave[0] == 0 and 0 < indexed_before_wave[1] < len(want)
    assert not summary.stopped_at_time_limit and elapsed < 120
    failures = summary.failures_by_reason
    assert failures.get("feed:malformed_feed") == 1  # the HTML page served as a feed
    assert failures.get("fetch:timeout", 0) >= 1  # slow redirects or the dribbled body
    # The 5,000-entry feed: at most its per-run budget was touched, the rest waits for later runs.
    fetched_big = {r for r in hostile.requests if r.startswith("/p/")}
    assert 0 < len(fetched_big) <= 20
    assert summary.deferred >= 5000 - 20
    # The big feed keeps no validators: the next poll must see its entries again, not a 304.
    feeds = settings.elasticsearch.feeds_alias
    es_client.indices.refresh(index=feeds)
    hits = es_client.search(index=feeds, query={"match_all": {}}, size=10)["hits"]["hits"]
    big = next(h["_source"] for h in hits if h["_source"]["feed"]["url"].endswith("/big.xml"))
    assert big["status"] == "ok" and not big["http"].get("etag")


def test_max_run_time_cuts_cleanly_and_the_next_run_resumes(servers, demo_settings, es_client):
    normal, hostile = servers
    # One wave of 1,000 pages at 0.2 s each would take 200 s: the time limit cuts it in flight
    # (30 s: under a load average of 5, 20 s went by before the first page was asked for).
    settings = _settings(demo_settings, normal, hostile, wave_size=1000, max_run_time=30)
    settings = settings.model_copy(
        update={
            "feeds": settings.feeds[1:2],  # only the big feed: 0.2 s a page
            "fetch": settings.fetch.model_copy(update={"host_budget": 600, "max_entries_per_feed": 1000}),
        }
    )
    started = time.monotonic()
    first = run_batch(settings, beam_options([]))
    assert first.stopped_at_time_limit and time.monotonic() - started < 60
    fetched_first = {r for r in hostile.requests if r.startswith("/p/")}
    assert 0 < len(fetched_first) < 1000
    # Entries not fetched for want of time are not failures: only the 404s are (the request
    # in flight at the limit is cut and left for the next run too).
    assert list(first.failures_by_reason) == ["fetch:http_404"]
    assert len(fetched_first) - 1 <= first.failures_by_reason["fetch:http_404"] <= len(fetched_first)
    assert first.deferred >= 1000 - len(fetched_first)

    hostile.requests.clear()
    second = run_batch(settings, beam_options([]))
    fetched_second = {r for r in hostile.requests if r.startswith("/p/")}
    # It picks up where the first stopped: at most the request cut in flight is made again.
    assert len(fetched_second - fetched_first) > 0 and len(fetched_second & fetched_first) <= 1
    assert second.get("news.known/retry_later") == first.failures_by_reason["fetch:http_404"]
